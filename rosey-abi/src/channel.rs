//! What a plugin may do to the chat channel (queue media, skip, kick, run a poll…), said once
//! for the SDK that asks, the host that carries the request, the daemon that checks it and the
//! connector that performs it.
//!
//! A request crosses the library boundary and the host's channel as a verb and its arguments
//! ([`Action::to_wire`]), read back by [`Action::from_wire`], which checks every argument a
//! plugin could get wrong (it is untrusted): a bad request never reaches the chat server. Each
//! action needs one of the manifest's `channel:` permissions ([`ChannelPermission`]). A
//! failure comes back as an [`ActionError`] whose [`ActionErrorKind`] says whose doing it was:
//! the manifest, the bot's rank in the channel, the chat server's own refusal, the request.

use std::fmt;

/// Where queued media goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum QueueAt {
    /// At the end of the playlist.
    End,
    /// Right after what plays now.
    Next,
}

/// Where a playlist item is moved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum MoveTo {
    /// To the top of the playlist.
    Start,
    /// To the bottom.
    End,
    /// Right after the item with this uid.
    After(u64),
}

/// A poll to open (see [`Action::OpenPoll`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NewPoll {
    /// The question; 1 to [`MAX_POLL_TITLE`] characters.
    pub title: String,
    /// The answers; 1 to [`MAX_POLL_OPTIONS`], each 1 to [`MAX_POLL_TITLE`] characters.
    pub options: Vec<String>,
    /// Seconds until the chat server closes it by itself (1 to [`MAX_POLL_TIMEOUT_SECS`]);
    /// `None`: it stays open until closed.
    pub timeout_secs: Option<u32>,
    /// Votes are shown only to moderators until the poll closes.
    pub hidden: bool,
}

/// The longest poll title or option, in characters (CyTube's limit).
pub const MAX_POLL_TITLE: usize = 255;
/// The most options a poll may have (CyTube's default `poll.max-options`).
pub const MAX_POLL_OPTIONS: usize = 50;
/// The longest poll timeout, in seconds (CyTube's limit: one day).
pub const MAX_POLL_TIMEOUT_SECS: u32 = 86_400;
/// The longest media link or user name a request may carry, in bytes.
pub const MAX_ARG_BYTES: usize = 2048;
/// The longest kick or ban reason, in characters (what fits a chat line with the command).
pub const MAX_REASON_CHARS: usize = 200;

/// Something a plugin asks the bot to do to the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "action", rename_all = "snake_case"))]
pub enum Action {
    /// Queue a media link (any link CyTube's own "add video" box takes).
    Queue {
        /// The link, as a user would paste it.
        link: String,
        /// At the end, or next.
        at: QueueAt,
        /// Removed from the playlist once played.
        temp: bool,
    },
    /// Remove an item from the playlist.
    Delete {
        /// The item's uid.
        uid: u64,
    },
    /// Move an item within the playlist.
    Move {
        /// The item's uid.
        uid: u64,
        /// Where to.
        to: MoveTo,
    },
    /// Play an item now.
    Jump {
        /// The item's uid.
        uid: u64,
    },
    /// Skip what plays now.
    Skip,
    /// Add the bot's vote to skip what plays now.
    VoteSkip,
    /// Kick a user out of the channel.
    Kick {
        /// Who.
        user: String,
        /// Why (shown to them); may be empty.
        reason: String,
    },
    /// Ban a user's name from the channel.
    Ban {
        /// Who.
        user: String,
        /// Why; may be empty.
        reason: String,
    },
    /// Mute a user: they can no longer chat.
    Mute {
        /// Who.
        user: String,
    },
    /// Shadow-mute a user: they see their own messages, nobody else does (moderators do).
    ShadowMute {
        /// Who.
        user: String,
    },
    /// Lift a mute or shadow mute.
    Unmute {
        /// Who.
        user: String,
    },
    /// Clear the channel's chat.
    ClearChat,
    /// Open a poll (closing the one open, if any).
    OpenPoll(NewPoll),
    /// Close the open poll.
    ClosePoll,
}

/// The manifest's `channel:` permissions: which kinds of [`Action`] a plugin may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelPermission {
    /// Queue, delete and move playlist items.
    Playlist,
    /// Skip, jump to an item, vote to skip.
    Skip,
    /// Kick, ban, mute, shadow-mute, unmute, clear the chat.
    Moderate,
    /// Open and close polls.
    Poll,
}

impl ChannelPermission {
    /// Every permission, in the order the docs list them.
    pub const ALL: [ChannelPermission; 4] = [
        ChannelPermission::Playlist,
        ChannelPermission::Skip,
        ChannelPermission::Moderate,
        ChannelPermission::Poll,
    ];

    /// Its name in a manifest's `channel:` list.
    pub fn name(self) -> &'static str {
        match self {
            ChannelPermission::Playlist => "playlist",
            ChannelPermission::Skip => "skip",
            ChannelPermission::Moderate => "moderate",
            ChannelPermission::Poll => "poll",
        }
    }

    /// The permission called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<ChannelPermission> {
        ChannelPermission::ALL
            .into_iter()
            .find(|p| p.name() == name)
    }

    /// The names of every permission, comma-separated, for error messages.
    pub fn names() -> String {
        ChannelPermission::ALL
            .map(ChannelPermission::name)
            .join(", ")
    }
}

impl fmt::Display for ChannelPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Action {
    /// The manifest permission it needs.
    pub fn permission(&self) -> ChannelPermission {
        match self {
            Action::Queue { .. } | Action::Delete { .. } | Action::Move { .. } => {
                ChannelPermission::Playlist
            }
            Action::Jump { .. } | Action::Skip | Action::VoteSkip => ChannelPermission::Skip,
            Action::Kick { .. }
            | Action::Ban { .. }
            | Action::Mute { .. }
            | Action::ShadowMute { .. }
            | Action::Unmute { .. }
            | Action::ClearChat => ChannelPermission::Moderate,
            Action::OpenPoll(_) | Action::ClosePoll => ChannelPermission::Poll,
        }
    }

    /// Its verb on the wire, also how logs and errors name it (`queue`, `kick`, …).
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Queue { .. } => "queue",
            Action::Delete { .. } => "delete",
            Action::Move { .. } => "move",
            Action::Jump { .. } => "jump",
            Action::Skip => "skip",
            Action::VoteSkip => "voteskip",
            Action::Kick { .. } => "kick",
            Action::Ban { .. } => "ban",
            Action::Mute { .. } => "mute",
            Action::ShadowMute { .. } => "shadow_mute",
            Action::Unmute { .. } => "unmute",
            Action::ClearChat => "clear_chat",
            Action::OpenPoll(_) => "open_poll",
            Action::ClosePoll => "close_poll",
        }
    }

    /// How a sentence names it: its verb with spaces (`shadow mute`, `clear chat`), for
    /// logs and error messages.
    pub fn words(&self) -> String {
        self.verb().replace('_', " ")
    }

    /// The user it acts on, for moderation.
    pub fn target_user(&self) -> Option<&str> {
        match self {
            Action::Kick { user, .. }
            | Action::Ban { user, .. }
            | Action::Mute { user }
            | Action::ShadowMute { user }
            | Action::Unmute { user } => Some(user),
            _ => None,
        }
    }

    /// The verb and its arguments, as they cross the library boundary and the host's channel.
    pub fn to_wire(&self) -> (&'static str, Vec<String>) {
        let args = match self {
            Action::Queue { link, at, temp } => vec![
                link.clone(),
                match at {
                    QueueAt::End => "end",
                    QueueAt::Next => "next",
                }
                .to_owned(),
                temp.to_string(),
            ],
            Action::Delete { uid } | Action::Jump { uid } => vec![uid.to_string()],
            Action::Move { uid, to } => vec![
                uid.to_string(),
                match to {
                    MoveTo::Start => "start".to_owned(),
                    MoveTo::End => "end".to_owned(),
                    MoveTo::After(after) => after.to_string(),
                },
            ],
            Action::Skip | Action::VoteSkip | Action::ClearChat | Action::ClosePoll => Vec::new(),
            Action::Kick { user, reason } | Action::Ban { user, reason } => {
                vec![user.clone(), reason.clone()]
            }
            Action::Mute { user } | Action::ShadowMute { user } | Action::Unmute { user } => {
                vec![user.clone()]
            }
            Action::OpenPoll(poll) => {
                let mut args = vec![
                    poll.title.clone(),
                    poll.timeout_secs.map(|s| s.to_string()).unwrap_or_default(),
                    poll.hidden.to_string(),
                ];
                args.extend(poll.options.iter().cloned());
                args
            }
        };
        (self.verb(), args)
    }

    /// Reads a request made by [`Action::to_wire`], checking everything: the verb, the number
    /// and form of its arguments, names, lengths and the poll's limits. The error is one line
    /// for the plugin's author.
    pub fn from_wire(verb: &str, args: &[String]) -> Result<Action, String> {
        let arity = |wanted: usize| -> Result<(), String> {
            if args.len() == wanted {
                Ok(())
            } else {
                Err(format!(
                    "channel action {verb:?} takes {wanted} argument(s), not {}",
                    args.len()
                ))
            }
        };
        if let Some(arg) = args.iter().find(|arg| arg.len() > MAX_ARG_BYTES) {
            return Err(format!(
                "an argument of channel action {verb:?} is {} bytes long; the limit is {MAX_ARG_BYTES}",
                arg.len()
            ));
        }
        let action = match verb {
            "queue" => {
                arity(3)?;
                let link = args[0].trim().to_owned();
                if link.is_empty() || link.chars().any(char::is_whitespace) {
                    return Err(format!("{:?} is not a media link", args[0]));
                }
                let at = match args[1].as_str() {
                    "end" => QueueAt::End,
                    "next" => QueueAt::Next,
                    other => {
                        return Err(format!("queue position {other:?} is neither end nor next"))
                    }
                };
                Action::Queue {
                    link,
                    at,
                    temp: flag(&args[2])?,
                }
            }
            "delete" => {
                arity(1)?;
                Action::Delete {
                    uid: uid(&args[0])?,
                }
            }
            "jump" => {
                arity(1)?;
                Action::Jump {
                    uid: uid(&args[0])?,
                }
            }
            "move" => {
                arity(2)?;
                let to = match args[1].as_str() {
                    "start" => MoveTo::Start,
                    "end" => MoveTo::End,
                    after => MoveTo::After(uid(after)?),
                };
                Action::Move {
                    uid: uid(&args[0])?,
                    to,
                }
            }
            "skip" => {
                arity(0)?;
                Action::Skip
            }
            "voteskip" => {
                arity(0)?;
                Action::VoteSkip
            }
            "kick" | "ban" => {
                arity(2)?;
                let user = user_name(&args[0])?;
                let reason = reason(&args[1])?;
                if verb == "kick" {
                    Action::Kick { user, reason }
                } else {
                    Action::Ban { user, reason }
                }
            }
            "mute" | "shadow_mute" | "unmute" => {
                arity(1)?;
                let user = user_name(&args[0])?;
                match verb {
                    "mute" => Action::Mute { user },
                    "shadow_mute" => Action::ShadowMute { user },
                    _ => Action::Unmute { user },
                }
            }
            "clear_chat" => {
                arity(0)?;
                Action::ClearChat
            }
            "close_poll" => {
                arity(0)?;
                Action::ClosePoll
            }
            "open_poll" => {
                if args.len() < 4 {
                    return Err("a poll needs a title and at least one option".to_owned());
                }
                let timeout_secs = match args[1].as_str() {
                    "" => None,
                    secs => Some(
                        secs.parse::<u32>()
                            .ok()
                            .filter(|s| (1..=MAX_POLL_TIMEOUT_SECS).contains(s))
                            .ok_or_else(|| {
                                format!(
                                    "poll timeout {secs:?} is not 1 to {MAX_POLL_TIMEOUT_SECS} seconds"
                                )
                            })?,
                    ),
                };
                let poll = NewPoll {
                    title: args[0].clone(),
                    options: args[3..].to_vec(),
                    timeout_secs,
                    hidden: flag(&args[2])?,
                };
                check_poll(&poll)?;
                Action::OpenPoll(poll)
            }
            other => return Err(format!("there is no channel action {other:?}")),
        };
        Ok(action)
    }
}

/// Whether `poll` keeps CyTube's limits; the reason when not.
pub fn check_poll(poll: &NewPoll) -> Result<(), String> {
    let chars = |text: &str| text.chars().count();
    if poll.title.trim().is_empty() || chars(&poll.title) > MAX_POLL_TITLE {
        return Err(format!(
            "a poll's title must be 1 to {MAX_POLL_TITLE} characters"
        ));
    }
    if poll.options.is_empty() || poll.options.len() > MAX_POLL_OPTIONS {
        return Err(format!(
            "a poll must have 1 to {MAX_POLL_OPTIONS} options, not {}",
            poll.options.len()
        ));
    }
    if let Some(bad) = poll
        .options
        .iter()
        .find(|o| o.is_empty() || chars(o) > MAX_POLL_TITLE)
    {
        return Err(format!(
            "poll option {bad:?} is not 1 to {MAX_POLL_TITLE} characters"
        ));
    }
    Ok(())
}

fn flag(text: &str) -> Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{other:?} is neither true nor false")),
    }
}

fn uid(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a playlist item's uid (a number)"))
}

/// A chat user name as CyTube allows them: 1 to 20 of letters, digits, `_` and `-`.
pub fn is_valid_user_name(name: &str) -> bool {
    (1..=20).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn user_name(text: &str) -> Result<String, String> {
    if is_valid_user_name(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a CyTube user name (1 to 20 letters, digits, _ or -)"
        ))
    }
}

fn reason(text: &str) -> Result<String, String> {
    if text.chars().count() > MAX_REASON_CHARS {
        return Err(format!(
            "a reason must be at most {MAX_REASON_CHARS} characters"
        ));
    }
    // A reason is sent inside a chat command: a line break would end it early.
    Ok(text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect())
}

mod error;
pub use error::{not_declared, ActionError, ActionErrorKind};

#[cfg(test)]
mod tests;

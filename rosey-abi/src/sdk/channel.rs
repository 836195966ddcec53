//! [`Channel`]: what a plugin does to the chat channel itself (queue media, skip, kick, mute,
//! run a poll) and what it reads of it (the playlist, the open poll, the bot's own rank).
//!
//! Each action goes through the host and the plugin's actor like everything a plugin asks for:
//! the actor checks the manifest's `channel:` permissions, the bot performs it, and the call
//! returns once the chat server confirmed it, refused it, or said nothing in time (about 10 s
//! at most). A failure is an [`ActionError`] whose kind says whose doing it was, and which
//! converts into the SDK's [`super::Error`] with `?`.

use std::time::Duration;

use abi_stable::std_types::{RSlice, RStr, RString};

use super::{handle::Unreachable, ChatUser, Error, Handle, PluginResult};
use crate::{
    channel::{Action, ActionError, ActionErrorKind, MoveTo, NewPoll, QueueAt},
    services::{FfiPlaylist, FfiPlaylistItem, FfiPoll, ServicesRef},
};

/// What an action answers when the host's services table has no `act` (a rosey older than
/// this SDK).
const NO_CHANNEL_ACTIONS: &str = "this host does not offer channel actions (update rosey)";

/// What an action answers once the plugin has unloaded.
const UNLOADED: &str = "the plugin has unloaded";

/// An owned, cheap-to-clone way to act on the chat channel and read its playlist and poll,
/// from any hook or thread until the plugin unloads. From [`Handle::channel`] or
/// [`super::Context::channel`].
///
/// Every action blocks until the chat server answers (at most about 10 s). That wait does not
/// count against the handler's deadline, but the plugin handles nothing else meanwhile: for
/// slow or many actions, use a clone from a thread.
#[derive(Clone, Debug)]
pub struct Channel {
    handle: Handle,
}

/// The item a [`Channel::queue`] added, to delete, move or jump to it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The chat server's id of the new playlist item.
    pub uid: u64,
    /// Its title, as the media's site gave it.
    pub title: String,
}

/// The channel's playlist, from [`Channel::playlist`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Playlist {
    /// Every item, in playing order.
    pub items: Vec<PlaylistItem>,
    /// The uid of the item playing now, if any.
    pub current: Option<u64>,
    /// How far into the current item playback is (as the chat server last reported).
    pub position: Duration,
    /// Whether playback is paused.
    pub paused: bool,
    /// Whether the playlist is locked (only the ranks the channel allows may change it).
    pub locked: bool,
}

/// An item of the [`Playlist`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistItem {
    /// The chat server's id of this entry: what delete, move and jump name.
    pub uid: u64,
    /// The media's title.
    pub title: String,
    /// The provider's short code (`yt` YouTube, `vi` Vimeo, `cu` custom, …).
    pub kind: String,
    /// The provider's id of the media.
    pub id: String,
    /// Its length (zero for a live stream or when unknown).
    pub duration: Duration,
    /// Removed from the playlist once played.
    pub temp: bool,
    /// Who queued it.
    pub queued_by: String,
}

/// The channel's open poll, from [`Channel::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    /// The question.
    pub title: String,
    /// The answers.
    pub options: Vec<String>,
    /// Votes per option, one per option in the same order; `None` where the chat hides the
    /// count from the bot (a hidden poll, for a bot below moderator).
    pub counts: Vec<Option<u64>>,
    /// Whether votes are hidden until the poll closes.
    pub hidden: bool,
    /// Who opened it.
    pub opened_by: String,
    /// When it was opened, ms since the Unix epoch.
    pub opened_at_ms: u64,
}

impl Playlist {
    /// The item playing now, if any.
    pub fn now_playing(&self) -> Option<&PlaylistItem> {
        self.current.and_then(|uid| self.item(uid))
    }

    /// The items after the one playing now, in playing order (every item when nothing
    /// plays). Does not wrap around to the top.
    pub fn upcoming(&self) -> impl Iterator<Item = &PlaylistItem> {
        let start = self
            .current
            .and_then(|uid| self.items.iter().position(|item| item.uid == uid))
            .map_or(0, |at| at + 1);
        self.items.iter().skip(start)
    }

    /// The item with this uid, if it is in the playlist.
    pub fn item(&self, uid: u64) -> Option<&PlaylistItem> {
        self.items.iter().find(|item| item.uid == uid)
    }
}

impl Channel {
    pub(super) fn new(handle: Handle) -> Channel {
        Channel { handle }
    }

    /// Asks the bot to take `action`: what it yields (for a queue, the new item's uid, a tab,
    /// its title; otherwise empty), or why it did not happen. The named methods below are
    /// this with a typed answer.
    pub fn act(&self, action: &Action) -> Result<String, ActionError> {
        let (act, ctx) = self.handle.lookup(ServicesRef::act).map_err(|why| {
            ActionError::new(
                ActionErrorKind::Unavailable,
                match why {
                    Unreachable::Unloaded => UNLOADED,
                    Unreachable::Older => NO_CHANNEL_ACTIONS,
                },
            )
        })?;
        let (verb, args) = action.to_wire();
        let args: Vec<RString> = args.into_iter().map(RString::from).collect();
        act(ctx, RStr::from(verb), RSlice::from_slice(&args))
            .into_result()
            .map(RString::into_string)
            .map_err(|text| ActionError::decode(text.as_str()))
    }

    /// Takes `action`, for those that yield nothing.
    fn run(&self, action: Action) -> Result<(), ActionError> {
        self.act(&action).map(drop)
    }

    /// Queue a media `link` (anything CyTube's own "add video" box takes) at the end or next,
    /// `temp` to have it removed once played (needs `channel: [playlist]`).
    pub fn queue(&self, link: &str, at: QueueAt, temp: bool) -> Result<Queued, ActionError> {
        let detail = self.act(&Action::Queue {
            link: link.to_owned(),
            at,
            temp,
        })?;
        queued(&detail).ok_or_else(|| {
            ActionError::new(
                ActionErrorKind::NoAnswer,
                format!("the media was queued, but the answer {detail:?} names no playlist item"),
            )
        })
    }

    /// Remove item `uid` from the playlist (needs `channel: [playlist]`).
    pub fn delete(&self, uid: u64) -> Result<(), ActionError> {
        self.run(Action::Delete { uid })
    }

    /// Move item `uid` within the playlist (needs `channel: [playlist]`).
    pub fn move_item(&self, uid: u64, to: MoveTo) -> Result<(), ActionError> {
        self.run(Action::Move { uid, to })
    }

    /// Play item `uid` now (needs `channel: [skip]`).
    pub fn jump_to(&self, uid: u64) -> Result<(), ActionError> {
        self.run(Action::Jump { uid })
    }

    /// Skip what plays now (needs `channel: [skip]`).
    pub fn skip(&self) -> Result<(), ActionError> {
        self.run(Action::Skip)
    }

    /// Add the bot's vote to skip what plays now (needs `channel: [skip]`).
    pub fn vote_skip(&self) -> Result<(), ActionError> {
        self.run(Action::VoteSkip)
    }

    /// Kick `user` out of the channel, telling them `reason` (may be empty; needs
    /// `channel: [moderate]`).
    pub fn kick(&self, user: &str, reason: &str) -> Result<(), ActionError> {
        self.run(Action::Kick {
            user: user.to_owned(),
            reason: reason.to_owned(),
        })
    }

    /// Ban `user`'s name from the channel (needs `channel: [moderate]`).
    pub fn ban(&self, user: &str, reason: &str) -> Result<(), ActionError> {
        self.run(Action::Ban {
            user: user.to_owned(),
            reason: reason.to_owned(),
        })
    }

    /// Mute `user`: they can no longer chat (needs `channel: [moderate]`).
    pub fn mute(&self, user: &str) -> Result<(), ActionError> {
        self.run(Action::Mute {
            user: user.to_owned(),
        })
    }

    /// Shadow-mute `user`: they see their own messages, nobody else does but moderators
    /// (needs `channel: [moderate]`).
    pub fn shadow_mute(&self, user: &str) -> Result<(), ActionError> {
        self.run(Action::ShadowMute {
            user: user.to_owned(),
        })
    }

    /// Lift `user`'s mute or shadow mute (needs `channel: [moderate]`).
    pub fn unmute(&self, user: &str) -> Result<(), ActionError> {
        self.run(Action::Unmute {
            user: user.to_owned(),
        })
    }

    /// Clear the channel's chat (needs `channel: [moderate]`).
    pub fn clear_chat(&self) -> Result<(), ActionError> {
        self.run(Action::ClearChat)
    }

    /// Open `poll`, closing the one open, if any (needs `channel: [poll]`).
    pub fn open_poll(&self, poll: NewPoll) -> Result<(), ActionError> {
        self.run(Action::OpenPoll(poll))
    }

    /// Close the open poll (needs `channel: [poll]`).
    pub fn close_poll(&self) -> Result<(), ActionError> {
        self.run(Action::ClosePoll)
    }

    /// The channel's playlist now, as the chat server last told the bot.
    pub fn playlist(&self) -> PluginResult<Playlist> {
        let (playlist, ctx) = self
            .handle
            .service("read the playlist", ServicesRef::playlist)?;
        let playlist = playlist(ctx)
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))?;
        Ok(Playlist::from(playlist))
    }

    /// The channel's open poll, if any.
    pub fn poll(&self) -> PluginResult<Option<Poll>> {
        let (poll, ctx) = self.handle.service("read the poll", ServicesRef::poll)?;
        let poll = poll(ctx)
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))?;
        Ok(poll.into_option().map(Poll::from))
    }

    /// The bot itself as the channel sees it: its name and rank (an error before it joined).
    /// Check the rank before an action that needs a moderator.
    pub fn bot(&self) -> PluginResult<ChatUser> {
        let (bot, ctx) = self
            .handle
            .service("ask who the bot is", ServicesRef::bot)?;
        let bot = bot(ctx)
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))?;
        Ok(ChatUser::from(bot))
    }
}

/// A queue's answer, `<uid>\t<title>`, read.
fn queued(detail: &str) -> Option<Queued> {
    let (uid, title) = detail.split_once('\t')?;
    Some(Queued {
        uid: uid.parse().ok()?,
        title: title.to_owned(),
    })
}

impl From<FfiPlaylistItem> for PlaylistItem {
    fn from(item: FfiPlaylistItem) -> PlaylistItem {
        PlaylistItem {
            uid: item.uid,
            title: item.title.into_string(),
            kind: item.kind.into_string(),
            id: item.id.into_string(),
            duration: Duration::from_secs(item.duration_secs),
            temp: item.temp,
            queued_by: item.queued_by.into_string(),
        }
    }
}

impl From<FfiPlaylist> for Playlist {
    fn from(playlist: FfiPlaylist) -> Playlist {
        Playlist {
            items: playlist.items.into_iter().map(PlaylistItem::from).collect(),
            current: playlist.current.into_option(),
            position: Duration::from_millis(playlist.position_ms),
            paused: playlist.paused,
            locked: playlist.locked,
        }
    }
}

impl From<FfiPoll> for Poll {
    /// The counts are made one per option: a negative one (hidden) is `None`, a missing one
    /// too, and one beyond the options is dropped.
    fn from(poll: FfiPoll) -> Poll {
        let options: Vec<String> = poll.options.into_iter().map(RString::into_string).collect();
        let mut counts: Vec<Option<u64>> = poll
            .counts
            .into_iter()
            .map(|count| u64::try_from(count).ok())
            .collect();
        counts.resize(options.len(), None);
        Poll {
            title: poll.title.into_string(),
            options,
            counts,
            hidden: poll.hidden,
            opened_by: poll.opened_by.into_string(),
            opened_at_ms: poll.opened_ms,
        }
    }
}

#[cfg(test)]
mod tests;

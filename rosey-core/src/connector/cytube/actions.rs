//! Channel actions on CyTube: what to send for each [`Action`], what must hold first, and which
//! frame confirms or refuses it.
//!
//! CyTube ignores most requests it does not permit without a word (a queue below `playlistadd`,
//! a skip below `playlistjump`, a `/kick` below `kick`…), so [`plan`] checks the bot's rank
//! against the channel's permission table, and the target against the playlist and user list,
//! before anything is sent; the error names the rank needed and the fix. What CyTube does
//! answer (`queueFail`, `errorMsg`) comes back as a [`ActionErrorKind::Refused`] in its own
//! words. Success is read from the frame the action makes the server send (the `queue` of the
//! bot's item, the target's `userLeave`, the `[server]` notice of a ban…): one action is in
//! flight at a time, so every answer belongs to it. Nothing is retried: an action with no
//! answer within its time ends as [`ActionErrorKind::NoAnswer`].

use std::time::Duration;

use rosey_abi::channel::{Action, ActionError, ActionErrorKind, MoveTo, QueueAt};
use serde_json::{json, Value};

use super::{channel::ChannelModel, framing, media_link};

/// How long CyTube may take to confirm a queue (it looks the media up with its provider).
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(8);
/// How long CyTube may take to confirm any other action.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an asker waits for an action's answer, its turn behind others included; one still
/// waiting for its turn then is dropped unsent.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// What confirms an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// A `queue` of the bot's item of this media type (the type and the adder decide: CyTube
    /// may normalise the id, `dm` dropping its slug, and one action is in flight at a time).
    Queued(String),
    /// `delete {uid}`.
    Deleted(u64),
    /// `moveVideo {from: uid}`.
    Moved(u64),
    /// `setCurrent` (of this uid, or of any when `None`).
    Playing(Option<u64>),
    /// Nothing will: the action is done once sent.
    Nothing(String),
    /// `voteskip {count, need}` (to ranks with `viewvoteskip`), or the skip passing.
    VoteCounted,
    /// The target's `userLeave`.
    Left(String),
    /// The `[server]` notice `<bot> namebanned <name>`.
    Banned(String),
    /// `setUserMeta` of the target, muted (shadow-muted when `true`).
    Muted(String, bool),
    /// The `[server]` notice `<bot> unmuted <name>`, or `setUserMeta` unmuting the target.
    Unmuted(String),
    /// `clearchat`.
    Cleared,
    /// A `newPoll` opened by the bot.
    PollOpened,
    /// `closePoll`.
    PollClosed,
}

/// What to send for an action and how to know it happened.
#[derive(Debug)]
pub struct Plan {
    /// The frames, in order.
    pub frames: Vec<String>,
    /// Whether the frames are chat lines (chat commands share the chat's flood limit and
    /// are never echoed).
    pub chat_command: bool,
    /// What confirms it.
    pub expect: Expect,
    /// How long to wait for that.
    pub timeout: Duration,
}

/// A rank as CyTube numbers it, named: `moderator (2)`.
pub fn rank_name(rank: f64) -> String {
    let name = match rank {
        r if r < 0.0 => "anonymous",
        r if r < 1.0 => "guest",
        r if r < 1.5 => "registered",
        r if r < 2.0 => "leader",
        r if r < 3.0 => "moderator",
        r if r < 4.0 => "admin",
        r if r < 5.0 => "owner",
        r if r < 255.0 => "founder",
        _ => "site admin",
    };
    format!("{name} ({rank})")
}

/// Checks `action` against what the bot knows of the channel and says what to send.
pub fn plan(model: &ChannelModel, action: &Action) -> Result<Plan, ActionError> {
    if !model.knows_permissions {
        return Err(ActionError::new(
            ActionErrorKind::Unavailable,
            "the bot has not joined the channel yet; nothing was done",
        ));
    }
    let need = |key: &str, what: &str| need(model, key, what);
    let item = |uid: u64| {
        model.item(uid).map(|_| ()).ok_or_else(|| {
            invalid(format!(
                "the playlist has no item with uid {uid} (it may have been played or removed)"
            ))
        })
    };
    let send = |name: &str, data: Value, expect: Expect| Plan {
        frames: vec![framing::event(name, &data)],
        chat_command: false,
        expect,
        timeout: ACTION_TIMEOUT,
    };
    let command = |line: String, expect: Expect| Plan {
        frames: vec![framing::event(
            "chatMsg",
            &json!({ "msg": line, "meta": {} }),
        )],
        chat_command: true,
        expect,
        timeout: ACTION_TIMEOUT,
    };
    let plan = match action {
        Action::Queue { link, at, temp } => {
            let media = media_link::parse(link)
                .map_err(|problem| invalid(format!("CyTube cannot queue {link:?}: {problem}")))?;
            need("playlistadd", "add to the playlist")?;
            if *at == QueueAt::Next {
                need("playlistnext", "queue media next")?;
            }
            let pos = if *at == QueueAt::Next { "next" } else { "end" };
            Plan {
                timeout: QUEUE_TIMEOUT,
                ..send(
                    "queue",
                    json!({ "id": media.id, "type": media.kind, "pos": pos, "temp": temp }),
                    Expect::Queued(media.kind.clone()),
                )
            }
        }
        Action::Delete { uid } => {
            item(*uid)?;
            need("playlistdelete", "delete playlist items")?;
            send("delete", json!(uid), Expect::Deleted(*uid))
        }
        Action::Move { uid, to } => {
            item(*uid)?;
            let after = match to {
                MoveTo::Start => json!("prepend"),
                MoveTo::End => json!("append"),
                MoveTo::After(after) if after == uid => {
                    return Err(invalid("an item cannot be moved after itself"))
                }
                // CyTube loses an item moved after a uid it does not have: only known uids go.
                MoveTo::After(after) => {
                    item(*after)?;
                    json!(after)
                }
            };
            need("playlistmove", "move playlist items")?;
            send(
                "moveMedia",
                json!({ "from": uid, "after": after }),
                Expect::Moved(*uid),
            )
        }
        Action::Jump { uid } => {
            item(*uid)?;
            need("playlistjump", "jump to a playlist item")?;
            send("jumpTo", json!(uid), Expect::Playing(Some(*uid)))
        }
        Action::Skip => {
            if model.playlist.items.is_empty() {
                return Err(invalid("the playlist is empty: there is nothing to skip"));
            }
            need("playlistjump", "skip")?;
            let mut plan = send("playNext", Value::Null, Expect::Playing(None));
            plan.frames = vec![framing::event_without_data("playNext")];
            plan
        }
        Action::VoteSkip => {
            if model.options["allow_voteskip"].as_bool() == Some(false) {
                return Err(ActionError::new(
                    ActionErrorKind::Refused,
                    "vote skipping is turned off in this channel (its allow_voteskip option)",
                ));
            }
            let Some(current) = model.playlist.current else {
                return Err(invalid(
                    "nothing is playing: there is nothing to vote to skip",
                ));
            };
            if model.voted_skip == Some(current) {
                return Err(invalid("the bot already voted to skip what is playing"));
            }
            need("voteskip", "vote to skip")?;
            // A vote is confirmed only to ranks that may see the count.
            let expect = if model.allows("viewvoteskip") {
                Expect::VoteCounted
            } else {
                Expect::Nothing(
                    "vote sent (CyTube shows the count only to ranks with viewvoteskip)".into(),
                )
            };
            let mut plan = send("voteskip", Value::Null, expect);
            plan.frames = vec![framing::event_without_data("voteskip")];
            plan
        }
        Action::Kick { user, reason } => {
            need("kick", "kick users")?;
            let target = present(model, user)?;
            outranks(model, target.rank, user, "kick")?;
            command(
                format!("/kick {} {reason}", target.name)
                    .trim_end()
                    .to_owned(),
                Expect::Left(target.name.clone()),
            )
        }
        Action::Ban { user, reason } => {
            if user.eq_ignore_ascii_case(&model.self_name) {
                return Err(invalid("the bot cannot ban itself"));
            }
            need("ban", "ban users")?;
            command(
                format!("/ban {user} {reason}").trim_end().to_owned(),
                Expect::Banned(user.clone()),
            )
        }
        Action::Mute { user } | Action::ShadowMute { user } => {
            let shadow = matches!(action, Action::ShadowMute { .. });
            need("mute", "mute users")?;
            let target = present(model, user)?;
            outranks(model, target.rank, user, "mute")?;
            let verb = if shadow { "smute" } else { "mute" };
            command(
                format!("/{verb} {}", target.name),
                Expect::Muted(target.name.clone(), shadow),
            )
        }
        Action::Unmute { user } => {
            if user.eq_ignore_ascii_case(&model.self_name) {
                return Err(invalid("the bot cannot unmute itself"));
            }
            need("mute", "unmute users")?;
            command(format!("/unmute {user}"), Expect::Unmuted(user.clone()))
        }
        Action::ClearChat => {
            need("chatclear", "clear the chat")?;
            command("/clear".to_owned(), Expect::Cleared)
        }
        Action::OpenPoll(poll) => {
            need("pollctl", "open polls")?;
            let mut data = json!({
                "title": poll.title,
                "opts": poll.options,
                "obscured": poll.hidden,
            });
            if let Some(timeout) = poll.timeout_secs {
                data["timeout"] = json!(timeout);
            }
            send("newPoll", data, Expect::PollOpened)
        }
        Action::ClosePoll => {
            if model.poll.is_none() {
                return Err(invalid("no poll is open"));
            }
            need("pollctl", "close polls")?;
            let mut plan = send("closePoll", Value::Null, Expect::PollClosed);
            plan.frames = vec![framing::event_without_data("closePoll")];
            plan
        }
    };
    Ok(plan)
}

/// Whether frame `name` with `data` settles the action expecting `expect`, and how.
pub fn settles(
    expect: &Expect,
    self_name: &str,
    name: &str,
    data: &Value,
) -> Option<Result<String, ActionError>> {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let refused = |data: &Value| {
        let message = data["msg"].as_str().unwrap_or("no reason given");
        Err(ActionError::new(
            ActionErrorKind::Refused,
            format!("CyTube refused: {}", super::html::to_plain_text(message)),
        ))
    };
    let notice = |data: &Value, verb: &str, target: &str| {
        name == "chatMsg"
            && data["username"].as_str() == Some("[server]")
            && data["msg"].as_str().is_some_and(|msg| {
                let words: Vec<&str> = msg.split_whitespace().collect();
                words.len() == 3
                    && same(words[0], self_name)
                    && words[1] == verb
                    && same(words[2], target)
            })
    };
    match (expect, name) {
        (Expect::Queued(_), "queueFail") => Some(refused(data)),
        (Expect::Queued(kind), "queue") => {
            let item = &data["item"];
            let media = &item["media"];
            let mine = item["queueby"]
                .as_str()
                .is_some_and(|by| same(by, self_name))
                && media["type"].as_str() == Some(kind.as_str());
            mine.then(|| {
                Ok(format!(
                    "{}\t{}",
                    item["uid"].as_u64().unwrap_or(0),
                    media["title"].as_str().unwrap_or_default()
                ))
            })
        }
        (Expect::Deleted(uid), "delete") => (data["uid"].as_u64() == Some(*uid)).then(ok),
        (Expect::Moved(uid), "moveVideo") => (data["from"].as_u64() == Some(*uid)).then(ok),
        (Expect::Playing(want), "setCurrent") => {
            let uid = data.as_u64().or_else(|| data.as_str()?.parse().ok());
            (want.is_none() || *want == uid).then(ok)
        }
        (Expect::VoteCounted, "voteskip") => Some(Ok(format!(
            "{} of {} votes",
            data["count"].as_u64().unwrap_or(0),
            data["need"].as_u64().unwrap_or(0)
        ))),
        (Expect::VoteCounted, "chatMsg") if data["username"].as_str() == Some("[voteskip]") => {
            Some(Ok("the vote passed: skipping".to_owned()))
        }
        (Expect::Left(target), "userLeave") => data["name"]
            .as_str()
            .is_some_and(|left| same(left, target))
            .then(ok),
        (Expect::Banned(target), "chatMsg") => notice(data, "namebanned", target).then(ok),
        (Expect::Muted(target, shadow), "setUserMeta") => {
            let meta = &data["meta"];
            let key = if *shadow { "smuted" } else { "muted" };
            (data["name"].as_str().is_some_and(|n| same(n, target))
                && meta[key].as_bool() == Some(true))
            .then(ok)
        }
        (Expect::Unmuted(target), "chatMsg") => notice(data, "unmuted", target).then(ok),
        (Expect::Cleared, "clearchat") => Some(Ok(String::new())),
        (Expect::PollOpened, "newPoll") => data["initiator"]
            .as_str()
            .is_some_and(|by| same(by, self_name))
            .then(ok),
        (Expect::PollClosed, "closePoll") => Some(Ok(String::new())),
        (
            Expect::Left(_)
            | Expect::Banned(_)
            | Expect::Muted(..)
            | Expect::Unmuted(_)
            | Expect::PollOpened,
            "errorMsg",
        ) => Some(refused(data)),
        _ => None,
    }
}

fn ok() -> Result<String, ActionError> {
    Ok(String::new())
}

fn invalid(message: impl Into<String>) -> ActionError {
    ActionError::new(ActionErrorKind::Invalid, message)
}

/// Whether the bot holds `key`; the error names the rank needed and the fix when not.
fn need(model: &ChannelModel, key: &str, what: &str) -> Result<(), ActionError> {
    if model.allows(key) {
        return Ok(());
    }
    let message = match model.needed_rank(key) {
        Some(needed) => format!(
            "the bot's rank in the channel is {}, but CyTube lets only {} and above {what} here (channel permission {key}): make the bot a moderator of the channel, or lower that permission",
            rank_name(model.bot_rank),
            rank_name(needed)
        ),
        None => format!(
            "CyTube lets nobody {what} in this channel (it has no {key} permission: an unregistered channel has no moderation)"
        ),
    };
    Err(ActionError::new(ActionErrorKind::BotRank, message))
}

fn present<'m>(
    model: &'m ChannelModel,
    user: &str,
) -> Result<&'m super::channel::Present, ActionError> {
    model
        .user(user)
        .ok_or_else(|| invalid(format!("{user} is not in the channel")))
}

/// The bot may only act on users below its own rank (CyTube's rule for kicks and mutes).
fn outranks(model: &ChannelModel, target: f64, user: &str, what: &str) -> Result<(), ActionError> {
    if target < model.bot_rank {
        return Ok(());
    }
    Err(ActionError::new(
        ActionErrorKind::BotRank,
        format!(
            "the bot cannot {what} {user}: their rank, {}, is not below the bot's, {}",
            rank_name(target),
            rank_name(model.bot_rank)
        ),
    ))
}

#[cfg(test)]
mod tests;

//! The chat channel as a [`TestBot`] fakes it for [`crate::Channel`]: a playlist, a poll and
//! the bot's own name and rank that the test sets, the actions the plugin asks for, recorded,
//! and how the kit answers them.
//!
//! By default every well-formed action succeeds and changes the fake channel as CyTube would
//! (docs/CYTUBE.md, "Frame order per action"): a queue adds an item (playing it when the
//! playlist was empty), a delete, move, jump or skip moves the playlist and what plays, a poll
//! opens and closes. A test makes actions fail with [`TestBot::refuse_actions`] or
//! [`TestBot::refuse_next_action`], and takes `channel:` permissions away with
//! [`TestBot::declare_channel`] (the kit cannot read the manifest: all are declared until then).
//! A malformed request is refused as the host refuses it, before anything is recorded.

use std::{collections::VecDeque, time::Duration};

use super::{state::State, TestBot};
use crate::{
    channel::{Action, ActionError, ActionErrorKind, ChannelPermission, MoveTo, QueueAt},
    ChatUser, Playlist, PlaylistItem, Plugin, Poll, Rank,
};

/// The bot's name in the fake channel until the test sets another.
pub const BOT_NAME: &str = "rosey";

/// A playlist item for [`TestBot::set_playlist`]: `title`, a YouTube video of unknown length
/// with id `vid<uid>`, queued by `someone`. Change what a test needs with `..`:
/// `PlaylistItem { temp: true, ..playlist_item(3, "Song") }`.
pub fn playlist_item(uid: u64, title: &str) -> PlaylistItem {
    PlaylistItem {
        uid,
        title: title.to_owned(),
        kind: "yt".to_owned(),
        id: format!("vid{uid}"),
        duration: Duration::ZERO,
        temp: false,
        queued_by: "someone".to_owned(),
    }
}

/// A user for [`TestBot::set_users`]: `name` of `rank`, not away.
pub fn chat_user(name: &str, rank: crate::Rank) -> crate::ChatUser {
    crate::ChatUser {
        name: name.to_owned(),
        rank,
        afk: false,
    }
}

/// The fake channel: what the readers answer, what was asked, how to answer.
pub(super) struct KitChannel {
    /// What `playlist()` answers.
    pub playlist: Playlist,
    /// What `poll()` answers (unless its timeout passed).
    pub poll: Option<Poll>,
    /// When the open poll closes by itself, on the fake clock.
    pub poll_closes_ms: Option<u64>,
    /// What `bot()` answers.
    pub bot: ChatUser,
    /// The `channel:` permissions the plugin has.
    pub declared: Vec<ChannelPermission>,
    /// Refuses every action while set.
    pub refuse_all: Option<ActionError>,
    /// Refuses the next actions, one each, before `refuse_all`.
    pub refuse_next: VecDeque<ActionError>,
    /// Every well-formed action asked for, until drained.
    pub actions: Vec<Action>,
    /// The uid the next queued item gets (at least).
    pub next_uid: u64,
}

impl Default for KitChannel {
    fn default() -> KitChannel {
        KitChannel {
            playlist: Playlist::default(),
            poll: None,
            poll_closes_ms: None,
            bot: ChatUser {
                name: BOT_NAME.to_owned(),
                rank: Rank::MODERATOR,
                afk: false,
            },
            declared: ChannelPermission::ALL.to_vec(),
            refuse_all: None,
            refuse_next: VecDeque::new(),
            actions: Vec::new(),
            next_uid: 1,
        }
    }
}

impl KitChannel {
    /// The open poll at `now_ms` (one whose timeout passed is closed first).
    pub fn poll_at(&mut self, now_ms: u64) -> Option<Poll> {
        if self.poll_closes_ms.is_some_and(|closes| closes <= now_ms) {
            self.poll = None;
            self.poll_closes_ms = None;
        }
        self.poll.clone()
    }
}

/// Takes the action `verb` `args` as the host, the plugin's actor and the bot would: its
/// detail, or the error encoded for the wire.
pub(super) fn act(state: &mut State, verb: &str, args: &[String]) -> Result<String, String> {
    let action = Action::from_wire(verb, args)
        .map_err(|reason| ActionError::new(ActionErrorKind::Invalid, reason).encode())?;
    let now_ms = state.now_ms;
    let channel = &mut state.channel;
    channel.actions.push(action.clone());
    let permission = action.permission();
    if !channel.declared.contains(&permission) {
        return Err(crate::channel::not_declared(&action).encode());
    }
    if let Some(refusal) = channel.refuse_next.pop_front() {
        return Err(refusal.encode());
    }
    if let Some(refusal) = &channel.refuse_all {
        return Err(refusal.encode());
    }
    perform(state, now_ms, action)
        .map_err(|reason| ActionError::new(ActionErrorKind::Invalid, reason).encode())
}

/// What a successful `action` does to the fake channel; why it cannot (no such item).
fn perform(state: &mut State, now_ms: u64, action: Action) -> Result<String, String> {
    let channel = &mut state.channel;
    let playlist = &mut channel.playlist;
    let index_of = |playlist: &Playlist, uid: u64| {
        playlist
            .items
            .iter()
            .position(|item| item.uid == uid)
            .ok_or_else(|| format!("no playlist item has uid {uid}"))
    };
    match action {
        Action::Queue { link, at, temp } => {
            let highest = playlist.items.iter().map(|item| item.uid + 1).max();
            let uid = channel.next_uid.max(highest.unwrap_or(0));
            channel.next_uid = uid + 1;
            let item = PlaylistItem {
                uid,
                title: link.clone(),
                kind: String::new(),
                id: link,
                duration: Duration::ZERO,
                temp,
                queued_by: channel.bot.name.clone(),
            };
            let detail = format!("{uid}\t{}", item.title);
            let after_current = playlist
                .current
                .and_then(|current| index_of(playlist, current).ok());
            match (at, after_current) {
                (QueueAt::Next, Some(index)) => playlist.items.insert(index + 1, item),
                _ => playlist.items.push(item),
            }
            if playlist.items.len() == 1 {
                play(playlist, Some(uid));
            }
            Ok(detail)
        }
        Action::Delete { uid } => {
            let index = index_of(playlist, uid)?;
            if playlist.current == Some(uid) {
                play_next(playlist, true);
            } else {
                playlist.items.remove(index);
            }
            Ok(String::new())
        }
        Action::Move { uid, to } => {
            let from = index_of(playlist, uid)?;
            if let MoveTo::After(after) = to {
                if after == uid {
                    return Err(format!("cannot move item {uid} after itself"));
                }
                index_of(playlist, after)?;
            }
            let item = playlist.items.remove(from);
            let at = match to {
                MoveTo::Start => 0,
                MoveTo::End => playlist.items.len(),
                MoveTo::After(after) => index_of(playlist, after)? + 1,
            };
            playlist.items.insert(at, item);
            Ok(String::new())
        }
        Action::Jump { uid } => {
            index_of(playlist, uid)?;
            if let Some(current) = playlist.current.filter(|&current| current != uid) {
                if playlist.item(current).is_some_and(|item| item.temp) {
                    playlist.items.retain(|item| item.uid != current);
                }
            }
            play(playlist, Some(uid));
            Ok(String::new())
        }
        Action::Skip => {
            let temp = playlist.now_playing().is_some_and(|item| item.temp);
            play_next(playlist, temp);
            Ok(String::new())
        }
        Action::Kick { user, .. } | Action::Ban { user, .. } => {
            state
                .users
                .retain(|present| !present.name.eq_ignore_ascii_case(&user));
            Ok(String::new())
        }
        Action::OpenPoll(new) => {
            channel.poll = Some(Poll {
                counts: vec![Some(0); new.options.len()],
                title: new.title,
                options: new.options,
                hidden: new.hidden,
                opened_by: channel.bot.name.clone(),
                opened_at_ms: now_ms,
            });
            channel.poll_closes_ms = new
                .timeout_secs
                .map(|secs| now_ms.saturating_add(u64::from(secs) * 1000));
            Ok(String::new())
        }
        Action::ClosePoll => {
            channel.poll = None;
            channel.poll_closes_ms = None;
            Ok(String::new())
        }
        Action::VoteSkip
        | Action::Mute { .. }
        | Action::ShadowMute { .. }
        | Action::Unmute { .. }
        | Action::ClearChat => Ok(String::new()),
    }
}

/// Starts playing `uid` (or nothing) from its beginning.
fn play(playlist: &mut Playlist, uid: Option<u64>) {
    playlist.current = uid;
    playlist.position = Duration::ZERO;
    playlist.paused = false;
}

/// Plays the item after the current one, wrapping to the first (a lone item restarts),
/// removing the current one first when `remove` (deleted, or temp).
fn play_next(playlist: &mut Playlist, remove: bool) {
    let Some(current) = playlist.current else {
        return;
    };
    let Some(index) = playlist.items.iter().position(|item| item.uid == current) else {
        return play(playlist, None);
    };
    let next = playlist
        .items
        .get(index + 1)
        .or(playlist.items.first())
        .map(|item| item.uid);
    if remove {
        playlist.items.remove(index);
    }
    let next = next.filter(|&uid| playlist.item(uid).is_some());
    play(playlist, next);
}

impl<P: Plugin> TestBot<P> {
    /// Sets the playlist `channel().playlist()` answers: `items` in playing order, `current`
    /// the uid playing (position, pause and lock stay as they were). Empty until set.
    pub fn set_playlist(&mut self, items: Vec<PlaylistItem>, current: Option<u64>) {
        let mut state = self.shared.lock();
        state.channel.playlist.items = items;
        state.channel.playlist.current = current;
    }

    /// Sets the whole playlist, position, pause and lock included.
    pub fn set_playlist_state(&mut self, playlist: Playlist) {
        self.shared.lock().channel.playlist = playlist;
    }

    /// The playlist as it is now: as set, and as the plugin's actions changed it.
    pub fn playlist(&self) -> Playlist {
        self.shared.lock().channel.playlist.clone()
    }

    /// Sets the open poll `channel().poll()` answers (none until set); it stays open until
    /// the plugin closes it or the test sets another.
    pub fn set_poll(&mut self, poll: Option<Poll>) {
        let mut state = self.shared.lock();
        state.channel.poll = poll;
        state.channel.poll_closes_ms = None;
    }

    /// The open poll now: as set, or as the plugin opened it (with zero votes; one opened with
    /// a timeout closes when the clock passes it).
    pub fn poll(&self) -> Option<Poll> {
        let mut state = self.shared.lock();
        let now_ms = state.now_ms;
        state.channel.poll_at(now_ms)
    }

    /// Sets who `channel().bot()` says the bot is (until set: [`BOT_NAME`], a moderator).
    /// Only what it answers: the kit's actions do not check the rank (use
    /// [`TestBot::refuse_actions`] with [`ActionErrorKind::BotRank`]).
    pub fn set_bot_user(&mut self, name: &str, rank: Rank) {
        self.shared.lock().channel.bot = ChatUser {
            name: name.to_owned(),
            rank,
            afk: false,
        };
    }

    /// The channel actions the plugin asked for since last drained, drained: every
    /// well-formed one, in order, whether it succeeded or was refused (a malformed one the
    /// host refuses as `Invalid` is not recorded).
    pub fn actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.shared.lock().channel.actions)
    }

    /// From now on every action fails with `kind` and `message` (as when the bot lacks the
    /// rank, or the chat is gone), until [`TestBot::accept_actions`].
    pub fn refuse_actions(&mut self, kind: ActionErrorKind, message: &str) {
        self.shared.lock().channel.refuse_all = Some(ActionError::new(kind, message));
    }

    /// Ends [`TestBot::refuse_actions`]: actions succeed again.
    pub fn accept_actions(&mut self) {
        self.shared.lock().channel.refuse_all = None;
    }

    /// The next action fails with `error` (queued: call it again for the one after); then
    /// they succeed again, unless [`TestBot::refuse_actions`] says otherwise.
    pub fn refuse_next_action(&mut self, error: ActionError) {
        self.shared.lock().channel.refuse_next.push_back(error);
    }

    /// The `channel:` permissions the plugin's manifest declares: an action that needs
    /// another fails with `NotDeclared`, as the daemon refuses it. All until set.
    pub fn declare_channel(&mut self, permissions: &[ChannelPermission]) {
        self.shared.lock().channel.declared = permissions.to_vec();
    }
}

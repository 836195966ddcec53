//! The test-side API for the channel's playlist, voteskip, moderation, polls and AFK: set the
//! channel up, act as a user the test plays (through the same checks as a socket's frames),
//! and read what the server holds and what it received.

use serde_json::{json, Value};

use super::{
    permissions, playback, protocol,
    state::{broadcast, State, Who},
    users, CytubeServer,
};

/// A playlist item, as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistEntry {
    /// Its uid (from the channel's counter).
    pub uid: u64,
    /// The media type (`yt`, `vi`, …).
    pub kind: String,
    /// The media id (as the lookup normalised it).
    pub id: String,
    /// The title.
    pub title: String,
    /// The length in seconds (0: live).
    pub seconds: u64,
    /// Whether it is deleted once played.
    pub temp: bool,
    /// Who queued it (`""` for anonymous).
    pub queueby: String,
}

/// The open poll, with its real counts whether hidden or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollView {
    /// The title (sanitised HTML).
    pub title: String,
    /// The options (sanitised HTML).
    pub options: Vec<String>,
    /// Votes per option.
    pub counts: Vec<usize>,
    /// Whether the counts are hidden from users without `viewhiddenpoll`.
    pub hidden: bool,
    /// Who opened it.
    pub initiator: String,
}

impl CytubeServer {
    /// Runs `act` on the locked state, then sends what started media owes (`changeMedia`…).
    fn with<T>(&self, act: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.shared.lock();
        let out = act(&mut state);
        playback::flush_all(&mut state);
        out
    }

    /// Sets permission `key` of `channel` to `rank`; everyone there gets `setPermissions`.
    pub fn set_permission(&self, channel: &str, key: &str, rank: f64) {
        self.with(|state| permissions::set(state, channel, &[(key.to_owned(), rank)]));
    }

    /// Sets channel option `key` (`allow_voteskip`, `voteskip_ratio`, `maxlength`,
    /// `playlist_max_per_user`, `allow_dupes`, `afk_timeout`…); everyone gets `channelOpts`.
    pub fn set_option(&self, channel: &str, key: &str, value: Value) {
        self.with(|state| {
            state.room(channel).opts.insert(key.to_owned(), value);
            let opts = Value::Object(state.room(channel).opts.clone());
            broadcast(state, channel, "channelOpts", &opts);
        });
    }

    /// Locks or unlocks `channel`'s playlist; everyone gets `setPlaylistLocked`.
    pub fn set_playlist_locked(&self, channel: &str, locked: bool) {
        self.with(|state| permissions::set_locked(state, channel, locked));
    }

    /// Makes the lookup of media `kind:id` find `title`, `seconds` long (0: live).
    pub fn set_media_info(&self, kind: &str, id: &str, title: &str, seconds: u64) {
        let key = (kind.to_owned(), id.to_owned());
        self.shared
            .lock()
            .media
            .insert(key, (title.to_owned(), seconds));
    }

    /// Makes the lookup of media `kind:id` fail with `message` (the `queueFail` text).
    pub fn reject_media(&self, kind: &str, id: &str, message: &str) {
        let key = (kind.to_owned(), id.to_owned());
        self.shared.lock().rejects.insert(key, message.to_owned());
    }

    /// Makes the lookup of media `kind:id` never finish, as with a provider that does not
    /// answer: a `queue` of it gets no answer at all.
    pub fn stall_media(&self, kind: &str, id: &str) {
        let key = (kind.to_owned(), id.to_owned());
        self.shared.lock().stalls.insert(key);
    }

    /// `user` (a user the test plays, joining first if needed) sends event `event` with `data`
    /// (`Value::Null` for none) in `channel`, as a socket would.
    pub fn emit_as(&self, channel: &str, user: &str, event: &str, data: Value) {
        self.with(|state| {
            if users::join_virtual(state, channel, user) {
                let who = Who::Virtual(user.to_owned());
                protocol::on_channel_event(state, channel, &who, event, &data, None);
            }
        });
    }

    /// `user` queues media `kind:id` (at the end, or next) as the web client would (not
    /// temporary unless its rank forces it); the `queueFail` text when refused with one.
    pub fn queue_as(
        &self,
        channel: &str,
        user: &str,
        kind: &str,
        id: &str,
        pos_next: bool,
    ) -> Option<String> {
        let before = self.shared.lock().virtual_frames.len();
        let pos = if pos_next { "next" } else { "end" };
        let data = json!({"id": id, "type": kind, "pos": pos, "temp": false});
        self.emit_as(channel, user, "queue", data);
        let state = self.shared.lock();
        state.virtual_frames[before..]
            .iter()
            .find(|(name, event, _)| name == user && event == "queueFail")
            .map(|(_, _, data)| data["msg"].as_str().unwrap_or_default().to_owned())
    }

    /// `user` votes to skip the current item.
    pub fn vote_skip_as(&self, channel: &str, user: &str) {
        self.emit_as(channel, user, "voteskip", Value::Null);
    }

    /// `user` votes for option `option` of the open poll.
    pub fn vote_as(&self, channel: &str, user: &str, option: usize) {
        self.emit_as(channel, user, "vote", json!({ "option": option }));
    }

    /// `user` opens a poll (`newPoll`, hidden counts when `hidden`); the error text when
    /// CyTube refuses it with one.
    pub fn open_poll_as(
        &self,
        channel: &str,
        user: &str,
        title: &str,
        options: &[&str],
        hidden: bool,
    ) -> Option<String> {
        let before = self.shared.lock().virtual_frames.len();
        let data = json!({"title": title, "opts": options, "obscured": hidden});
        self.emit_as(channel, user, "newPoll", data);
        let state = self.shared.lock();
        state.virtual_frames[before..]
            .iter()
            .find(|(name, event, _)| name == user && event == "errorMsg")
            .map(|(_, _, data)| data["msg"].as_str().unwrap_or_default().to_owned())
    }

    /// Marks `user` (a user the test plays) AFK or back: everyone gets `setUserMeta` and
    /// `setAFK`, and the skip vote is counted again.
    pub fn set_afk(&self, channel: &str, user: &str, afk: bool) {
        self.with(|state| users::set_afk(state, channel, &Who::Virtual(user.to_owned()), afk));
    }

    /// Whether `user` (a socket or a test user) is AFK in `channel`.
    pub fn is_afk(&self, channel: &str, user: &str) -> bool {
        let state = self.shared.lock();
        let found = state
            .members(channel)
            .into_iter()
            .find(|m| m.name.eq_ignore_ascii_case(user));
        found.is_some_and(|m| m.afk)
    }

    /// Moves the current item's clock `seconds` ahead (the next item plays past its end + 2 s).
    pub fn advance_media(&self, channel: &str, seconds: f64) {
        self.with(|state| playback::advance(state, channel, seconds));
    }

    /// `channel`'s playlist, in play order.
    pub fn playlist(&self, channel: &str) -> Vec<PlaylistEntry> {
        let state = self.shared.lock();
        let Some(room) = state.channels.get(channel) else {
            return Vec::new();
        };
        room.playlist
            .items
            .iter()
            .map(|item| PlaylistEntry {
                uid: item.uid,
                kind: item.media.kind.clone(),
                id: item.media.id.clone(),
                title: item.media.title.clone(),
                seconds: item.media.seconds,
                temp: item.temp,
                queueby: item.queueby.clone(),
            })
            .collect()
    }

    /// The uid of the item playing in `channel`.
    pub fn current(&self, channel: &str) -> Option<u64> {
        let state = self.shared.lock();
        state.channels.get(channel)?.playlist.current
    }

    /// The playing item's `currentTime` in `channel`.
    pub fn media_time(&self, channel: &str) -> Option<f64> {
        let state = self.shared.lock();
        let playlist = &state.channels.get(channel)?.playlist;
        playlist.current.map(|_| playlist.time)
    }

    /// How many users voted to skip the current item (`None`: no vote running).
    pub fn skip_votes(&self, channel: &str) -> Option<usize> {
        let state = self.shared.lock();
        state.channels.get(channel)?.skips.as_ref().map(|v| v.len())
    }

    /// The open poll in `channel`.
    pub fn poll(&self, channel: &str) -> Option<PollView> {
        let state = self.shared.lock();
        let poll = state.channels.get(channel)?.poll.as_ref()?;
        Some(PollView {
            title: poll.title.clone(),
            options: poll.options.clone(),
            counts: poll.counts(),
            hidden: poll.hidden,
            initiator: poll.initiator.clone(),
        })
    }

    /// Whether `user` is muted in `channel` (shadow mutes included, as in CyTube).
    pub fn is_muted(&self, channel: &str, user: &str) -> bool {
        let state = self.shared.lock();
        let lower = user.to_lowercase();
        state
            .channels
            .get(channel)
            .is_some_and(|room| room.muted.contains(&lower))
    }

    /// Whether `user` is shadow-muted in `channel`.
    pub fn is_shadow_muted(&self, channel: &str, user: &str) -> bool {
        let state = self.shared.lock();
        let lower = user.to_lowercase();
        state
            .channels
            .get(channel)
            .is_some_and(|room| room.smuted.contains(&lower))
    }

    /// Whether `name` is banned in `channel`.
    pub fn is_banned(&self, channel: &str, name: &str) -> bool {
        let state = self.shared.lock();
        state
            .channels
            .get(channel)
            .is_some_and(|room| super::moderation::is_banned(room, name))
    }

    /// Every kick so far, sockets and test users: (name, reason).
    pub fn kicked(&self) -> Vec<(String, String)> {
        self.shared.lock().kicked.clone()
    }

    /// How many times `/clear` cleared `channel`'s chat.
    pub fn chat_cleared(&self, channel: &str) -> u32 {
        let state = self.shared.lock();
        state.channels.get(channel).map_or(0, |room| room.cleared)
    }

    /// Every event the server received from sockets that logged in as `name` (any case), in
    /// order, including what they sent before logging in: (event, data).
    pub fn received(&self, name: &str) -> Vec<(String, Value)> {
        let state = self.shared.lock();
        state
            .received
            .iter()
            .filter(|(id, _, _)| {
                state
                    .socket_names
                    .get(id)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|(_, event, data)| (event.clone(), data.clone()))
            .collect()
    }

    /// The frames the server addressed to `user` alone (a user the test plays): `errorMsg`,
    /// `queueFail`, `noflood`, `banlist`…: (event, data).
    pub fn frames_to(&self, user: &str) -> Vec<(String, Value)> {
        let state = self.shared.lock();
        state
            .virtual_frames
            .iter()
            .filter(|(name, _, _)| name == user)
            .map(|(_, event, data)| (event.clone(), data.clone()))
            .collect()
    }
}

//! The playlist (CyTube's src/channel/playlist.js): items with uids from a per-channel
//! counter, what is sent about them, and the client's `delete`, `moveMedia`, `jumpTo`,
//! `playNext`, `clearPlaylist`, `shufflePlaylist`, `setTemp`, `requestPlaylist` and
//! `playerReady`. Queueing is in [`super::queue`], the playback clock in [`super::playback`].

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    checks::typechecked,
    playback,
    state::{broadcast, broadcast_each, send, State, Who},
};

/// CyTube's `playlist.max-items`.
pub(crate) const MAX_ITEMS: usize = 4000;

/// A media object (CyTube's `Media`).
#[derive(Debug, Clone)]
pub(crate) struct Media {
    pub id: String,
    pub title: String,
    pub seconds: u64,
    pub duration: String,
    pub kind: String,
}

impl Media {
    /// `Media.pack()`: the meta keys CyTube leaves undefined vanish in JSON.
    pub(crate) fn pack(&self) -> Value {
        json!({"id": self.id, "title": self.title, "seconds": self.seconds,
            "duration": self.duration, "type": self.kind, "meta": {}})
    }
}

/// A playlist item.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub uid: u64,
    pub media: Media,
    pub temp: bool,
    pub queueby: String,
}

impl Item {
    pub(crate) fn pack(&self) -> Value {
        json!({"media": self.media.pack(), "uid": self.uid, "temp": self.temp,
            "queueby": self.queueby})
    }
}

/// A channel's playlist and its playback position.
#[derive(Debug, Default)]
pub(crate) struct Playlist {
    pub items: Vec<Item>,
    pub current: Option<u64>,
    pub next_uid: u64,
    /// The current item's `currentTime`.
    pub time: f64,
    pub paused: bool,
    /// CyTube's `_counter` (a `mediaUpdate` every 5 ticks).
    pub counter: u64,
    /// Whether the lead timer runs.
    pub timer: bool,
    /// A started item whose `setCurrent`/`changeMedia` are still to be sent.
    pub pending: bool,
}

impl Playlist {
    /// The index of the item whose uid equals `uid` loosely (JavaScript `==`).
    pub(crate) fn find(&self, uid: &Value) -> Option<usize> {
        self.items.iter().position(|item| loose_eq(item.uid, uid))
    }

    pub(crate) fn index_of(&self, uid: u64) -> Option<usize> {
        self.items.iter().position(|item| item.uid == uid)
    }

    pub(crate) fn current_index(&self) -> Option<usize> {
        self.current.and_then(|uid| self.index_of(uid))
    }

    pub(crate) fn current_item(&self) -> Option<&Item> {
        self.current_index().map(|i| &self.items[i])
    }

    /// `setPlaylistMeta`'s payload.
    pub(crate) fn meta(&self) -> Value {
        let raw: u64 = self.items.iter().map(|item| item.media.seconds).sum();
        json!({"count": self.items.len(), "rawTime": raw, "time": format_time(raw)})
    }

    pub(crate) fn packed(&self) -> Value {
        Value::Array(self.items.iter().map(Item::pack).collect())
    }

    /// `changeMedia`'s payload: the current media with its time.
    pub(crate) fn full_update(&self) -> Option<Value> {
        let mut media = self.current_item()?.media.pack();
        media["currentTime"] = super::state::num(self.time);
        media["paused"] = json!(self.paused);
        Some(media)
    }
}

/// JavaScript's `uid == value` for a number `uid`.
fn loose_eq(uid: u64, value: &Value) -> bool {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.trim().is_empty() => Some(0.0),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    };
    number == Some(uid as f64)
}

/// CyTube's `util.formatTime`.
pub(crate) fn format_time(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    if h > 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

/// CyTube's `sendPlaylist` to one socket: `setPlaylistMeta`, then with `seeplaylist`
/// `playlist` and `setCurrent`.
pub(crate) fn send_playlist(state: &State, channel: &str, id: u64) {
    let (Some(room), Some(socket)) = (state.channels.get(channel), state.sockets.get(&id)) else {
        return;
    };
    send(state, id, "setPlaylistMeta", &room.playlist.meta());
    if !room.can(socket.rank, "seeplaylist") {
        return;
    }
    send(state, id, "playlist", &room.playlist.packed());
    if let Some(uid) = room.playlist.current {
        send(state, id, "setCurrent", &json!(uid));
    }
}

/// CyTube's `sendChangeMedia` to one socket: `setCurrent`, `changeMedia` (if playing).
pub(crate) fn send_change_media(state: &State, channel: &str, id: u64) {
    let Some(room) = state.channels.get(channel) else {
        return;
    };
    if let (Some(uid), Some(update)) = (room.playlist.current, room.playlist.full_update()) {
        send(state, id, "setCurrent", &json!(uid));
        send(state, id, "changeMedia", &update);
    }
}

/// `delete {uid}` to the `seeplaylist` holders and `setPlaylistMeta` to everyone.
pub(crate) fn announce_delete(state: &State, channel: &str, uid: u64) {
    let Some(room) = state.channels.get(channel) else {
        return;
    };
    let meta = room.playlist.meta();
    broadcast_each(state, channel, "delete", |room, s| {
        room.can(s.rank, "seeplaylist")
            .then(|| json!({ "uid": uid }))
    });
    broadcast(state, channel, "setPlaylistMeta", &meta);
}

/// CyTube's `_delete`: removes item `uid`; if it was playing, the next (or first) item plays.
pub(crate) fn delete(state: &mut State, channel: &str, uid: u64) -> bool {
    let playlist = &mut state.room(channel).playlist;
    let Some(index) = playlist.index_of(uid) else {
        return false;
    };
    let next = playlist
        .items
        .get(index + 1)
        .or(playlist.items.first())
        .map(|item| item.uid);
    playlist.items.remove(index);
    let was_current = playlist.current == Some(uid);
    announce_delete(state, channel, uid);
    if was_current {
        if next == Some(uid) {
            state.room(channel).playlist.current = None;
        } else {
            state.room(channel).playlist.current = next;
            playback::start(state, channel, None);
        }
    }
    true
}

/// The rank of `who` in `channel`, if it is there.
fn rank_of(state: &State, channel: &str, who: &Who) -> Option<f64> {
    state.member(channel, who).map(|m| m.rank)
}

/// Whether `who` holds `key` in `channel`.
pub(crate) fn allowed(state: &mut State, channel: &str, who: &Who, key: &str) -> bool {
    match rank_of(state, channel, who) {
        Some(rank) => state.room(channel).can(rank, key),
        None => false,
    }
}

/// → `delete uid` (a JSON number; `playlistdelete`; SILENT otherwise or unknown).
pub(crate) fn on_delete(state: &mut State, channel: &str, who: &Who, data: &Value) {
    if !allowed(state, channel, who, "playlistdelete") || !data.is_number() {
        return;
    }
    let found = state.room(channel).playlist.find(data);
    if let Some(index) = found {
        let uid = state.room(channel).playlist.items[index].uid;
        delete(state, channel, uid);
    }
}

/// → `moveMedia {from, after}` (`playlistmove`, SILENT): broadcast `moveVideo` (the request).
/// An `after` uid that does not exist loses the item without a word, as in CyTube.
pub(crate) fn on_move(state: &mut State, channel: &str, who: &Who, data: &Value) {
    let template = [("from", "number"), ("after", "string,number")];
    if !typechecked(state, who, "moveMedia", data, &template)
        || !allowed(state, channel, who, "playlistmove")
    {
        return;
    }
    let playlist = &mut state.room(channel).playlist;
    let Some(from) = playlist.find(&data["from"]) else {
        return;
    };
    if playlist.find(&data["after"]) == Some(from) {
        return;
    }
    let item = playlist.items.remove(from);
    match data["after"].as_str() {
        Some("prepend") => playlist.items.insert(0, item),
        Some("append") => playlist.items.push(item),
        _ => match playlist.find(&data["after"]) {
            Some(after) => playlist.items.insert(after + 1, item),
            None => return,
        },
    }
    broadcast(state, channel, "moveVideo", data);
}

/// → `jumpTo uid` (string or number; `playlistjump`; SILENT otherwise or unknown): plays it;
/// a temporary item that was playing is deleted.
pub(crate) fn on_jump(state: &mut State, channel: &str, who: &Who, data: &Value) {
    if !(data.is_string() || data.is_number()) || !allowed(state, channel, who, "playlistjump") {
        return;
    }
    let playlist = &mut state.room(channel).playlist;
    let Some(index) = playlist.find(data) else {
        return;
    };
    let to = playlist.items[index].uid;
    let old = playlist.current_item().map(|item| (item.uid, item.temp));
    playlist.current = Some(to);
    playback::start(state, channel, None);
    if let Some((old, true)) = old {
        if old != to {
            delete(state, channel, old);
        }
    }
}

/// → `playNext` (`playlistjump`, SILENT).
pub(crate) fn on_play_next(state: &mut State, channel: &str, who: &Who) {
    if allowed(state, channel, who, "playlistjump") {
        playback::play_next(state, channel);
    }
}

/// → `clearPlaylist` (`playlistclear`, SILENT): `playlist []` to everyone, `setPlaylistMeta`.
pub(crate) fn on_clear(state: &mut State, channel: &str, who: &Who) {
    if !allowed(state, channel, who, "playlistclear") {
        return;
    }
    let playlist = &mut state.room(channel).playlist;
    playlist.current = None;
    playlist.items.clear();
    playlist.pending = false;
    let meta = playlist.meta();
    broadcast(state, channel, "playlist", &json!([]));
    broadcast(state, channel, "setPlaylistMeta", &meta);
}

/// → `shufflePlaylist` (`playlistshuffle`, SILENT): new uids for all, the current item first,
/// `playlist` to the `seeplaylist` holders, then it plays on from its time.
pub(crate) fn on_shuffle(state: &mut State, channel: &str, who: &Who) {
    if !allowed(state, channel, who, "playlistshuffle") {
        return;
    }
    let playlist = &mut state.room(channel).playlist;
    let current = playlist.current;
    let time = playlist.time;
    let mut rest = std::mem::take(&mut playlist.items);
    let mut seed = super::state::now_ms() ^ 0x9e37_79b9_7f4a_7c15;
    let mut shuffled = Vec::new();
    while !rest.is_empty() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut item = rest.remove((seed % rest.len() as u64) as usize);
        let was_current = Some(item.uid) == current;
        item.uid = playlist.next_uid;
        playlist.next_uid += 1;
        if was_current {
            shuffled.insert(0, item);
        } else {
            shuffled.push(item);
        }
    }
    playlist.items = shuffled;
    playlist.current = playlist.items.first().map(|item| item.uid);
    let packed = playlist.packed();
    broadcast_each(state, channel, "playlist", |room, s| {
        room.can(s.rank, "seeplaylist").then(|| packed.clone())
    });
    playback::start(state, channel, (time != 0.0).then_some(time));
}

/// → `setTemp {uid, temp}` (`settemp`, SILENT also for an unknown uid): broadcast `setTemp`.
pub(crate) fn on_set_temp(state: &mut State, channel: &str, who: &Who, data: &Value) {
    let template = [("uid", "number"), ("temp", "boolean")];
    if !typechecked(state, who, "setTemp", data, &template)
        || !allowed(state, channel, who, "settemp")
    {
        return;
    }
    let playlist = &mut state.room(channel).playlist;
    let Some(index) = playlist.find(&data["uid"]) else {
        return;
    };
    playlist.items[index].temp = data["temp"].as_bool().unwrap_or(false);
    broadcast(state, channel, "setTemp", data);
}

/// → `requestPlaylist`: the playlist again, once per 60 s.
pub(crate) fn on_request_playlist(state: &mut State, channel: &str, id: u64) {
    let Some(socket) = state.sockets.get_mut(&id) else {
        return;
    };
    if socket
        .requested_playlist
        .is_some_and(|at| at.elapsed() < Duration::from_secs(60))
    {
        let msg =
            "Get Playlist URLs is limited to 1 usage every 60 seconds.  Please try again later.";
        return send(
            state,
            id,
            "errorMsg",
            &json!({"msg": msg, "code": "REQ_PLAYLIST_LIMIT_REACHED"}),
        );
    }
    socket.requested_playlist = Some(Instant::now());
    send_playlist(state, channel, id);
}

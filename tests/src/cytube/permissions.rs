//! A registered channel's permission table and options with CyTube's defaults
//! (src/channel/permissions.js `DEFAULT_PERMISSIONS`, src/channel/opts.js), and the client's
//! `setPermissions` and `togglePlaylistLock`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{
    playlist,
    state::{broadcast, num, State, Who},
};

/// CyTube's default permission table of a registered channel.
const DEFAULTS: &[(&str, f64)] = &[
    ("seeplaylist", -1.0),
    ("playlistadd", 1.5),
    ("playlistnext", 1.5),
    ("playlistmove", 1.5),
    ("playlistdelete", 2.0),
    ("playlistjump", 1.5),
    ("playlistaddlist", 1.5),
    ("oplaylistadd", -1.0),
    ("oplaylistnext", 1.5),
    ("oplaylistmove", 1.5),
    ("oplaylistdelete", 2.0),
    ("oplaylistjump", 1.5),
    ("oplaylistaddlist", 1.5),
    ("playlistaddcustom", 3.0),
    ("playlistaddrawfile", 2.0),
    ("playlistaddlive", 1.5),
    ("exceedmaxlength", 2.0),
    ("addnontemp", 2.0),
    ("settemp", 2.0),
    ("playlistshuffle", 2.0),
    ("playlistclear", 2.0),
    ("pollctl", 1.5),
    ("pollvote", -1.0),
    ("viewhiddenpoll", 1.5),
    ("voteskip", -1.0),
    ("viewvoteskip", 1.5),
    ("mute", 1.5),
    ("kick", 1.5),
    ("ban", 2.0),
    ("motdedit", 3.0),
    ("filteredit", 3.0),
    ("filterimport", 3.0),
    ("emoteedit", 3.0),
    ("emoteimport", 3.0),
    ("playlistlock", 2.0),
    ("leaderctl", 2.0),
    ("drink", 1.5),
    ("chat", 0.0),
    ("chatclear", 2.0),
    ("exceedmaxitems", 2.0),
    ("deletefromchannellib", 2.0),
    ("exceedmaxdurationperuser", 2.0),
];

/// The default permission table.
pub(crate) fn defaults() -> BTreeMap<String, f64> {
    DEFAULTS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect()
}

/// CyTube's default channel options (`pagetitle` is the channel's name in CyTube; the
/// emulator leaves it empty).
pub(crate) fn default_options() -> Map<String, Value> {
    let opts = json!({
        "allow_voteskip": true,
        "voteskip_ratio": 0.5,
        "afk_timeout": 600,
        "pagetitle": "",
        "maxlength": 0,
        "externalcss": "",
        "externaljs": "",
        "chat_antiflood": false,
        "chat_antiflood_params": {"burst": 4, "sustained": 1, "cooldown": 4},
        "show_public": false,
        "enable_link_regex": true,
        "password": false,
        "allow_dupes": false,
        "torbanned": false,
        "block_anonymous_users": false,
        "allow_ascii_control": false,
        "playlist_max_per_user": 0,
        "new_user_chat_delay": 0,
        "new_user_chat_link_delay": 0,
        "playlist_max_duration_per_user": 0
    });
    match opts {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The whole table as `setPermissions` sends it.
pub(crate) fn table(state: &State, channel: &str) -> Value {
    let perms = state
        .channels
        .get(channel)
        .map(|room| room.perms.clone())
        .unwrap_or_else(defaults);
    Value::Object(perms.into_iter().map(|(k, v)| (k, num(v))).collect())
}

/// Sets permission `key` to `rank` (unknown keys are added) and broadcasts the table; a
/// `seeplaylist` change first re-sends the playlist to everyone it now allows.
pub(crate) fn set(state: &mut State, channel: &str, changes: &[(String, f64)]) {
    let room = state.room(channel);
    for (key, rank) in changes {
        room.perms.insert(key.clone(), *rank);
    }
    if changes.iter().any(|(key, _)| key == "seeplaylist") {
        for member in state.members(channel) {
            if let Who::Socket(id) = member.who {
                playlist::send_playlist(state, channel, id);
            }
        }
    }
    let table = table(state, channel);
    broadcast(state, channel, "setPermissions", &table);
}

/// → `setPermissions {key: rank}` from a socket: below rank 3 the sender is kicked; values
/// go through `parseFloat`, NaN entries and unknown keys are dropped.
pub(crate) fn on_set_permissions(state: &mut State, channel: &str, id: u64, data: &Value) {
    let Value::Object(changes) = data else { return };
    let rank = state.sockets.get(&id).map_or(-1.0, |s| s.rank);
    if rank < 3.0 {
        return super::users::kick_socket(state, id, "Attempted setPermissions as a non-admin");
    }
    let known = state.room(channel).perms.clone();
    let changes: Vec<(String, f64)> = changes
        .iter()
        .filter(|(key, _)| known.contains_key(*key))
        .filter_map(|(key, value)| {
            let rank = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => parse_float(s),
                _ => None,
            }?;
            Some((key.clone(), rank))
        })
        .collect();
    set(state, channel, &changes);
}

/// JavaScript's `parseFloat` for the common cases (leading number, rest ignored).
fn parse_float(text: &str) -> Option<f64> {
    let text = text.trim_start();
    let end = text
        .char_indices()
        .take_while(|(i, c)| {
            c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '+'))
        })
        .map(|(i, c)| i + c.len_utf8())
        .last()?;
    text[..end].parse().ok()
}

/// → `togglePlaylistLock` (permission `playlistlock`, SILENT): flips the lock, broadcast
/// `setPlaylistLocked`.
pub(crate) fn on_toggle_lock(state: &mut State, channel: &str, who: &Who) {
    let Some(member) = state.member(channel, who) else {
        return;
    };
    let room = state.room(channel);
    if !room.can(member.rank, "playlistlock") {
        return;
    }
    let locked = !room.locked;
    set_locked(state, channel, locked);
}

/// Locks or unlocks the playlist: broadcast `setPlaylistLocked`.
pub(crate) fn set_locked(state: &mut State, channel: &str, locked: bool) {
    state.room(channel).locked = locked;
    broadcast(state, channel, "setPlaylistLocked", &json!(locked));
}

//! Users in a channel (CyTube's src/channel/channel.js, src/user.js): the join burst, login
//! and the channel rank loaded after it, ranks, AFK, leaving and kicks.

use std::time::Instant;

use serde_json::{json, Value};

use super::{
    moderation, permissions, playlist, poll,
    server::Out,
    state::{
        broadcast, broadcast_each, notice, num, send, Channel, Member, State, Who, CLOAKED_IP,
    },
    voteskip, BACKLOG,
};

/// A user as `userlist`/`addUser` carry it, in the form for a viewer (moderators get more).
pub(crate) fn user_data(room: &Channel, member: &Member, moderator: bool) -> Value {
    json!({"name": member.name, "rank": num(member.rank), "profile": {"image": "", "text": ""},
        "meta": user_meta(room, member, moderator)})
}

fn user_meta(room: &Channel, member: &Member, moderator: bool) -> Value {
    let lower = member.name.to_lowercase();
    let (muted, smuted) = (room.muted.contains(&lower), room.smuted.contains(&lower));
    if moderator {
        json!({"afk": member.afk, "muted": muted, "smuted": smuted,
            "aliases": [member.name], "ip": CLOAKED_IP})
    } else {
        json!({"afk": member.afk, "muted": muted && !smuted})
    }
}

/// `userlist` (users logged in) to socket `id`, in its rank's form.
pub(crate) fn send_userlist(state: &State, channel: &str, id: u64) {
    let (Some(room), Some(socket)) = (state.channels.get(channel), state.sockets.get(&id)) else {
        return;
    };
    let list: Vec<Value> = state
        .members(channel)
        .iter()
        .filter(|m| !m.name.is_empty())
        .map(|m| user_data(room, m, socket.rank >= 2.0))
        .collect();
    send(state, id, "userlist", &Value::Array(list));
}

/// `addUser` to everyone in the channel (each in its form), and the `joined` notice.
fn send_user_join(state: &State, channel: &str, member: &Member) {
    broadcast_each(state, channel, "addUser", |room, s| {
        Some(user_data(room, member, s.rank >= 2.0))
    });
    let msg = format!("{} joined (aliases: {})", member.name, member.name);
    notice(state, channel, &msg, 2.0);
}

/// `setUserMeta {name, meta}` to everyone of rank `min_rank` or more, each in its form.
pub(crate) fn send_user_meta(state: &State, channel: &str, member: &Member, min_rank: f64) {
    broadcast_each(state, channel, "setUserMeta", |room, s| {
        (s.rank >= min_rank)
            .then(|| json!({"name": member.name, "meta": user_meta(room, member, s.rank >= 2.0)}))
    });
}

/// `usercount` (sockets, anonymous ones too, and the tests' users) to everyone.
pub(crate) fn usercount(state: &State, channel: &str) {
    let count = state.members(channel).len();
    broadcast(state, channel, "usercount", &json!(count));
}

/// A muted user's `setUserMeta` as it (re)joins, to the holders of `mute`.
fn remind_mute(state: &State, channel: &str, member: &Member) {
    let Some(room) = state.channels.get(channel) else {
        return;
    };
    if room.muted.contains(&member.name.to_lowercase()) {
        send_user_meta(state, channel, member, room.perm("mute"));
    }
}

/// Socket `id` joins `channel`: CyTube's `joinUser`/`acceptUser` and the join burst.
pub(crate) fn join(state: &mut State, id: u64, channel: &str) {
    let Some(socket) = state.sockets.get(&id) else {
        return;
    };
    if socket.channel.is_some() {
        return;
    }
    let (name, registered) = (socket.name.clone(), socket.registered);
    if let Some(name) = &name {
        if moderation::is_banned(state.room(channel), name) {
            return kick_socket(state, id, "You are banned from this channel.");
        }
        kick_duplicates(state, channel, id, name);
        let member = Member {
            who: Who::Socket(id),
            name: name.clone(),
            rank: socket_rank(state, id),
            global: 0.0,
            afk: false,
        };
        send_user_join(state, channel, &member);
    }
    state.room(channel);
    if let Some(socket) = state.sockets.get_mut(&id) {
        socket.channel = Some(channel.to_owned());
        socket.pending_channel = None;
        socket.afk = false;
        socket.active = Instant::now();
    }
    let table = permissions::table(state, channel);
    let room = &state.channels[channel];
    send(state, id, "setPermissions", &table);
    send(state, id, "setPlaylistLocked", &json!(room.locked));
    send(state, id, "emoteList", &json!([]));
    if let Some(member) = state
        .member(channel, &Who::Socket(id))
        .filter(|_| name.is_some())
    {
        remind_mute(state, channel, &member);
    }
    let skip = room.history.len().saturating_sub(BACKLOG);
    for message in room.history.iter().skip(skip) {
        send(state, id, "chatMsg", message);
    }
    send(state, id, "drinkCount", &json!(0));
    send(state, id, "channelCSSJS", &json!({"css": "", "js": ""}));
    send(state, id, "setMotd", &json!(""));
    send(state, id, "channelOpts", &Value::Object(room.opts.clone()));
    playlist::send_playlist(state, channel, id);
    playlist::send_change_media(state, channel, id);
    if name.is_some() && registered {
        send(state, id, "listPlaylists", &json!([]));
    }
    poll::send_poll(state, channel, id);
    send_userlist(state, channel, id);
    usercount(state, channel);
    if name.is_some() && registered {
        load_rank(state, channel, id);
    }
}

fn socket_rank(state: &State, id: u64) -> f64 {
    state.sockets.get(&id).map_or(-1.0, |s| s.rank)
}

/// Kicks the other sockets in `channel` logged in as `name` ("Duplicate login").
fn kick_duplicates(state: &mut State, channel: &str, id: u64, name: &str) {
    let others: Vec<u64> = state
        .sockets
        .iter()
        .filter(|(other, s)| {
            **other != id
                && s.channel.as_deref() == Some(channel)
                && s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .map(|(other, _)| *other)
        .collect();
    for other in others {
        kick_socket(state, other, "Duplicate login");
    }
}

/// Socket `id` (in a channel) has just logged in as `name`.
pub(crate) fn logged_in(state: &mut State, id: u64, channel: &str) {
    let Some(member) = state.member(channel, &Who::Socket(id)) else {
        return;
    };
    kick_duplicates(state, channel, id, &member.name);
    send_user_join(state, channel, &member);
    remind_mute(state, channel, &member);
    if state.sockets.get(&id).is_some_and(|s| s.registered) {
        load_rank(state, channel, id);
    }
    if moderation::is_banned(state.room(channel), &member.name) {
        kick_socket(state, id, "You are banned from this channel.");
        let msg = format!("{} was kicked (name is banned)", member.name);
        notice(state, channel, &msg, 2.0);
    }
}

/// A registered user's channel rank loads (1 without a stored one): ← `rank`, broadcast
/// `setUserRank`, the playlist again, and `userlist` if the rank crossed 2.
fn load_rank(state: &mut State, channel: &str, id: u64) {
    let Some(socket) = state.sockets.get(&id) else {
        return;
    };
    let name = socket.name.clone().unwrap_or_default();
    let stored = state
        .channels
        .get(channel)
        .and_then(|room| room.ranks.get(&name.to_lowercase()).copied())
        .unwrap_or(1.0);
    let old = socket.rank;
    let rank = stored.max(socket.global);
    if let Some(socket) = state.sockets.get_mut(&id) {
        socket.rank = rank;
    }
    send(state, id, "rank", &num(rank));
    broadcast(
        state,
        channel,
        "setUserRank",
        &json!({"name": name, "rank": num(rank)}),
    );
    playlist::send_playlist(state, channel, id);
    if crossed(old, rank) {
        send_userlist(state, channel, id);
    }
}

/// Whether a change from `old` to `new` makes CyTube re-send the user list.
fn crossed(old: f64, new: f64) -> bool {
    (old >= 2.0) != (new >= 2.0) || (old >= 255.0) != (new >= 255.0)
}

/// Gives `name` channel rank `rank` in `channel` (stored for later logins): a socket there
/// gets `rank`, everyone `setUserRank`, and it a new `userlist` if the rank crossed 2; a test
/// user's rank is set as is. `false` when nobody by that name is there.
pub(crate) fn set_rank(state: &mut State, channel: &str, name: &str, rank: f64) -> bool {
    let lower = name.to_lowercase();
    state.room(channel).ranks.insert(lower.clone(), rank);
    let mut found = false;
    for member in state.members(channel) {
        if member.name.to_lowercase() != lower {
            continue;
        }
        found = true;
        match &member.who {
            Who::Socket(id) => {
                let Some(socket) = state.sockets.get_mut(id) else {
                    continue;
                };
                let new = rank.max(socket.global);
                socket.rank = new;
                send(state, *id, "rank", &num(new));
                let data = json!({"name": member.name, "rank": num(new)});
                broadcast(state, channel, "setUserRank", &data);
                if crossed(member.rank, new) {
                    send_userlist(state, channel, *id);
                }
            }
            Who::Virtual(user) => {
                if let Some(user) = state.room(channel).virtual_users.get_mut(user) {
                    user.rank = rank;
                }
                let data = json!({"name": member.name, "rank": num(rank)});
                broadcast(state, channel, "setUserRank", &data);
            }
        }
    }
    found
}

/// A user the test plays joins `channel` (rank: its stored one, else 1); `false` when the
/// name is banned there.
pub(crate) fn join_virtual(state: &mut State, channel: &str, name: &str) -> bool {
    let room = state.room(channel);
    if room.virtual_users.contains_key(name) {
        return true;
    }
    if moderation::is_banned(room, name) {
        let reason = "You are banned from this channel.";
        state.kicked.push((name.to_owned(), reason.to_owned()));
        return false;
    }
    let rank = room.ranks.get(&name.to_lowercase()).copied().unwrap_or(1.0);
    room.virtual_users
        .insert(name.to_owned(), super::state::Virtual::new(rank));
    let who = Who::Virtual(name.to_owned());
    if let Some(member) = state.member(channel, &who) {
        send_user_join(state, channel, &member);
        usercount(state, channel);
        remind_mute(state, channel, &member);
    }
    true
}

/// A user the test plays leaves `channel`.
pub(crate) fn leave_virtual(state: &mut State, channel: &str, name: &str) {
    if let Some(member) = state.member(channel, &Who::Virtual(name.to_owned())) {
        state.room(channel).virtual_users.remove(name);
        part(state, channel, &member);
    }
}

/// `member` has left `channel`: `userLeave`, `usercount`, its skip vote and poll vote
/// withdrawn (→ `voteskip`, `updatePoll`).
fn part(state: &mut State, channel: &str, member: &Member) {
    if !member.name.is_empty() {
        broadcast(state, channel, "userLeave", &json!({"name": member.name}));
    }
    usercount(state, channel);
    if state.room(channel).skips.is_some() {
        voteskip::unvote(state, channel, &member.key());
        voteskip::update(state, channel);
    }
    poll::uncount(state, channel, &member.key());
}

/// Kicks `member` out of `channel` with `reason`: a socket gets `kick` and is closed.
pub(crate) fn kick(state: &mut State, channel: &str, member: &Member, reason: &str) {
    match &member.who {
        Who::Socket(id) => kick_socket(state, *id, reason),
        Who::Virtual(name) => {
            state.kicked.push((name.clone(), reason.to_owned()));
            state.room(channel).virtual_users.remove(name);
            part(state, channel, member);
        }
    }
}

/// Kicks socket `id` with `reason` and closes it.
pub(crate) fn kick_socket(state: &mut State, id: u64, reason: &str) {
    send(state, id, "kick", &json!({ "reason": reason }));
    if let Some(socket) = state.sockets.get(&id) {
        let name = socket.name.clone().unwrap_or_default();
        state.kicked.push((name, reason.to_owned()));
        let _ = socket.tx.send(Out::Close);
    }
    leave(state, id);
}

/// Socket `id` is gone: everyone in its channel sees it leave.
pub(crate) fn leave(state: &mut State, id: u64) {
    let Some(channel) = state.sockets.get(&id).and_then(|s| s.channel.clone()) else {
        state.sockets.remove(&id);
        return;
    };
    let member = state.member(&channel, &Who::Socket(id));
    state.sockets.remove(&id);
    if let Some(member) = member {
        part(state, &channel, &member);
    }
}

/// Marks `who` AFK or back (CyTube's `setAFK`): going AFK withdraws its skip vote
/// (`clearVoteskipVote` to it); then the skip tally is checked again, and everyone gets
/// `setUserMeta` and `setAFK`.
pub(crate) fn set_afk(state: &mut State, channel: &str, who: &Who, afk: bool) {
    let Some(member) = state.member(channel, who) else {
        return;
    };
    if let Who::Socket(id) = who {
        if let Some(socket) = state.sockets.get_mut(id) {
            if !afk {
                socket.active = Instant::now();
            }
        }
    }
    if member.afk == afk {
        return;
    }
    match who {
        Who::Socket(id) => {
            if let Some(socket) = state.sockets.get_mut(id) {
                socket.afk = afk;
            }
        }
        Who::Virtual(name) => {
            if let Some(user) = state.room(channel).virtual_users.get_mut(name) {
                user.afk = afk;
            }
        }
    }
    if afk {
        voteskip::unvote(state, channel, &member.key());
        if let Who::Socket(id) = who {
            send(state, *id, "clearVoteskipVote", &Value::Null);
        }
    }
    voteskip::update(state, channel);
    if let Some(member) = state.member(channel, who) {
        send_user_meta(state, channel, &member, -1.0);
        let data = json!({"name": member.name, "afk": afk});
        broadcast(state, channel, "setAFK", &data);
    }
}

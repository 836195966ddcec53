//! The emulator's CyTube behaviour, run with the state locked: what a socket sends is
//! dispatched here — joining and logging in ([`super::users`]), chat (with the chat commands
//! of [`super::moderation`] and [`super::poll`], mutes and shadow mutes) and PMs, and the
//! playlist, voteskip, poll and moderation events of the other modules.

use std::time::Instant;

use serde_json::{json, Value};

use super::{
    checks::typechecked,
    moderation, permissions, playback, playlist, poll, queue,
    state::{broadcast_where, now_ms, num, send, Member, State, Who},
    users, voteskip, Said,
};

/// CyTube cuts chat to this many characters.
const MAX_CHARS: usize = 320;

/// What CyTube makes of typed text: cut to 320 characters, control characters as spaces,
/// HTML escaped, URLs made links, and its default chat filters applied (`*bold*`, `_italic_`,
/// `` `code` ``, `~~strike~~`).
pub fn sanitize(text: &str) -> String {
    let cut: String = text
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cut.split(' ')
        .map(|word| {
            let escaped = escape(word);
            if word.starts_with("http://") || word.starts_with("https://") {
                format!(
                    r#"<a href="{escaped}" target="_blank" rel="noopener noreferrer">{escaped}</a>"#
                )
            } else {
                [("~~", "s"), ("`", "code"), ("*", "strong"), ("_", "em")]
                    .iter()
                    .fold(escaped, |word, (marker, tag)| filter(&word, marker, tag))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One of CyTube's markup filters: each `marker`x`marker` pair (x not empty) becomes
/// `<tag>x</tag>`.
fn filter(text: &str, marker: &str, tag: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(marker) {
        let after = &rest[start + marker.len()..];
        match after.find(marker) {
            Some(end) if end > 0 => {
                out.push_str(&rest[..start]);
                out.push_str(&format!("<{tag}>{}</{tag}>", &after[..end]));
                rest = &after[end + marker.len()..];
            }
            _ => break,
        }
    }
    out.push_str(rest);
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Handles event `name` (with socket.io ack id `ack`, if any) from socket `id`.
pub(crate) fn on_event(state: &mut State, id: u64, name: &str, data: Value, ack: Option<u64>) {
    state.received.push((id, name.to_owned(), data.clone()));
    match name {
        "joinChannel" => join_channel(state, id, &data),
        "channelPassword" => {
            let pending = state
                .sockets
                .get(&id)
                .and_then(|s| s.pending_channel.clone());
            let Some(channel) = pending else { return };
            let right = state
                .channels
                .get(&channel)
                .and_then(|c| c.password.clone());
            if right.as_deref() == data.as_str() {
                users::join(state, id, &channel);
            } else {
                send(state, id, "needPassword", &json!(true));
            }
        }
        "login" => login(state, id, &data),
        _ => {
            // Everything else is only heard once the socket is in a channel.
            let Some(channel) = state.sockets.get(&id).and_then(|s| s.channel.clone()) else {
                return;
            };
            let who = Who::Socket(id);
            match name {
                "chatMsg" => on_chat(state, &channel, id, &data),
                "pm" => on_pm(state, &channel, id, &data),
                "setPermissions" => permissions::on_set_permissions(state, &channel, id, &data),
                "requestPlaylist" => playlist::on_request_playlist(state, &channel, id),
                "playerReady" => playlist::send_change_media(state, &channel, id),
                _ => on_channel_event(state, &channel, &who, name, &data, ack),
            }
            playback::flush(state, &channel);
        }
    }
}

/// A channel event any user can send (sockets, and the tests' users through the test API).
pub(crate) fn on_channel_event(
    state: &mut State,
    channel: &str,
    who: &Who,
    name: &str,
    data: &Value,
    ack: Option<u64>,
) {
    match name {
        "queue" => queue::on_queue(state, channel, who, data),
        "delete" => playlist::on_delete(state, channel, who, data),
        "moveMedia" => playlist::on_move(state, channel, who, data),
        "jumpTo" => playlist::on_jump(state, channel, who, data),
        "playNext" => playlist::on_play_next(state, channel, who),
        "clearPlaylist" => playlist::on_clear(state, channel, who),
        "shufflePlaylist" => playlist::on_shuffle(state, channel, who),
        "setTemp" => playlist::on_set_temp(state, channel, who, data),
        "togglePlaylistLock" => permissions::on_toggle_lock(state, channel, who),
        "voteskip" => voteskip::on_voteskip(state, channel, who),
        "newPoll" => poll::on_new_poll(state, channel, who, data, ack),
        "closePoll" => poll::on_close_poll(state, channel, who),
        "vote" => poll::on_vote(state, channel, who, data),
        "requestBanlist" => moderation::on_request_banlist(state, channel, who),
        "unban" => moderation::on_unban(state, channel, who, data),
        _ => {}
    }
}

fn join_channel(state: &mut State, id: u64, data: &Value) {
    let Some(channel) = data["name"].as_str().map(str::to_owned) else {
        return;
    };
    let needs_password = state
        .channels
        .get(&channel)
        .is_some_and(|c| c.password.is_some());
    if needs_password {
        if let Some(socket) = state.sockets.get_mut(&id) {
            socket.pending_channel = Some(channel);
        }
        send(state, id, "needPassword", &json!(true));
    } else {
        users::join(state, id, &channel);
    }
    playback::flush_all(state);
}

fn login(state: &mut State, id: u64, data: &Value) {
    let name = data["name"].as_str().unwrap_or_default().to_owned();
    let refuse = |state: &State, error: &str| {
        send(
            state,
            id,
            "login",
            &json!({"success": false, "error": error}),
        );
    };
    if state.sockets.get(&id).is_some_and(|s| s.name.is_some()) {
        return;
    }
    if name.is_empty() {
        return refuse(state, "Username must be 1-20 characters long");
    }
    let registered = state.accounts.get(&name.to_lowercase()).cloned();
    let guest = match (data["pw"].as_str(), registered) {
        (Some(pw), Some(password)) if pw == password => false,
        (Some(_), _) => return refuse(state, "Invalid username/password combination"),
        (None, Some(_)) => return refuse(state, "That username is registered."),
        (None, None) => true,
    };
    if guest {
        let every = state.limits.guest_login_every;
        if state
            .last_guest_login
            .is_some_and(|at| at.elapsed() < every)
        {
            return refuse(
                state,
                "Guest logins are restricted to one per IP address per 60 seconds.",
            );
        }
        let taken = state.sockets.iter().any(|(other, s)| {
            *other != id
                && s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&name))
        });
        if taken {
            return refuse(state, "That name is already taken");
        }
        state.last_guest_login = Some(Instant::now());
    } else {
        let others: Vec<u64> = state
            .sockets
            .iter()
            .filter(|(other, s)| {
                **other != id
                    && s.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&name))
            })
            .map(|(other, _)| *other)
            .collect();
        for other in others {
            users::kick_socket(state, other, "Duplicate login");
        }
    }
    let rank = if guest { 0.0 } else { 1.0 };
    let Some(socket) = state.sockets.get_mut(&id) else {
        return;
    };
    socket.name = Some(name.clone());
    socket.global = rank;
    socket.rank = rank;
    socket.registered = !guest;
    let channel = socket.channel.clone();
    state.socket_names.insert(id, name.clone());
    send(state, id, "rank", &num(rank));
    let mut answer = json!({"success": true, "name": name});
    if guest {
        answer["guest"] = json!(true);
    }
    send(state, id, "login", &answer);
    if let Some(channel) = channel {
        users::logged_in(state, id, &channel);
        playback::flush(state, &channel);
    }
}

/// → `chatMsg {msg, meta?}` from socket `id`.
fn on_chat(state: &mut State, channel: &str, id: u64, data: &Value) {
    let who = Who::Socket(id);
    let template = [("msg", "string"), ("meta", "object,optional")];
    if !typechecked(state, &who, "chatMsg", data, &template) {
        return;
    }
    let Some(member) = state.member(channel, &who) else {
        return;
    };
    if !state.room(channel).can(member.rank, "chat") {
        return;
    }
    let msg = clean(data["msg"].as_str().unwrap_or_default());
    if msg.trim().is_empty() || member.name.is_empty() {
        return;
    }
    let mut meta = json!({});
    if member.rank >= 2.0 && data["meta"]["modflair"].as_f64() == Some(member.rank) {
        meta["modflair"] = num(member.rank);
    }
    speak(state, channel, &member, &msg, meta);
}

/// Cut to 320 characters, runs of control characters as one space.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().take(MAX_CHARS) {
        if (c as u32) < 0x20 {
            if !out.ends_with('\u{1}') {
                out.push('\u{1}');
            }
        } else {
            out.push(c);
        }
    }
    out.replace('\u{1}', " ")
}

/// CyTube's `processChatMsg` for `member` (a socket passes the flood limit; a test user
/// does not): AFK cleared, chat commands run, mutes applied, the line broadcast.
pub(crate) fn speak(state: &mut State, channel: &str, member: &Member, msg: &str, mut meta: Value) {
    if !msg.contains("/afk") {
        users::set_afk(state, channel, &member.who, false);
    }
    if let Who::Socket(id) = member.who {
        let Some(socket) = state.sockets.get_mut(&id) else {
            return;
        };
        if !socket.chat.take() {
            let gap = 1000.0 / state.limits.chat_per_sec;
            return send(state, id, "cooldown", &json!(gap.round() as u64));
        }
    }
    if msg.starts_with('>') {
        meta["addClass"] = json!("greentext");
    }
    if let Some(command) = msg.strip_prefix('/') {
        let word = command.split(' ').next().unwrap_or_default();
        match word {
            // An action or a spoiler: the rest is said (or run) as a line of its own.
            "me" | "sp" => {
                let rest = command.split_once(' ').map_or("", |(_, rest)| rest);
                if word == "me" {
                    meta["addClass"] = json!("action");
                    meta["action"] = json!(true);
                } else {
                    meta["addClass"] = json!("spoiler");
                }
                return speak(state, channel, member, rest, meta);
            }
            "afk" => {
                let afk = !member.afk;
                return users::set_afk(state, channel, &member.who, afk);
            }
            "poll" | "hpoll" => {
                poll::command(state, channel, member, msg);
                return;
            }
            _ => {
                if moderation::command(state, channel, member, msg) {
                    return;
                }
            }
        }
    }
    let html = sanitize(msg);
    let message = json!({"username": member.name, "msg": html, "meta": meta, "time": now_ms()});
    let lower = member.name.to_lowercase();
    let room = state.room(channel);
    if room.smuted.contains(&lower) {
        // Shadow-muted: a normal echo to the shadow-muted and anonymous, `shadow: true` to
        // moderators, nothing to anyone else.
        broadcast_where(state, channel, "chatMsg", &message, |room, s| {
            s.name
                .as_deref()
                .is_none_or(|n| room.smuted.contains(&n.to_lowercase()))
        });
        let mut shadow = message.clone();
        shadow["meta"]["shadow"] = json!(true);
        broadcast_where(state, channel, "chatMsg", &shadow, |_, s| s.rank >= 2.0);
        return;
    }
    if room.muted.contains(&lower) {
        let data = json!({"action": "chat", "msg": "You have been muted on this channel."});
        return state.reply(&member.who, "noflood", &data);
    }
    room.history.push_back(message.clone());
    while room.history.len() > 100 {
        room.history.pop_front();
    }
    state.said.push(Said {
        from: member.name.clone(),
        to: None,
        html,
    });
    super::state::broadcast(state, channel, "chatMsg", &message);
}

/// → `pm {to, msg, meta?}` from socket `id`.
fn on_pm(state: &mut State, channel: &str, id: u64, data: &Value) {
    let who = Who::Socket(id);
    let template = [
        ("msg", "string"),
        ("to", "string"),
        ("meta", "object,optional"),
    ];
    if !typechecked(state, &who, "pm", data, &template) {
        return;
    }
    let Some(member) = state.member(channel, &who) else {
        return;
    };
    if member.name.is_empty() {
        let msg = "You must be signed in to send PMs";
        return send(state, id, "errorMsg", &json!({ "msg": msg }));
    }
    let to = data["to"].as_str().unwrap_or_default().to_lowercase();
    let error = if to == member.name.to_lowercase() {
        Some("You can't PM yourself!".to_owned())
    } else if to.is_empty()
        || to.chars().count() > 20
        || !to
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        Some(format!("PM failed: {to} isn't a valid username."))
    } else {
        None
    };
    if let Some(msg) = error {
        return send(state, id, "errorMsg", &json!({ "msg": msg }));
    }
    if state.sockets.get_mut(&id).is_some_and(|s| !s.chat.take()) {
        let gap = 1000.0 / state.limits.chat_per_sec;
        return send(state, id, "cooldown", &json!(gap.round() as u64));
    }
    let text: String = data["msg"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(MAX_CHARS)
        .collect();
    if !pm(state, channel, Some(id), &member.name, &to, &text) {
        let msg = format!("PM failed: {to} isn't connected to this channel.");
        send(state, id, "errorMsg", &json!({ "msg": msg }));
    }
}

/// A PM from `from` (socket `sender` when it is one) to `to` in `channel`; `false` when `to`
/// is not there.
pub(crate) fn pm(
    state: &mut State,
    channel: &str,
    sender: Option<u64>,
    from: &str,
    to: &str,
    text: &str,
) -> bool {
    let Some(target) = state.find(channel, &to.to_lowercase()) else {
        return false;
    };
    let html = sanitize(text);
    let mut meta = json!({});
    if text.starts_with('>') {
        meta["addClass"] = json!("greentext");
    }
    let message = json!({"username": from, "msg": html, "meta": meta, "time": now_ms(),
        "to": target.name});
    if let Who::Socket(target) = target.who {
        send(state, target, "pm", &message);
    }
    if let Some(sender) = sender {
        send(state, sender, "pm", &message);
    }
    state.said.push(Said {
        from: from.to_owned(),
        to: Some(target.name.clone()),
        html,
    });
    true
}

//! The emulator's CyTube behaviour, run with the state locked: joining (the join burst and the
//! backlog replay), logging in (accounts, guests, duplicate logins), chat and PMs (sanitised,
//! flood-limited), kicks and leaving.

use std::time::Instant;

use serde_json::{json, Value};

use super::{server::Out, Said, State, BACKLOG};

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

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn frame(name: &str, data: &Value) -> String {
    format!("42{}", json!([name, data]))
}

/// Sends event `name` to socket `id`.
pub(crate) fn send(state: &State, id: u64, name: &str, data: &Value) {
    if let Some(socket) = state.sockets.get(&id) {
        let _ = socket.tx.send(Out::Frame(frame(name, data)));
    }
}

/// Sends event `name` to every socket in `channel`.
pub(crate) fn broadcast(state: &mut State, channel: &str, name: &str, data: &Value) {
    let frame = frame(name, data);
    for socket in state.sockets.values() {
        if socket.channel.as_deref() == Some(channel) {
            let _ = socket.tx.send(Out::Frame(frame.clone()));
        }
    }
}

fn user_object(name: &str, rank: i64) -> Value {
    json!({"name": name, "rank": rank, "profile": {"image": "", "text": ""}, "meta": {"afk": false, "muted": false}})
}

/// Handles event `name` from socket `id`.
pub(crate) fn on_event(state: &mut State, id: u64, name: &str, data: Value) {
    match name {
        "joinChannel" => {
            let Some(channel) = data["name"].as_str().map(str::to_owned) else {
                return send(
                    state,
                    id,
                    "errorMsg",
                    &json!({"msg": "joinChannel needs a name"}),
                );
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
                join(state, id, &channel);
            }
        }
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
                join(state, id, &channel);
            } else {
                send(state, id, "needPassword", &json!(true));
            }
        }
        "login" => login(state, id, &data),
        "chatMsg" | "pm" => {
            let Some(socket) = state.sockets.get_mut(&id) else {
                return;
            };
            let (Some(user), Some(channel)) = (socket.name.clone(), socket.channel.clone()) else {
                return send(
                    state,
                    id,
                    "errorMsg",
                    &json!({"msg": "You must be logged in and in a channel to chat"}),
                );
            };
            if !socket.chat.take() {
                let gap = 1000.0 / state.limits.chat_per_sec;
                return send(state, id, "cooldown", &json!(gap.round() as u64));
            }
            let Some(msg) = data["msg"].as_str() else {
                return send(
                    state,
                    id,
                    "errorMsg",
                    &json!({"msg": "msg must be a string"}),
                );
            };
            if name == "chatMsg" {
                chat(state, &channel, &user, msg);
            } else {
                let to = data["to"].as_str().unwrap_or_default().to_owned();
                pm(state, Some(id), &user, &to, msg);
            }
        }
        _ => {}
    }
}

/// The join burst, in CyTube's order, with the backlog.
fn join(state: &mut State, id: u64, channel: &str) {
    let Some(socket) = state.sockets.get_mut(&id) else {
        return;
    };
    socket.channel = Some(channel.to_owned());
    socket.pending_channel = None;
    let (rank, name) = (socket.rank, socket.name.clone());
    let room = state.channels.entry(channel.to_owned()).or_default();
    let backlog: Vec<Value> = room
        .history
        .iter()
        .skip(room.history.len().saturating_sub(BACKLOG))
        .cloned()
        .collect();
    let mut users: Vec<Value> = room
        .virtual_users
        .iter()
        .map(|(name, rank)| user_object(name, *rank))
        .collect();
    for other in state.sockets.values() {
        if let (Some(name), Some(other_channel)) = (&other.name, &other.channel) {
            if other_channel == channel {
                users.push(user_object(name, other.rank));
            }
        }
    }
    send(state, id, "rank", &json!(rank));
    send(state, id, "setPermissions", &json!({}));
    send(state, id, "setPlaylistLocked", &json!(true));
    send(state, id, "emoteList", &json!([]));
    for message in &backlog {
        send(state, id, "chatMsg", message);
    }
    send(state, id, "drinkCount", &json!(0));
    send(state, id, "channelCSSJS", &json!({"css": "", "js": ""}));
    send(state, id, "setMotd", &json!(""));
    send(state, id, "channelOpts", &json!({}));
    send(
        state,
        id,
        "setPlaylistMeta",
        &json!({"count": 0, "rawTime": 0, "time": "00:00"}),
    );
    send(state, id, "playlist", &json!([]));
    send(state, id, "userlist", &Value::Array(users.clone()));
    send(state, id, "usercount", &json!(users.len()));
    if let Some(name) = name {
        broadcast(state, channel, "addUser", &user_object(&name, rank));
    }
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
            kick(state, other, "Duplicate login");
        }
    }
    let rank = if guest { 0 } else { 1 };
    let Some(socket) = state.sockets.get_mut(&id) else {
        return;
    };
    socket.name = Some(name.clone());
    socket.rank = rank;
    let channel = socket.channel.clone();
    send(state, id, "rank", &json!(rank));
    let mut answer = json!({"success": true, "name": name});
    if guest {
        answer["guest"] = json!(true);
    }
    send(state, id, "login", &answer);
    if let Some(channel) = channel {
        broadcast(state, &channel, "addUser", &user_object(&name, rank));
        broadcast(
            state,
            &channel,
            "setUserRank",
            &json!({"name": name, "rank": rank}),
        );
    }
}

/// `user` says `text` in `channel`: sanitised, kept for the backlog, sent to everyone there.
pub(crate) fn chat(state: &mut State, channel: &str, user: &str, text: &str) {
    let html = sanitize(text);
    let message = json!({"username": user, "msg": html, "meta": {}, "time": now_ms()});
    let room = state.channels.entry(channel.to_owned()).or_default();
    room.history.push_back(message.clone());
    while room.history.len() > 100 {
        room.history.pop_front();
    }
    state.said.push(Said {
        from: user.to_owned(),
        to: None,
        html,
    });
    broadcast(state, channel, "chatMsg", &message);
}

/// A PM from `from` (socket `sender` when it is one) to `to`; `false` when `to` is nowhere.
pub(crate) fn pm(state: &mut State, sender: Option<u64>, from: &str, to: &str, text: &str) -> bool {
    let html = sanitize(text);
    let message = json!({"username": from, "msg": html, "meta": {}, "time": now_ms(), "to": to});
    let targets: Vec<u64> = state
        .sockets
        .iter()
        .filter(|(_, s)| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(to))
        })
        .map(|(id, _)| *id)
        .collect();
    let virtual_target = state
        .channels
        .values()
        .any(|c| c.virtual_users.keys().any(|n| n.eq_ignore_ascii_case(to)));
    if targets.is_empty() && !virtual_target {
        if let Some(sender) = sender {
            send(
                state,
                sender,
                "errorMsg",
                &json!({"msg": format!("Unable to PM {to}: user not found")}),
            );
        }
        return false;
    }
    for target in targets {
        send(state, target, "pm", &message);
    }
    if let Some(sender) = sender {
        send(state, sender, "pm", &message);
    }
    state.said.push(Said {
        from: from.to_owned(),
        to: Some(to.to_owned()),
        html,
    });
    true
}

/// Kicks socket `id` with `reason` and closes it.
pub(crate) fn kick(state: &mut State, id: u64, reason: &str) {
    send(state, id, "kick", &json!({"reason": reason}));
    if let Some(socket) = state.sockets.get(&id) {
        let _ = socket.tx.send(Out::Close);
    }
    leave(state, id);
}

/// Socket `id` is gone: everyone in its channel sees it leave.
pub(crate) fn leave(state: &mut State, id: u64) {
    if let Some(socket) = state.sockets.remove(&id) {
        if let (Some(name), Some(channel)) = (socket.name, socket.channel) {
            broadcast(state, &channel, "userLeave", &json!({"name": name}));
        }
    }
}

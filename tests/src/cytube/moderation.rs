//! Moderation (CyTube's src/channel/kickban.js, src/channel/chat.js): the chat commands
//! `/kick`, `/kickanons`, `/mute`, `/smute`, `/unmute`, `/unsmute`, `/clear`, `/ban`,
//! `/ipban` (`/banip`), and the client's `requestBanlist` and `unban`.
//!
//! Deviation: every test client is on 127.0.0.1, so an IP ban would ban everyone; `/ipban`
//! bans the name only (with `/ipban`'s own checks and texts).

use serde_json::{json, Value};

use super::{
    checks::{sanitize_text, typechecked},
    state::{broadcast, broadcast_where, notice, Channel, Member, State, Who},
    users,
};

/// A channel ban (always a name ban: `ip` is `"*"`).
#[derive(Debug, Clone)]
pub(crate) struct Ban {
    pub id: u64,
    pub name: String,
    pub reason: String,
    pub bannedby: String,
}

/// Whether `name` is banned in `room`.
pub(crate) fn is_banned(room: &Channel, name: &str) -> bool {
    let lower = name.to_lowercase();
    room.bans.iter().any(|ban| ban.name == lower)
}

/// Runs chat command `line` (`/kick …`) said by `actor`; `false` when it is not one of
/// these commands.
pub(crate) fn command(state: &mut State, channel: &str, actor: &Member, line: &str) -> bool {
    let args: Vec<&str> = line.split(' ').collect();
    match args[0] {
        "/kick" => kick(state, channel, actor, &args),
        "/kickanons" => kick_anons(state, channel, actor),
        "/mute" | "/smute" => mute(state, channel, actor, &args),
        "/unmute" | "/unsmute" => unmute(state, channel, actor, &args),
        "/clear" => clear(state, channel, actor),
        "/ban" | "/ipban" | "/banip" => ban(state, channel, actor, &args),
        _ => return false,
    }
    true
}

fn can(state: &mut State, channel: &str, actor: &Member, key: &str) -> bool {
    state.room(channel).can(actor.rank, key)
}

fn error(state: &mut State, actor: &Member, msg: &str) {
    state.reply(&actor.who, "errorMsg", &json!({ "msg": msg }));
}

/// Whether `target` may not be kicked or muted by `actor` (its rank is not below).
fn outranks(target: &Member, actor: &Member) -> bool {
    target.rank >= actor.rank || target.global > actor.global
}

fn kick(state: &mut State, channel: &str, actor: &Member, args: &[&str]) {
    if !can(state, channel, actor, "kick") {
        return;
    }
    if args.len() < 2 || args[1].trim().is_empty() {
        let msg = "No kick target specified.  If you're trying to kick anonymous users, use \
                   /kickanons";
        return error(state, actor, msg);
    }
    let Some(target) = state.find(channel, &args[1].to_lowercase()) else {
        return;
    };
    if outranks(&target, actor) {
        return error(
            state,
            actor,
            &format!("You do not have permission to kick {}", target.name),
        );
    }
    users::kick(state, channel, &target, &args[2..].join(" "));
    let msg = format!("{} kicked {}", actor.name, target.name);
    notice(state, channel, &msg, 2.0);
}

fn kick_anons(state: &mut State, channel: &str, actor: &Member) {
    if !can(state, channel, actor, "kick") {
        return;
    }
    for member in state.members(channel) {
        if member.name.is_empty() {
            users::kick(state, channel, &member, "anonymous user");
        }
    }
    let msg = format!("{} kicked anonymous users", actor.name);
    notice(state, channel, &msg, 2.0);
}

fn mute(state: &mut State, channel: &str, actor: &Member, args: &[&str]) {
    if !can(state, channel, actor, "mute") {
        return;
    }
    let command = args[0];
    let Some(name) = args.get(1).map(|name| name.to_lowercase()) else {
        return error(state, actor, &format!("{command} requires a target name"));
    };
    let Some(target) = state.find(channel, &name) else {
        let msg = format!("{command} target {name} not present in channel.");
        return error(state, actor, &msg);
    };
    if outranks(&target, actor) {
        let msg = format!(
            "{command} failed - {} has equal or higher rank than you.",
            target.name
        );
        return error(state, actor, &msg);
    }
    let shadow = command == "/smute";
    let room = state.room(channel);
    room.muted.insert(name.clone());
    if shadow {
        room.smuted.insert(name);
    }
    let perm = room.perm("mute");
    users::send_user_meta(state, channel, &target, if shadow { perm } else { -1.0 });
    let verb = if shadow { "shadowmuted" } else { "muted" };
    let msg = format!("{} {verb} {}", actor.name, target.name);
    notice(state, channel, &msg, perm);
}

fn unmute(state: &mut State, channel: &str, actor: &Member, args: &[&str]) {
    if !can(state, channel, actor, "mute") {
        return;
    }
    let Some(name) = args.get(1).map(|name| name.to_lowercase()) else {
        return error(state, actor, "/unmute requires a target name");
    };
    if name == actor.name.to_lowercase() {
        return error(state, actor, "You are not allowed to unmute yourself");
    }
    let room = state.room(channel);
    if !room.muted.contains(&name) {
        return error(state, actor, &format!("{name} is not muted."));
    }
    room.muted.remove(&name);
    room.smuted.remove(&name);
    let perm = room.perm("mute");
    let msg = format!("{} unmuted {name}", actor.name);
    notice(state, channel, &msg, perm);
    if let Some(target) = state.find(channel, &name) {
        users::send_user_meta(state, channel, &target, -1.0);
    }
}

fn clear(state: &mut State, channel: &str, actor: &Member) {
    if !can(state, channel, actor, "chatclear") {
        return;
    }
    let room = state.room(channel);
    room.history.clear();
    room.cleared += 1;
    broadcast(
        state,
        channel,
        "clearchat",
        &json!({ "clearedBy": actor.name }),
    );
    let msg = format!("{} cleared chat.", actor.name);
    notice(state, channel, &msg, -1.0);
}

/// `/ban` and `/ipban`: every refusal is an `errorMsg`; on success the notice, then the
/// name's users are kicked ("You're banned!").
fn ban(state: &mut State, channel: &str, actor: &Member, args: &[&str]) {
    if args.len() < 2 || args[1].trim().is_empty() {
        return error(state, actor, "No ban target specified.");
    }
    let name = args[1].to_lowercase();
    let mut rest = &args[2..];
    let ip = args[0] != "/ban";
    if ip && matches!(rest.first(), Some(&"range") | Some(&"wrange")) {
        rest = &rest[1..];
    }
    let reason: String = rest.join(" ").chars().take(255).collect();
    if ip {
        if !can(state, channel, actor, "ban") {
            return error(
                state,
                actor,
                "You do not have ban permissions on this channel",
            );
        }
        if is_banned(state.room(channel), &name) {
            return;
        }
    }
    let valid = (1..=20).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return error(state, actor, "Invalid username");
    }
    if !can(state, channel, actor, "ban") {
        return error(
            state,
            actor,
            "You do not have ban permissions on this channel",
        );
    }
    if name == actor.name.to_lowercase() {
        state.reply(
            &actor.who,
            "costanza",
            &json!({"msg": "You can't ban yourself"}),
        );
        return error(state, actor, "You cannot ban yourself");
    }
    let registered = state.accounts.contains_key(&name);
    let room = state.room(channel);
    let stored = room.ranks.get(&name).copied().unwrap_or(1.0);
    let rank = stored.max(if registered { 1.0 } else { 0.0 });
    if rank >= actor.rank {
        return error(
            state,
            actor,
            &format!("You don't have permission to ban {name}"),
        );
    }
    if is_banned(room, &name) {
        return error(state, actor, &format!("{name} is already banned"));
    }
    let id = room.next_ban;
    room.next_ban += 1;
    room.bans.push(Ban {
        id,
        name: name.clone(),
        reason,
        bannedby: actor.name.clone(),
    });
    let perm = room.perm("ban");
    let msg = format!("{} namebanned {name}", actor.name);
    notice(state, channel, &msg, perm);
    for member in state.members(channel) {
        if member.name.to_lowercase() == name {
            users::kick(state, channel, &member, "You're banned!");
        }
    }
}

/// → `requestBanlist`: `banlist` to a `ban` holder (SILENT otherwise).
pub(crate) fn on_request_banlist(state: &mut State, channel: &str, who: &Who) {
    let Some(member) = state.member(channel, who) else {
        return;
    };
    let room = state.room(channel);
    if !room.can(member.rank, "ban") {
        return;
    }
    let list: Vec<Value> = room
        .bans
        .iter()
        .map(|ban| {
            json!({"id": ban.id, "ip": "*", "name": ban.name, "reason": ban.reason,
                "bannedby": ban.bannedby})
        })
        .collect();
    state.reply(who, "banlist", &Value::Array(list));
}

/// → `unban {id, name}` (`ban`, SILENT): `banlistRemove` to the `ban` holders and a notice;
/// an unknown id still "succeeds".
pub(crate) fn on_unban(state: &mut State, channel: &str, who: &Who, data: &Value) {
    let template = [("id", "number"), ("name", "string")];
    if !typechecked(state, who, "unban", data, &template) {
        return;
    }
    let Some(member) = state.member(channel, who) else {
        return;
    };
    let room = state.room(channel);
    if !room.can(member.rank, "ban") {
        return;
    }
    let id = data["id"].as_f64().unwrap_or(-1.0);
    room.bans.retain(|ban| ban.id as f64 != id);
    let perm = room.perm("ban");
    broadcast_where(state, channel, "banlistRemove", data, |room, s| {
        room.can(s.rank, "ban")
    });
    let name = sanitize_text(data["name"].as_str().unwrap_or_default());
    let msg = format!("{} unbanned {name}", member.name);
    notice(state, channel, &msg, perm);
}

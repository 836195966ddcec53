//! Polls (CyTube's src/channel/poll.js, src/poll.js): `newPoll` (with socket.io
//! acknowledgements), `vote`, `closePoll`, the timeout, and the `/poll` and `/hpoll` chat
//! commands. Hidden polls show `"<n>?"` to `viewhiddenpoll` holders and `"?"` to others.
//!
//! Deviation: CyTube keys poll votes by IP address; the emulator keys them by user name, as
//! every test client is on 127.0.0.1 (see [`super::state::Member::key`]).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::{
    checks::{js_len, sanitize_text, typechecked},
    server::Out,
    state::{broadcast, broadcast_each, now_ms, send, Member, State, Who},
};

/// CyTube's `poll.max-options`.
const MAX_OPTIONS: usize = 50;

/// The open poll.
#[derive(Debug, Clone)]
pub(crate) struct Poll {
    pub title: String,
    pub options: Vec<String>,
    /// Voter key → option.
    pub votes: BTreeMap<String, usize>,
    pub hidden: bool,
    pub retain: bool,
    pub initiator: String,
    pub timestamp: u64,
    pub deadline: Option<Instant>,
}

impl Poll {
    pub(crate) fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.options.len()];
        for option in self.votes.values() {
            counts[*option] += 1;
        }
        counts
    }

    /// `toUpdateFrame(showHidden)`.
    fn frame(&self, show_hidden: bool) -> Value {
        let counts: Vec<Value> = self
            .counts()
            .into_iter()
            .map(|count| match (self.hidden, show_hidden) {
                (false, _) => json!(count),
                (true, true) => json!(format!("{count}?")),
                (true, false) => json!("?"),
            })
            .collect();
        json!({"title": self.title, "options": self.options, "counts": counts,
            "initiator": self.initiator, "timestamp": self.timestamp})
    }
}

/// Poll text: HTML-escaped, URLs made links (CyTube's `sanitizedWithLinksReplaced`).
fn sanitize(text: &str) -> String {
    sanitize_text(text)
        .split(' ')
        .map(|word| match word.find("://") {
            Some(at) if at > 0 && word[..at].chars().all(|c| c.is_alphanumeric() || c == '_') => {
                format!(r#"<a href="{word}" target="_blank" rel="noopener noreferer">{word}</a>"#)
            }
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The open poll to socket `id` as `newPoll`, in its rank's form (the join burst).
pub(crate) fn send_poll(state: &State, channel: &str, id: u64) {
    let (Some(room), Some(socket)) = (state.channels.get(channel), state.sockets.get(&id)) else {
        return;
    };
    if let Some(poll) = &room.poll {
        let frame = poll.frame(room.can(socket.rank, "viewhiddenpoll"));
        send(state, id, "newPoll", &frame);
    }
}

/// The open poll to everyone as `event`, each in its form.
fn broadcast_poll(state: &State, channel: &str, event: &str) {
    broadcast_each(state, channel, event, |room, s| {
        let poll = room.poll.as_ref()?;
        Some(poll.frame(room.can(s.rank, "viewhiddenpoll")))
    });
}

fn allowed(state: &mut State, channel: &str, who: &Who, key: &str) -> Option<Member> {
    let member = state.member(channel, who)?;
    state.room(channel).can(member.rank, key).then_some(member)
}

/// The socket.io acknowledgement `43<ack>[data]` to socket `id`.
fn ack(state: &State, who: &Who, ack: Option<u64>, data: &Value) {
    if let (Who::Socket(id), Some(ack)) = (who, ack) {
        if let Some(socket) = state.sockets.get(id) {
            let _ = socket
                .tx
                .send(Out::Frame(format!("43{ack}{}", json!([data]))));
        }
    }
}

/// → `newPoll {title, opts, obscured, timeout?, retainVotes?}` (with ack id `ack_id`, if any).
pub(crate) fn on_new_poll(
    state: &mut State,
    channel: &str,
    who: &Who,
    data: &Value,
    ack_id: Option<u64>,
) {
    let template = [
        ("title", "string"),
        ("timeout", "number,optional"),
        ("obscured", "boolean"),
        ("retainVotes", "boolean,optional"),
        ("opts", "array"),
    ];
    if !typechecked(state, who, "newPoll", data, &template) {
        return;
    }
    let Some(member) = allowed(state, channel, who, "pollctl") else {
        return;
    };
    close(state, channel);
    let title = data["title"].as_str().unwrap_or_default();
    let options = data["opts"].as_array().cloned().unwrap_or_default();
    let mut error = validate(title, &options).err();
    let timeout = data.get("timeout").map(|t| t.as_f64().unwrap_or(f64::NAN));
    if error.is_none() && timeout.is_some_and(|t| t.is_nan() || !(1.0..=86400.0).contains(&t)) {
        error = Some("Poll timeout must be between 1 and 86400 seconds".to_owned());
    }
    if let Some(message) = error {
        let answer = json!({"error": {"message": message}});
        match ack_id.filter(|_| matches!(who, Who::Socket(_))) {
            Some(_) => ack(state, who, ack_id, &answer),
            None => state.reply(who, "errorMsg", &json!({ "msg": message })),
        }
        return;
    }
    let options: Vec<String> = options
        .iter()
        .map(|o| o.as_str().unwrap_or_default().to_owned())
        .collect();
    let hidden = data["obscured"].as_bool().unwrap_or(false);
    let retain = data["retainVotes"].as_bool().unwrap_or(false);
    open(
        state,
        channel,
        &member.name,
        title,
        &options,
        hidden,
        retain,
        timeout,
    );
    ack(state, who, ack_id, &json!({}));
}

/// CyTube's `validatePollInput`.
fn validate(title: &str, options: &[Value]) -> Result<(), String> {
    if js_len(title) > 255 {
        return Err("Poll title must be no more than 255 characters long.".to_owned());
    }
    if options.len() > MAX_OPTIONS {
        return Err(format!(
            "Polls are limited to a maximum of {MAX_OPTIONS} options."
        ));
    }
    for option in options {
        let Some(option) = option.as_str() else {
            return Err("Poll options must be strings.".to_owned());
        };
        if option.is_empty() || js_len(option) > 255 {
            return Err("Poll options must be 1-255 characters long.".to_owned());
        }
    }
    Ok(())
}

/// Opens a poll and broadcasts `newPoll`.
#[allow(clippy::too_many_arguments)]
fn open(
    state: &mut State,
    channel: &str,
    initiator: &str,
    title: &str,
    options: &[String],
    hidden: bool,
    retain: bool,
    timeout: Option<f64>,
) {
    let poll = Poll {
        title: sanitize(title),
        options: options.iter().map(|o| sanitize(o)).collect(),
        votes: BTreeMap::new(),
        hidden,
        retain,
        initiator: initiator.to_owned(),
        timestamp: now_ms(),
        deadline: timeout.map(|t| Instant::now() + Duration::from_secs_f64(t)),
    };
    state.room(channel).poll = Some(poll);
    broadcast_poll(state, channel, "newPoll");
}

/// Closes the open poll, if any: a hidden one is revealed first (`updatePoll` with
/// numbers), then broadcast `closePoll`.
pub(crate) fn close(state: &mut State, channel: &str) {
    let room = state.room(channel);
    let Some(mut poll) = room.poll.take() else {
        return;
    };
    if poll.hidden {
        poll.hidden = false;
        broadcast(state, channel, "updatePoll", &poll.frame(true));
    }
    broadcast(state, channel, "closePoll", &Value::Null);
}

/// → `closePoll` (`pollctl`, SILENT).
pub(crate) fn on_close_poll(state: &mut State, channel: &str, who: &Who) {
    if allowed(state, channel, who, "pollctl").is_some() {
        close(state, channel);
    }
}

/// → `vote {option}`: SILENT without `pollvote`, without a poll, out of range or unchanged;
/// else `updatePoll` to everyone.
pub(crate) fn on_vote(state: &mut State, channel: &str, who: &Who, data: &Value) {
    if !typechecked(state, who, "vote", data, &[("option", "number")]) {
        return;
    }
    let Some(member) = allowed(state, channel, who, "pollvote") else {
        return;
    };
    let option = data["option"].as_f64().unwrap_or(-1.0);
    let Some(poll) = state.room(channel).poll.as_mut() else {
        return;
    };
    if option < 0.0 || option.fract() != 0.0 || option as usize >= poll.options.len() {
        return;
    }
    if poll.votes.insert(member.key(), option as usize) == Some(option as usize) {
        return;
    }
    broadcast_poll(state, channel, "updatePoll");
}

/// A user leaving: its vote is withdrawn (`updatePoll`) unless the poll retains votes.
pub(crate) fn uncount(state: &mut State, channel: &str, key: &str) {
    let Some(poll) = state.room(channel).poll.as_mut() else {
        return;
    };
    if !poll.retain && poll.votes.remove(key).is_some() {
        broadcast_poll(state, channel, "updatePoll");
    }
}

/// `/poll title,opt,…` and `/hpoll …` (hidden): no timeout; errors as `errorMsg "Error
/// creating poll: …"`.
pub(crate) fn command(state: &mut State, channel: &str, actor: &Member, line: &str) -> bool {
    let (hidden, rest) = if let Some(rest) = line.strip_prefix("/hpoll") {
        (true, rest)
    } else if let Some(rest) = line.strip_prefix("/poll") {
        (false, rest)
    } else {
        return false;
    };
    if !state.room(channel).can(actor.rank, "pollctl") {
        return true;
    }
    close(state, channel);
    let mut parts = rest.split(',');
    let title = parts.next().unwrap_or_default().to_owned();
    let options: Vec<Value> = parts.map(|p| json!(p)).collect();
    if let Err(message) = validate(&title, &options) {
        let msg = format!("Error creating poll: {message}");
        state.reply(&actor.who, "errorMsg", &json!({ "msg": msg }));
        return true;
    }
    let options: Vec<String> = options
        .iter()
        .map(|o| o.as_str().unwrap_or_default().to_owned())
        .collect();
    open(
        state,
        channel,
        &actor.name,
        &title,
        &options,
        hidden,
        false,
        None,
    );
    true
}

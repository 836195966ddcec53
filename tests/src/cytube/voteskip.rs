//! Voteskip (CyTube's src/channel/voteskip.js).
//!
//! Deviation: CyTube keys skip votes by IP address (users sharing an IP share one vote). Every
//! test client connects from 127.0.0.1, so the emulator keys votes by user name instead
//! ([`super::state::Member::key`]); otherwise the bot and every test user would share a vote.

use serde_json::json;

use super::{
    playback,
    state::{broadcast, broadcast_where, now_ms, num_text, State, Who},
    users,
};

/// → `voteskip` from `who`: SILENT when voteskip is off, without the `voteskip` permission,
/// or when this user already voted; a counted vote clears the voter's AFK, then the tally.
pub(crate) fn on_voteskip(state: &mut State, channel: &str, who: &Who) {
    let Some(member) = state.member(channel, who) else {
        return;
    };
    let room = state.room(channel);
    if !room.opt_bool("allow_voteskip") || !room.can(member.rank, "voteskip") {
        return;
    }
    if !room.skips.get_or_insert_default().insert(member.key()) {
        return;
    }
    if let Who::Socket(id) = who {
        if let Some(socket) = state.sockets.get_mut(id) {
            socket.active = std::time::Instant::now();
        }
    }
    users::set_afk(state, channel, who, false);
    update(state, channel);
}

/// Users in the channel, without the `voteskip` permission, AFK, and eligible.
fn usercounts(state: &State, channel: &str) -> (usize, usize, usize, usize) {
    let Some(room) = state.channels.get(channel) else {
        return (0, 0, 0, 0);
    };
    let (mut total, mut no_permission, mut afk) = (0, 0, 0);
    for member in state.members(channel) {
        total += 1;
        if !room.can(member.rank, "voteskip") {
            no_permission += 1;
        } else if member.afk {
            afk += 1;
        }
    }
    (total, no_permission, afk, total - no_permission - afk)
}

/// CyTube's `update`: passes the skip when enough voted, else sends the tally.
pub(crate) fn update(state: &mut State, channel: &str) {
    let room = state.room(channel);
    if !room.opt_bool("allow_voteskip") || room.playlist.items.is_empty() {
        return;
    }
    let Some(count) = room.skips.as_ref().map(|votes| votes.len()) else {
        return;
    };
    let ratio = room.opt_f64("voteskip_ratio");
    let (total, no_permission, afk, eligible) = usercounts(state, channel);
    let need = ((eligible as f64 * ratio).ceil() as usize).max(1);
    if count < need {
        return send_tally(state, channel);
    }
    let msg = format!(
        "Voteskip passed: {count}/{eligible} skipped; eligible voters: {eligible} = total \
         ({total}) - AFK ({afk}) - no permission ({no_permission}); ratio = {}",
        num_text(ratio)
    );
    let data = json!({"username": "[voteskip]", "msg": msg,
        "meta": {"addClass": "server-whisper", "addClassToNameAndTimestamp": true},
        "time": now_ms()});
    broadcast(state, channel, "chatMsg", &data);
    reset(state, channel);
    playback::play_next(state, channel);
}

/// `voteskip {count, need}` to the `viewvoteskip` holders (`{0, 0}` with no vote running);
/// this `need` is `ceil(eligible × ratio)`, which may be 0.
fn send_tally(state: &State, channel: &str) {
    let Some(room) = state.channels.get(channel) else {
        return;
    };
    let data = match &room.skips {
        Some(votes) => {
            let (_, _, _, eligible) = usercounts(state, channel);
            let need = (eligible as f64 * room.opt_f64("voteskip_ratio")).ceil();
            json!({"count": votes.len(), "need": need as u64})
        }
        None => json!({"count": 0, "need": 0}),
    };
    broadcast_where(state, channel, "voteskip", &data, |room, s| {
        room.can(s.rank, "viewvoteskip")
    });
}

/// Ends the running vote: `voteskip {0, 0}` to the `viewvoteskip` holders.
pub(crate) fn reset(state: &mut State, channel: &str) {
    state.room(channel).skips = None;
    send_tally(state, channel);
}

/// Removes `key`'s vote (a user leaving or going AFK).
pub(crate) fn unvote(state: &mut State, channel: &str, key: &str) {
    if let Some(votes) = state.room(channel).skips.as_mut() {
        votes.remove(key);
    }
}

//! The playback clock (CyTube's `startPlayback`, `_leadLoop`, `_playNext`): a new item starts
//! at -3 s paused (live items at 0, playing, with no timer); every tick (one emulated second,
//! [`super::Limits::media_tick`] of real time) advances it; crossing 0 sends
//! `mediaUpdate {0, false}`, then one every 5 ticks; at `seconds + 2` the next item plays.
//!
//! CyTube sends `setCurrent`/`changeMedia` of a started item only after its asynchronous
//! `onPreMediaChange` hooks, so after the action's own frames: the emulator marks the item
//! pending and [`flush`] sends them at the end of each action (then `drinkCount 0` and the
//! voteskip reset, CyTube's `onMediaChange`).

use std::time::Instant;

use serde_json::json;

use super::{
    playlist, poll, state,
    state::{broadcast, State},
    users, voteskip,
};

/// CyTube's `playlist.update-interval`.
const UPDATE_INTERVAL: u64 = 5;

/// `startPlayback(time)`: the current item starts over (at `time` when given).
pub(crate) fn start(state: &mut State, channel: &str, time: Option<f64>) {
    let playlist = &mut state.room(channel).playlist;
    let Some(seconds) = playlist.current_item().map(|item| item.media.seconds) else {
        return;
    };
    let time = time.unwrap_or(if seconds > 0 { -3.0 } else { 0.0 });
    playlist.time = time;
    playlist.paused = time < 0.0;
    playlist.timer = false;
    playlist.pending = true;
}

/// Sends what started items owe: `setCurrent`, `changeMedia`, `drinkCount 0`, and resets the
/// skip vote; starts their timers.
pub(crate) fn flush(state: &mut State, channel: &str) {
    let Some(room) = state.channels.get_mut(channel) else {
        return;
    };
    let playlist = &mut room.playlist;
    if !playlist.pending {
        return;
    }
    playlist.pending = false;
    let (Some(uid), Some(update)) = (playlist.current, playlist.full_update()) else {
        return;
    };
    playlist.timer = update["seconds"].as_u64().unwrap_or(0) > 0;
    broadcast(state, channel, "setCurrent", &json!(uid));
    broadcast(state, channel, "changeMedia", &update);
    broadcast(state, channel, "drinkCount", &json!(0));
    voteskip::reset(state, channel);
}

/// [`flush`] for every channel.
pub(crate) fn flush_all(state: &mut State) {
    let channels: Vec<String> = state.channels.keys().cloned().collect();
    for channel in channels {
        flush(state, &channel);
    }
}

/// `_playNext`: a temporary current item is deleted (which plays the next); otherwise the
/// next item (or the first, wrapping; a lone item restarts) plays.
pub(crate) fn play_next(state: &mut State, channel: &str) {
    let playlist = &mut state.room(channel).playlist;
    let Some(index) = playlist.current_index() else {
        return;
    };
    let (uid, temp) = (playlist.items[index].uid, playlist.items[index].temp);
    if temp {
        playlist::delete(state, channel, uid);
        return;
    }
    let next = playlist
        .items
        .get(index + 1)
        .or(playlist.items.first())
        .map(|item| item.uid);
    playlist.current = next;
    start(state, channel, None);
}

fn media_update(state: &State, channel: &str) {
    if let Some(room) = state.channels.get(channel) {
        let time = super::state::num(room.playlist.time);
        let update = json!({"currentTime": time, "paused": room.playlist.paused});
        broadcast(state, channel, "mediaUpdate", &update);
    }
}

/// One tick of channel `channel`'s lead loop.
fn tick(state: &mut State, channel: &str) {
    let playlist = &mut state.room(channel).playlist;
    if !playlist.timer {
        return;
    }
    let Some(seconds) = playlist.current_item().map(|item| item.media.seconds) else {
        return;
    };
    let t = playlist.time;
    if t < 0.0 && t + 1.0 >= 0.0 {
        playlist.time = 0.0;
        playlist.paused = false;
        playlist.counter = 0;
        return media_update(state, channel);
    }
    playlist.time += 1.0;
    playlist.counter += 1;
    if playlist.time >= seconds as f64 + 2.0 {
        play_next(state, channel);
    } else if playlist.counter.is_multiple_of(UPDATE_INTERVAL) {
        media_update(state, channel);
    }
}

/// A media tick for every channel.
pub(crate) fn tick_all(state: &mut State) {
    let channels: Vec<String> = state.channels.keys().cloned().collect();
    for channel in &channels {
        tick(state, channel);
        flush(state, channel);
    }
}

/// Jumps the current item's clock `seconds` ahead (leaving the lead-in if it crosses 0):
/// the next item plays if that passes its end + 2 s, else everyone gets a `mediaUpdate`.
pub(crate) fn advance(state: &mut State, channel: &str, seconds: f64) {
    let playlist = &mut state.room(channel).playlist;
    let Some(length) = playlist.current_item().map(|item| item.media.seconds) else {
        return;
    };
    if length == 0 {
        return;
    }
    let t = playlist.time + seconds;
    if playlist.time < 0.0 && t >= 0.0 {
        playlist.paused = false;
        playlist.counter = 0;
    }
    playlist.time = t;
    if t >= length as f64 + 2.0 {
        play_next(state, channel);
    } else {
        media_update(state, channel);
    }
    flush(state, channel);
}

/// Deadlines checked often: poll timeouts and auto-AFK.
pub(crate) fn timers(state: &mut State) {
    let now = Instant::now();
    let channels: Vec<String> = state.channels.keys().cloned().collect();
    for channel in &channels {
        let due = state
            .channels
            .get(channel)
            .and_then(|room| room.poll.as_ref())
            .and_then(|poll| poll.deadline)
            .is_some_and(|deadline| deadline <= now);
        if due {
            poll::close(state, channel);
        }
        let timeout = state
            .channels
            .get(channel)
            .map_or(0.0, |room| room.opt_f64("afk_timeout"));
        if timeout <= 0.0 {
            continue;
        }
        let idle: Vec<u64> = state
            .sockets
            .iter()
            .filter(|(_, s)| s.channel.as_deref() == Some(channel.as_str()) && !s.afk)
            .filter(|(_, s)| now.duration_since(s.active).as_secs_f64() >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            users::set_afk(state, channel, &state::Who::Socket(id), true);
        }
        flush(state, channel);
    }
}

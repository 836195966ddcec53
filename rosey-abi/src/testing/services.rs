//! The services table a test bot hands each instance it loads, as the real host hands its
//! own: sending from any thread, publishing, timers on the fake clock, the channel's users,
//! media, playlist, poll and bot as the test set them, channel actions (answered by
//! [`super::channel`]), the fake clock itself.
//!
//! Each instance gets a table of its own whose context names the bot's state and the
//! instance's generation: once that instance has unloaded (or was dropped, as in a crash), its
//! services answer "the plugin has unloaded", even to handles that never learnt it. Table and
//! context are leaked, as the real host leaks them: a plugin's thread may keep a handle, and
//! call it, for as long as the process lives.
//!
//! The checks on timers and published events repeat the host's, wording included: this crate
//! cannot depend on the host's.

use std::{ffi::c_void, sync::Arc};

use abi_stable::std_types::{RErr, ROk, ROption, RResult, RSlice, RStr, RString, RVec};
use serde_json::Value;

use super::{
    channel,
    state::{Armed, Shared, State},
    Said,
};
use crate::{
    channel::{ActionError, ActionErrorKind},
    services::{FfiMedia, FfiPlaylist, FfiPlaylistItem, FfiPoll, FfiUser, HostServices},
    ChatUser,
};

use crate::limits::{event_kind_refusal, timer_refusal, MAX_TIMERS};

/// Whether `kind` and `payload_json` make an event a plugin may publish; the reason when not,
/// worded as the host words it.
pub(super) fn event_refusal(kind: &str, payload_json: &str) -> Option<String> {
    if let Some(reason) = event_kind_refusal(kind) {
        return Some(reason);
    }
    serde_json::from_str::<Value>(payload_json)
        .err()
        .map(|err| format!("the event payload is not JSON: {err}"))
}

/// What one instance's table works on: the bot's state, and which instance it serves.
struct Instance {
    shared: Arc<Shared>,
    generation: u64,
}

/// A table for instance `generation` of the bot whose state is `shared`; leaked with its
/// context (see the module documentation).
pub(super) fn table(shared: Arc<Shared>, generation: u64) -> &'static HostServices {
    let instance: &'static Instance = Box::leak(Box::new(Instance { shared, generation }));
    Box::leak(Box::new(HostServices {
        size: std::mem::size_of::<HostServices>(),
        ctx: (instance as *const Instance).cast(),
        say,
        publish,
        set_timer,
        cancel_timer,
        users,
        media,
        now_ms,
        act,
        playlist,
        poll,
        bot,
    }))
}

/// Runs `f` on the bot's state if the instance behind `ctx` is still the live one.
fn with_live<T>(
    ctx: *const c_void,
    f: impl FnOnce(&mut State) -> Result<T, String>,
) -> RResult<T, RString> {
    // SAFETY: `ctx` is the pointer `table` put in the table: a leaked `Instance`.
    let instance = unsafe { &*ctx.cast::<Instance>() };
    let mut state = instance.shared.lock();
    let answer = if state.live == Some(instance.generation) {
        f(&mut state)
    } else {
        Err("the plugin has unloaded".to_owned())
    };
    match answer {
        Ok(value) => ROk(value),
        Err(reason) => RErr(RString::from(reason)),
    }
}

extern "C" fn say(
    ctx: *const c_void,
    to: ROption<RStr<'_>>,
    _in_reply_to: ROption<RStr<'_>>,
    text: RStr<'_>,
) -> RResult<(), RString> {
    with_live(ctx, |state| {
        state.said.push(Said {
            to: to.into_option().map(|to| to.as_str().to_owned()),
            text: text.as_str().to_owned(),
        });
        Ok(())
    })
}

extern "C" fn publish(
    ctx: *const c_void,
    kind: RStr<'_>,
    payload_json: RStr<'_>,
) -> RResult<(), RString> {
    with_live(ctx, |state| {
        if let Some(reason) = event_refusal(kind.as_str(), payload_json.as_str()) {
            return Err(reason);
        }
        state
            .published
            .push((kind.as_str().to_owned(), payload_json.as_str().to_owned()));
        Ok(())
    })
}

extern "C" fn set_timer(
    ctx: *const c_void,
    name: RStr<'_>,
    after_ms: u64,
    every_ms: u64,
) -> RResult<(), RString> {
    let name = name.as_str();
    with_live(ctx, |state| {
        if let Some(reason) = timer_refusal(name, after_ms, every_ms) {
            return Err(reason);
        }
        if state.timers.len() >= MAX_TIMERS && !state.timers.contains_key(name) {
            return Err(format!(
                "{MAX_TIMERS} timers are armed already, the most one plugin may have; cancel some first"
            ));
        }
        let id = state.next_arming;
        state.next_arming += 1;
        let due_ms = state.now_ms.saturating_add(after_ms);
        state.timers.insert(
            name.to_owned(),
            Armed {
                id,
                due_ms,
                every_ms,
            },
        );
        Ok(())
    })
}

extern "C" fn cancel_timer(ctx: *const c_void, name: RStr<'_>) -> RResult<bool, RString> {
    with_live(ctx, |state| {
        Ok(state.timers.remove(name.as_str()).is_some())
    })
}

fn ffi_user(user: &ChatUser) -> FfiUser {
    FfiUser {
        name: RString::from(user.name.as_str()),
        rank: user.rank.0,
        afk: user.afk,
    }
}

extern "C" fn users(ctx: *const c_void) -> RResult<RVec<FfiUser>, RString> {
    with_live(ctx, |state| Ok(state.users.iter().map(ffi_user).collect()))
}

extern "C" fn media(ctx: *const c_void) -> RResult<ROption<FfiMedia>, RString> {
    with_live(ctx, |state| {
        Ok(ROption::from(state.media.as_ref().map(|media| FfiMedia {
            title: RString::from(media.title.as_str()),
            kind: RString::from(media.kind.as_str()),
            id: RString::from(media.id.as_str()),
            duration_secs: media.duration.as_secs(),
        })))
    })
}

extern "C" fn act(
    ctx: *const c_void,
    verb: RStr<'_>,
    args: RSlice<'_, RString>,
) -> RResult<RString, RString> {
    let args: Vec<String> = args.iter().map(|arg| arg.as_str().to_owned()).collect();
    let answer = with_live(ctx, |state| Ok(channel::act(state, verb.as_str(), &args)));
    match answer {
        ROk(Ok(detail)) => ROk(RString::from(detail)),
        ROk(Err(error)) => RErr(RString::from(error)),
        // The instance is gone, as the host answers then.
        RErr(reason) => RErr(RString::from(
            ActionError::new(ActionErrorKind::Unavailable, reason.as_str()).encode(),
        )),
    }
}

extern "C" fn playlist(ctx: *const c_void) -> RResult<FfiPlaylist, RString> {
    with_live(ctx, |state| {
        let playlist = &state.channel.playlist;
        Ok(FfiPlaylist {
            items: playlist
                .items
                .iter()
                .map(|item| FfiPlaylistItem {
                    uid: item.uid,
                    title: RString::from(item.title.as_str()),
                    kind: RString::from(item.kind.as_str()),
                    id: RString::from(item.id.as_str()),
                    duration_secs: item.duration.as_secs(),
                    temp: item.temp,
                    queued_by: RString::from(item.queued_by.as_str()),
                })
                .collect(),
            current: playlist.current.into(),
            position_ms: u64::try_from(playlist.position.as_millis()).unwrap_or(u64::MAX),
            paused: playlist.paused,
            locked: playlist.locked,
        })
    })
}

extern "C" fn poll(ctx: *const c_void) -> RResult<ROption<FfiPoll>, RString> {
    with_live(ctx, |state| {
        let now_ms = state.now_ms;
        let poll = state.channel.poll_at(now_ms).map(|poll| FfiPoll {
            title: RString::from(poll.title),
            options: poll.options.into_iter().map(RString::from).collect(),
            counts: poll
                .counts
                .iter()
                .map(|count| count.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX)))
                .collect(),
            hidden: poll.hidden,
            opened_by: RString::from(poll.opened_by),
            opened_ms: poll.opened_at_ms,
        });
        Ok(poll.into())
    })
}

extern "C" fn bot(ctx: *const c_void) -> RResult<FfiUser, RString> {
    with_live(ctx, |state| Ok(ffi_user(&state.channel.bot)))
}

extern "C" fn now_ms(ctx: *const c_void) -> u64 {
    // SAFETY: as in `with_live`. The clock answers even after an unload, as a real one would.
    let instance = unsafe { &*ctx.cast::<Instance>() };
    instance.shared.lock().now_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_refusals_catch_bad_kinds_and_payloads_that_are_not_json() {
        assert_eq!(event_refusal("score.changed", "{}"), None);
        let kind = event_refusal("Score", "{}").unwrap_or_default();
        assert!(kind.contains("is not a valid event kind"), "{kind}");
        assert!(event_refusal("a..b", "{}").is_some());
        let payload = event_refusal("ok", "{").unwrap_or_default();
        assert!(
            payload.starts_with("the event payload is not JSON"),
            "{payload}"
        );
    }
}

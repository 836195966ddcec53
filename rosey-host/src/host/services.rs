//! The services table this host hands the plugin library (see `rosey_abi::services`): sending
//! on its own from any thread, timers, the channel's state, acting on the channel, the clock.
//!
//! Sends and timers are frames on the channel (its writer is shared under a lock); the
//! actor checks them again, as it checks everything a host says. Questions about the channel
//! (`Query`) and channel actions (`Act`) go over the service channel, one at a time under its
//! own lock, so they never wait for the plugin's thread. An action is checked here first
//! (`rosey_abi::channel::Action::from_wire`): a malformed one never bothers the daemon. The host keeps the timers it armed (name → arming) to answer `cancel` at
//! once and to skip a firing whose arming was replaced or cancelled while it was on its way.

use std::{
    collections::HashMap,
    ffi::c_void,
    os::unix::net::UnixStream,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
    time::Duration,
};

use abi_stable::std_types::{RErr, ROk, ROption, RResult, RSlice, RStr, RString, RVec};
use rosey_abi::{
    channel::{Action, ActionError, ActionErrorKind},
    services::{FfiMedia, FfiPlaylist, FfiPlaylistItem, FfiPoll, FfiUser, HostServices},
};
use serde_json::Value;

use super::channel::Channel;
use crate::wire::{self, read_frame, write_frame, FromHost, ToHost, WireError};

/// How long a question or an action may take before the plugin gets an error: the daemon
/// waits up to about 10 s for the chat server to confirm an action, and answers by then.
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);

/// What the table's functions work on; lives for the rest of the process.
pub struct Services {
    channel: Channel,
    open: AtomicBool,
    next_id: AtomicU64,
    /// Armed timers: name → (arming id, repeats).
    armed: Mutex<HashMap<String, (u64, bool)>>,
    /// The service channel; `None` once it failed (questions then fail at once).
    service: Mutex<Option<UnixStream>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Services {
    /// Services over `channel` and the service channel `service`, with their table; both
    /// leaked (the library may keep the table, and threads of the plugin's may call it, until
    /// the process exits).
    pub fn install(
        channel: Channel,
        service: Option<UnixStream>,
    ) -> (&'static Services, &'static HostServices) {
        if let Some(stream) = &service {
            // A stuck daemon must not hang the plugin's thread for good.
            let _ = stream.set_read_timeout(Some(QUERY_TIMEOUT));
        }
        let services: &'static Services = Box::leak(Box::new(Services {
            channel,
            open: AtomicBool::new(true),
            next_id: AtomicU64::new(1),
            armed: Mutex::new(HashMap::new()),
            service: Mutex::new(service),
        }));
        let table: &'static HostServices = Box::leak(Box::new(HostServices {
            size: std::mem::size_of::<HostServices>(),
            ctx: (services as *const Services).cast(),
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
        }));
        (services, table)
    }

    /// The plugin has unloaded (or failed to load): from now on every service says so.
    pub fn close(&self) {
        self.open.store(false, Ordering::Release);
    }

    /// Whether the firing of arming `id` of timer `name` should run the plugin's hook; a
    /// one-off timer is disarmed by it.
    pub fn fire(&self, name: &str, id: u64) -> bool {
        let mut armed = lock(&self.armed);
        match armed.get(name) {
            Some(&(armed_id, repeats)) if armed_id == id => {
                if !repeats {
                    armed.remove(name);
                }
                true
            }
            _ => false,
        }
    }

    fn check_open(&self) -> Result<(), RString> {
        if self.open.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(RString::from("the plugin has unloaded"))
        }
    }

    fn send(&self, frame: &FromHost) -> Result<(), RString> {
        if self.channel.send(frame) {
            Ok(())
        } else {
            Err(RString::from("the daemon's channel is closed"))
        }
    }

    /// Asks the daemon one question over the service channel (a `Query` or an `Act`): its
    /// answer, or why there is none. One at a time: the lock is held until the answer is read.
    fn ask(&self, frame: &FromHost) -> Result<Result<String, String>, AskFailure> {
        let mut service = lock(&self.service);
        let Some(stream) = service.as_mut() else {
            return Err(AskFailure::Unavailable(
                "the service channel failed earlier".to_owned(),
            ));
        };
        if let Err(err) = write_frame(stream, &frame.encode()) {
            *service = None;
            return Err(AskFailure::Unavailable(err.to_string()));
        }
        let answer = read_frame(stream).map_err(|err| match &err {
            WireError::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                AskFailure::NoAnswer
            }
            _ => AskFailure::Unavailable(err.to_string()),
        });
        let answer = answer.and_then(|body| {
            let body = body
                .ok_or_else(|| AskFailure::Unavailable("the service channel closed".to_owned()))?;
            ToHost::decode(&body).map_err(|err| AskFailure::Unavailable(err.to_string()))
        });
        match answer {
            Ok(ToHost::Answer(answer)) => Ok(answer),
            Ok(other) => {
                *service = None;
                Err(AskFailure::Unavailable(format!(
                    "the daemon answered {other:?}"
                )))
            }
            Err(failure) => {
                // Out of step (a late answer would be read by the next question): give up.
                *service = None;
                Err(failure)
            }
        }
    }

    /// Asks the daemon for `part` of the channel's state (one of [`wire::STATE_PARTS`]).
    fn query(&self, part: &str) -> Result<Value, RString> {
        self.check_open()?;
        match self.ask(&FromHost::Query {
            part: part.to_owned(),
        }) {
            Ok(Ok(json)) => serde_json::from_str(&json)
                .map_err(|err| RString::from(format!("unreadable channel state: {err}"))),
            Ok(Err(reason)) => Err(RString::from(reason)),
            Err(AskFailure::NoAnswer) => Err(RString::from(format!(
                "cannot ask about the channel: the daemon did not answer within {} s",
                QUERY_TIMEOUT.as_secs()
            ))),
            Err(AskFailure::Unavailable(reason)) => Err(RString::from(format!(
                "cannot ask about the channel: {reason}"
            ))),
        }
    }

    /// Asks the daemon to act on the channel: the action's detail, or an encoded
    /// [`ActionError`]. A request the daemon would refuse as malformed is refused here.
    fn act(&self, verb: &str, args: Vec<String>) -> Result<String, String> {
        let unavailable = |message: String| ActionError::new(ActionErrorKind::Unavailable, message);
        if self.check_open().is_err() {
            return Err(unavailable("the plugin has unloaded".to_owned()).encode());
        }
        if let Err(reason) = Action::from_wire(verb, &args) {
            return Err(ActionError::new(ActionErrorKind::Invalid, reason).encode());
        }
        match self.ask(&FromHost::Act {
            verb: verb.to_owned(),
            args,
        }) {
            Ok(answer) => answer,
            Err(AskFailure::NoAnswer) => Err(ActionError::new(
                ActionErrorKind::NoAnswer,
                format!(
                    "the daemon did not answer within {} s; the {verb} may or may not have happened",
                    QUERY_TIMEOUT.as_secs()
                ),
            )
            .encode()),
            Err(AskFailure::Unavailable(reason)) => Err(unavailable(format!(
                "cannot reach the daemon to {verb}: {reason}"
            ))
            .encode()),
        }
    }
}

/// Why a question over the service channel has no answer.
enum AskFailure {
    /// The service channel is gone or broke (nothing more can be asked).
    Unavailable(String),
    /// The daemon did not answer within [`QUERY_TIMEOUT`] (the channel is given up too).
    NoAnswer,
}

/// Whether `kind` and `payload_json` make an event a plugin may publish; the reason when not.
pub fn event_refusal(kind: &str, payload_json: &str) -> Option<String> {
    if let Some(reason) = rosey_abi::limits::event_kind_refusal(kind) {
        return Some(reason);
    }
    serde_json::from_str::<Value>(payload_json)
        .err()
        .map(|err| format!("the event payload is not JSON: {err}"))
}

/// The services behind `ctx`.
fn services(ctx: *const c_void) -> &'static Services {
    // SAFETY: `ctx` is the pointer `install` put in the table: a leaked `Services`.
    unsafe { &*ctx.cast::<Services>() }
}

fn result<T>(value: Result<T, RString>) -> RResult<T, RString> {
    match value {
        Ok(value) => ROk(value),
        Err(err) => RErr(err),
    }
}

extern "C" fn say(
    ctx: *const c_void,
    to: ROption<RStr<'_>>,
    in_reply_to: ROption<RStr<'_>>,
    text: RStr<'_>,
) -> RResult<(), RString> {
    let services = services(ctx);
    result(services.check_open().and_then(|()| {
        services.send(&FromHost::Chat {
            text: text.as_str().to_owned(),
            to: to.into_option().map(|to| to.as_str().to_owned()),
            in_reply_to: in_reply_to.into_option().map(|id| id.as_str().to_owned()),
        })
    }))
}

extern "C" fn publish(
    ctx: *const c_void,
    kind: RStr<'_>,
    payload_json: RStr<'_>,
) -> RResult<(), RString> {
    let services = services(ctx);
    result(services.check_open().and_then(|()| {
        if let Some(reason) = event_refusal(kind.as_str(), payload_json.as_str()) {
            return Err(RString::from(reason));
        }
        services.send(&FromHost::Publish {
            kind: kind.as_str().to_owned(),
            payload_json: payload_json.as_str().to_owned(),
        })
    }))
}

extern "C" fn set_timer(
    ctx: *const c_void,
    name: RStr<'_>,
    after_ms: u64,
    every_ms: u64,
) -> RResult<(), RString> {
    let services = services(ctx);
    let name = name.as_str();
    result(services.check_open().and_then(|()| {
        if let Some(reason) = wire::timer_refusal(name, after_ms, every_ms) {
            return Err(RString::from(reason));
        }
        let id = services.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut armed = lock(&services.armed);
            if armed.len() >= wire::MAX_TIMERS && !armed.contains_key(name) {
                return Err(RString::from(format!(
                    "{} timers are armed already, the most one plugin may have; cancel some first",
                    wire::MAX_TIMERS
                )));
            }
            armed.insert(name.to_owned(), (id, every_ms != 0));
        }
        services.send(&FromHost::SetTimer {
            id,
            name: name.to_owned(),
            after_ms,
            every_ms,
        })
    }))
}

extern "C" fn cancel_timer(ctx: *const c_void, name: RStr<'_>) -> RResult<bool, RString> {
    let services = services(ctx);
    result(services.check_open().and_then(|()| {
        let was_armed = lock(&services.armed).remove(name.as_str()).is_some();
        if was_armed {
            services.send(&FromHost::CancelTimer {
                name: name.as_str().to_owned(),
            })?;
        }
        Ok(was_armed)
    }))
}

/// A user as the daemon's JSON has it (`{"name","rank","afk"}`); `None` without a name.
fn user_from(user: &Value) -> Option<FfiUser> {
    Some(FfiUser {
        name: RString::from(user["name"].as_str()?),
        rank: user["rank"].as_i64().unwrap_or(0),
        afk: user["afk"].as_bool().unwrap_or(false),
    })
}

/// The text at `value[key]`, or empty.
fn text(value: &Value, key: &str) -> RString {
    RString::from(value[key].as_str().unwrap_or(""))
}

/// The elements of the array at `value[key]` (none when it is not an array).
fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value[key].as_array().map_or(&[], Vec::as_slice)
}

extern "C" fn users(ctx: *const c_void) -> RResult<RVec<FfiUser>, RString> {
    result(services(ctx).query(wire::PART_ROSTER).map(|state| {
        array(&state, "users")
            .iter()
            .filter_map(user_from)
            .collect()
    }))
}

extern "C" fn media(ctx: *const c_void) -> RResult<ROption<FfiMedia>, RString> {
    result(services(ctx).query(wire::PART_ROSTER).map(|state| {
        let media = &state["media"];
        match media["title"].as_str() {
            None => ROption::RNone,
            Some(title) => ROption::RSome(FfiMedia {
                title: RString::from(title),
                kind: RString::from(media["type"].as_str().unwrap_or("")),
                id: RString::from(media["id"].as_str().unwrap_or("")),
                duration_secs: media["seconds"].as_u64().unwrap_or(0),
            }),
        }
    }))
}

extern "C" fn act(
    ctx: *const c_void,
    verb: RStr<'_>,
    args: RSlice<'_, RString>,
) -> RResult<RString, RString> {
    let args = args.iter().map(|arg| arg.as_str().to_owned()).collect();
    match services(ctx).act(verb.as_str(), args) {
        Ok(detail) => ROk(RString::from(detail)),
        Err(error) => RErr(RString::from(error)),
    }
}

/// The playlist from the daemon's JSON (see [`wire::PART_PLAYLIST`]); items without a uid are
/// left out (nothing could name them).
fn playlist_from(state: &Value) -> FfiPlaylist {
    let items = array(state, "items").iter().filter_map(|item| {
        Some(FfiPlaylistItem {
            uid: item["uid"].as_u64()?,
            title: text(item, "title"),
            kind: text(item, "type"),
            id: text(item, "id"),
            duration_secs: item["seconds"].as_u64().unwrap_or(0),
            temp: item["temp"].as_bool().unwrap_or(false),
            queued_by: text(item, "queued_by"),
        })
    });
    FfiPlaylist {
        items: items.collect(),
        current: state["current"].as_u64().into(),
        position_ms: state["position_ms"].as_u64().unwrap_or(0),
        paused: state["paused"].as_bool().unwrap_or(false),
        locked: state["locked"].as_bool().unwrap_or(false),
    }
}

/// The open poll from the daemon's JSON (see [`wire::PART_POLL`]): `None` for `null`; a
/// hidden count (`null`) is `-1`.
fn poll_from(state: &Value) -> Option<FfiPoll> {
    let title = state["title"].as_str()?;
    Some(FfiPoll {
        title: RString::from(title),
        options: array(state, "options")
            .iter()
            .map(|option| RString::from(option.as_str().unwrap_or("")))
            .collect(),
        counts: array(state, "counts")
            .iter()
            .map(|count| {
                count
                    .as_u64()
                    .map_or(-1, |count| i64::try_from(count).unwrap_or(i64::MAX))
            })
            .collect(),
        hidden: state["hidden"].as_bool().unwrap_or(false),
        opened_by: text(state, "opened_by"),
        opened_ms: state["opened_ms"].as_u64().unwrap_or(0),
    })
}

extern "C" fn playlist(ctx: *const c_void) -> RResult<FfiPlaylist, RString> {
    result(
        services(ctx)
            .query(wire::PART_PLAYLIST)
            .map(|state| playlist_from(&state)),
    )
}

extern "C" fn poll(ctx: *const c_void) -> RResult<ROption<FfiPoll>, RString> {
    result(
        services(ctx)
            .query(wire::PART_POLL)
            .map(|state| poll_from(&state).into()),
    )
}

extern "C" fn bot(ctx: *const c_void) -> RResult<FfiUser, RString> {
    result(services(ctx).query(wire::PART_BOT).and_then(|state| {
        user_from(&state).ok_or_else(|| RString::from("the bot has not joined the channel yet"))
    }))
}

extern "C" fn now_ms(_ctx: *const c_void) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests;

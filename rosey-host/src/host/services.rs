//! The services table this host hands the plugin library (see `rosey_abi::services`): sending
//! on its own from any thread, timers, the channel's state, the clock.
//!
//! Sends and timers are frames on the channel (its writer is shared under a lock); the
//! actor checks them again, as it checks everything a host says. Questions about the channel
//! go over the service channel, one at a time under its own lock, so they never wait for the
//! plugin's thread. The host keeps the timers it armed (name → arming) to answer `cancel` at
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

use abi_stable::std_types::{RErr, ROk, ROption, RResult, RStr, RString, RVec};
use rosey_abi::services::{FfiMedia, FfiUser, HostServices};
use serde_json::Value;

use super::channel::Channel;
use crate::wire::{self, read_frame, write_frame, FromHost, ToHost};

/// How long a question about the channel may take before the plugin gets an error.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

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

    /// Asks the daemon for the channel's state over the service channel.
    fn query(&self) -> Result<Value, RString> {
        self.check_open()?;
        let mut service = lock(&self.service);
        let Some(stream) = service.as_mut() else {
            return Err(RString::from(
                "the channel's state is unavailable (the service channel failed earlier)",
            ));
        };
        let asked = write_frame(stream, &FromHost::Query.encode())
            .map_err(|err| err.to_string())
            .and_then(|()| read_frame(stream).map_err(|err| err.to_string()))
            .and_then(|body| {
                body.ok_or_else(|| "the service channel closed".to_owned())
                    .and_then(|body| ToHost::decode(&body).map_err(|err| err.to_string()))
            });
        match asked {
            Ok(ToHost::Answer(Ok(json))) => serde_json::from_str(&json)
                .map_err(|err| RString::from(format!("unreadable channel state: {err}"))),
            Ok(ToHost::Answer(Err(reason))) => Err(RString::from(reason)),
            Ok(other) => {
                *service = None;
                Err(RString::from(format!(
                    "the daemon answered {other:?} to a question about the channel"
                )))
            }
            Err(reason) => {
                // Out of step (a late answer would be read by the next question): give up.
                *service = None;
                Err(RString::from(format!(
                    "cannot ask about the channel: {reason}"
                )))
            }
        }
    }
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

extern "C" fn users(ctx: *const c_void) -> RResult<RVec<FfiUser>, RString> {
    result(services(ctx).query().map(|state| {
        let users = state["users"].as_array().map(Vec::as_slice);
        users
            .unwrap_or_default()
            .iter()
            .filter_map(|user| {
                Some(FfiUser {
                    name: RString::from(user["name"].as_str()?),
                    rank: user["rank"].as_i64().unwrap_or(0),
                    afk: user["afk"].as_bool().unwrap_or(false),
                })
            })
            .collect()
    }))
}

extern "C" fn media(ctx: *const c_void) -> RResult<ROption<FfiMedia>, RString> {
    result(services(ctx).query().map(|state| {
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

extern "C" fn now_ms(_ctx: *const c_void) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

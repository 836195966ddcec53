//! The plugin's own thread: it owns the plugin instance, its key-value store and its host API,
//! and runs one hook at a time. The async side (NATS, heartbeats, signals) never blocks on the
//! plugin, so a busy or hung handler cannot stall heartbeats; it only waits for replies.

use std::{
    cell::RefCell,
    path::PathBuf,
    sync::{mpsc, Arc, Mutex},
    thread,
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RErr, ROk, ROption, RResult, RSlice, RStr, RString, RVec, Tuple2},
};
use rosey_abi::ffi::{
    FfiCommand, FfiConfig, FfiError, FfiErrorKind, FfiEvent, FfiLoadArgs, FfiLogLevel, FfiSource,
    HostApi, HostApi_TO, PluginBox, PluginModuleRef,
};
use rosey_core::{
    messaging::{Busy, CommandMessage, EventMessage, Source},
    plugin_config::PluginConfig,
    storage::KvStore,
};
use tokio::sync::{mpsc::UnboundedSender, oneshot};

use super::log::HostLog;

/// Something the plugin asked the host to send.
#[derive(Debug)]
pub enum Outgoing {
    /// A chat line, or a PM when `to` is set.
    Chat {
        text: String,
        to: Option<String>,
        in_reply_to: Option<String>,
    },
    /// An event of the plugin's own.
    Publish { kind: String, payload_json: String },
}

/// How a hook ended.
pub enum HookOutcome<T> {
    /// It returned normally.
    Done(T),
    /// It returned an error (logged; the message counts as handled).
    Failed(String),
    /// It panicked (the host must exit).
    Panicked(String),
}

impl<T> From<RResult<T, FfiError>> for HookOutcome<T> {
    fn from(result: RResult<T, FfiError>) -> Self {
        match result {
            ROk(value) => HookOutcome::Done(value),
            RErr(FfiError {
                kind: FfiErrorKind::Panicked,
                message,
            }) => HookOutcome::Panicked(message.into_string()),
            RErr(FfiError { message, .. }) => HookOutcome::Failed(message.into_string()),
        }
    }
}

/// Work for the plugin thread.
pub enum Work {
    Command(CommandMessage, oneshot::Sender<HookOutcome<()>>),
    Event(EventMessage, oneshot::Sender<HookOutcome<()>>),
    Unload(oneshot::Sender<HookOutcome<Vec<u8>>>),
}

/// What the plugin thread shares with the async side.
#[derive(Clone)]
pub struct Shared {
    /// The handler running now, for heartbeats.
    pub busy: Arc<Mutex<Option<Busy>>>,
}

/// Everything the plugin thread needs to start.
pub struct PluginSetup {
    pub name: String,
    pub module: PluginModuleRef,
    pub config: PluginConfig,
    pub storage_dir: PathBuf,
    pub state: Option<Vec<u8>>,
    pub log: HostLog,
    pub outgoing: UnboundedSender<Outgoing>,
    pub shared: Shared,
}

/// Why the plugin could not start.
pub enum StartError {
    /// The key-value store could not be opened.
    Storage(String),
    /// The plugin's `load` returned an error.
    LoadFailed(String),
    /// The plugin's `load` panicked.
    LoadPanicked(String),
}

/// Starts the plugin thread and loads the plugin on it; returns the work queue once `load`
/// has succeeded.
pub fn start(setup: PluginSetup) -> Result<mpsc::Sender<Work>, StartError> {
    let (work_tx, work_rx) = mpsc::channel::<Work>();
    let (started_tx, started_rx) = mpsc::channel::<Result<(), StartError>>();
    let thread_name = format!("plugin-{}", setup.name);
    let spawned = thread::Builder::new()
        .name(thread_name)
        .spawn(move || run(setup, work_rx, started_tx));
    if let Err(err) = spawned {
        return Err(StartError::Storage(format!(
            "cannot start the plugin thread: {err}"
        )));
    }
    match started_rx.recv() {
        Ok(Ok(())) => Ok(work_tx),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(StartError::LoadPanicked(
            "the plugin thread ended during load".to_owned(),
        )),
    }
}

fn run(
    setup: PluginSetup,
    work: mpsc::Receiver<Work>,
    started: mpsc::Sender<Result<(), StartError>>,
) {
    let kv = match KvStore::open(&setup.storage_dir) {
        Ok(kv) => kv,
        Err(err) => {
            let _ = started.send(Err(StartError::Storage(err.to_string())));
            return;
        }
    };
    let api = HostImpl {
        name: setup.name.clone(),
        storage_dir: setup.storage_dir.display().to_string(),
        kv,
        log: setup.log.clone(),
        outgoing: setup.outgoing,
        reply_to: RefCell::new(ReplyTarget::Chat { in_reply_to: None }),
    };
    let config = FfiConfig {
        json: RString::from(setup.config.json.as_str()),
        flat: setup
            .config
            .flat
            .iter()
            .map(|(key, value)| Tuple2(RString::from(key.as_str()), RString::from(value.as_str())))
            .collect(),
    };
    let load = setup.module.load();
    let args = FfiLoadArgs {
        name: RStr::from(setup.name.as_str()),
        config: &config,
        state: match &setup.state {
            Some(state) => ROption::RSome(RSlice::from_slice(state)),
            None => ROption::RNone,
        },
    };
    let mut plugin: PluginBox = match load(args, HostApi_TO::from_ptr(&api, TD_Opaque)) {
        ROk(plugin) => plugin,
        RErr(err) => {
            let failure = match err.kind {
                FfiErrorKind::Panicked => StartError::LoadPanicked(err.message.into_string()),
                FfiErrorKind::Failed => StartError::LoadFailed(err.message.into_string()),
            };
            let _ = started.send(Err(failure));
            return;
        }
    };
    drop(setup.state);
    if started.send(Ok(())).is_err() {
        return;
    }
    let set_busy = |busy: Option<Busy>| {
        let mut guard = match setup.shared.busy.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = busy;
    };
    for item in work {
        match item {
            Work::Command(command, done) => {
                set_busy(Some(Busy {
                    what: format!("command {}", command.command),
                    message_id: command.id.clone(),
                    since_ms: rosey_core::messaging::now_ms(),
                }));
                api.set_reply_target(match command.source {
                    Source::Chat => ReplyTarget::Chat {
                        in_reply_to: Some(command.id.clone()),
                    },
                    Source::Pm => ReplyTarget::Pm {
                        user: command.user.clone(),
                        in_reply_to: command.id.clone(),
                    },
                });
                let ffi = to_ffi_command(&command);
                let outcome = plugin.handle_command(HostApi_TO::from_ptr(&api, TD_Opaque), &ffi);
                set_busy(None);
                let _ = done.send(outcome.into());
            }
            Work::Event(event, done) => {
                set_busy(Some(Busy {
                    what: format!("event {}", event.kind),
                    message_id: event.id.clone(),
                    since_ms: rosey_core::messaging::now_ms(),
                }));
                api.set_reply_target(ReplyTarget::Chat {
                    in_reply_to: Some(event.id.clone()),
                });
                let ffi = to_ffi_event(&event);
                let outcome = plugin.handle_event(HostApi_TO::from_ptr(&api, TD_Opaque), &ffi);
                set_busy(None);
                let _ = done.send(outcome.into());
            }
            Work::Unload(done) => {
                set_busy(Some(Busy {
                    what: "unload".to_owned(),
                    message_id: String::new(),
                    since_ms: rosey_core::messaging::now_ms(),
                }));
                api.set_reply_target(ReplyTarget::Chat { in_reply_to: None });
                let outcome = plugin.unload(HostApi_TO::from_ptr(&api, TD_Opaque));
                set_busy(None);
                let _ = done.send(HookOutcome::from(outcome).map(RVec::into_vec));
                return;
            }
        }
    }
}

impl<T> HookOutcome<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> HookOutcome<U> {
        match self {
            HookOutcome::Done(value) => HookOutcome::Done(f(value)),
            HookOutcome::Failed(message) => HookOutcome::Failed(message),
            HookOutcome::Panicked(message) => HookOutcome::Panicked(message),
        }
    }
}

fn to_ffi_command(command: &CommandMessage) -> FfiCommand {
    FfiCommand {
        id: command.id.as_str().into(),
        command: command.command.as_str().into(),
        args: command.args.as_str().into(),
        user: command.user.as_str().into(),
        channel: command.channel.as_str().into(),
        source: match command.source {
            Source::Chat => FfiSource::Chat,
            Source::Pm => FfiSource::Pm,
        },
        time_ms: command.time_ms,
    }
}

fn to_ffi_event(event: &EventMessage) -> FfiEvent {
    let payload_json = serde_json::to_string(event).unwrap_or_default();
    FfiEvent {
        id: event.id.as_str().into(),
        kind: event.kind.as_str().into(),
        user: event.user.as_deref().map(RString::from).into(),
        text: event.text.as_deref().map(RString::from).into(),
        payload_json: payload_json.into(),
        time_ms: event.time_ms,
    }
}

/// Where `reply` goes for the message in hand.
enum ReplyTarget {
    Chat { in_reply_to: Option<String> },
    Pm { user: String, in_reply_to: String },
}

/// The host API a plugin calls back into. Lives on the plugin thread only.
struct HostImpl {
    name: String,
    storage_dir: String,
    kv: KvStore,
    log: HostLog,
    outgoing: UnboundedSender<Outgoing>,
    reply_to: RefCell<ReplyTarget>,
}

impl HostImpl {
    fn set_reply_target(&self, target: ReplyTarget) {
        *self.reply_to.borrow_mut() = target;
    }

    fn send(&self, outgoing: Outgoing) {
        if self.outgoing.send(outgoing).is_err() {
            self.log.host(
                FfiLogLevel::Warn,
                "dropped an outgoing message: the NATS side has stopped",
            );
        }
    }
}

impl HostApi for HostImpl {
    fn reply(&self, text: RStr<'_>) {
        let (to, in_reply_to) = match &*self.reply_to.borrow() {
            ReplyTarget::Chat { in_reply_to } => (None, in_reply_to.clone()),
            ReplyTarget::Pm { user, in_reply_to } => {
                (Some(user.clone()), Some(in_reply_to.clone()))
            }
        };
        self.send(Outgoing::Chat {
            text: text.as_str().to_owned(),
            to,
            in_reply_to,
        });
    }

    fn send_chat(&self, text: RStr<'_>) {
        self.send(Outgoing::Chat {
            text: text.as_str().to_owned(),
            to: None,
            in_reply_to: None,
        });
    }

    fn send_pm(&self, to: RStr<'_>, text: RStr<'_>) {
        self.send(Outgoing::Chat {
            text: text.as_str().to_owned(),
            to: Some(to.as_str().to_owned()),
            in_reply_to: None,
        });
    }

    fn publish(&self, kind: RStr<'_>, payload_json: RStr<'_>) -> RResult<(), RString> {
        let kind = kind.as_str();
        if !rosey_core::manifest::is_valid_event_pattern(kind) || kind.contains(['*', '>']) {
            return RErr(RString::from(format!(
                "{kind:?} is not a valid event kind: dot-separated words of a-z, 0-9, _ and -"
            )));
        }
        if let Err(err) = serde_json::from_str::<serde_json::Value>(payload_json.as_str()) {
            return RErr(RString::from(format!(
                "the event payload is not JSON: {err}"
            )));
        }
        self.send(Outgoing::Publish {
            kind: format!("plugin.{}.{kind}", self.name),
            payload_json: payload_json.as_str().to_owned(),
        });
        ROk(())
    }

    fn storage_dir(&self) -> RString {
        RString::from(self.storage_dir.as_str())
    }

    fn kv_get(&self, key: RStr<'_>) -> RResult<ROption<RVec<u8>>, RString> {
        match self.kv.get(key.as_str()) {
            Ok(value) => ROk(value.map(RVec::from).into()),
            Err(err) => RErr(RString::from(err.to_string())),
        }
    }

    fn kv_set(&self, key: RStr<'_>, value: RSlice<'_, u8>) -> RResult<(), RString> {
        match self.kv.set(key.as_str(), value.as_slice()) {
            Ok(()) => ROk(()),
            Err(err) => RErr(RString::from(err.to_string())),
        }
    }

    fn kv_delete(&self, key: RStr<'_>) -> RResult<bool, RString> {
        match self.kv.delete(key.as_str()) {
            Ok(existed) => ROk(existed),
            Err(err) => RErr(RString::from(err.to_string())),
        }
    }

    fn kv_list(&self, prefix: RStr<'_>) -> RResult<RVec<RString>, RString> {
        match self.kv.list(prefix.as_str()) {
            Ok(keys) => ROk(keys.into_iter().map(RString::from).collect()),
            Err(err) => RErr(RString::from(err.to_string())),
        }
    }

    fn log(&self, level: FfiLogLevel, message: RStr<'_>) {
        self.log.plugin(level, message.as_str());
    }
}

//! The plugin instance and the host API it calls back into: replies, chat, PMs, events, the
//! key-value store, log lines. Everything the plugin says goes straight onto the channel, in
//! the order it said it, before the handler's `Done`.

use std::cell::RefCell;

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RErr, ROk, ROption, RResult, RSlice, RStr, RString, RVec, Tuple2},
};
use rosey_abi::ffi::{
    FfiCommand, FfiConfig, FfiError, FfiErrorKind, FfiEvent, FfiLoadArgs, FfiLogLevel, FfiSource,
    HostApi, HostApi_TO, PluginBox, PluginModuleRef,
};

use super::channel::Channel;
use crate::{
    storage::KvStore,
    wire::{self, FromHost, Level, Outcome, Source, Start},
};

/// A loaded plugin with its host API.
pub struct Loaded {
    plugin: PluginBox,
    api: HostImpl,
    /// How to tell the library who sends the next message, when it can be told.
    sender_rank: Option<rosey_abi::loader::SenderRankHook>,
}

/// The library's plain C hooks outside the checked ABI, those it has.
pub struct Hooks {
    /// Tells it the sender's rank of the next message.
    pub sender_rank: Option<rosey_abi::loader::SenderRankHook>,
    /// Hands it the services table (with the table), before `load`.
    pub services: Option<(
        rosey_abi::loader::ServicesHook,
        &'static rosey_abi::services::HostServices,
    )>,
}

/// Why the plugin could not start.
pub enum StartError {
    /// The storage folder could not be created.
    Storage(String),
    /// `load` returned an error or panicked.
    Load(String),
}

/// A hook's result as the daemon gets it; a panic's backtrace (see
/// [`rosey_abi::split_panic_message`]) is returned apart, for the log after the failure.
fn outcome(result: RResult<(), FfiError>) -> (Outcome, Option<String>) {
    match result {
        ROk(()) => (Outcome::Ok, None),
        RErr(FfiError {
            kind: FfiErrorKind::Panicked,
            message,
        }) => {
            let (message, backtrace) = rosey_abi::split_panic_message(message.as_str());
            (
                Outcome::Panicked(message.to_owned()),
                backtrace.map(str::to_owned),
            )
        }
        RErr(FfiError { message, .. }) if message.as_str() == rosey_abi::CONFIG_NOT_HANDLED => {
            (Outcome::NotHandled, None)
        }
        RErr(FfiError { message, .. }) => (Outcome::Failed(message.into_string()), None),
    }
}

/// A panic's message for a failure line, its backtrace (if any) logged first as the plugin's
/// DEBUG line: the failure of `load` or `unload` ends the host, and nothing is read after it.
fn panic_text(message: &str, channel: &Channel) -> String {
    let (message, backtrace) = rosey_abi::split_panic_message(message);
    if let Some(backtrace) = backtrace {
        channel.plugin_log(Level::Debug, backtrace);
    }
    message.to_owned()
}

/// Makes the storage folder and calls the plugin's `load` with its config and handed-over
/// state (the key-value store opens on first use).
pub fn start(
    module: PluginModuleRef,
    hooks: Hooks,
    start: Start,
    channel: Channel,
) -> Result<Loaded, StartError> {
    let storage_dir = std::path::PathBuf::from(&start.storage_dir);
    if let Err(err) = std::fs::create_dir_all(&storage_dir) {
        return Err(StartError::Storage(format!(
            "cannot create {}: {err}",
            storage_dir.display()
        )));
    }
    let api = HostImpl {
        storage_dir: start.storage_dir.clone(),
        kv: std::cell::OnceCell::new(),
        storage_path: storage_dir,
        channel,
        reply_to: RefCell::new(ReplyTarget::Chat { in_reply_to: None }),
    };
    let config = FfiConfig {
        json: RString::from(start.config_json.as_str()),
        flat: start
            .config_flat
            .iter()
            .map(|(key, value)| Tuple2(RString::from(key.as_str()), RString::from(value.as_str())))
            .collect(),
    };
    let load = module.load();
    if let Some((give_services, table)) = hooks.services {
        // SAFETY: `table` is leaked (valid for the process's life) and never written again;
        // the call is on the thread that calls `load` next, as the hook expects.
        unsafe { give_services(table) };
    }
    let args = FfiLoadArgs {
        name: RStr::from(start.name.as_str()),
        config: &config,
        state: match &start.state {
            Some(state) => ROption::RSome(RSlice::from_slice(state)),
            None => ROption::RNone,
        },
    };
    match load(args, HostApi_TO::from_ptr(&api, TD_Opaque)) {
        ROk(plugin) => Ok(Loaded {
            plugin,
            api,
            sender_rank: hooks.sender_rank,
        }),
        RErr(err) => Err(StartError::Load(match err.kind {
            FfiErrorKind::Panicked => format!(
                "{} panicked in load: {}",
                start.name,
                panic_text(&err.message, &api.channel)
            ),
            FfiErrorKind::Failed => format!("{} failed to load: {}", start.name, err.message),
        })),
    }
}

impl Loaded {
    /// Tells the library the rank of the sender of the message it gets next (a library built
    /// before this existed has no hook, and never asks).
    fn tell_sender_rank(&self, rank: Option<i64>) {
        if let Some(hook) = self.sender_rank {
            hook(rank.is_some(), rank.unwrap_or(0));
        }
    }

    /// Runs the command handler; with a panic's backtrace, if one was captured.
    pub fn command(&mut self, command: &wire::Command) -> (Outcome, Option<String>) {
        self.tell_sender_rank(command.rank);
        self.api.set_reply_target(match command.source {
            Source::Chat => ReplyTarget::Chat {
                in_reply_to: Some(command.id.clone()),
            },
            Source::Pm => ReplyTarget::Pm {
                user: command.user.clone(),
                in_reply_to: command.id.clone(),
            },
        });
        let ffi = FfiCommand {
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
        };
        outcome(
            self.plugin
                .handle_command(HostApi_TO::from_ptr(&self.api, TD_Opaque), &ffi),
        )
    }

    /// Runs the event handler; with a panic's backtrace, if one was captured.
    pub fn event(&mut self, event: &wire::Event) -> (Outcome, Option<String>) {
        self.tell_sender_rank(event.rank);
        self.api.set_reply_target(ReplyTarget::Chat {
            in_reply_to: Some(event.id.clone()),
        });
        let ffi = FfiEvent {
            id: event.id.as_str().into(),
            kind: event.kind.as_str().into(),
            user: event.user.as_deref().map(RString::from).into(),
            text: event.text.as_deref().map(RString::from).into(),
            payload_json: event.payload_json.as_str().into(),
            time_ms: event.time_ms,
        };
        outcome(
            self.plugin
                .handle_event(HostApi_TO::from_ptr(&self.api, TD_Opaque), &ffi),
        )
    }

    /// Runs the timer hook for `name`, due at `due_ms`; with a panic's backtrace, if one was
    /// captured. The library gets it as an event of the reserved kind
    /// [`rosey_abi::TIMER_EVENT_KIND`] (only a library that armed a timer ever does).
    pub fn timer(&mut self, name: &str, due_ms: u64) -> (Outcome, Option<String>) {
        self.tell_sender_rank(None);
        self.api
            .set_reply_target(ReplyTarget::Chat { in_reply_to: None });
        let ffi = FfiEvent {
            id: format!("timer:{name}:{due_ms}").as_str().into(),
            kind: rosey_abi::TIMER_EVENT_KIND.into(),
            user: ROption::RNone,
            text: ROption::RSome(RString::from(name)),
            payload_json: "{}".into(),
            time_ms: due_ms,
        };
        outcome(
            self.plugin
                .handle_event(HostApi_TO::from_ptr(&self.api, TD_Opaque), &ffi),
        )
    }

    /// Hands new configuration to the plugin's `on_config`, as an event of the reserved kind
    /// [`rosey_abi::CONFIG_EVENT_KIND`] (only sent to a library that knows it); `NotHandled`
    /// when the plugin has no `on_config`.
    pub fn configure(
        &mut self,
        json: &str,
        flat: &[(String, String)],
    ) -> (Outcome, Option<String>) {
        self.tell_sender_rank(None);
        self.api
            .set_reply_target(ReplyTarget::Chat { in_reply_to: None });
        let lines = rosey_abi::export::config_lines::encode(
            flat.iter()
                .map(|(key, value)| (key.as_str(), value.as_str())),
        );
        let ffi = FfiEvent {
            id: "config".into(),
            kind: rosey_abi::CONFIG_EVENT_KIND.into(),
            user: ROption::RNone,
            text: ROption::RSome(RString::from(lines)),
            payload_json: json.into(),
            time_ms: 0,
        };
        outcome(
            self.plugin
                .handle_event(HostApi_TO::from_ptr(&self.api, TD_Opaque), &ffi),
        )
    }

    /// Runs `unload`; the state to hand over, or why there is none.
    pub fn unload(mut self) -> Result<Vec<u8>, String> {
        self.api
            .set_reply_target(ReplyTarget::Chat { in_reply_to: None });
        match self
            .plugin
            .unload(HostApi_TO::from_ptr(&self.api, TD_Opaque))
        {
            ROk(state) => Ok(RVec::into_vec(state)),
            RErr(FfiError {
                kind: FfiErrorKind::Panicked,
                message,
            }) => Err(format!(
                "plugin panicked in unload: {}",
                panic_text(&message, &self.api.channel)
            )),
            RErr(FfiError { message, .. }) => Err(format!("unload failed: {message}")),
        }
    }
}

/// Where `reply` goes for the message in hand.
enum ReplyTarget {
    Chat { in_reply_to: Option<String> },
    Pm { user: String, in_reply_to: String },
}

/// The host API a plugin calls back into. Lives on the plugin's thread only.
struct HostImpl {
    storage_dir: String,
    /// Opened on first use: SQLite's code is most of a host's pages, and a plugin that keeps
    /// no keys should not pay for them.
    kv: std::cell::OnceCell<Result<KvStore, String>>,
    storage_path: std::path::PathBuf,
    channel: Channel,
    reply_to: RefCell<ReplyTarget>,
}

impl HostImpl {
    fn kv(&self) -> Result<&KvStore, RString> {
        self.kv
            .get_or_init(|| KvStore::open(&self.storage_path).map_err(|err| err.to_string()))
            .as_ref()
            .map_err(|err| RString::from(err.as_str()))
    }

    fn set_reply_target(&self, target: ReplyTarget) {
        *self.reply_to.borrow_mut() = target;
    }

    fn chat(&self, text: &str, to: Option<String>, in_reply_to: Option<String>) {
        self.channel.send(&FromHost::Chat {
            text: text.to_owned(),
            to,
            in_reply_to,
        });
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
        self.chat(text.as_str(), to, in_reply_to);
    }

    fn send_chat(&self, text: RStr<'_>) {
        self.chat(text.as_str(), None, None);
    }

    fn send_pm(&self, to: RStr<'_>, text: RStr<'_>) {
        self.chat(text.as_str(), Some(to.as_str().to_owned()), None);
    }

    fn publish(&self, kind: RStr<'_>, payload_json: RStr<'_>) -> RResult<(), RString> {
        let kind = kind.as_str();
        if let Some(reason) = super::services::event_refusal(kind, payload_json.as_str()) {
            return RErr(RString::from(reason));
        }
        self.channel.send(&FromHost::Publish {
            kind: kind.to_owned(),
            payload_json: payload_json.as_str().to_owned(),
        });
        ROk(())
    }

    fn storage_dir(&self) -> RString {
        RString::from(self.storage_dir.as_str())
    }

    fn kv_get(&self, key: RStr<'_>) -> RResult<ROption<RVec<u8>>, RString> {
        let kv = match self.kv() {
            Ok(kv) => kv,
            Err(err) => return RErr(err),
        };
        match kv.get(key.as_str()) {
            Ok(value) => ROk(value.map(RVec::from).into()),
            Err(err) => RErr(RString::from(err.to_string())),
        }
    }

    fn kv_set(&self, key: RStr<'_>, value: RSlice<'_, u8>) -> RResult<(), RString> {
        let kv = match self.kv() {
            Ok(kv) => kv,
            Err(err) => return RErr(err),
        };
        match kv.set(key.as_str(), value.as_slice()) {
            Ok(()) => ROk(()),
            Err(err) => RErr(RString::from(err.to_string())),
        }
    }

    fn kv_delete(&self, key: RStr<'_>) -> RResult<bool, RString> {
        let kv = match self.kv() {
            Ok(kv) => kv,
            Err(err) => return RErr(err),
        };
        match kv.delete(key.as_str()) {
            Ok(existed) => ROk(existed),
            Err(err) => RErr(RString::from(err.to_string())),
        }
    }

    fn kv_list(&self, prefix: RStr<'_>) -> RResult<RVec<RString>, RString> {
        let kv = match self.kv() {
            Ok(kv) => kv,
            Err(err) => return RErr(err),
        };
        match kv.list(prefix.as_str()) {
            Ok(keys) => ROk(keys.into_iter().map(RString::from).collect()),
            Err(err) => RErr(RString::from(err.to_string())),
        }
    }

    fn log(&self, level: FfiLogLevel, message: RStr<'_>) {
        let level = match level {
            FfiLogLevel::Debug => Level::Debug,
            FfiLogLevel::Info => Level::Info,
            FfiLogLevel::Warn => Level::Warn,
            FfiLogLevel::Error => Level::Error,
        };
        self.channel.plugin_log(level, message.as_str());
    }
}

//! An in-process testing kit for plugins: load a plugin type in a [`TestBot`], drive it with
//! commands, events and a fake clock, and assert on what it said, published, logged and
//! stored, with plain `#[test]`s and no daemon.
//!
//! The kit drives the plugin the way a real host does: through the root module
//! `export_plugin!` builds (its `load`, then the FFI plugin object's `handle_command`,
//! `handle_event` and `unload`), with a host API and a services table of its own. What it
//! records is what a real host would have sent on; timers, live configuration, reloads and
//! restarts reach the plugin as they would from the daemon. The chat channel is faked too:
//! its users, media, playlist and poll are what the test sets, and the plugin's channel
//! actions are recorded and answered (succeeding by default; see [`TestBot::actions`]).
//!
//! Enable it in the plugin's crate (a plugin crate is `crate-type = ["cdylib", "rlib"]`, so its
//! tests link the plugin type directly):
//!
//! ```toml
//! [dev-dependencies]
//! rosey-abi = { workspace = true, features = ["testing"] }
//! ```
//!
//! ```
//! use std::time::Duration;
//!
//! use rosey_abi::testing::{Said, TestBot};
//! use rosey_abi::{Command, Context, LoadContext, Plugin, PluginResult, Timer};
//!
//! struct Remind;
//!
//! impl Plugin for Remind {
//!     fn load(_ctx: &LoadContext<'_>) -> PluginResult<Self> {
//!         Ok(Remind)
//!     }
//!
//!     fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
//!         ctx.after(Duration::from_secs(60), cmd.args())?;
//!         ctx.reply(format!("in a minute, {}", cmd.user()));
//!         Ok(())
//!     }
//!
//!     fn on_timer(&mut self, ctx: &Context<'_>, timer: &Timer<'_>) -> PluginResult<()> {
//!         ctx.say(format!("reminder: {}", timer.name()));
//!         Ok(())
//!     }
//! }
//!
//! let mut bot = TestBot::<Remind>::new();
//! assert_eq!(bot.command("alice", "!remind tea"), [Said::chat("in a minute, alice")]);
//! assert_eq!(bot.advance(Duration::from_secs(59)), []);
//! assert_eq!(bot.advance(Duration::from_secs(1)), [Said::chat("reminder: tea")]);
//! ```

mod channel;
mod config;
mod lifecycle;
mod messages;
mod services;
mod state;
#[cfg(test)]
mod tests;

use std::{
    collections::BTreeMap,
    marker::PhantomData,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use abi_stable::{sabi_trait::TD_Opaque, std_types::RResult};

pub use self::channel::{chat_user, playlist_item, BOT_NAME};
use self::state::{KitHost, Shared};
use crate::{
    ffi::{FfiConfig, FfiError, HostApi_TO, HostRef, PluginBox, PluginModuleRef},
    ChatUser, LogLevel, Media, Plugin, Rank,
};

/// Where a new test bot's clock starts, in milliseconds since the Unix epoch (November
/// 2023): fixed, so a test's times are the same on every run.
pub const START_MS: u64 = 1_700_000_000_000;

/// What the plugin said: in chat (`to` None) or by PM to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// The user a PM went to; `None` for a chat line.
    pub to: Option<String>,
    /// What was said.
    pub text: String,
}

impl Said {
    /// A chat line, to compare with what a bot returns.
    pub fn chat(text: impl Into<String>) -> Said {
        Said {
            to: None,
            text: text.into(),
        }
    }

    /// A PM to `to`, to compare with what a bot returns.
    pub fn pm(to: impl Into<String>, text: impl Into<String>) -> Said {
        Said {
            to: Some(to.into()),
            text: text.into(),
        }
    }
}

/// A plugin of type `P` loaded in a fake host: the one value a plugin's test drives.
///
/// Every instance's state (what was said, the store, the clock, the timers) is its own, so
/// tests run in parallel. Methods that drive the plugin return what was said since it was
/// last drained (by hooks, and by the plugin's own threads so far). A hook's failure or panic
/// panics the test with its message, except in the `try_` methods and
/// [`TestBot::set_config`], which return it.
pub struct TestBot<P: Plugin> {
    module: PluginModuleRef,
    name: String,
    config: FfiConfig,
    shared: Arc<Shared>,
    host: KitHost,
    /// The loaded instance; `None` only while one replaces another (or after a failed load).
    plugin: Option<PluginBox>,
    /// The generation of the last instance loaded (each gets its own services table).
    generation: u64,
    /// Numbers the messages handed over, for their ids.
    next_message: u64,
    _plugin: PhantomData<fn() -> P>,
}

impl<P: Plugin> std::fmt::Debug for TestBot<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBot")
            .field("plugin", &std::any::type_name::<P>())
            .field("name", &self.name)
            .field("loaded", &self.plugin.is_some())
            .field("generation", &self.generation)
            .field("next_message", &self.next_message)
            .finish_non_exhaustive()
    }
}

impl<P: Plugin> Default for TestBot<P> {
    fn default() -> Self {
        TestBot::new()
    }
}

impl<P: Plugin> TestBot<P> {
    /// The plugin loaded as `test` with an empty configuration, the clock at [`START_MS`].
    /// Panics with the plugin's message if `load` fails.
    pub fn new() -> TestBot<P> {
        TestBot::named("test", "{}")
    }

    /// The plugin loaded as `test` with `config_json` (a JSON object) as its configuration.
    /// Panics if `config_json` is not an object, or if `load` fails.
    pub fn with_config(config_json: &str) -> TestBot<P> {
        TestBot::named("test", config_json)
    }

    /// The plugin loaded as `name` with `config_json` as its configuration. Panics if
    /// `config_json` is not an object, or if `load` fails.
    pub fn named(name: &str, config_json: &str) -> TestBot<P> {
        TestBot::try_load(name, config_json)
            .unwrap_or_else(|err| panic!("TestBot: plugin {name:?} failed to load: {err}"))
    }

    /// The plugin loaded as `name` with `config_json`, or the error `load` returned (a
    /// panic's message, with where it happened), to test a plugin that refuses to load.
    /// Panics if `config_json` is not an object.
    pub fn try_load(name: &str, config_json: &str) -> Result<TestBot<P>, String> {
        TestBot::start(name, config::parse_or_panic(config_json))
    }

    /// What the fake clock reads, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.shared.lock().now_ms
    }

    /// The armed timers, name and due time (ms), earliest first (ties in arming order).
    pub fn timers(&self) -> Vec<(String, u64)> {
        let state = self.shared.lock();
        let mut armed: Vec<_> = state.timers.iter().collect();
        armed.sort_by_key(|(_, armed)| (armed.due_ms, armed.id));
        armed
            .into_iter()
            .map(|(name, armed)| (name.clone(), armed.due_ms))
            .collect()
    }

    /// What was said since it was last drained, drained: by hooks, and by the plugin's own
    /// threads through their handles.
    pub fn said(&mut self) -> Vec<Said> {
        std::mem::take(&mut self.shared.lock().said)
    }

    /// For a plugin's own threads: waits (in real time, polling) until something was said or
    /// `timeout` passed, and returns what was said (empty on a timeout), drained.
    pub fn wait_for_said(&mut self, timeout: Duration) -> Vec<Said> {
        let start = Instant::now();
        loop {
            let said = self.said();
            if !said.is_empty() || start.elapsed() >= timeout {
                return said;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The events the plugin published (kind as the plugin gave it, without the
    /// `plugin.<name>.` the bus adds; payload JSON), drained.
    pub fn published(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.shared.lock().published)
    }

    /// Every line the plugin logged, oldest first (not drained).
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.shared.lock().logs.clone()
    }

    /// The plugin's key-value store as it is now.
    pub fn kv(&self) -> BTreeMap<String, Vec<u8>> {
        self.shared.lock().kv.clone()
    }

    /// The value at `key` in the store as text; `None` when unset. Panics (naming the key) if
    /// the value is not UTF-8: use [`TestBot::kv`] for bytes.
    pub fn kv_string(&self, key: &str) -> Option<String> {
        let value = self.shared.lock().kv.get(key).cloned()?;
        match String::from_utf8(value) {
            Ok(text) => Some(text),
            Err(err) => panic!(
                "TestBot: the value at {key:?} is not UTF-8 (use kv() for bytes): {:?}",
                err.as_bytes()
            ),
        }
    }

    /// Sets who `users()` says is in the channel (empty until set).
    pub fn set_users(&mut self, users: Vec<ChatUser>) {
        self.shared.lock().users = users;
    }

    /// Sets what `media()` says is playing (nothing until set).
    pub fn set_media(&mut self, media: Option<Media>) {
        self.shared.lock().media = media;
    }

    /// The plugin's storage folder (`Context::storage_dir`), which lasts as long as the bot:
    /// to look at, or put, files the plugin reads. Made when first asked for.
    pub fn storage_dir(&self) -> PathBuf {
        let _ = std::fs::create_dir_all(&self.host.storage_dir);
        self.host.storage_dir.clone()
    }

    /// Runs `call` on the loaded instance as the host runs a hook: the sender's rank told to
    /// the library first, `reply` going to `reply_to` (a PM to that user) or to chat.
    fn hook<T>(
        &mut self,
        rank: Option<Rank>,
        reply_to: Option<String>,
        call: impl FnOnce(&mut PluginBox, HostRef<'_>) -> RResult<T, FfiError>,
    ) -> Result<T, FfiError> {
        *self.host.reply_to.borrow_mut() = reply_to;
        let Some(plugin) = self.plugin.as_mut() else {
            panic!("TestBot: no instance of the plugin is loaded (its last load failed)");
        };
        crate::export::sender::set(rank.map(|rank| rank.0));
        call(plugin, HostApi_TO::from_ptr(&self.host, TD_Opaque)).into_result()
    }

    /// An id for the next message handed over.
    fn message_id(&mut self, what: &str) -> String {
        self.next_message += 1;
        format!("test-{what}-{}", self.next_message)
    }
}

/// The message of a hook's error, a panic's backtrace (if one was captured) cut off.
fn error_message(err: &FfiError) -> String {
    crate::split_panic_message(err.message.as_str())
        .0
        .to_owned()
}

//! # rosey-abi
//!
//! The one crate a rosey plugin depends on. It has two halves:
//!
//! * **The stable ABI** ([`ffi`]): the `abi_stable` root module every plugin library exports, the
//!   FFI-safe plugin object the host drives, and the host API a plugin calls back into. Its layout
//!   is checked by `abi_stable` when a host loads a library, so a plugin built against an
//!   incompatible version is refused instead of misbehaving.
//! * **The SDK** ([`Plugin`], [`Context`], [`export_plugin!`]): the safe, idiomatic Rust surface
//!   authors write against. An author implements [`Plugin`] on a type of their own and calls
//!   `export_plugin!(TheType);` once; the macro generates the root module and converts panics
//!   into errors so that the host can log them instead of dying silently. [`args`] splits and
//!   parses a command's arguments, with errors worded to be replied to the user. [`Channel`]
//!   acts on the chat channel (its playlist, moderation, polls) in the vocabulary of
//!   [`channel`].
//!
//! With the `testing` feature, the `testing` module loads a plugin in-process and drives it
//! (commands, events, a fake clock for its timers, reloads) so its tests are plain `#[test]`s.
//!
//! The ABI is synchronous on purpose: tokio's runtime context does not cross a `dlopen` boundary,
//! so a plugin that needs I/O of its own runs it on threads of its own.
//!
//! ```no_run
//! use rosey_abi::{export_plugin, Command, Context, LoadContext, Plugin, PluginResult};
//!
//! struct Echo;
//!
//! impl Plugin for Echo {
//!     fn load(_ctx: &LoadContext<'_>) -> PluginResult<Self> {
//!         Ok(Echo)
//!     }
//!
//!     fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
//!         ctx.reply(cmd.args());
//!         Ok(())
//!     }
//! }
//!
//! export_plugin!(Echo);
//! ```

#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod args;
pub mod channel;
#[cfg(any(feature = "serde", feature = "testing"))]
pub mod config_flat;
pub mod ffi;
pub mod limits;
pub mod loader;
mod panics;
pub mod rank;
mod sdk;
pub mod services;
#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
pub mod export;

pub use args::{Args, ArgsError};
pub use channel::{
    Action, ActionError, ActionErrorKind, ChannelPermission, MoveTo, NewPoll, QueueAt,
};
pub use limits::{MAX_TIMERS, MAX_TIMER_NAME};
pub use rank::Rank;
pub use sdk::{
    Channel, ChatUser, Command, Config, Context, Error, Event, Handle, Kv, LoadContext, LogLevel,
    Media, MessageSource, Origin, Playlist, PlaylistItem, Plugin, PluginResult, Poll, Queued,
    Timer,
};

/// The version of the plugin ABI this crate defines. Bumped on every change a loaded library
/// could notice; the host refuses libraries whose version differs, naming both.
pub const ABI_VERSION: u32 = 1;

/// The version of this crate, as compiled into every plugin and host, so error messages can name
/// the SDK a library was built with.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Name of the plain C symbol (outside `abi_stable`'s checked layout) that reports the ABI
/// version a library was built for. Readable even when the layout check fails, which is what
/// lets the host print a one-line mismatch message.
pub const ABI_VERSION_SYMBOL: &str = "rosey_plugin_abi_version";

/// Name of the plain C symbol that reports the `rosey-abi` crate version a library was built with.
pub const SDK_VERSION_SYMBOL: &str = "rosey_plugin_sdk_version";

/// Name of the plain C symbol, `extern "C" fn(known: bool, rank: i64)`, through which the host
/// tells the library the channel rank of the sender of the message it hands over next (see
/// [`export::sender`] for why it is not part of the checked ABI).
pub const SENDER_RANK_SYMBOL: &str = "rosey_plugin_set_sender_rank_v1";

/// Name of the plain C symbol, `extern "C" fn(table: *const services::HostServices)`, through
/// which the host hands the library its services table, on the plugin's thread just before
/// `load` (see [`services`]). A library without it (built before it existed) gets no table.
pub const SERVICES_SYMBOL: &str = "rosey_plugin_set_services_v1";

/// The event kind a due timer reaches the library as, through the checked ABI's
/// `handle_event` (`text`: the timer's name; `time_ms`: when it was due). Reserved: no chat
/// event or plugin event has a `rosey.` kind, and the host only sends it to a library that
/// armed a timer, which an SDK that does not know it cannot do.
pub const TIMER_EVENT_KIND: &str = "rosey.timer";

/// The event kind new configuration reaches the library as, through `handle_event` (the
/// operator ran `rosey plugin config`): `payload_json` is the whole document, `text` its flat
/// pairs in [`export::config_lines`]' encoding. Reserved like [`TIMER_EVENT_KIND`]; the host
/// only sends it to a library that took the services table (which knows it).
pub const CONFIG_EVENT_KIND: &str = "rosey.config";

/// The error message with which a library says its plugin does not take configuration live
/// (it left `on_config` as it is): the host reloads it instead, with its state.
#[doc(hidden)]
pub const CONFIG_NOT_HANDLED: &str = "\u{1e}rosey: on_config not implemented";

/// Set to `1` in a plugin host's environment, before its library is loaded, when the host
/// passes DEBUG lines on: only then does a panicking plugin capture and symbolise a backtrace
/// (which costs milliseconds, on the path of a crash, and would be dropped anyway).
pub const BACKTRACE_ENV: &str = "ROSEY_PLUGIN_BACKTRACE";

/// Between a panic's message and its backtrace in the message of an `FfiErrorKind::Panicked`
/// error: the host reports the message at ERROR and the backtrace after it, at DEBUG.
pub const PANIC_BACKTRACE_SEPARATOR: &str = "\n\u{1e}";

/// A panicked hook's error message split into the message and its backtrace, if it has one.
pub fn split_panic_message(message: &str) -> (&str, Option<&str>) {
    match message.split_once(PANIC_BACKTRACE_SEPARATOR) {
        Some((message, backtrace)) => (message, Some(backtrace)),
        None => (message, None),
    }
}

/// Items the `export_plugin!` macro expands to; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable;
}

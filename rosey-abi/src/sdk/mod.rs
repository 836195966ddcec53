//! The safe SDK: what a plugin author implements and calls.
//!
//! The hook-side types borrow the FFI values for the duration of one call and expose them as
//! ordinary Rust (`&str`, `Vec<u8>`, `Result`); [`Handle`] is the one owned value, which a
//! plugin keeps to act on its own after the hook returned, and [`Channel`] its way to act on
//! the chat channel itself (playlist, moderation, polls).

use std::fmt;

use crate::ffi::{FfiLogLevel, FfiSource};

/// The result type of every plugin hook.
pub type PluginResult<T> = Result<T, Error>;

/// A plugin's error: a message the host logs.
///
/// Any `std::error::Error` converts into it with `?`; use [`Error::msg`] for a plain message.
/// Like `anyhow::Error` it deliberately does not implement `std::error::Error` itself, which is
/// what makes the blanket conversion possible.
pub struct Error {
    message: String,
}

impl Error {
    /// An error carrying just this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error {
            message: message.to_string(),
        }
    }

    /// The message, for logging.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(err: E) -> Self {
        Error::msg(err)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?})", self.message)
    }
}

/// How a command reached the bot.
pub type MessageSource = FfiSource;

/// Severity of a logged line.
pub type LogLevel = FfiLogLevel;

/// A plugin: a type of the author's own, loaded once per plugin-host process.
///
/// The host calls the hooks one at a time from a single thread of its own, so `&mut self` needs
/// no locking; a slow hook delays only this plugin. State that must survive a reload or an
/// update is returned by [`Plugin::unload`] and handed to the next instance's [`Plugin::load`]
/// through [`LoadContext::state`].
pub trait Plugin: Send + Sized + 'static {
    /// Create the plugin. `ctx` carries its configuration, storage, and any state carried over.
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self>;

    /// Handle a command the manifest claims (`!roll 2d6` arrives as `roll` with args `2d6`).
    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()>;

    /// Handle an event the manifest subscribes to. Ignores events by default.
    fn on_event(&mut self, ctx: &Context<'_>, event: &Event<'_>) -> PluginResult<()> {
        let _ = (ctx, event);
        Ok(())
    }

    /// A timer the plugin armed ([`Context::after`], [`Context::every`], or through a
    /// [`Handle`]) is due. Called on the plugin's thread between messages, like the other
    /// hooks. Ignores timers by default.
    fn on_timer(&mut self, ctx: &Context<'_>, timer: &Timer<'_>) -> PluginResult<()> {
        let _ = (ctx, timer);
        Ok(())
    }

    /// The operator changed the plugin's configuration (`rosey plugin config`): `config` is
    /// the whole new one, which [`Context::config`] returns from now on. Return an error to
    /// refuse it (the operator sees the message and the old file is put back).
    ///
    /// A plugin that does not implement this is reloaded instead: unloaded, and loaded again
    /// with its state and the new configuration.
    fn on_config(&mut self, ctx: &Context<'_>, config: &Config<'_>) -> PluginResult<()> {
        let _ = (ctx, config);
        crate::export::live_config::not_handled();
        Ok(())
    }

    /// Stop, returning the state the next instance should start with (empty by default).
    /// Timers end with the instance: the next one re-arms what it needs in `load`.
    fn unload(&mut self, ctx: &Context<'_>) -> PluginResult<Vec<u8>> {
        let _ = ctx;
        Ok(Vec::new())
    }
}

mod channel;
mod context;
mod handle;
mod message;
mod store;

pub use channel::{Channel, Playlist, PlaylistItem, Poll, Queued};
pub use context::{Context, LoadContext};
pub use handle::{ChatUser, Handle, Media, Origin};
pub use message::{Command, Event, Timer};
pub use store::{Config, Kv};

//! What a hook can do: [`Context`], borrowed for the call, and [`LoadContext`] for `load`.

use std::{path::PathBuf, time::Duration};

use abi_stable::std_types::RStr;

use super::{Channel, ChatUser, Config, Error, Handle, Kv, LogLevel, Media, PluginResult};
use crate::ffi::{FfiConfig, HostRef};

/// What a plugin can do while handling a command, an event or a timer (and while loading and
/// unloading). Borrowed for the call; [`Context::handle`] gives an owned [`Handle`] to keep.
pub struct Context<'a> {
    host: HostRef<'a>,
    config: Config<'a>,
    name: &'a str,
    handle: &'a Handle,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("handle", self.handle)
            .finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    #[doc(hidden)]
    pub fn new(
        host: HostRef<'a>,
        config: &'a FfiConfig,
        name: &'a str,
        handle: &'a Handle,
    ) -> Self {
        Context {
            host,
            config: Config::new(config),
            name,
            handle,
        }
    }

    /// An owned handle to say things, publish, set timers and ask about the channel from
    /// anywhere (a thread of the plugin's own, say) until the plugin unloads.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Call [`super::Plugin::on_timer`] with `name` once, `delay` from now (see
    /// [`Handle::after`]).
    pub fn after(&self, delay: Duration, name: &str) -> PluginResult<()> {
        self.handle.after(delay, name)
    }

    /// Call [`super::Plugin::on_timer`] with `name` once, at `due_ms` on the host's clock
    /// (see [`Handle::at`]); at once if that is past.
    pub fn at(&self, due_ms: u64, name: &str) -> PluginResult<()> {
        self.handle.at(due_ms, name)
    }

    /// Call [`super::Plugin::on_timer`] with `name` every `period` (see [`Handle::every`]).
    pub fn every(&self, period: Duration, name: &str) -> PluginResult<()> {
        self.handle.every(period, name)
    }

    /// Disarm timer `name`; `true` when it was armed.
    pub fn cancel_timer(&self, name: &str) -> PluginResult<bool> {
        self.handle.cancel(name)
    }

    /// Who is in the channel now.
    pub fn users(&self) -> PluginResult<Vec<ChatUser>> {
        self.handle.users()
    }

    /// What is playing now, if anything.
    pub fn media(&self) -> PluginResult<Option<Media>> {
        self.handle.media()
    }

    /// Act on the chat channel (queue, skip, kick, polls…) and read its playlist, poll and
    /// the bot's own rank (see [`Channel`]). Each action waits for the chat server: it counts
    /// against the hook's deadline.
    pub fn channel(&self) -> Channel {
        self.handle.channel()
    }

    /// The host's clock, in milliseconds since the Unix epoch (see [`Handle::now_ms`]).
    pub fn now_ms(&self) -> u64 {
        self.handle.now_ms()
    }

    /// The plugin's installed name.
    pub fn plugin_name(&self) -> &str {
        self.name
    }

    /// Answer the message being handled the way it came: in chat, or by PM.
    pub fn reply(&self, text: impl AsRef<str>) {
        self.host.reply(RStr::from(text.as_ref()));
    }

    /// Say something in the channel's chat.
    pub fn say(&self, text: impl AsRef<str>) {
        self.host.send_chat(RStr::from(text.as_ref()));
    }

    /// Send a private message to `user`.
    pub fn pm(&self, user: &str, text: impl AsRef<str>) {
        self.host
            .send_pm(RStr::from(user), RStr::from(text.as_ref()));
    }

    /// Publish an event of the plugin's own; it goes out as `plugin.<name>.<kind>`.
    pub fn publish(&self, kind: &str, payload_json: &str) -> PluginResult<()> {
        self.host
            .publish(RStr::from(kind), RStr::from(payload_json))
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))
    }

    /// The plugin's configuration.
    pub fn config(&self) -> Config<'a> {
        self.config
    }

    /// The plugin's own storage folder (it exists); the plugin may create files inside it.
    pub fn storage_dir(&self) -> PathBuf {
        PathBuf::from(self.host.storage_dir().into_string())
    }

    /// The plugin's key-value store.
    pub fn kv(&self) -> Kv<'_> {
        Kv {
            host: self.host.sabi_reborrow(),
        }
    }

    /// Write a line to the plugin's log at `level`.
    pub fn log(&self, level: LogLevel, message: impl AsRef<str>) {
        self.host.log(level, RStr::from(message.as_ref()));
    }

    /// Write a debug line to the plugin's log.
    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Debug, message);
    }

    /// Write an info line to the plugin's log.
    pub fn info(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Info, message);
    }

    /// Write a warning to the plugin's log.
    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Warn, message);
    }

    /// Write an error to the plugin's log.
    pub fn error(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Error, message);
    }
}

/// What a plugin gets when it loads: everything a [`Context`] offers, plus carried-over state.
pub struct LoadContext<'a> {
    ctx: Context<'a>,
    state: Option<&'a [u8]>,
}

/// The state's size, not its bytes.
impl std::fmt::Debug for LoadContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadContext")
            .field("ctx", &self.ctx)
            .field("state_len", &self.state.map(<[u8]>::len))
            .finish()
    }
}

impl<'a> LoadContext<'a> {
    #[doc(hidden)]
    pub fn new(ctx: Context<'a>, state: Option<&'a [u8]>) -> Self {
        LoadContext { ctx, state }
    }

    /// The state the previous instance returned from [`super::Plugin::unload`], if any.
    ///
    /// A plugin that cannot read it (an older format, say) should log why and decide itself
    /// whether to start fresh or fail the load.
    pub fn state(&self) -> Option<&'a [u8]> {
        self.state
    }
}

impl<'a> std::ops::Deref for LoadContext<'a> {
    type Target = Context<'a>;

    fn deref(&self) -> &Context<'a> {
        &self.ctx
    }
}

//! The safe SDK: what a plugin author implements and calls.
//!
//! These types borrow the FFI values for the duration of one call and expose them as ordinary
//! Rust (`&str`, `Vec<u8>`, `Result`). Nothing here allocates on the host's behalf or outlives
//! the call it was handed to.

use std::{fmt, path::PathBuf, str::FromStr};

use abi_stable::std_types::{RSlice, RStr};

use crate::{
    ffi::{FfiCommand, FfiConfig, FfiEvent, FfiLogLevel, FfiSource, HostRef},
    rank::Rank,
};

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

    /// Stop, returning the state the next instance should start with (empty by default).
    fn unload(&mut self, ctx: &Context<'_>) -> PluginResult<Vec<u8>> {
        let _ = ctx;
        Ok(Vec::new())
    }
}

/// The plugin's configuration (`data/plugins/<name>/config.yaml`).
///
/// Scalars are looked up by dotted path (`limits.max_dice`); the whole document is available as
/// JSON for authors who want to deserialize it with a parser of their own.
#[derive(Clone, Copy)]
pub struct Config<'a> {
    raw: &'a FfiConfig,
}

impl<'a> Config<'a> {
    /// Wraps the host's configuration.
    pub fn new(raw: &'a FfiConfig) -> Self {
        Config { raw }
    }

    /// The text of the scalar at `key`, if set.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.raw
            .flat
            .iter()
            .find(|pair| pair.0.as_str() == key)
            .map(|pair| pair.1.as_str())
    }

    /// The scalar at `key` parsed as `T`; `Err` names the key when the value does not parse.
    pub fn parse<T: FromStr>(&self, key: &str) -> PluginResult<Option<T>>
    where
        T::Err: fmt::Display,
    {
        match self.get(key) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|err| Error::msg(format!("config key `{key}` = {text:?}: {err}"))),
        }
    }

    /// The scalar at `key` parsed as `T`, or `default` when unset.
    pub fn get_or<T: FromStr>(&self, key: &str, default: T) -> PluginResult<T>
    where
        T::Err: fmt::Display,
    {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    /// The whole configuration as JSON.
    pub fn json(&self) -> &'a str {
        self.raw.json.as_str()
    }
}

/// The plugin's key-value store: a SQLite file inside its storage folder, owned by the host.
pub struct Kv<'a> {
    host: HostRef<'a>,
}

impl Kv<'_> {
    /// The value at `key`, if any.
    pub fn get(&self, key: &str) -> PluginResult<Option<Vec<u8>>> {
        self.host
            .kv_get(RStr::from(key))
            .into_result()
            .map(|value| value.into_option().map(|bytes| bytes.into_vec()))
            .map_err(|err| Error::msg(err.into_string()))
    }

    /// The value at `key` as UTF-8 text, if any.
    pub fn get_string(&self, key: &str) -> PluginResult<Option<String>> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| Error::msg(format!("kv value at `{key}` is not UTF-8"))),
        }
    }

    /// Store `value` at `key`, replacing what was there.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> PluginResult<()> {
        self.host
            .kv_set(RStr::from(key), RSlice::from_slice(value.as_ref()))
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))
    }

    /// Delete `key`; `true` when it existed.
    pub fn delete(&self, key: &str) -> PluginResult<bool> {
        self.host
            .kv_delete(RStr::from(key))
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))
    }

    /// Every key starting with `prefix`, sorted (`""` lists all).
    pub fn list(&self, prefix: &str) -> PluginResult<Vec<String>> {
        self.host
            .kv_list(RStr::from(prefix))
            .into_result()
            .map(|keys| keys.into_iter().map(|key| key.into_string()).collect())
            .map_err(|err| Error::msg(err.into_string()))
    }
}

/// What a plugin can do while handling a command or an event (and while unloading).
pub struct Context<'a> {
    host: HostRef<'a>,
    config: Config<'a>,
    name: &'a str,
}

impl<'a> Context<'a> {
    #[doc(hidden)]
    pub fn new(host: HostRef<'a>, config: &'a FfiConfig, name: &'a str) -> Self {
        Context {
            host,
            config: Config::new(config),
            name,
        }
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

impl<'a> LoadContext<'a> {
    #[doc(hidden)]
    pub fn new(ctx: Context<'a>, state: Option<&'a [u8]>) -> Self {
        LoadContext { ctx, state }
    }

    /// The state the previous instance returned from [`Plugin::unload`], if any.
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

/// A routed chat command.
pub struct Command<'a> {
    raw: &'a FfiCommand,
    rank: Option<Rank>,
}

impl<'a> Command<'a> {
    #[doc(hidden)]
    pub fn new(raw: &'a FfiCommand) -> Self {
        Command { raw, rank: None }
    }

    #[doc(hidden)]
    pub fn with_rank(mut self, rank: Option<Rank>) -> Self {
        self.rank = rank;
        self
    }

    /// The sender's rank in the channel, when the chat said (`None` on a host too old to
    /// know). A command only moderators may use is better declared with `min_rank` in the
    /// manifest, which the bot enforces before the plugin is woken; this is for finer
    /// choices (`!trivia` for all, `!trivia stop` for moderators).
    pub fn rank(&self) -> Option<Rank> {
        self.rank
    }

    /// Unique id of the message that carried the command.
    pub fn id(&self) -> &'a str {
        &self.raw.id
    }

    /// The command word, without the `!`.
    pub fn name(&self) -> &'a str {
        &self.raw.command
    }

    /// Everything after the command word, trimmed.
    pub fn args(&self) -> &'a str {
        &self.raw.args
    }

    /// Who sent it.
    pub fn user(&self) -> &'a str {
        &self.raw.user
    }

    /// The channel it was sent in.
    pub fn channel(&self) -> &'a str {
        &self.raw.channel
    }

    /// Chat or PM.
    pub fn source(&self) -> MessageSource {
        self.raw.source
    }

    /// When it was sent, in milliseconds since the Unix epoch.
    pub fn time_ms(&self) -> u64 {
        self.raw.time_ms
    }
}

/// A subscribed event.
pub struct Event<'a> {
    raw: &'a FfiEvent,
    rank: Option<Rank>,
}

impl<'a> Event<'a> {
    #[doc(hidden)]
    pub fn new(raw: &'a FfiEvent) -> Self {
        Event { raw, rank: None }
    }

    #[doc(hidden)]
    pub fn with_rank(mut self, rank: Option<Rank>) -> Self {
        self.rank = rank;
        self
    }

    /// The channel rank of the user the event concerns, when known.
    pub fn rank(&self) -> Option<Rank> {
        self.rank
    }

    /// Unique id of the event.
    pub fn id(&self) -> &'a str {
        &self.raw.id
    }

    /// The event kind, e.g. `chat.message`.
    pub fn kind(&self) -> &'a str {
        &self.raw.kind
    }

    /// The user the event is about, if any.
    pub fn user(&self) -> Option<&'a str> {
        self.raw
            .user
            .as_ref()
            .map(|user| user.as_str())
            .into_option()
    }

    /// The plain text of a chat message or PM, if the event carries one.
    pub fn text(&self) -> Option<&'a str> {
        self.raw
            .text
            .as_ref()
            .map(|text| text.as_str())
            .into_option()
    }

    /// The full payload as JSON.
    pub fn payload_json(&self) -> &'a str {
        &self.raw.payload_json
    }

    /// When it happened, in milliseconds since the Unix epoch.
    pub fn time_ms(&self) -> u64 {
        self.raw.time_ms
    }
}

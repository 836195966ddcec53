//! The FFI-safe types that cross the plugin library boundary.
//!
//! Everything here is `#[repr(C)]` and derives `StableAbi`, so `abi_stable` can compare the
//! layout the host was compiled with against the one inside a plugin library at load time.
//! Plugin authors never touch these directly: the SDK wraps them.

// `#[sabi_trait]` expands to impls inside consts, which this lint flags.
#![allow(non_local_definitions)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::{RRef, VersionStrings},
    std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec, Tuple2},
    StableAbi,
};

/// Where a command came from, so a reply can go back the same way.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfiSource {
    /// Typed in the channel's chat.
    Chat,
    /// Sent to the bot as a private message.
    Pm,
}

/// Severity of a line a plugin logs.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FfiLogLevel {
    /// Diagnostics for the plugin's author.
    Debug,
    /// Normal operation.
    Info,
    /// Something odd that the plugin recovered from.
    Warn,
    /// Something failed.
    Error,
}

/// A chat command routed to the plugin (`!roll 2d6` arrives as command `roll`, args `2d6`).
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiCommand {
    /// Unique id of the message that carried the command.
    pub id: RString,
    /// The command word, without the prefix.
    pub command: RString,
    /// Everything after the command word, trimmed.
    pub args: RString,
    /// Who sent it.
    pub user: RString,
    /// The channel it was sent in.
    pub channel: RString,
    /// Chat or PM.
    pub source: FfiSource,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// An event the plugin subscribed to in its manifest.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiEvent {
    /// Unique id of the event.
    pub id: RString,
    /// Event kind, e.g. `chat.message`.
    pub kind: RString,
    /// The user the event is about, when there is one.
    pub user: ROption<RString>,
    /// The plain text of a chat message or PM, when the event carries one.
    pub text: ROption<RString>,
    /// The whole event payload as JSON, for anything the fields above do not carry.
    pub payload_json: RString,
    /// When it happened, in milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// Whether a plugin error was an ordinary failure or a caught panic; the host exits differently.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfiErrorKind {
    /// The plugin returned an error.
    Failed,
    /// The plugin panicked; the panic was caught inside the library.
    Panicked,
}

/// An error returned across the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiError {
    /// Failure or panic.
    pub kind: FfiErrorKind,
    /// Human-readable message; for a panic, its message and location, then (when backtraces
    /// were asked for) [`crate::PANIC_BACKTRACE_SEPARATOR`] and the backtrace.
    pub message: RString,
}

/// The plugin's configuration, pre-digested by the host so the SDK needs no parser. Its
/// `Debug` names the keys only: a value may be a secret, and must not reach a log by a `{:?}`.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct FfiConfig {
    /// The whole configuration document as JSON (`{}` when the operator set nothing).
    pub json: RString,
    /// Every scalar leaf, keyed by its dotted path (`limits.max_dice`), rendered as text.
    pub flat: RVec<Tuple2<RString, RString>>,
}

impl core::fmt::Debug for FfiConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let keys: Vec<&str> = self.flat.iter().map(|pair| pair.0.as_str()).collect();
        f.debug_struct("FfiConfig")
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

/// What the host calls into while a plugin runs: chat output, storage, logging.
///
/// Implemented by the plugin host; passed to every plugin call as a borrowed trait object.
#[sabi_trait]
pub trait HostApi {
    /// Answer the message being handled, the way it came (chat or PM).
    fn reply(&self, text: RStr<'_>);
    /// Say something in the channel's chat.
    fn send_chat(&self, text: RStr<'_>);
    /// Send a private message.
    fn send_pm(&self, to: RStr<'_>, text: RStr<'_>);
    /// Publish an event of the plugin's own (`kind` is prefixed with `plugin.<name>.`).
    fn publish(&self, kind: RStr<'_>, payload_json: RStr<'_>) -> RResult<(), RString>;
    /// The plugin's storage folder, an absolute path.
    fn storage_dir(&self) -> RString;
    /// Read a key from the plugin's key-value store.
    fn kv_get(&self, key: RStr<'_>) -> RResult<ROption<RVec<u8>>, RString>;
    /// Write a key to the plugin's key-value store.
    fn kv_set(&self, key: RStr<'_>, value: RSlice<'_, u8>) -> RResult<(), RString>;
    /// Delete a key; `true` when it existed.
    fn kv_delete(&self, key: RStr<'_>) -> RResult<bool, RString>;
    /// Keys starting with `prefix`, sorted.
    fn kv_list(&self, prefix: RStr<'_>) -> RResult<RVec<RString>, RString>;
    /// Write a line to the plugin's log.
    #[sabi(last_prefix_field)]
    fn log(&self, level: FfiLogLevel, message: RStr<'_>);
}

/// The host API as a plugin receives it: borrowed for the duration of one call.
pub type HostRef<'a> = HostApi_TO<'a, RRef<'a, ()>>;

/// A loaded plugin instance, as the host drives it.
#[sabi_trait]
pub trait PluginObject: Send {
    /// Handle one routed command.
    fn handle_command(&mut self, host: HostRef<'_>, command: &FfiCommand) -> RResult<(), FfiError>;
    /// Handle one subscribed event.
    fn handle_event(&mut self, host: HostRef<'_>, event: &FfiEvent) -> RResult<(), FfiError>;
    /// Stop, returning the state to hand to the next instance (may be empty).
    #[sabi(last_prefix_field)]
    fn unload(&mut self, host: HostRef<'_>) -> RResult<RVec<u8>, FfiError>;
}

/// A boxed plugin instance.
pub type PluginBox = PluginObject_TO<'static, RBox<()>>;

/// Arguments to a plugin's load function.
#[repr(C)]
#[derive(StableAbi)]
pub struct FfiLoadArgs<'a> {
    /// The plugin's name, as installed.
    pub name: RStr<'a>,
    /// The plugin's configuration.
    pub config: &'a FfiConfig,
    /// State handed over by the previous instance, if any.
    pub state: ROption<RSlice<'a, u8>>,
}

/// The configuration's keys only (a value may be a secret), and the state's size.
impl std::fmt::Debug for FfiLoadArgs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self
            .config
            .flat
            .iter()
            .map(|pair| pair.0.as_str())
            .collect();
        f.debug_struct("FfiLoadArgs")
            .field("name", &self.name.as_str())
            .field("config_keys", &keys)
            .field("state_len", &self.state.as_ref().map(|state| state.len()))
            .finish()
    }
}

/// The root module every plugin library exports (via `export_plugin!`).
#[repr(C)]
#[derive(StableAbi, Debug)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// [`crate::ABI_VERSION`] as the library saw it.
    pub abi_version: u32,
    /// [`crate::SDK_VERSION`] as the library saw it.
    pub sdk_version: RStr<'static>,
    /// Create the plugin instance.
    #[sabi(last_prefix_field)]
    pub load:
        extern "C" fn(args: FfiLoadArgs<'_>, host: HostRef<'_>) -> RResult<PluginBox, FfiError>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "rosey_plugin";
    const NAME: &'static str = "rosey plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

#[cfg(test)]
mod tests {
    use abi_stable::std_types::{RString, RVec, Tuple2};

    use super::FfiConfig;

    #[test]
    fn debug_names_the_keys_and_never_a_value() {
        let config = FfiConfig {
            json: RString::from(r#"{"token":"sk-live-123"}"#),
            flat: RVec::from(vec![Tuple2(
                RString::from("token"),
                RString::from("sk-live-123"),
            )]),
        };
        let shown = format!("{config:?}");
        assert!(shown.contains("token"), "{shown}");
        assert!(!shown.contains("sk-live-123"), "{shown}");
    }
}

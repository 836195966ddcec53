//! Exit codes of a plugin host process: how the supervisor tells why a host ended.
//!
//! A host killed by a signal (abort, segfault, the kernel's OOM killer) has no code; the
//! supervisor reads the signal instead.

/// Unloaded cleanly when the actor asked (state handed over), or a spare told to go.
pub const CLEAN: i32 = 0;
/// The command line was unusable, or the actor broke the channel's rules (a bug in the
/// caller, not the plugin).
pub const USAGE: i32 = 2;
/// The library could not be loaded (missing, not a plugin, ABI mismatch) or its `load` failed.
pub const LOAD_FAILED: i32 = 10;
/// The plugin panicked in a handler; the message is in the plugin's log.
pub const PLUGIN_PANICKED: i32 = 11;
/// The channel to the daemon closed under the host (the daemon dropped it or is gone).
pub const CHANNEL_LOST: i32 = 12;
/// The plugin's `unload` failed or the state could not be written; the next instance starts
/// without handed-over state.
pub const UNLOAD_FAILED: i32 = 13;
/// The plugin's storage (folder or key-value store) could not be opened.
pub const STORAGE_FAILED: i32 = 14;
/// `plugin_host.sandbox: required` and the sandbox could not be applied in full on this
/// kernel; the plugin's library was not loaded.
pub const SANDBOX_INCOMPLETE: i32 = 15;

/// A one-word description of a host exit code, for status displays and logs.
pub fn describe(code: i32) -> &'static str {
    match code {
        CLEAN => "clean exit",
        USAGE => "usage error",
        LOAD_FAILED => "load failed",
        PLUGIN_PANICKED => "plugin panicked",
        CHANNEL_LOST => "channel to the daemon lost",
        UNLOAD_FAILED => "unload failed",
        STORAGE_FAILED => "storage failed",
        SANDBOX_INCOMPLETE => "sandbox incomplete",
        _ => "exited",
    }
}

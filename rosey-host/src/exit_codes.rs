//! Exit codes of rosey's processes, in one place: the `rosey` command line (scripts read them)
//! and the plugin host (the supervisor reads them to tell why a host ended). They live here,
//! in the crate both binaries depend on, so no two meanings share a number.
//!
//! A host killed by a signal (abort, segfault, the kernel's OOM killer) has no code; the
//! supervisor reads the signal instead.

/// Unloaded cleanly when the actor asked (state handed over), or a spare told to go; for the
/// command line, success.
pub const CLEAN: i32 = 0;
/// The command line: the command did not do what was asked (its message says why and what
/// to do).
pub const FAILED: i32 = 1;
/// The command line was unusable, or the actor broke the channel's rules (a bug in the
/// caller, not the plugin).
pub const USAGE: i32 = 2;
/// The command line: no daemon runs for the home (`rosey status`, `stop`, `say`, …).
pub const NOT_RUNNING: i32 = 3;
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

/// `code` as a process's exit status (a code outside 0..=255 reads as [`FAILED`]).
pub fn exit_code(code: i32) -> std::process::ExitCode {
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(FAILED as u8))
}

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

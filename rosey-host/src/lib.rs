//! # rosey-host
//!
//! The process one plugin runs in, as a library and as the slim `rosey-plugin-host` binary.
//!
//! A plugin host has exactly one connection: its end of a socketpair the daemon's plugin actor
//! made when it forked the host ([`wire::HOST_FD`]). It has no NATS client, no network, no
//! async runtime and no argument parser: the actor hands it one message at a time and publishes
//! what the plugin says. The host loads the plugin library (by absolute path, ABI checked),
//! calls the plugin on its main thread, and answers on the channel; a second thread sends
//! heartbeats so a wedged process is noticed.
//!
//! A host can start empty and wait (a warm spare): nothing is loaded until the actor sends
//! `Open`, so a spare can become any plugin.
//!
//! Before it loads a plugin's library, the host sandboxes itself ([`sandbox`]: resource limits,
//! no new privileges, Landlock, a seccomp filter) to what the plugin's manifest allows.
//!
//! Modules: [`wire`] (the channel's frames, shared with the actor), [`storage`] (the plugin's
//! key-value store, opened in the host), [`sandbox`] (what a plugin may do), [`exit_codes`]
//! (how a host ends), and the host itself ([`serve`], [`check`]).

#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod exit_codes;
mod host;
pub mod sandbox;
pub mod storage;
pub mod wire;

pub use host::{check, serve};

/// What `rosey-plugin-host` says when its arguments are not `serve` or
/// `check --library <path>`.
pub const USAGE: &str = "usage: rosey-plugin-host serve | check --library <absolute path>";

/// Runs a plugin host from its command-line arguments (those after the program name, or
/// after an embedder's own subcommand) and returns the process's exit code
/// ([`exit_codes`]): `serve` serves the channel the daemon passed at fd 3; `check --library
/// <absolute path>` loads a library, checks its ABI and exits. This is all a program needs to
/// be its own plugin hosts:
///
/// ```no_run
/// // In an embedder's `main`, when the stack runs it as `<program> plugin-host …`
/// // (rosey_actors' `HostProgram::this_program("plugin-host")`):
/// let args: Vec<String> = std::env::args().skip(1).collect();
/// if args.first().map(String::as_str) == Some("plugin-host") {
///     std::process::exit(rosey_host::run(&args[1..]));
/// }
/// ```
pub fn run(args: &[String]) -> i32 {
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve"] => serve(),
        ["check", "--library", library] => check(std::path::Path::new(library)),
        ["--version"] => {
            println!("rosey-plugin-host {}", env!("CARGO_PKG_VERSION"));
            exit_codes::CLEAN
        }
        _ => {
            eprintln!("{USAGE}");
            exit_codes::USAGE
        }
    }
}

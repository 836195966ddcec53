//! `rosey dev`: the stack in this terminal with debug logging and the dashboard, plus a watcher
//! that rebuilds a plugin crate when its sources change and hot-reloads the new build.
//!
//! The watcher is an operator like any other: it waits for the daemon's control socket, then
//! packs each rebuild and installs it through the same code path as `rosey plugin update`. So a
//! rebuild gets the update's guarantees (state handed over, rollback when the new build does not
//! start) and dev mode has no reload logic of its own.

mod rebuild;
mod targets;
mod watcher;

use std::{process::ExitCode, time::Duration};

use rosey_core::{config::Config, exit_codes, paths::Home};

use crate::{daemon, plugin_cmd::live};

/// What the daemon needs to know to print dev mode's banner.
#[derive(Debug, Clone, Default)]
pub struct DevBanner {
    /// The watched plugins, as `name (folder)`.
    pub watching: Vec<String>,
}

/// Runs `rosey dev` to completion (Ctrl+C).
pub fn run(home: &Home) -> ExitCode {
    let config = match Config::load(home) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(exit_codes::USAGE as u8);
        }
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| home.root().to_path_buf());
    let targets = match targets::resolve(home, &config.dev, &cwd) {
        Ok(targets) => targets,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(exit_codes::USAGE as u8);
        }
    };
    let home_root = home
        .root()
        .canonicalize()
        .unwrap_or_else(|_| home.root().to_path_buf());
    let mut change_watcher =
        match watcher::ChangeWatcher::start(targets.clone(), &home_root, config.dev.debounce()) {
            Ok(watcher) => watcher,
            Err(err) => {
                eprintln!("error: {err:#}");
                return ExitCode::FAILURE;
            }
        };
    println!("Starting Rosey in development mode...");
    println!("Features:");
    println!("  - All services started (NATS, bot, web)");
    println!("  - Auto-reload on code changes");
    println!("  - Verbose logging");
    println!();

    let banner = DevBanner {
        watching: targets
            .iter()
            .map(|target| format!("{} ({})", target.name, target.dir.display()))
            .collect(),
    };
    let watcher_home = home.clone();
    std::thread::spawn(move || {
        // Changes made while the stack starts are kept and built once it is up.
        while !live::running(&watcher_home) {
            std::thread::sleep(Duration::from_millis(100));
        }
        // A save during a build is kept and builds again afterwards: the build's own writes
        // (target/, Cargo.lock) are not changes, so this cannot loop.
        while let Some(batch) = change_watcher.next_batch() {
            for target in &batch {
                rebuild::rebuild(&watcher_home, target);
            }
        }
    });
    daemon::main(
        home,
        daemon::DaemonArgs {
            foreground: true,
            debug: true,
            dev: Some(banner),
            ..Default::default()
        },
    )
}

/// Printed once the stack is up, in place of `--foreground`'s note.
pub fn print_ready_banner(home: &Home, banner: &DevBanner, nats_url: &str) {
    println!();
    println!("✓ Development mode active");
    println!();
    println!("  NATS:       {nats_url}");
    println!("  Logs:       {}", home.logs_dir().display());
    if banner.watching.is_empty() {
        println!("  Watching:   nothing (not run from a workspace with plugins/, and dev.watch in rosey.yaml is empty)");
    } else {
        println!("  Watching:");
        for entry in &banner.watching {
            println!("    {entry}");
        }
    }
    println!();
    println!("Commands:");
    println!("  Ctrl+C              - Stop all services");
    println!("  rosey status        - Check service status");
    println!("  rosey logs -f bot   - Tail bot logs");
    println!();
}

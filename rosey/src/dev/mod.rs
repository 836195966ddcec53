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

use rosey_core::{
    config::Config,
    exit_codes,
    logs::{parse_line, Level, LiveLine},
    paths::Home,
};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::{daemon, plugin_cmd::live};

/// What the daemon needs to know to print dev mode's banner.
#[derive(Debug, Clone, Default)]
pub struct DevBanner {
    /// The watched plugins, as `name (folder)`, and the folder new ones are picked up from.
    pub watching: Vec<String>,
}

/// Runs `rosey dev` to completion (Ctrl+C).
pub fn run(home: &Home) -> ExitCode {
    let config = match Config::load(home) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return exit_codes::exit_code(exit_codes::USAGE);
        }
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| home.root().to_path_buf());
    let watched = match targets::resolve(home, &config.dev, &cwd) {
        Ok(watched) => watched,
        Err(err) => {
            eprintln!("error: {err:#}");
            return exit_codes::exit_code(exit_codes::USAGE);
        }
    };
    let home_root = home
        .root()
        .canonicalize()
        .unwrap_or_else(|_| home.root().to_path_buf());
    let mut watching: Vec<String> = watched
        .targets
        .iter()
        .map(|target| format!("{} ({})", target.name, target.dir.display()))
        .collect();
    if let Some(plugins) = &watched.plugins_dir {
        watching.push(format!(
            "new plugin crates in {} (built as they appear)",
            plugins.display()
        ));
    }
    let mut change_watcher =
        match watcher::ChangeWatcher::start(watched, &home_root, config.dev.debounce()) {
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

    let banner = DevBanner { watching };
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

/// Printed once the stack is up, in place of `--foreground`'s note. `web_url` is empty when
/// the dashboard is off (`web.enabled: false`).
pub fn print_ready_banner(home: &Home, banner: &DevBanner, nats_url: &str, web_url: &str) {
    println!();
    println!("✓ Development mode active");
    println!();
    if web_url.is_empty() {
        println!("  Dashboard:  off (web.enabled: false in rosey.yaml)");
    } else {
        println!("  Dashboard:  {web_url}");
    }
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

/// Prints the log lines of every source at INFO and above in the terminal as they are written,
/// shortened to the time of day (`00:31:02 INFO  [dice-roller] …`). DEBUG lines go to the files
/// only (`rosey logs -f` shows them), or the terminal would be mostly heartbeats.
pub fn echo_logs(home: &Home, mut live: broadcast::Receiver<LiveLine>) {
    let all_log = home.service_log(rosey_core::logs::ALL);
    tokio::spawn(async move {
        loop {
            match live.recv().await {
                Ok(LiveLine { line, .. }) => {
                    if let Some(shown) = terminal_line(&line) {
                        println!("{shown}");
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    println!(
                        "… {missed} log lines not shown here (they are in {})",
                        all_log.display()
                    )
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// The terminal's form of a log line, or `None` for a line below INFO.
fn terminal_line(line: &str) -> Option<String> {
    match parse_line(line) {
        Some(parsed) if parsed.level < Level::Info => None,
        Some(parsed) => Some(format!(
            "{} {} [{}] {}",
            parsed.stamp.get(11..19).unwrap_or(parsed.stamp),
            parsed.level.label(),
            parsed.tag,
            parsed.message
        )),
        None => Some(line.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_terminal_shows_info_and_above_with_the_time_of_day() {
        assert_eq!(
            terminal_line("2026-11-26T00:31:02.123Z INFO  [dice-roller] rolled").as_deref(),
            Some("00:31:02 INFO  [dice-roller] rolled")
        );
        assert_eq!(
            terminal_line("2026-11-26T00:31:02.123Z DEBUG [bot] heartbeat"),
            None
        );
        assert_eq!(
            terminal_line("not in the log format").as_deref(),
            Some("not in the log format")
        );
    }
}

//! `rosey logs [NAME] [-f] [-n N]`: the last lines of a log, or every new line as it is
//! written (across rotation and plugin restarts) until Ctrl+C. It reads the files, so it works
//! whether or not the daemon runs.
//!
//! NAME is a service (`bot`, `nats`, `web`), a plugin (installed, or with a log file left), or
//! nothing (or `all`, `rosey`) for `rosey.log`, which has every line of every source. A
//! plugin that shares a service's name is reached as `plugin:<name>`.

use std::{
    collections::BTreeSet,
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use rosey_core::{
    exit_codes,
    logs::{tail, Follower, ALL, SERVICE_LOGS},
    manifest::is_valid_plugin_name,
    paths::Home,
    registry::Registry,
};

/// How often a followed log is checked for new lines.
const POLL: Duration = Duration::from_millis(100);

/// Arguments of `rosey logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// A service (bot, nats, web) or a plugin; every source (rosey.log) when left out.
    name: Option<String>,
    /// Keep printing new lines, across rotation and restarts, until Ctrl+C.
    #[arg(short, long)]
    follow: bool,
    /// How many of the last lines to print first.
    #[arg(short = 'n', long = "lines", default_value_t = 50, value_name = "N")]
    lines: usize,
}

/// Runs `rosey logs`.
pub fn run(home: &Home, args: LogsArgs) -> ExitCode {
    let (label, path) = match resolve(home, args.name.as_deref()) {
        Ok(found) => found,
        Err(message) => {
            eprintln!("error: {message}");
            return exit_codes::exit_code(exit_codes::USAGE);
        }
    };
    if args.follow {
        follow(&label, &path, args.lines)
    } else {
        last(&label, &path, args.lines)
    }
}

/// The label and file of log `name`, or a message listing the valid names.
fn resolve(home: &Home, name: Option<&str>) -> Result<(String, PathBuf), String> {
    let name = match name {
        None | Some("all") | Some(ALL) => return Ok(("all".to_owned(), home.service_log(ALL))),
        Some(name) => name,
    };
    if SERVICE_LOGS.contains(&name) {
        return Ok((name.to_owned(), home.service_log(name)));
    }
    let plugins = plugin_logs(home);
    let plugin = name.strip_prefix("plugin:").unwrap_or(name);
    if plugins.contains(plugin) {
        return Ok((plugin.to_owned(), home.plugin_log(plugin)));
    }
    let valid: Vec<&str> = SERVICE_LOGS
        .iter()
        .copied()
        .chain(plugins.iter().map(String::as_str))
        .collect();
    Err(format!(
        "unknown log '{name}'; valid names: {} (or no name for rosey.log, every source)",
        valid.join(", ")
    ))
}

/// Plugins with a log: those installed, and those whose log file is still there.
fn plugin_logs(home: &Home) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = Registry::load(home)
        .map(|registry| registry.plugins.into_keys().collect())
        .unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir(home.plugin_logs_dir()) {
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(file) = file.to_str() else { continue };
            // `<name>.log` and its rotated `<name>.log.<n>`.
            let Some((name, _)) = file.split_once(".log") else {
                continue;
            };
            if is_valid_plugin_name(name) {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

fn last(label: &str, path: &std::path::Path, n: usize) -> ExitCode {
    match tail(path, n) {
        Ok(lines) => {
            eprintln!("Last {n} lines for {label}:");
            print_lines(&lines);
            ExitCode::SUCCESS
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            eprintln!(
                "{label} has written no log yet: {} does not exist (use -f to wait for it)",
                path.display()
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", path.display());
            ExitCode::FAILURE
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn follow(label: &str, path: &std::path::Path, n: usize) -> ExitCode {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(signal, on_stop as *const () as libc::sighandler_t);
        }
    }
    let (mut follower, lines) = match Follower::start(path, n) {
        Ok(started) => started,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
    };
    eprintln!("Tailing logs for {label} (Ctrl+C to stop)...");
    if !path.exists() {
        eprintln!("{} does not exist yet; waiting for it", path.display());
    }
    if !print_lines(&lines) {
        return ExitCode::SUCCESS;
    }
    while !STOP.load(Ordering::SeqCst) {
        match follower.poll() {
            Ok(lines) => {
                if !print_lines(&lines) {
                    // Whoever read our output is gone (`| head`): done.
                    return ExitCode::SUCCESS;
                }
            }
            Err(err) => {
                eprintln!("error: cannot read {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        }
        std::thread::sleep(POLL);
    }
    eprintln!("\nStopped tailing logs");
    ExitCode::SUCCESS
}

/// Prints `lines`; `false` once stdout is closed.
fn print_lines(lines: &[String]) -> bool {
    let mut out = io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return false;
        }
    }
    out.flush().is_ok()
}

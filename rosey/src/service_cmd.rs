//! `rosey start|stop|restart|status|say`: the operator's view of the running stack.
//!
//! `start` launches the daemon in the background (its own session, output to `logs/rosey.log`)
//! and shows its start-up progress from a pipe until the stack is up or has failed; every other
//! command talks to the running daemon over its control socket. With no daemon, they say so and
//! exit 3.

use rosey_core::rank::Rank;
use std::{
    io::{BufRead, BufReader, IsTerminal},
    os::{fd::AsRawFd, unix::process::CommandExt},
    process::{Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use rosey_core::paths::Home;
use rosey_host::exit_codes;

use crate::{
    control::{self, ControlError, Request, Response, StatusReport, UnitStatus, MEANWHILE},
    daemon::progress::{render, Progress},
};

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints a control failure; `NotRunning` exits 3, anything else 1.
fn control_failed(err: ControlError) -> ExitCode {
    eprintln!("{err}");
    match err {
        ControlError::NotRunning(_) => exit_codes::exit_code(exit_codes::NOT_RUNNING),
        ControlError::Broken(_) => ExitCode::FAILURE,
    }
}

/// Sends a request and unwraps the daemon's answer, printing its error.
fn ask(home: &Home, request: Request, timeout: Duration) -> Result<serde_json::Value, ExitCode> {
    match control::call(home, &request, timeout) {
        Ok(Response { ok: true, data, .. }) => Ok(data),
        Ok(Response { error, .. }) => {
            eprintln!(
                "error: {}",
                error.unwrap_or_else(|| "the daemon refused".to_owned())
            );
            Err(ExitCode::FAILURE)
        }
        Err(err) => Err(control_failed(err)),
    }
}

/// `rosey start [target]`.
pub fn start(home: &Home, target: Option<String>) -> ExitCode {
    if let Some(target) = target {
        return match ask(
            home,
            Request::Start {
                target: target.clone(),
            },
            CALL_TIMEOUT,
        ) {
            Ok(_) => {
                println!("✓ Started {target}");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        };
    }
    match start_daemon(home) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: cannot start the rosey daemon: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn start_daemon(home: &Home) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let exe = std::env::current_exe().context("cannot find the rosey executable")?;
    let log_path = home.service_log("rosey");
    std::fs::create_dir_all(home.logs_dir())
        .with_context(|| format!("cannot create {}", home.logs_dir().display()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot create the progress pipe");
    }
    // SAFETY: fresh fds we own.
    let (reader, writer) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    let writer_fd = writer.as_raw_fd();
    let mut command = Command::new(exe);
    command
        .arg("--home")
        .arg(home.root())
        .args(["daemon", "--progress-fd", "3"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: dup2 and setsid are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(writer_fd, 3) < 0 || libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Nothing else this CLI happened to inherit stays open in the daemon.
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    command.spawn().context("cannot launch `rosey daemon`")?;
    drop(writer);
    println!("Starting services...");
    let color = color();
    let mut outcome = None;
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { break };
        let Ok(progress) = serde_json::from_str::<Progress>(&line) else {
            continue;
        };
        println!("{}", render(&progress, color));
        match progress {
            Progress::Ready | Progress::StartedExcept(_) => outcome = Some(true),
            Progress::Fatal(_) => outcome = Some(false),
            _ => continue,
        }
        break;
    }
    match outcome {
        Some(true) => {
            println!();
            println!("Next steps:");
            println!("  rosey status           # Check service status");
            println!("  rosey logs -f          # Tail logs");
            println!("  rosey say \"!roll 2d6\"  # Talk to the bot");
            println!("  rosey stop             # Stop everything");
            Ok(ExitCode::SUCCESS)
        }
        Some(false) => {
            eprintln!("See {} for details.", log_path.display());
            Ok(ExitCode::FAILURE)
        }
        None => {
            eprintln!(
                "✗ the rosey daemon stopped while starting; see {}",
                log_path.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `rosey stop [target]`.
pub fn stop(home: &Home, target: Option<String>) -> ExitCode {
    if let Some(target) = target {
        return match ask(
            home,
            Request::Stop {
                target: target.clone(),
            },
            CALL_TIMEOUT,
        ) {
            Ok(_) => {
                println!("✓ Stopped {target}");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        };
    }
    let pid = std::fs::read_to_string(home.pid_file()).unwrap_or_default();
    if let Err(code) = ask(home, Request::Shutdown, CALL_TIMEOUT) {
        return code;
    }
    println!("Stopping services...");
    // The daemon answers, then stops everything in reverse order; wait until it is gone.
    let deadline = Instant::now() + Duration::from_secs(60);
    while home.socket_file().exists() || process_alive(pid.trim()) {
        if Instant::now() > deadline {
            eprintln!(
                "✗ the daemon (pid {}) is still stopping after 60 s",
                pid.trim()
            );
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("✓ Stopped all");
    ExitCode::SUCCESS
}

fn process_alive(pid: &str) -> bool {
    match pid.parse::<libc::pid_t>() {
        // SAFETY: signal 0 only checks that the process exists.
        Ok(pid) if pid > 0 => unsafe { libc::kill(pid, 0) == 0 },
        _ => false,
    }
}

/// `rosey restart <target>`.
pub fn restart(home: &Home, target: String) -> ExitCode {
    match ask(
        home,
        Request::Restart {
            target: target.clone(),
        },
        CALL_TIMEOUT,
    ) {
        Ok(_) => {
            println!("✓ Restarted {target}");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `rosey say "<text>" [--as <user>]`: prints the bot's replies as they are and what else it
/// said in the channel meanwhile marked `(meanwhile) `, in the order said; fails when no reply
/// came.
pub fn say(home: &Home, text: String, user: String, rank: Rank, timeout: Duration) -> ExitCode {
    let request = Request::Say {
        text,
        user,
        rank: Some(rank),
        timeout_ms: timeout.as_millis() as u64,
    };
    match ask(home, request, timeout + CALL_TIMEOUT) {
        Ok(data) => {
            let lines: Vec<String> = serde_json::from_value(data).unwrap_or_default();
            for line in &lines {
                println!("{line}");
            }
            if lines.iter().all(|line| line.starts_with(MEANWHILE)) {
                eprintln!("(no reply within {:.1} s)", timeout.as_secs_f64());
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `rosey status [--json]`.
pub fn status(home: &Home, json: bool) -> ExitCode {
    let data = match ask(home, Request::Status, CALL_TIMEOUT) {
        Ok(data) => data,
        Err(code) => return code,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let report: StatusReport = match serde_json::from_value(data) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: the daemon's status does not parse: {err}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", render_status(&report, color()));
    if let Some(link) = dashboard_link(home, &report) {
        println!("\nDashboard: {link}");
    }
    ExitCode::SUCCESS
}

/// The link that opens the running dashboard signed in (`http://127.0.0.1:8080/?token=…`):
/// the `web` service's URL and the token this home's config and token file give.
fn dashboard_link(home: &Home, report: &StatusReport) -> Option<String> {
    let web = report
        .services
        .iter()
        .find(|unit| unit.name == rosey_core::units::WEB && unit.state == "running")?;
    let url = web.detail.as_deref()?;
    let config = rosey_core::config::Config::load(home).ok()?;
    let token = crate::web::token::read(home, &config.web);
    Some(crate::web::token::link(url, token.as_deref()))
}

/// The human view of a status report.
pub fn render_status(report: &StatusReport, color: bool) -> String {
    let mut out = String::from("Service Status:\n\n");
    let width = report
        .services
        .iter()
        .chain(&report.plugins)
        .map(|unit| unit.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    for unit in &report.services {
        out.push_str(&render_unit(unit, width, color, false));
    }
    if let Some(jetstream) = &report.jetstream {
        out.push_str(&format!("\njetstream: {jetstream}\n"));
    }
    if let Some(state) = &report.plugin_supervisor {
        // Nothing runs them: an empty list would read as "none installed".
        let hint = if state == "stopped" {
            ": rosey start plugins"
        } else {
            ""
        };
        out.push_str(&format!(
            "\nPlugins: {state} (the plugin supervisor is {state}{hint})\n"
        ));
    } else if let Some(why) = report.unknown(control::UNKNOWN_PLUGINS) {
        out.push_str(&format!("\nPlugins: unknown ({why})\n"));
    } else {
        out.push_str("\nPlugins:\n\n");
        if report.plugins.is_empty() {
            out.push_str("  (none installed and enabled)\n");
        }
        for unit in &report.plugins {
            out.push_str(&render_unit(unit, width, color, true));
        }
    }
    for unknown in &report.unknown {
        if unknown.what != control::UNKNOWN_PLUGINS {
            out.push_str(&format!("\n{}: unknown ({})\n", unknown.what, unknown.why));
        }
    }
    out
}

fn render_unit(unit: &UnitStatus, width: usize, color: bool, plugin: bool) -> String {
    let (symbol, paint) = match unit.state.as_str() {
        "running" => ("●", "\x1b[32m"),
        "crashed" => ("✕", "\x1b[31m"),
        _ => ("○", "\x1b[33m"),
    };
    let prefix = if color {
        format!("{paint}{symbol}\x1b[0m ")
    } else {
        String::new()
    };
    let pid = unit
        .pid
        .map_or_else(|| "-".to_owned(), |pid| pid.to_string());
    let uptime = unit
        .uptime_secs
        .map_or_else(|| "-".to_owned(), |secs| format!("{secs}s"));
    let mut line = format!(
        "{prefix}{:<width$}  {:<10} PID: {:<8} Uptime: {:<8} Restarts: {}",
        unit.name, unit.state, pid, uptime, unit.restarts
    );
    if let Some(bytes) = unit.memory_bytes {
        line.push_str(&format!("  Mem: {:.1} MB", bytes as f64 / 1e6));
    }
    if plugin {
        if let Some(version) = &unit.version {
            line.push_str(&format!("  Version: {version}"));
        }
        if let Some(sandbox) = &unit.sandbox {
            line.push_str(&format!("  sandbox: {sandbox}"));
        }
    }
    if let Some(detail) = &unit.detail {
        line.push_str(&format!("  ({detail})"));
    }
    if let Some(count) = unit.dead_letters.filter(|count| *count > 0) {
        line.push_str(&format!("  Dead letters: {count}"));
    }
    if let Some(count) = unit.stale.filter(|count| *count > 0) {
        line.push_str(&format!("  Too old, not handled: {count}"));
    }
    if let Some(secs) = unit.retry_in_secs {
        line.push_str(&format!("  Retry in: {secs}s"));
    }
    if !unit.held_back.is_empty() {
        let held: Vec<String> = unit
            .held_back
            .iter()
            .map(|held| format!("{} ({}s)", held.user, held.secs_left))
            .collect();
        line.push_str(&format!("  Held back: {}", held.join(", ")));
    }
    if !unit.refused.is_empty() {
        let total: u64 = unit.refused.values().sum();
        let keys: Vec<&str> = unit.refused.keys().map(String::as_str).collect();
        line.push_str(&format!("  refused: {total} ({})", keys.join(", ")));
    }
    if let Some(exit) = &unit.last_exit {
        line.push_str(&format!("  Last exit: {exit}"));
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> StatusReport {
        let unit = |name: &str, state: &str, pid: Option<u32>| UnitStatus {
            name: name.to_owned(),
            state: state.to_owned(),
            pid,
            uptime_secs: pid.map(|_| 42),
            restarts: if state == "crashed" { 3 } else { 0 },
            last_exit: (state == "crashed").then(|| "signal 6 (SIGABRT)".to_owned()),
            version: None,
            detail: None,
            sandbox: (state == "running").then(|| "full".to_owned()),
            dead_letters: (state == "crashed").then_some(2),
            memory_bytes: pid.map(|_| 4_200_000),
            refused: if state == "crashed" {
                [("send_pms".to_owned(), 3)].into_iter().collect()
            } else {
                Default::default()
            },
            handled: None,
            handled_early: None,
            stale: (state == "running").then_some(4),
            held_back: Vec::new(),
            retry_in_secs: (state == "crashed").then_some(240),
        };
        StatusReport {
            pid: 1,
            home: "/srv/rosey".to_owned(),
            uptime_secs: 42,
            services: vec![
                unit("nats", "running", Some(10)),
                unit("bot", "stopped", None),
            ],
            plugins: vec![
                unit("chaos", "crashed", None),
                unit("dice-roller", "running", Some(11)),
            ],
            jetstream: None,
            plugin_supervisor: None,
            unknown: Vec::new(),
        }
    }

    #[test]
    fn what_is_unknown_says_so_with_the_reason() {
        let mut report = report();
        for unit in &mut report.plugins {
            unit.dead_letters = None;
        }
        report.unknown.push(control::Unknown {
            what: control::UNKNOWN_DEAD_LETTERS.to_owned(),
            why: "NATS unreachable: not connected".to_owned(),
        });
        let text = render_status(&report, false);
        assert!(
            text.contains("\ndead letters: unknown (NATS unreachable: not connected)\n"),
            "{text}"
        );
        assert!(!text.contains("Dead letters:"), "{text}");

        report.plugins.clear();
        report.unknown.push(control::Unknown {
            what: control::UNKNOWN_PLUGINS.to_owned(),
            why: "the plugin supervisor did not answer: it stopped before answering".to_owned(),
        });
        let text = render_status(&report, false);
        assert!(
            text.contains(
                "\nPlugins: unknown (the plugin supervisor did not answer: it stopped before answering)\n"
            ),
            "{text}"
        );
        assert!(!text.contains("none installed"), "{text}");
    }

    #[test]
    fn a_stopped_plugin_supervisor_is_not_an_empty_list() {
        let mut report = report();
        report.plugins.clear();
        report.plugin_supervisor = Some("stopped".to_owned());
        let text = render_status(&report, false);
        assert!(
            text.contains(
                "\nPlugins: stopped (the plugin supervisor is stopped: rosey start plugins)\n"
            ),
            "{text}"
        );
        assert!(!text.contains("none installed"), "{text}");
    }

    #[test]
    fn a_report_without_the_new_fields_still_parses() {
        let old = r#"{"pid":1,"home":"/h","uptime_secs":2,"services":[],"plugins":[]}"#;
        let report: StatusReport = serde_json::from_str(old).expect("parses");
        assert!(report.unknown.is_empty() && report.plugin_supervisor.is_none());
        let json = serde_json::to_value(&report).expect("json");
        assert!(json.get("unknown").is_none() && json.get("plugin_supervisor").is_none());
    }

    #[test]
    fn jetstream_repairs_get_a_line_of_their_own() {
        let mut report = report();
        assert!(!render_status(&report, false).contains("jetstream"));
        report.jetstream = Some("repaired 1 time (last: stream ROSEY deleted at T)".to_owned());
        let text = render_status(&report, false);
        assert!(
            text.contains("\njetstream: repaired 1 time (last: stream ROSEY deleted at T)\n"),
            "{text}"
        );
    }

    #[test]
    fn terminals_get_colored_marks() {
        let text = render_status(&report(), true);
        assert!(text.contains("\x1b[32m●\x1b[0m nats"), "{text}");
        assert!(text.contains("\x1b[33m○\x1b[0m bot"), "{text}");
        assert!(text.contains("\x1b[31m✕\x1b[0m chaos"), "{text}");
    }

    #[test]
    fn pipes_get_plain_text() {
        let text = render_status(&report(), false);
        assert!(!text.contains('\x1b') && !text.contains('●'), "{text}");
        let line = |name: &str| {
            text.lines()
                .find(|line| line.starts_with(name))
                .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        assert!(
            line("nats").starts_with("nats running PID: 10 Uptime: 42s"),
            "{text}"
        );
        assert!(
            line("chaos").starts_with("chaos crashed PID: - Uptime: -"),
            "{text}"
        );
        assert!(!line("chaos").contains("sandbox"), "{text}");
        assert!(line("dice-roller").contains("sandbox: full"), "{text}");
        assert!(text.contains("Last exit: signal 6 (SIGABRT)"), "{text}");
        assert!(text.contains("Dead letters: 2"), "{text}");
        assert!(text.contains("refused: 3 (send_pms)"), "{text}");
        assert!(line("nats").contains("Restarts: 0 Mem: 4.2 MB"), "{text}");
        assert!(!line("chaos").contains("Mem:"), "{text}");
    }
}

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
    control::{self, ControlError, Request, Response, StatusReport, MEANWHILE},
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
    match start_daemon(home, false) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: cannot start the rosey daemon: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `rosey node start`: the node daemon in the background, as `rosey start` does the bot's.
pub fn start_node(home: &Home) -> ExitCode {
    match start_daemon(home, true) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: cannot start the rosey node daemon: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `rosey node secret`: the cluster's route password, made once, with where to copy it.
pub fn node_secret(home: &Home) -> ExitCode {
    match rosey_core::bus::make_cluster_secret(home) {
        Ok((path, made)) => {
            let what = if made { "Made" } else { "Kept the existing" };
            println!("✓ {what} cluster secret {}", path.display());
            println!(
                "Copy it to {} in the home of every other machine of the cluster (mode 0600), then start each: rosey start here, rosey node start on the nodes.",
                Home::layout().nats_cluster_secret_file().display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn start_daemon(home: &Home, node: bool) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let exe = std::env::current_exe().context("cannot find the rosey executable")?;
    let log_path = home.service_log(rosey_core::logs::ALL);
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
        .args(node.then_some("--node"))
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
        if let Progress::Fatal(_) = progress {
            // Before the failure, so the last line says what failed and the fix.
            eprintln!("The details are in {}.", log_path.display());
        }
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
            if node {
                println!(
                    "  rosey stop             # Stop this node (the main daemon sees it lost)"
                );
            } else {
                println!("  rosey say \"!roll 2d6\"  # Talk to the bot");
                println!("  rosey stop             # Stop everything");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(false) => Ok(ExitCode::FAILURE),
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

mod render;
pub use render::render_status;

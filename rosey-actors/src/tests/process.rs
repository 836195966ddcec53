//! Child processes through the real spawner: how a signal's end is named, a stop that has to
//! kill, the channel limit, output with no newline in sight, and what `Debug` shows.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use rosey_core::{
    config::LogsConfig,
    logs::{parse_line, LogHub, LogSource},
    paths::Home,
};

use super::nats::spawner;
use crate::services::process::{ChildLog, ChildProcess, Exit};

/// How long a child may take to get to its `sleep`.
const PATIENCE: Duration = Duration::from_secs(20);

/// Kills the child's group when the test ends, passing or not.
struct Reaped(ChildProcess);

impl Drop for Reaped {
    fn drop(&mut self) {
        self.0.signal_group(libc::SIGKILL);
    }
}

/// Runs `sh -c <script>` (which must end in `exec sleep …`) and waits until it is the sleep,
/// so that a signal sent now reaches the sleep, not the shell.
async fn sleeping(script: &str) -> Reaped {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    let child = Reaped(spawner().spawn(command).await.expect("spawn sh"));
    let comm = format!("/proc/{}/comm", child.0.pid());
    let deadline = Instant::now() + PATIENCE;
    while std::fs::read_to_string(&comm).unwrap_or_default().trim() != "sleep" {
        assert!(
            child.0.exited().is_none(),
            "{script:?} ended: {:?}",
            child.0.exited()
        );
        assert!(Instant::now() < deadline, "{script:?} never got to sleep");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child
}

#[tokio::test]
async fn a_child_ended_by_a_signal_is_told_by_the_signal_s_name() {
    let named = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGUSR1, "signal"),
    ];
    for (signal, name) in named {
        // No core files from the signals that would dump one.
        let child = sleeping("ulimit -c 0; exec sleep 30").await;
        child.0.signal_group(signal);
        let exit = child.0.wait().await;
        assert_eq!(exit, Exit::Signal(signal));
        assert_eq!(exit.to_string(), format!("signal {signal} ({name})"));
    }
}

#[tokio::test]
async fn a_child_that_ignores_sigterm_is_killed_once_its_stop_timeout_passes() {
    let child = sleeping("trap '' TERM; exec sleep 30").await;
    let exit = child.0.stop(Duration::from_millis(300)).await;
    assert_eq!(exit, Exit::Signal(libc::SIGKILL));
}

#[tokio::test]
async fn a_child_s_debug_shows_its_pid_and_whether_it_exited() {
    let child = sleeping("exec sleep 30").await;
    let pid = child.0.pid();
    assert_eq!(
        format!("{:?}", child.0),
        format!("ChildProcess {{ pid: {pid}, exited: None, .. }}")
    );
    child.0.kill().await;
    assert_eq!(
        format!("{:?}", child.0),
        format!("ChildProcess {{ pid: {pid}, exited: Some(Signal(9)), .. }}")
    );
}

#[tokio::test]
async fn more_channels_than_a_child_may_have_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let log = ChildLog {
        hub: LogHub::open(&home, LogsConfig::default()).expect("hub"),
        source: LogSource::Service("channels".to_owned()),
        translate: None,
    };
    let marker = dir.path().join("ran");
    let mut command = Command::new("touch");
    command.arg(&marker);
    let refused = spawner()
        .spawn_with_channels(command, log, &[3, 4, 5, 6, 7])
        .await;
    let Err(err) = refused else {
        panic!("five channels must be refused");
    };
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "at most 4 channels per child");
    assert!(!marker.exists(), "the command never ran");
}

#[tokio::test]
async fn output_without_newlines_is_logged_in_bounded_pieces_and_its_last_words_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let log = ChildLog {
        hub: LogHub::open(&home, LogsConfig::default()).expect("hub"),
        source: LogSource::Service("chatty".to_owned()),
        translate: None,
    };
    let mut command = Command::new("sh");
    // 100 000 characters with no newline, then a last line that never gets one.
    command.args([
        "-c",
        "head -c 100000 /dev/zero | tr '\\0' x; printf '\\nlast words'",
    ]);
    let child = spawner()
        .spawn_logged(command, log)
        .await
        .expect("spawn sh");
    let reaped = Reaped(child.clone());
    assert_eq!(child.wait().await, Exit::Code(0));
    assert_eq!(
        child.last_line(PATIENCE).await.as_deref(),
        Some("last words")
    );
    let text = std::fs::read_to_string(home.service_log("chatty")).expect("chatty.log");
    let pieces: Vec<usize> = text
        .lines()
        .filter_map(parse_line)
        .filter(|line| line.message.starts_with('x'))
        .map(|line| line.message.len())
        .collect();
    assert_eq!(pieces.iter().sum::<usize>(), 100_000, "{pieces:?}");
    assert!(
        pieces.len() > 1 && pieces.iter().all(|len| *len <= 32 * 1024),
        "written in pieces of a bounded size: {pieces:?}"
    );
    drop(reaped);
}

//! Measure 3: crash → serving again. The chaos fixture is told to `abort` (SIGABRT in its host
//! process); the harness watches the host through a pidfd, so the crash is timed the moment the
//! kernel reports the exit, publishes a `!chaos ping` at once, and times until its `pong`.
//!
//! The stack runs with the smallest restart backoff the config allows (1 ms) and a restart
//! budget large enough for hundreds of crashes, and with `max_attempts: 1` for chaos, so the
//! `abort` command, redelivered after the ack wait, is dead-lettered instead of crashing the
//! next instance again.

use std::{
    os::fd::{FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use rosey_benches::stats::Series;
use serde::Serialize;
use tokio::io::{unix::AsyncFd, Interest};

use crate::{reload::ms, stack::BenchHome, wire::Wire};

/// The chaos home's `rosey.yaml`.
pub const CONFIG: &str = "\
nats:
  port: 0
web:
  port: 0
supervision:
  plugins: { max_restarts: 100000, within_secs: 1, backoff_initial_ms: 1, backoff_max_ms: 1, backoff_reset_secs: 1 }
plugins:
  chaos: { max_attempts: 1 }
";

/// Crash recovery samples, in ms.
#[derive(Debug, Default, Serialize)]
pub struct CrashRecovery {
    /// How the plugin was crashed.
    pub how: String,
    /// How long after the exit the timed command was sent, in ms.
    pub probe_delay_ms: f64,
    /// Samples over 1 s (a command that waited out the ack wait).
    pub over_1s: usize,
    /// Crashes not timed: the host was gone before the `abort` was sent, or did not exit
    /// within 10 s of it (a redelivered message crashed it first, or the `abort` went to a
    /// host that had just died).
    pub disturbed: usize,
    /// Host exit → reply to a command sent right after it.
    pub to_serving: Series,
    /// Host exit → the new host's `ready` notice.
    pub to_ready: Series,
}

/// An open pidfd of a process, readable once it has exited.
struct PidFd(AsyncFd<OwnedFd>);

impl PidFd {
    fn open(pid: u32) -> Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot open a pidfd for process {pid}"));
        }
        // SAFETY: a fresh fd that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the OwnedFd is open and stays the same fd for as long as the AsyncFd owns it.
        let watched = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
            .map_err(std::io::Error::from)
            .context("cannot watch a pidfd with tokio")?;
        Ok(PidFd(watched))
    }

    /// Waits until the process has exited; returns when that was seen.
    async fn exited(&self) -> Result<Instant> {
        let _guard = self.0.readable().await.context("cannot wait on a pidfd")?;
        Ok(Instant::now())
    }
}

/// The pid of the running chaos host, from the status.
async fn running_pid(home: &BenchHome) -> Result<u32> {
    let status = home
        .wait_running(&["chaos".to_owned()], Duration::from_secs(30))
        .await?;
    status
        .unit("chaos")
        .and_then(|unit| unit.pid)
        .context("chaos has no pid")
}

/// `true` while process `pid` exists.
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// Crashes chaos `count` times and times how soon it serves again; the timed command is sent
/// `probe_delay` after the exit is seen.
pub async fn recovery(
    home: &BenchHome,
    wire: &mut Wire,
    count: usize,
    probe_delay: Duration,
) -> Result<CrashRecovery> {
    let mut result = CrashRecovery {
        how: "!chaos abort (SIGABRT in the plugin host), restart backoff 1 ms".to_owned(),
        probe_delay_ms: ms(probe_delay),
        ..Default::default()
    };
    let mut current: Option<u32> = None;
    let mut crash = 0;
    while crash < count {
        if result.disturbed > count {
            bail!(
                "{} crashes did not go as planned (see `disturbed`); giving up",
                result.disturbed
            );
        }
        wire.drain_notices();
        let pid = match current.filter(|pid| alive(*pid)) {
            Some(pid) => pid,
            None => running_pid(home).await?,
        };
        // The host may die of something else (a redelivered message) at any moment: then
        // this crash is not timed, and the next one starts from the host running then.
        let Ok(host) = PidFd::open(pid) else {
            result.disturbed += 1;
            current = None;
            continue;
        };
        let _abort_ack = wire
            .publish(&format!("abort-{crash}"), "chaos", "abort")
            .await?;
        let exited = match tokio::time::timeout(Duration::from_secs(10), host.exited()).await {
            Ok(exited) => exited?,
            Err(_) => {
                result.disturbed += 1;
                current = None;
                continue;
            }
        };
        if !probe_delay.is_zero() {
            tokio::time::sleep(probe_delay).await;
        }
        let probe = format!("after-{crash}");
        let mut waiting = wire.watch_reply(&probe);
        let _probe_ack = wire.publish(&probe, "chaos", "ping").await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut ready = None;
        let mut latest = None;
        let mut served = None;
        while ready.is_none() || served.is_none() {
            tokio::select! {
                biased;
                notice = wire.next_notice() => {
                    let notice = notice.context("the NATS subscription ended")?;
                    if notice.what == "ready" && notice.plugin == "chaos" && notice.pid != pid {
                        ready.get_or_insert(notice.stamp.at);
                        latest = Some(notice.pid);
                    }
                }
                stamp = &mut waiting, if served.is_none() => {
                    served = Some(stamp.context("the reply book was dropped")?.at);
                }
                _ = tokio::time::sleep_until(deadline) => {
                    bail!("crash {crash}: chaos not serving again within 30 s (ready: {ready:?})");
                }
            }
        }
        if let (Some(ready_at), Some(served_at)) = (ready, served) {
            let took = ms(served_at - exited);
            if took > 1000.0 {
                result.over_1s += 1;
            }
            result.to_serving.push(took);
            result.to_ready.push(ms(ready_at - exited));
        }
        current = latest;
        crash += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wire.forget_replies();
    Ok(result)
}

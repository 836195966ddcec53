//! Measure 3: crash → serving again, for four ways a plugin host dies and two moments the
//! command timed (the probe, `!chaos ping`) can be sent.
//!
//! Kinds: `abort` (`!chaos abort`: SIGABRT inside a handler), `segfault` (`!chaos segfault`:
//! SIGSEGV inside a handler), `kill-idle` (the harness SIGKILLs the idle host) and `kill-busy`
//! (the harness publishes `!chaos slow 2000`, waits for the stream to store it and 20 ms more so
//! the handler runs, then SIGKILLs the host). The host's pid comes from the status or the last
//! `ready` notice; the harness holds a pidfd on it, which both signals exactly that process and
//! reports its exit the moment the kernel does. Every sample is that exit → the probe's `pong`.
//!
//! Probe timings: `after_exit`, for every kind, publishes the probe once the exit is seen
//! (after `--crash-probe-delay-ms`, 0 by default); `during_handler`, for the handler kinds,
//! publishes it before the host dies: right after the crash command (abort, segfault), or while
//! `slow 2000` runs, stored by the stream before the kill (kill-busy). Such a probe is a
//! different message from the one that crashed the host and must be answered by the next
//! instance. The seven variants take turns, `--crashes` crashes each.
//!
//! A probe not answered within 1 s of the exit is left pending and the next crash goes ahead
//! (so a run with many 5 s ack-wait stragglers does not take hours); pending probes are timed
//! the same way when their replies come, waited for up to 30 s after the last crash, and count
//! as `unanswered` (and over 1 s) when none comes.
//!
//! The stack runs with no restart backoff (`backoff_initial_ms: 0`: restart at once) and a restart
//! budget large enough for thousands of crashes, and with `max_attempts: 1` for chaos, so a
//! crashing command, redelivered after the ack wait, is dead-lettered instead of crashing (or
//! for `slow`, occupying) the next instance again.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rosey_benches::stats::Series;
use serde::Serialize;
use tokio::time::sleep_until;

use crate::{
    pidfd::{self, PidFd},
    reload::ms,
    stack::BenchHome,
    wire::Wire,
};

/// The chaos home's `rosey.yaml`: the crash-under-load home's, with `max_attempts: 1`.
pub const CONFIG: &str = concat!(
    crate::crash_home_config!(),
    "plugins:\n  chaos: { max_attempts: 1 }\n"
);

/// How a host is made to die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `!chaos abort`.
    Abort,
    /// `!chaos segfault`.
    Segfault,
    /// SIGKILL while idle.
    KillIdle,
    /// SIGKILL while `!chaos slow 2000` runs.
    KillBusy,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Abort => "abort",
            Kind::Segfault => "segfault",
            Kind::KillIdle => "kill-idle",
            Kind::KillBusy => "kill-busy",
        }
    }
}

/// When the probe is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeAt {
    /// Once the exit is seen (plus the configured delay).
    AfterExit,
    /// Before the host dies, while the handler runs.
    DuringHandler,
}

impl ProbeAt {
    fn name(self) -> &'static str {
        match self {
            ProbeAt::AfterExit => "after_exit",
            ProbeAt::DuringHandler => "during_handler",
        }
    }
}

/// Every variant timed, in the order they take turns.
pub const VARIANTS: [(Kind, ProbeAt); 7] = [
    (Kind::Abort, ProbeAt::AfterExit),
    (Kind::Abort, ProbeAt::DuringHandler),
    (Kind::Segfault, ProbeAt::AfterExit),
    (Kind::Segfault, ProbeAt::DuringHandler),
    (Kind::KillIdle, ProbeAt::AfterExit),
    (Kind::KillBusy, ProbeAt::AfterExit),
    (Kind::KillBusy, ProbeAt::DuringHandler),
];

/// How long after the exit a probe is waited for before the next crash goes ahead.
const SETTLE: Duration = Duration::from_secs(1);

/// How long pending probes are waited for after the last crash.
const PENDING_WAIT: Duration = Duration::from_secs(30);

/// The samples of one variant, one kind, or all crashes, in ms.
#[derive(Debug, Default, Serialize)]
pub struct Timings {
    /// `abort`, `segfault`, `kill-idle`, `kill-busy` or `all`.
    pub kind: String,
    /// `after_exit`, `during_handler` or `all`.
    pub probe: String,
    /// Crashes timed.
    pub crashes: usize,
    /// Probes answered over 1 s after the exit, or never.
    pub over_1s: usize,
    /// Crashes that did not go as planned and were done again (see [`CrashRecovery`]).
    pub disturbed: usize,
    /// Probes with no reply at all.
    pub unanswered: usize,
    /// Probes published before the crash and answered before the exit (by the old instance):
    /// not timed.
    pub answered_before_exit: usize,
    /// Host exit → the probe's reply.
    pub to_serving: Series,
    /// Host exit → the new host's `ready` notice.
    pub to_ready: Series,
}

impl Timings {
    fn new(kind: &str, probe: &str) -> Timings {
        Timings {
            kind: kind.to_owned(),
            probe: probe.to_owned(),
            ..Default::default()
        }
    }

    fn add(&mut self, other: &Timings) {
        self.crashes += other.crashes;
        self.over_1s += other.over_1s;
        self.disturbed += other.disturbed;
        self.unanswered += other.unanswered;
        self.answered_before_exit += other.answered_before_exit;
        self.to_serving.0.extend_from_slice(&other.to_serving.0);
        self.to_ready.0.extend_from_slice(&other.to_ready.0);
    }

    fn served(&mut self, took: f64) {
        if took > 1000.0 {
            self.over_1s += 1;
        }
        self.to_serving.push(took);
    }
}

/// Crash recovery samples, in ms.
#[derive(Debug, Default, Serialize)]
pub struct CrashRecovery {
    /// How the plugin was crashed.
    pub how: String,
    /// How long after the exit an `after_exit` probe was sent, in ms.
    pub probe_delay_ms: f64,
    /// Probes answered over 1 s after the exit, or never (all variants).
    pub over_1s: usize,
    /// Crashes not timed and done again: the host was gone before it was crashed, was not part
    /// of the stack, or did not exit within 10 s of the crash command.
    pub disturbed: usize,
    /// Host exit → reply to the probe, all variants.
    pub to_serving: Series,
    /// Host exit → the new host's `ready` notice, all variants.
    pub to_ready: Series,
    /// Crashes timed per variant (`--crashes`).
    pub per_variant: usize,
    /// Crashes timed in all.
    pub crashes: usize,
    /// Probes never answered (all variants).
    pub unanswered: usize,
    /// Each kind and probe timing.
    pub variants: Vec<Timings>,
    /// Each kind, both probe timings together.
    pub kinds: Vec<Timings>,
}

/// A probe not answered within [`SETTLE`], timed at the end.
struct Pending {
    variant: usize,
    probe: String,
    exited: Instant,
}

/// What one crash gave.
enum Crash {
    /// Not timed; to be done again.
    Disturbed,
    /// Timed.
    Timed {
        exited: Instant,
        ready: Instant,
        served: Option<Instant>,
        probe: String,
        new_pid: u32,
    },
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

/// Crashes chaos `per_variant` times in each variant and times how soon it serves again.
pub async fn recovery(
    home: &BenchHome,
    wire: &mut Wire,
    per_variant: usize,
    probe_delay: Duration,
) -> Result<CrashRecovery> {
    let daemon = home.status().await?.pid;
    let mut variants: Vec<Timings> = VARIANTS
        .iter()
        .map(|(kind, at)| Timings::new(kind.name(), at.name()))
        .collect();
    let mut pending: Vec<Pending> = Vec::new();
    let mut current: Option<u32> = None;
    let mut n = 0usize;
    let mut disturbed = 0usize;
    let budget = per_variant * VARIANTS.len();
    for _round in 0..per_variant {
        for (v, &(kind, at)) in VARIANTS.iter().enumerate() {
            loop {
                if disturbed > budget {
                    bail!("{disturbed} crashes did not go as planned (see `disturbed`); giving up");
                }
                n += 1;
                let crash = one(home, wire, daemon, (kind, at), probe_delay, n, current).await?;
                match crash {
                    Crash::Disturbed => {
                        variants[v].disturbed += 1;
                        disturbed += 1;
                        current = None;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Crash::Timed {
                        exited,
                        ready,
                        served,
                        probe,
                        new_pid,
                    } => {
                        let timings = &mut variants[v];
                        timings.crashes += 1;
                        timings
                            .to_ready
                            .push(ms(ready.saturating_duration_since(exited)));
                        match served {
                            Some(at) if at < exited => timings.answered_before_exit += 1,
                            Some(at) => timings.served(ms(at - exited)),
                            None => pending.push(Pending {
                                variant: v,
                                probe,
                                exited,
                            }),
                        }
                        current = Some(new_pid);
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + PENDING_WAIT;
    while Instant::now() < deadline && pending.iter().any(|p| wire.reply_count(&p.probe) == 0) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for p in &pending {
        let timings = &mut variants[p.variant];
        match wire.first_reply(&p.probe) {
            Some(stamp) => timings.served(ms(stamp.at.saturating_duration_since(p.exited))),
            None => {
                timings.unanswered += 1;
                timings.over_1s += 1;
            }
        }
    }
    wire.forget_replies();
    Ok(summarize(per_variant, probe_delay, variants))
}

/// The per-kind and combined figures of the variants.
fn summarize(per_variant: usize, probe_delay: Duration, variants: Vec<Timings>) -> CrashRecovery {
    let mut kinds: Vec<Timings> = Vec::new();
    let mut all = Timings::new("all", "all");
    for timings in &variants {
        match kinds.iter_mut().find(|kind| kind.kind == timings.kind) {
            Some(kind) => kind.add(timings),
            None => {
                let mut kind = Timings::new(&timings.kind, "all");
                kind.add(timings);
                kinds.push(kind);
            }
        }
        all.add(timings);
    }
    CrashRecovery {
        how: "abort and segfault in a handler, SIGKILL idle, SIGKILL during `slow 2000`; \
              no restart backoff"
            .to_owned(),
        probe_delay_ms: ms(probe_delay),
        over_1s: all.over_1s,
        disturbed: all.disturbed,
        to_serving: all.to_serving,
        to_ready: all.to_ready,
        per_variant,
        crashes: all.crashes,
        unanswered: all.unanswered,
        variants,
        kinds,
    }
}

/// Crashes the running host once, the `kind` way, and waits for its successor's `ready` and
/// (up to [`SETTLE`] after the exit) the probe's reply.
async fn one(
    home: &BenchHome,
    wire: &mut Wire,
    daemon: u32,
    (kind, at): (Kind, ProbeAt),
    probe_delay: Duration,
    n: usize,
    current: Option<u32>,
) -> Result<Crash> {
    wire.drain_notices();
    let pid = match current.filter(|pid| pidfd::alive(*pid)) {
        Some(pid) => pid,
        None => running_pid(home).await?,
    };
    // The host may die of something else (a redelivered message) at any moment: then this
    // crash is not timed, and the next one starts from the host running then.
    if !pidfd::of_stack(pid, home.path(), daemon) {
        return Ok(Crash::Disturbed);
    }
    let Ok(host) = PidFd::open(pid) else {
        return Ok(Crash::Disturbed);
    };
    let probe = format!("probe-{n}");
    let mut waiting = wire.watch_reply(&probe);
    let during = at == ProbeAt::DuringHandler;
    let stored = |ack: async_nats::jetstream::context::PublishAckFuture| async move {
        tokio::time::timeout(Duration::from_secs(5), ack)
            .await
            .context("the stream did not acknowledge a command within 5 s")?
            .context("the stream did not store a command")
    };
    match kind {
        Kind::Abort | Kind::Segfault => {
            let what = if kind == Kind::Abort {
                "abort"
            } else {
                "segfault"
            };
            let _crash_ack = wire.publish(&format!("crash-{n}"), "chaos", what).await?;
            if during {
                let _probe_ack = wire.publish(&probe, "chaos", "ping").await?;
            }
        }
        Kind::KillIdle => {
            if host.kill().is_err() {
                return Ok(Crash::Disturbed);
            }
        }
        Kind::KillBusy => {
            stored(
                wire.publish(&format!("crash-{n}"), "chaos", "slow 2000")
                    .await?,
            )
            .await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
            if during {
                stored(wire.publish(&probe, "chaos", "ping").await?).await?;
            }
            if host.kill().is_err() {
                return Ok(Crash::Disturbed);
            }
        }
    }
    let exited = match tokio::time::timeout(Duration::from_secs(10), host.exited()).await {
        Ok(exited) => exited?,
        Err(_) => return Ok(Crash::Disturbed),
    };
    if !during {
        if !probe_delay.is_zero() {
            tokio::time::sleep(probe_delay).await;
        }
        let _probe_ack = wire.publish(&probe, "chaos", "ping").await?;
    }
    let settle = tokio::time::Instant::from_std(exited) + SETTLE;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut ready = None;
    let mut served = None;
    loop {
        if let Some((ready, new_pid)) = ready {
            if served.is_some() || tokio::time::Instant::now() >= settle {
                return Ok(Crash::Timed {
                    exited,
                    ready,
                    served,
                    probe,
                    new_pid,
                });
            }
        }
        let settling = served.is_none() && tokio::time::Instant::now() < settle;
        tokio::select! {
            biased;
            notice = wire.next_notice() => {
                let notice = notice.context("the NATS subscription ended")?;
                if notice.what == "ready" && notice.plugin == "chaos" && notice.pid != pid {
                    ready.get_or_insert((notice.stamp.at, notice.pid));
                }
            }
            stamp = &mut waiting, if served.is_none() => {
                served = Some(stamp.context("the reply book was dropped")?.at);
            }
            _ = sleep_until(settle), if settling => {}
            _ = sleep_until(deadline) => {
                bail!("crash {n} ({}): no new chaos host ready within 30 s", kind.name());
            }
        }
    }
}

//! Crash under load: commands lost or duplicated while the plugin host is killed again and
//! again. A home with the chaos fixture (no restart backoff, a restart budget for thousands
//! of restarts, and the default `max_attempts`, since no command here is at fault) gets
//! `!chaos ping` commands with unique ids at a fixed rate (500/s for 20 s: 10,000 commands,
//! paced as in [`crate::load`]), while the harness SIGKILLs the chaos host every 200 ms: at each
//! tick it takes the host's pid from the status (waiting up to 150 ms for a running host other
//! than the one killed last), checks it belongs to the stack, and kills it through a pidfd,
//! then waits for the exit. Once publishing stops the kills stop, the harness waits up to the
//! drain time for the last replies (a command stranded in a dead host's hands comes back after
//! the 5 s ack wait) and 1 s more for duplicates, and counts: lost (no reply), duplicated (more
//! than one reply with that `in_reply_to`) and kills. A kill can fairly duplicate the one
//! command the host had answered but not yet acknowledged, so the target allows at most one
//! duplicate per kill; nothing may be lost.

use std::{
    cell::Cell,
    time::{Duration, Instant},
};

use anyhow::Result;
use rosey_benches::stats::Series;
use serde::Serialize;

use crate::{
    load,
    pidfd::{self, PidFd},
    reload::ms,
    stack::BenchHome,
    wire::Wire,
};

/// The crash-under-load home's `rosey.yaml`: free ports, no restart backoff, a restart
/// budget for thousands of crashes (the crash measure adds its own `max_attempts` to it), and
/// no holding back the harness's user, whose commands crash the plugin on purpose.
#[macro_export]
macro_rules! crash_home_config {
    () => {
        "\
nats:
  port: 0
web:
  port: 0
plugin_host:
  hold_secs: 0
supervision:
  plugins: { max_restarts: 100000, within_secs: 1, backoff_initial_ms: 0, backoff_max_ms: 0, backoff_reset_secs: 1 }
"
    };
}

/// The crash-under-load home's `rosey.yaml`.
pub const CONFIG: &str = crash_home_config!();

/// What the test counted.
#[derive(Debug, Default, Serialize)]
pub struct CrashLoad {
    /// Commands per second asked for.
    pub target_rate: f64,
    /// Commands per second published, first to last.
    pub achieved_rate: f64,
    /// Milliseconds between kills.
    pub kill_every_ms: f64,
    /// Commands published.
    pub sent: usize,
    /// Commands the stream did not acknowledge even after retries (a harness-side failure).
    pub not_stored: usize,
    /// Hosts killed (SIGKILL sent and the exit seen).
    pub kills: usize,
    /// Ticks with no running host to kill within 150 ms (it was still restarting).
    pub kills_missed: usize,
    /// Commands never answered, after the drain.
    pub lost: usize,
    /// Commands answered more than once.
    pub duplicated: usize,
    /// Replies beyond the first, summed.
    pub extra_replies: usize,
    /// A few of the lost ids.
    pub lost_examples: Vec<String>,
    /// Whether every command was answered before the drain time ran out.
    pub drained: bool,
    /// Send → first reply of every answered command, in ms.
    pub latency: Series,
}

/// The load and the kills.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Commands per second.
    pub rate: f64,
    /// How long commands are published (and hosts killed).
    pub duration: Duration,
    /// Time between kills.
    pub kill_every: Duration,
    /// How long to wait for the last replies.
    pub drain: Duration,
}

/// Runs the load and the kills on a running chaos home.
pub async fn measure(home: &BenchHome, wire: &Wire, plan: Plan) -> Result<CrashLoad> {
    let daemon = home.status().await?.pid;
    let total = (plan.rate * plan.duration.as_secs_f64()).round() as usize;
    let id_of = |i: usize| format!("crashload-{i}");
    let publishing = Cell::new(true);
    let publisher = async {
        let published =
            load::publish_paced(wire, &id_of, ("chaos", "ping"), plan.rate, total).await;
        publishing.set(false);
        published
    };
    let killer = async {
        let (mut kills, mut missed) = (0, 0);
        let mut last = None;
        let mut tick = tokio::time::interval(plan.kill_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if !publishing.get() {
                break;
            }
            match kill_one(home, daemon, last).await {
                Some(pid) => {
                    kills += 1;
                    last = Some(pid);
                }
                None => missed += 1,
            }
        }
        (kills, missed)
    };
    let (published, (kills, kills_missed)) = tokio::join!(publisher, killer);
    let published = published?;
    let drained = load::drain(wire, &id_of, published.sent_at.len(), plan.drain).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tally = load::tally(wire, &id_of, &published.sent_at);
    wire.forget_replies();
    Ok(CrashLoad {
        target_rate: plan.rate,
        achieved_rate: published.achieved_rate,
        kill_every_ms: ms(plan.kill_every),
        sent: published.sent_at.len(),
        not_stored: published.not_stored,
        kills,
        kills_missed,
        lost: tally.lost,
        duplicated: tally.duplicated,
        extra_replies: tally.extra_replies,
        lost_examples: tally.lost_examples,
        drained,
        latency: tally.latency,
    })
}

/// Kills the running chaos host (not `last`, the one killed before); returns its pid once its
/// exit is seen, `None` when no host could be killed within 150 ms.
async fn kill_one(home: &BenchHome, daemon: u32, last: Option<u32>) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_millis(150);
    while Instant::now() < deadline {
        let pid = home.status().await.ok().and_then(|status| {
            status
                .unit("chaos")
                .filter(|unit| unit.state == "running")
                .and_then(|unit| unit.pid)
        });
        if let Some(pid) = pid.filter(|pid| Some(*pid) != last) {
            if pidfd::of_stack(pid, home.path(), daemon) {
                if let Ok(host) = PidFd::open(pid) {
                    if host.kill().is_ok() {
                        let exited =
                            tokio::time::timeout(Duration::from_secs(5), host.exited()).await;
                        if matches!(exited, Ok(Ok(_))) {
                            return Some(pid);
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

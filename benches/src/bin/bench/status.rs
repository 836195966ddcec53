//! Status latency: how long `rosey status` (the control request `status`, which the dashboard's
//! `/api/status` answers from too) takes, with the stack idle and while the plugin supervisor is
//! busy starting a plugin.
//!
//! A home with dice-roller and the chaos fixture, started. Each request is one connection to
//! the control socket, the way the CLI sends it, timed from the connect to the whole answer
//! read; one at a time.
//!
//! Idle: `--status` (200) requests one after another.
//!
//! Busy: chaos's config gets `load_delay_ms: <D>` (`--status-load-delay-ms`, 3000), so its
//! `load` sleeps that long, and an operator restart of chaos (`restart`, as `rosey restart
//! chaos` sends) is sent on a task of its own: the plugin supervisor stops chaos and starts it
//! again, and handles nothing else until that start is over; the daemon answers the restart once
//! chaos is up. Meanwhile status requests go back to back until the restart is answered; each
//! answer's state of chaos is noted. A status that asked the busy supervisor would wait out the
//! start; one that reads the supervisor's published snapshot answers at once and shows chaos
//! `starting`. The busy figure counts only when at least one request saw chaos `starting`
//! (proof that they were answered during the start, not after it), and a target checks that
//! every round had one. `--status-rounds` (3) rounds; chaos's config is put back as it was at
//! the end.

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use rosey_benches::stats::Series;
use serde::Serialize;

use crate::{
    reload::ms,
    render::{missing, row_marked},
    report::Outcome,
    stack::BenchHome,
};

/// The home's `rosey.yaml`: defaults, free NATS and dashboard ports.
pub const CONFIG: &str = "nats:\n  port: 0\nweb:\n  port: 0\n";

/// The plugin restarted while status is asked.
const SLOW: &str = "chaos";

/// The plugins of the home.
pub const PLUGINS: [&str; 2] = ["dice-roller", SLOW];

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Status requests timed with the stack idle.
    pub requests: usize,
    /// How long chaos's `load` sleeps in the busy rounds.
    pub load_delay: Duration,
    /// Busy rounds (restarts of chaos).
    pub rounds: usize,
}

/// One restart of chaos with status asked meanwhile.
#[derive(Debug, Default, Serialize)]
pub struct BusyRound {
    /// The restart request sent → the daemon's answer to it (chaos up again), in ms.
    pub restart_ms: f64,
    /// The status requests sent while the restart ran (the last one may end just after it),
    /// connect → whole answer read, in ms.
    pub latency: Series,
    /// chaos's state in those answers (`running`, `stopping`, `starting`, …), and how many
    /// answers showed each.
    pub states: BTreeMap<String, usize>,
    /// How many of them showed chaos `starting`.
    pub saw_starting: usize,
}

/// What the measure found.
#[derive(Debug, Default, Serialize)]
pub struct StatusLatency {
    /// Status requests with the stack idle, connect → whole answer read, in ms.
    pub idle: Series,
    /// chaos's `load_delay_ms` during the busy rounds.
    pub load_delay_ms: u64,
    /// Every busy round's status requests together, connect → whole answer read, in ms.
    pub busy: Series,
    /// Of the busy requests, how many showed chaos `starting`.
    pub busy_saw_starting: usize,
    /// Why the busy figure does not count (no busy request saw chaos starting), when it does
    /// not.
    pub busy_not_measured: Option<String>,
    /// Each busy round.
    pub rounds: Vec<BusyRound>,
    /// Answers (idle and busy) that listed something as unknown (`unknown` not empty).
    pub answers_with_unknown: usize,
    /// The first such listing, as the daemon gave it.
    pub first_unknown: Option<serde_json::Value>,
}

impl StatusLatency {
    /// The busy latencies, when they count (some request saw chaos starting).
    pub fn busy_counted(&self) -> Option<&Series> {
        self.busy_not_measured.is_none().then_some(&self.busy)
    }

    /// Busy rounds in which no status request showed chaos `starting` (each should).
    pub fn starts_unseen(&self) -> usize {
        self.rounds
            .iter()
            .filter(|round| round.saw_starting == 0)
            .count()
    }
}

/// The control request.
fn request() -> serde_json::Value {
    serde_json::json!({ "cmd": "status" })
}

/// chaos's state in a status answer's `data`.
fn state_of(data: &serde_json::Value, plugin: &str) -> String {
    data["plugins"]
        .as_array()
        .and_then(|plugins| plugins.iter().find(|unit| unit["name"] == plugin))
        .and_then(|unit| unit["state"].as_str())
        .unwrap_or("absent")
        .to_owned()
}

/// One status request, timed; notes an answer listing something unknown. Returns the time,
/// in ms, and chaos's state.
async fn ask(home: &BenchHome, found: &mut StatusLatency) -> Result<(f64, String)> {
    let (took, data) = home.control_timed(&request()).await?;
    if data["unknown"]
        .as_array()
        .is_some_and(|unknown| !unknown.is_empty())
    {
        found.answers_with_unknown += 1;
        if found.first_unknown.is_none() {
            found.first_unknown = Some(data["unknown"].clone());
        }
    }
    Ok((ms(took), state_of(&data, SLOW)))
}

/// Measures status latency in `home` (started, with [`PLUGINS`] running).
pub async fn measure(home: &BenchHome, plan: Plan) -> Result<StatusLatency> {
    let mut found = StatusLatency {
        load_delay_ms: plan.load_delay.as_millis() as u64,
        ..Default::default()
    };
    for _ in 0..plan.requests {
        let (took, _) = ask(home, &mut found).await?;
        found.idle.push(took);
    }
    let config = rosey_core::paths::Home::new(home.path()).plugin_config_file(SLOW);
    let before = std::fs::read(&config).ok();
    if let Some(dir) = config.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&config, format!("load_delay_ms: {}\n", found.load_delay_ms))
        .with_context(|| format!("cannot write {}", config.display()))?;
    let busy = busy_rounds(home, plan, &mut found).await;
    let reset = put_back(&config, before);
    busy?;
    reset?;
    found.busy = Series(
        found
            .rounds
            .iter()
            .flat_map(|round| round.latency.0.iter().copied())
            .collect(),
    );
    found.busy_saw_starting = found.rounds.iter().map(|round| round.saw_starting).sum();
    if found.busy_saw_starting == 0 {
        let seen: Vec<String> = found
            .rounds
            .iter()
            .map(|round| format!("{:?}", round.states))
            .collect();
        found.busy_not_measured = Some(format!(
            "no status request saw {SLOW} starting (states seen per round: {})",
            seen.join(", ")
        ));
    }
    Ok(found)
}

/// The busy rounds, one after another.
async fn busy_rounds(home: &BenchHome, plan: Plan, found: &mut StatusLatency) -> Result<()> {
    let restart = serde_json::json!({ "cmd": "restart", "target": SLOW });
    for number in 1..=plan.rounds {
        home.wait_running(&[SLOW.to_owned()], Duration::from_secs(30))
            .await?;
        let mut round = BusyRound::default();
        let started = Instant::now();
        let mut restarting = home.control_now(&restart);
        // Let the restart's request leave before the first status does.
        tokio::task::yield_now().await;
        while !restarting.is_finished() {
            let (took, state) = ask(home, found).await?;
            round.latency.push(took);
            if state == "starting" {
                round.saw_starting += 1;
            }
            *round.states.entry(state).or_default() += 1;
        }
        (&mut restarting)
            .await
            .context("the restart request's task failed")?
            .with_context(|| format!("restart {number} of {SLOW} failed"))?;
        round.restart_ms = ms(started.elapsed());
        if round.latency.0.is_empty() {
            bail!("restart {number} of {SLOW} was answered before any status was sent");
        }
        eprintln!(
            "  round {number}: restart took {:.0} ms, {} status requests, {} saw {SLOW} starting",
            round.restart_ms,
            round.latency.0.len(),
            round.saw_starting
        );
        found.rounds.push(round);
    }
    Ok(())
}

/// Puts chaos's config file back as it was (`None`: there was none).
fn put_back(config: &Path, before: Option<Vec<u8>>) -> Result<()> {
    match before {
        Some(bytes) => std::fs::write(config, bytes),
        None => std::fs::remove_file(config),
    }
    .with_context(|| format!("cannot put {} back", config.display()))
}

/// The report's rows.
pub fn render(out: &mut String, status: &Outcome<StatusLatency>) {
    use std::fmt::Write as _;
    let Some(status) = status.get() else {
        missing(out, "status latency", status);
        return;
    };
    row_marked(out, "status (control socket), idle", &status.idle, "");
    row_marked(
        out,
        &format!("  while a plugin starts ({} ms load)", status.load_delay_ms),
        &status.busy,
        "",
    );
    let restarts: Vec<String> = status
        .rounds
        .iter()
        .map(|round| format!("{:.0} ms", round.restart_ms))
        .collect();
    let _ = writeln!(
        out,
        "    ({} of {} saw {SLOW} starting; restarts took {}{})",
        status.busy_saw_starting,
        status.busy.0.len(),
        restarts.join(", "),
        if status.answers_with_unknown > 0 {
            format!(
                "; {} answers listed something unknown, first: {}",
                status.answers_with_unknown,
                status.first_unknown.clone().unwrap_or_default()
            )
        } else {
            String::new()
        }
    );
    if let Some(why) = &status.busy_not_measured {
        let _ = writeln!(out, "    busy figure not measured: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_state_is_read_from_the_answer() {
        let data = serde_json::json!({
            "plugins": [
                { "name": "dice-roller", "state": "running" },
                { "name": "chaos", "state": "starting" }
            ]
        });
        assert_eq!(state_of(&data, "chaos"), "starting");
        assert_eq!(state_of(&data, "other"), "absent");
    }
}

//! The sustained rate: the highest rate (commands a second) one plugin keeps up with for a few
//! seconds with a p99 (send → reply) of at most 10 ms. No target; Errbot is measured the same
//! way by `benches/errbot/errbot_bench.py`, for comparison.
//!
//! A step publishes `!roll 1d6` to dice-roller at a fixed rate for `--sustained-step-secs` (3 s;
//! paced and timed as in [`crate::load`]) and waits 2 s more for the replies. It passes when the
//! harness really published at ≥ 95 % of the rate, every command was answered within those 2 s,
//! and the p99 of send → reply is ≤ 10 ms. Steps start at 500/s and double while they pass (up
//! to `--sustained-max-rate`); after the first failure, `--sustained-bisections` steps (3)
//! bisect between the best pass and that failure (between 0 and 500 when 500 failed). Before
//! each step the backlog of the one before is waited out: until no reply has come for 2 s (a
//! command that is never answered does not hold the search up), at most 30 s; when replies
//! still come after 30 s the search stops there. The result is the highest rate passed, with its p50 and p99.

use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::{load, wire::Wire};

/// How the search runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Search {
    /// Seconds each step publishes.
    pub step_secs: f64,
    /// Bisection steps after the first failure.
    pub bisections: usize,
    /// The first rate tried.
    pub start_rate: f64,
    /// No rate above this is tried.
    pub max_rate: f64,
    /// The p99 a step must stay under, in ms.
    pub p99_limit_ms: f64,
}

/// How long replies are waited for after a step stops publishing.
const GRACE: Duration = Duration::from_secs(2);

/// How long the backlog of a failed step is waited out at most.
const BACKLOG: Duration = Duration::from_secs(30);

/// The backlog is over once no reply has come for this long.
const QUIET: Duration = Duration::from_secs(2);

/// One step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Step {
    /// Commands a second asked for.
    pub rate: f64,
    /// Commands a second published.
    pub achieved_rate: f64,
    /// Commands published.
    pub sent: usize,
    /// Commands answered within the grace period.
    pub answered: usize,
    /// Send → reply median, in ms.
    pub p50_ms: Option<f64>,
    /// Send → reply 99th percentile, in ms.
    pub p99_ms: Option<f64>,
    /// Slowest reply, in ms.
    pub max_ms: Option<f64>,
    /// Whether the step passed.
    pub passed: bool,
    /// Why it did not.
    pub why: Option<String>,
}

impl Step {
    /// Commands were published and none was answered within the grace period.
    pub fn silent(&self) -> bool {
        self.sent > 0 && self.answered == 0
    }
}

/// The search's result (the same shape for rosey and Errbot).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sustained {
    /// Seconds each step published.
    pub step_secs: f64,
    /// The p99 limit, in ms.
    pub p99_limit_ms: f64,
    /// The highest rate passed.
    pub best_rate: Option<f64>,
    /// Its p50, in ms.
    pub best_p50_ms: Option<f64>,
    /// Its p99, in ms.
    pub best_p99_ms: Option<f64>,
    /// Why the search stopped early, if it did.
    pub stopped: Option<String>,
    /// Every step, in the order run.
    pub steps: Vec<Step>,
    /// The plugin's unit in the stack's status after the search, when a step had no answer
    /// at all: whether the stack had stopped serving it, or the replies went missing.
    #[serde(default)]
    pub plugin_after: Option<String>,
}

impl Sustained {
    /// Whether some step got no answer at all.
    pub fn had_silent_step(&self) -> bool {
        self.steps.iter().any(Step::silent)
    }

    /// The best passing step.
    pub fn best(&self) -> Option<&Step> {
        self.steps
            .iter()
            .filter(|step| step.passed)
            .max_by(|a, b| a.rate.total_cmp(&b.rate))
    }
}

/// Runs the search against `command args` on `wire`'s stack.
pub async fn measure(wire: &Wire, probe: (&str, &str), search: Search) -> Result<Sustained> {
    let mut result = Sustained {
        step_secs: search.step_secs,
        p99_limit_ms: search.p99_limit_ms,
        ..Default::default()
    };
    let mut passed: Option<f64> = None;
    let mut failed: Option<f64> = None;
    let mut rate = search.start_rate;
    let mut n = 0;
    let mut bisections = 0;
    loop {
        n += 1;
        let (step, clear) = step(wire, probe, search, rate, n).await?;
        let ok = step.passed;
        result.steps.push(step);
        if !clear {
            result.stopped = Some(format!(
                "replies to the {rate:.0}/s step still came {BACKLOG:?} after it"
            ));
            break;
        }
        if ok {
            passed = Some(rate);
        } else {
            failed = Some(rate);
        }
        let next = match failed {
            None if rate * 2.0 <= search.max_rate => rate * 2.0,
            None => break,
            Some(high) => {
                if bisections >= search.bisections {
                    break;
                }
                bisections += 1;
                let low = passed.filter(|low| *low < high).unwrap_or(0.0);
                ((low + high) / 2.0).round()
            }
        };
        if next <= 0.0 || Some(next) == passed || Some(next) == failed {
            break;
        }
        rate = next;
    }
    if let Some(best) = result.best().cloned() {
        result.best_rate = Some(best.rate);
        result.best_p50_ms = best.p50_ms;
        result.best_p99_ms = best.p99_ms;
    }
    Ok(result)
}

/// One step at `rate`; also says whether its backlog cleared afterwards.
async fn step(
    wire: &Wire,
    probe: (&str, &str),
    search: Search,
    rate: f64,
    n: usize,
) -> Result<(Step, bool)> {
    wire.forget_replies();
    let id_of = |i: usize| format!("sustained-{n}-{i}");
    let total = ((rate * search.step_secs).round() as usize).max(1);
    let published = load::publish_paced(wire, &id_of, probe, rate, total).await?;
    let sent = published.sent_at.len();
    let answered_all = load::drain(wire, &id_of, sent, GRACE).await;
    let tally = load::tally(wire, &id_of, &published.sent_at);
    let summary = tally.latency.summary();
    let mut step = Step {
        rate,
        achieved_rate: published.achieved_rate,
        sent,
        answered: sent - tally.lost,
        p50_ms: summary.map(|s| s.p50_ms),
        p99_ms: summary.map(|s| s.p99_ms),
        max_ms: summary.map(|s| s.max_ms),
        ..Default::default()
    };
    step.why = if published.achieved_rate < 0.95 * rate && sent > 1 {
        Some(format!(
            "the harness published only {:.0}/s",
            published.achieved_rate
        ))
    } else if !answered_all && tally.lost == sent {
        Some(format!(
            "none of {sent} answered within {GRACE:?} (the harness's NATS connection: {})",
            wire.connection_note()
        ))
    } else if !answered_all {
        Some(format!(
            "{} of {sent} not answered within {GRACE:?}",
            tally.lost
        ))
    } else if step.p99_ms.is_none_or(|p99| p99 > search.p99_limit_ms) {
        Some(format!("p99 over {} ms", search.p99_limit_ms))
    } else {
        None
    };
    step.passed = step.why.is_none();
    let clear = answered_all || load::quiet(wire, QUIET, BACKLOG).await;
    wire.forget_replies();
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok((step, clear))
}

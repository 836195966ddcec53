//! The harness's output: every measure's outcome (measured, failed with the reason, or
//! skipped), the targets checked against them ([`crate::targets`]), written as JSON and
//! printed as a table ([`crate::render`]).

use rosey_benches::stats::{Series, Target};
use serde::Serialize;

use crate::{
    cold::ColdStart,
    crash::CrashRecovery,
    crash_load::CrashLoad,
    errbot::ErrbotRun,
    floor::Floor,
    growth::Growth,
    machine::{Machine, Noise, Software},
    memory::{HostsMemory, Memory},
    new_plugin::NewPlugin,
    reload::{Loss, ReloadLatency},
    status::StatusLatency,
    sustained::Sustained,
    timers::TimerLateness,
};

/// What became of one measure.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome<T> {
    /// It ran.
    Measured {
        /// Its figures.
        result: T,
    },
    /// It could not be taken.
    Failed {
        /// Why.
        error: String,
    },
    /// It was not asked for.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl<T> Outcome<T> {
    /// Wraps a measure's result, keeping the whole error chain.
    pub fn of(result: anyhow::Result<T>) -> Outcome<T> {
        match result {
            Ok(result) => Outcome::Measured { result },
            Err(err) => Outcome::Failed {
                error: format!("{err:#}"),
            },
        }
    }

    /// Not asked for.
    pub fn skipped(reason: &str) -> Outcome<T> {
        Outcome::Skipped {
            reason: reason.to_owned(),
        }
    }

    /// The figures, when measured.
    pub fn get(&self) -> Option<&T> {
        match self {
            Outcome::Measured { result } => Some(result),
            _ => None,
        }
    }

    /// The failure or skip reason, when not measured.
    pub fn why_not(&self) -> Option<String> {
        match self {
            Outcome::Measured { .. } => None,
            Outcome::Failed { error } => Some(format!("FAILED: {error}")),
            Outcome::Skipped { reason } => Some(format!("skipped: {reason}")),
        }
    }
}

/// Steady latency.
#[derive(Debug, Serialize)]
pub struct Steady {
    /// Commands sent before counting.
    pub warmup: usize,
    /// Publish → reply, in ms.
    pub latency: Series,
}

/// Everything one run found.
#[derive(Debug, Serialize)]
pub struct Results {
    /// How the harness was invoked.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// The software measured.
    pub software: Software,
    /// The counts and rates used.
    pub settings: serde_json::Value,
    /// Measure 1.
    pub reload: Outcome<ReloadLatency>,
    /// Measure 2.
    pub loss: Outcome<Loss>,
    /// Measure 3.
    pub crash: Outcome<CrashRecovery>,
    /// Measure 4.
    pub cold_start: Outcome<Vec<ColdStart>>,
    /// Measure 5.
    pub steady: Outcome<Steady>,
    /// What NATS alone costs, for measure 5.
    pub floor: Outcome<Floor>,
    /// Measure 6.
    pub memory: Outcome<Vec<Memory>>,
    /// Measure 7.
    pub errbot: Outcome<ErrbotRun>,
    /// Commands lost and duplicated while the host is killed under load.
    pub crash_load: Outcome<CrashLoad>,
    /// The memory of many hosts together (PSS summed).
    pub hosts_pss: Outcome<HostsMemory>,
    /// The daemon's resident memory over many reloads.
    pub daemon_growth: Outcome<Growth>,
    /// The highest rate one plugin sustains with a p99 ≤ 10 ms.
    pub sustained: Outcome<Sustained>,
    /// How late a plugin's timer is said in chat after it is due.
    pub timers: Outcome<TimerLateness>,
    /// `rosey plugin new` → the first answer in a running `rosey dev`.
    pub new_plugin: Outcome<NewPlugin>,
    /// `rosey status` over the control socket, idle and while a plugin starts.
    pub status: Outcome<StatusLatency>,
    /// Steady and reload latency with the plugin on a plugin node, and the node's failover.
    pub on_node: Outcome<crate::nodes::OnNode>,
    /// How busy the machine was during each measure.
    pub noise: Vec<Noise>,
    /// The targets, checked.
    pub targets: Vec<Target>,
    /// Figures reported without a target (sustained rates, ratios to Errbot, timer lateness,
    /// a new plugin's first answer).
    pub reported: Vec<Reported>,
}

/// A figure reported without a target.
#[derive(Debug, Clone, Serialize)]
pub struct Reported {
    /// What it is.
    pub what: String,
    /// The figure, when measured.
    pub measured: Option<f64>,
    /// Its unit.
    pub unit: String,
}

impl Results {
    /// Every measure's failure or skip reason (`None` for the ones measured).
    pub fn why_not_all(&self) -> Vec<Option<String>> {
        vec![
            self.reload.why_not(),
            self.loss.why_not(),
            self.crash.why_not(),
            self.cold_start.why_not(),
            self.steady.why_not(),
            self.floor.why_not(),
            self.memory.why_not(),
            self.errbot.why_not(),
            self.crash_load.why_not(),
            self.hosts_pss.why_not(),
            self.daemon_growth.why_not(),
            self.sustained.why_not(),
            self.timers.why_not(),
            self.new_plugin.why_not(),
            self.status.why_not(),
            self.on_node.why_not(),
        ]
    }
}

/// KiB → MB (10^6 bytes), the unit of the memory targets.
pub fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1_000_000.0
}

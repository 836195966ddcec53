//! The harness's command line.

use std::{path::PathBuf, time::Duration};

use clap::Parser;

use crate::sustained::Search;

/// Every measure `--skip` knows.
pub const MEASURES: [&str; 16] = [
    "reload",
    "loss",
    "crash",
    "crash-load",
    "cold",
    "pss",
    "steady",
    "floor",
    "memory",
    "growth",
    "sustained",
    "errbot",
    "timers",
    "new-plugin",
    "status",
    "node",
];

/// Command line.
#[derive(Debug, Clone, Parser, serde::Serialize)]
#[command(
    name = "bench",
    about = "The rosey benchmark harness (see docs/BENCHMARKS.md)"
)]
pub struct Args {
    /// Where to write the JSON results (default: target/bench/results.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A short run (fewer samples than the targets ask for) to check the harness works.
    #[arg(long)]
    pub quick: bool,
    /// Reloads timed (measure 1).
    #[arg(long, default_value_t = 200)]
    pub reloads: usize,
    /// Commands per second during the reload load test (measure 2).
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Seconds the load runs while reloads happen (measure 2).
    #[arg(long, default_value_t = 20)]
    pub load_secs: u64,
    /// Seconds to wait for the last replies after the load stops (measure 2).
    #[arg(long, default_value_t = 15)]
    pub drain_secs: u64,
    /// Crashes timed per crash variant (measure 3; 7 variants, so 150 make 1050 crashes).
    #[arg(long, default_value_t = 150)]
    pub crashes: usize,
    /// Commands per second while hosts are killed (crash-load).
    #[arg(long, default_value_t = 500.0)]
    pub crash_load_rate: f64,
    /// Seconds the load runs while hosts are killed (crash-load).
    #[arg(long, default_value_t = 20)]
    pub crash_load_secs: u64,
    /// Milliseconds between kills (crash-load).
    #[arg(long, default_value_t = 200)]
    pub kill_every_ms: u64,
    /// Seconds to wait for the last replies after the kills stop (crash-load).
    #[arg(long, default_value_t = 20)]
    pub crash_load_drain_secs: u64,
    /// Stack sizes (plugins) for cold starts (measure 4).
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    pub cold_sizes: Vec<usize>,
    /// Starts per stack size (measure 4).
    #[arg(long, default_value_t = 5)]
    pub cold_runs: usize,
    /// Plugins (hosts) whose memory is summed (pss).
    #[arg(long, default_value_t = 50)]
    pub pss_plugins: usize,
    /// Commands timed for steady latency (measure 5).
    #[arg(long, default_value_t = 2000)]
    pub steady: usize,
    /// Commands sent before timing steady latency.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Reloads done while the daemon's memory is watched (growth).
    #[arg(long, default_value_t = 1000)]
    pub daemon_reloads: usize,
    /// Seconds each step of the sustained-rate search publishes (sustained).
    #[arg(long, default_value_t = 3.0)]
    pub sustained_step_secs: f64,
    /// Bisection steps after the first failed rate (sustained).
    #[arg(long, default_value_t = 3)]
    pub sustained_bisections: usize,
    /// The highest rate the sustained search tries, commands per second.
    #[arg(long, default_value_t = 64000.0)]
    pub sustained_max_rate: f64,
    /// Reloads timed on Errbot (measure 7).
    #[arg(long, default_value_t = 200)]
    pub errbot_reloads: usize,
    /// One-off timers timed in each timer case (timers).
    #[arg(long, default_value_t = 200)]
    pub timers: usize,
    /// The one-off timers' delay, in ms (timers).
    #[arg(long, default_value_t = 100)]
    pub timer_delay_ms: u64,
    /// Commands per second while the loaded timer case runs; 0 leaves it out (timers).
    #[arg(long, default_value_t = 500.0)]
    pub timers_load_rate: f64,
    /// Seconds a repeating timer (every 100 ms) is heard; 0 leaves it out (timers).
    #[arg(long, default_value_t = 5)]
    pub timers_every_secs: u64,
    /// Status requests timed with the stack idle (status).
    #[arg(long, default_value_t = 200)]
    pub status: usize,
    /// How long chaos's `load` sleeps while status is asked during its start, in ms (status).
    #[arg(long, default_value_t = 3000)]
    pub status_load_delay_ms: u64,
    /// Restarts of chaos during which status is asked (status).
    #[arg(long, default_value_t = 3)]
    pub status_rounds: usize,
    /// Node failovers timed: the plugin node killed, a command answered by the main daemon
    /// (node).
    #[arg(long, default_value_t = 3)]
    pub failovers: usize,
    /// Measures to leave out: reload, loss, crash, crash-load, cold, pss, steady, floor,
    /// memory, growth, sustained, errbot, timers, new-plugin, status, node.
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,
    /// Milliseconds between reloads during the load test (measure 2).
    #[arg(long, default_value_t = 100)]
    pub load_reload_gap_ms: u64,
    /// Milliseconds to wait after a crash before sending an `after_exit` probe (measure 3); 0
    /// sends it the moment the host's exit is seen.
    #[arg(long, default_value_t = 0)]
    pub crash_probe_delay_ms: u64,
    /// Do not run `cargo build --release -p rosey` first (use the binary already built).
    #[arg(long)]
    pub no_build: bool,
    /// Measure this rosey binary instead of target/release/rosey (implies --no-build), e.g.
    /// one built from a patched tree, to compare.
    #[arg(long)]
    pub rosey: Option<PathBuf>,
    /// Keep the temporary homes (their logs) after the run.
    #[arg(long)]
    pub keep_homes: bool,
}

impl Args {
    /// `--quick` scales every count down.
    pub fn apply_quick(&mut self) {
        if self.quick {
            self.reloads = self.reloads.min(30);
            self.load_secs = self.load_secs.min(5);
            self.drain_secs = self.drain_secs.min(12);
            self.crashes = self.crashes.min(8);
            self.crash_load_secs = self.crash_load_secs.min(5);
            self.crash_load_drain_secs = self.crash_load_drain_secs.min(15);
            self.cold_runs = self.cold_runs.min(2);
            self.steady = self.steady.min(300);
            self.warmup = self.warmup.min(50);
            self.daemon_reloads = self.daemon_reloads.min(150);
            self.sustained_step_secs = self.sustained_step_secs.min(2.0);
            self.sustained_bisections = self.sustained_bisections.min(1);
            self.errbot_reloads = self.errbot_reloads.min(30);
            self.timers = self.timers.min(20);
            self.timers_every_secs = self.timers_every_secs.min(2);
            self.status = self.status.min(50);
            self.status_load_delay_ms = self.status_load_delay_ms.min(1000);
            self.status_rounds = self.status_rounds.min(1);
            self.failovers = self.failovers.min(1);
        }
    }

    /// Whether `measure` was not skipped.
    pub fn wants(&self, measure: &str) -> bool {
        !self.skip.iter().any(|skip| skip == measure)
    }

    /// `--skip` names that are no measure.
    pub fn unknown_skips(&self) -> Vec<&str> {
        self.skip
            .iter()
            .map(String::as_str)
            .filter(|skip| !MEASURES.contains(skip))
            .collect()
    }

    /// The sustained-rate search asked for.
    pub fn search(&self) -> Search {
        Search {
            step_secs: self.sustained_step_secs,
            bisections: self.sustained_bisections,
            start_rate: 500.0,
            max_rate: self.sustained_max_rate,
            p99_limit_ms: 10.0,
        }
    }

    /// The timer plan asked for.
    pub fn timer_plan(&self) -> crate::timers::Plan {
        crate::timers::Plan {
            count: self.timers,
            delay: Duration::from_millis(self.timer_delay_ms),
            load_rate: self.timers_load_rate,
            period: Duration::from_millis(100),
            every_for: Duration::from_secs(self.timers_every_secs),
        }
    }

    /// The status plan asked for.
    pub fn status_plan(&self) -> crate::status::Plan {
        crate::status::Plan {
            requests: self.status,
            load_delay: Duration::from_millis(self.status_load_delay_ms),
            rounds: self.status_rounds.max(1),
        }
    }

    /// The crash-under-load plan asked for.
    pub fn crash_load_plan(&self) -> crate::crash_load::Plan {
        crate::crash_load::Plan {
            rate: self.crash_load_rate,
            duration: Duration::from_secs(self.crash_load_secs),
            kill_every: Duration::from_millis(self.kill_every_ms),
            drain: Duration::from_secs(self.crash_load_drain_secs),
        }
    }
}

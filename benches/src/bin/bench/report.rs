//! The harness's output: every measure's outcome (measured, failed with the reason, or
//! skipped), the targets of issue 4 checked against them, written as JSON and printed as a
//! table.

use std::fmt::Write as _;

use rosey_benches::stats::{Series, Summary, Target};
use serde::Serialize;

use crate::{
    cold::ColdStart,
    crash::CrashRecovery,
    errbot::ErrbotRun,
    floor::Floor,
    machine::{Machine, Noise, Software},
    memory::Memory,
    reload::{Loss, ReloadLatency},
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
    /// How busy the machine was during each measure.
    pub noise: Vec<Noise>,
    /// The targets, checked.
    pub targets: Vec<Target>,
}

/// KiB → MB (10^6 bytes), the unit of the memory target.
pub fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1_000_000.0
}

impl Results {
    /// Checks the targets against the figures.
    pub fn check_targets(&mut self) {
        let summary = |series: &Series| series.summary();
        let reload = self
            .reload
            .get()
            .and_then(|reload| summary(&reload.to_first_reply));
        let loss = self.loss.get();
        let crash = self
            .crash
            .get()
            .and_then(|crash| summary(&crash.to_serving));
        let cold10 = self.cold_start.get().and_then(|sizes| {
            sizes
                .iter()
                .find(|size| size.plugins == 10)
                .and_then(|size| summary(&size.all_running))
        });
        let steady = self
            .steady
            .get()
            .and_then(|steady| summary(&steady.latency));
        let host = self.memory.get().and_then(|memory| {
            memory
                .iter()
                .find(|m| m.what.starts_with("plugin host"))
                .map(|m| mb(m.rss_kb))
        });
        self.targets = vec![
            Target::at_most(
                "reload → first reply p50",
                reload.map(|s| s.p50_ms),
                5.0,
                "ms",
            ),
            Target::at_most(
                "reload → first reply p99",
                reload.map(|s| s.p99_ms),
                20.0,
                "ms",
            ),
            Target::at_most(
                "lost during reloads",
                loss.map(|l| l.lost as f64),
                0.0,
                "commands",
            ),
            Target::at_most(
                "duplicated during reloads",
                loss.map(|l| l.duplicated as f64),
                0.0,
                "commands",
            ),
            Target::at_most("crash → serving p99", crash.map(|s| s.p99_ms), 50.0, "ms"),
            Target::at_most(
                "cold start, 10 plugins (p50 of runs, all running)",
                cold10.map(|s| s.p50_ms),
                500.0,
                "ms",
            ),
            Target::at_most("steady p50", steady.map(|s| s.p50_ms), 0.5, "ms"),
            Target::at_most("steady p99", steady.map(|s| s.p99_ms), 1.5, "ms"),
            Target::at_most("plugin host resident (VmRSS)", host, 6.0, "MB"),
        ];
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "rosey benchmarks: {} CPUs ({}), {} MiB, Linux {}, {}",
            m.cpus, m.cpu_model, m.memory_mib, m.kernel, m.date
        );
        let _ = writeln!(
            out,
            "rosey {} (git {}), {}",
            self.software.rosey, self.software.git, self.software.nats_server
        );
        let _ = writeln!(
            out,
            "machine before the run: load {:.2}, {:.0}% CPU busy over 1 s",
            m.load_before.unwrap_or(f64::NAN),
            m.idle_busy_percent.unwrap_or(f64::NAN)
        );
        let _ = writeln!(
            out,
            "\n{:<52} {:>6} {:>9} {:>9} {:>9}",
            "measure", "n", "p50", "p99", "max"
        );
        self.render_latencies(&mut out);
        self.render_loss(&mut out);
        self.render_memory(&mut out);
        self.render_errbot(&mut out);
        let _ = writeln!(out, "\nTargets (issue 4):");
        for target in &self.targets {
            let measured = target.measured.map_or_else(
                || "not measured".to_owned(),
                |v| format!("{v:.2} {}", target.unit),
            );
            let _ = writeln!(
                out,
                "  {} {:<50} {:>16}   target ≤ {} {}",
                target.mark(),
                target.what,
                measured,
                target.limit,
                target.unit
            );
        }
        let _ = writeln!(
            out,
            "\nMachine-wide CPU use during each measure (includes the stack itself):"
        );
        for noise in &self.noise {
            let _ = writeln!(
                out,
                "  {:<14} load before {:>5.2}   busy {:>5.1}%",
                noise.measure,
                noise.load_before.unwrap_or(f64::NAN),
                noise.busy_percent.unwrap_or(f64::NAN)
            );
        }
        out
    }

    fn render_latencies(&self, out: &mut String) {
        match self.reload.get() {
            Some(reload) => {
                row(
                    out,
                    "reload → first reply from the new instance",
                    &reload.to_first_reply,
                );
                row(out, "  reload → new host ready", &reload.to_ready);
                row(out, "  reload → daemon answered", &reload.to_answer);
                row(
                    out,
                    "  `rosey plugin reload` wall time (CLI)",
                    &reload.cli_wall,
                );
                if let Some(via) = reload.via {
                    let _ = writeln!(
                        out,
                        "    (via {}; {} probes answered by the old instance)",
                        via.describe(),
                        reload.answered_by_old
                    );
                }
            }
            None => missing(out, "reload latency", &self.reload),
        }
        match self.crash.get() {
            Some(crash) => {
                row(out, "crash → command answered again", &crash.to_serving);
                row(out, "  crash → new host ready", &crash.to_ready);
                let _ = writeln!(
                    out,
                    "    ({}; command sent {} ms after the exit; {} samples over 1 s; {} crashes not timed)",
                    crash.how, crash.probe_delay_ms, crash.over_1s, crash.disturbed
                );
            }
            None => missing(out, "crash recovery", &self.crash),
        }
        match self.cold_start.get() {
            Some(sizes) => {
                for size in sizes {
                    let plural = if size.plugins == 1 { "" } else { "s" };
                    row(
                        out,
                        &format!(
                            "cold start, {} plugin{plural}: rosey start returned",
                            size.plugins
                        ),
                        &size.start_returned,
                    );
                    row(
                        out,
                        &format!("cold start, {} plugin{plural}: all running", size.plugins),
                        &size.all_running,
                    );
                }
            }
            None => missing(out, "cold start", &self.cold_start),
        }
        match self.steady.get() {
            Some(steady) => row(out, "steady command → reply", &steady.latency),
            None => missing(out, "steady latency", &self.steady),
        }
        match self.floor.get() {
            Some(floor) => {
                row(
                    out,
                    "  floor: core NATS request → reply",
                    &floor.core_request,
                );
                row(
                    out,
                    "  floor: same path, harness as the host",
                    &floor.jetstream_command,
                );
            }
            None => missing(out, "  NATS floors", &self.floor),
        }
    }

    fn render_loss(&self, out: &mut String) {
        match self.loss.get() {
            Some(loss) => {
                row(
                    out,
                    "command → reply under load, reloads running",
                    &loss.latency,
                );
                let _ = writeln!(
                    out,
                    "\nLoad with reloads: {} commands at {:.0}/s (achieved {:.1}/s), {} reloads {} ms apart ({} failed): lost {}, duplicated {}, not stored by the stream {}",
                    loss.sent, loss.target_rate, loss.achieved_rate, loss.reloads, loss.reload_gap_ms, loss.reload_errors.len(), loss.lost, loss.duplicated, loss.not_stored
                );
                if !loss.lost_examples.is_empty() {
                    let _ = writeln!(
                        out,
                        "  lost ids (first few): {}",
                        loss.lost_examples.join(", ")
                    );
                }
                if let Some(first) = loss.reload_errors.first() {
                    let _ = writeln!(out, "  first reload error: {first}");
                }
            }
            None => missing(out, "\nLoad with reloads", &self.loss),
        }
    }

    fn render_memory(&self, out: &mut String) {
        let _ = writeln!(out, "\nMemory (MB = 10^6 bytes):");
        match self.memory.get() {
            Some(memory) => {
                for m in memory {
                    let _ = writeln!(
                        out,
                        "  {:<28} pid {:<8} RSS {:>6.2} MB (anon {:.2}, file {:.2})   PSS {}   private {}",
                        m.what,
                        m.pid,
                        mb(m.rss_kb),
                        mb(m.rss_anon_kb),
                        mb(m.rss_file_kb),
                        m.pss_kb.map_or("-".to_owned(), |kb| format!("{:.2} MB", mb(kb))),
                        m.private_kb.map_or("-".to_owned(), |kb| format!("{:.2} MB", mb(kb))),
                    );
                }
            }
            None => missing(out, "  memory", &self.memory),
        }
    }

    fn render_errbot(&self, out: &mut String) {
        let _ = writeln!(out, "\nPeer: Errbot, in-process TestBot (no isolation):");
        let Some(errbot) = self.errbot.get() else {
            missing(out, "  Errbot", &self.errbot);
            return;
        };
        let reload = Series(errbot.reload_ms.clone());
        let steady = Series(errbot.steady_ms.clone());
        let _ = writeln!(
            out,
            "  errbot {}, python {}",
            errbot.errbot_version, errbot.python
        );
        row(out, "  Errbot !plugin reload → first reply", &reload);
        row(out, "  Errbot steady command → reply", &steady);
        let ratio = |ours: Option<Summary>, theirs: Option<Summary>| match (ours, theirs) {
            (Some(ours), Some(theirs)) if theirs.p50_ms > 0.0 => {
                format!("{:.2}", ours.p50_ms / theirs.p50_ms)
            }
            _ => "-".to_owned(),
        };
        let ours_reload = self.reload.get().and_then(|r| r.to_first_reply.summary());
        let ours_steady = self.steady.get().and_then(|s| s.latency.summary());
        let _ = writeln!(
            out,
            "  ratio rosey/Errbot, p50: reload {}, steady {}",
            ratio(ours_reload, reload.summary()),
            ratio(ours_steady, steady.summary())
        );
        if let Some(rss) = errbot.rss_kb {
            let ours: Option<u64> = self.memory.get().map(|memory| {
                memory
                    .iter()
                    .filter(|m| m.what != "nats-server")
                    .map(|m| m.rss_kb)
                    .sum()
            });
            let _ = writeln!(
                out,
                "  Errbot process RSS {:.2} MB; rosey daemon + one plugin host RSS {}",
                mb(rss),
                ours.map_or("-".to_owned(), |kb| format!("{:.2} MB", mb(kb)))
            );
        }
    }
}

/// One latency row.
fn row(out: &mut String, name: &str, series: &Series) {
    match series.summary() {
        Some(s) => {
            let _ = writeln!(
                out,
                "{:<52} {:>6} {:>6.3} ms {:>6.3} ms {:>6.3} ms",
                name, s.count, s.p50_ms, s.p99_ms, s.max_ms
            );
        }
        None => {
            let _ = writeln!(out, "{name:<52} no samples");
        }
    }
}

/// A measure that has no figures, with the reason.
fn missing<T>(out: &mut String, name: &str, outcome: &Outcome<T>) {
    let _ = writeln!(out, "{name}: {}", outcome.why_not().unwrap_or_default());
}

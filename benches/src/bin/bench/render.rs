//! The printed report: the latency table, the load tests, memory, the peer, and the targets
//! marked ✓/✗.

use std::fmt::Write as _;

use rosey_benches::stats::{Series, Summary};

use crate::{
    crash::Timings,
    report::{mb, Outcome, Results},
    sustained::Sustained,
};

impl Results {
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
        let _ = writeln!(out, "\nTargets:");
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
        let _ = writeln!(out, "Reported (no target):");
        for figure in &self.reported {
            let measured = figure.measured.map_or_else(
                || "not measured".to_owned(),
                |v| format!("{v:.2} {}", figure.unit),
            );
            let _ = writeln!(out, "  · {:<50} {:>16}", figure.what, measured);
        }
        let _ = writeln!(
            out,
            "\nMachine-wide CPU use during each measure (includes the stack itself):"
        );
        for noise in &self.noise {
            let _ = writeln!(
                out,
                "  {:<14} load before {:>5.2}   busy {:>5.1}%   of it stolen by the hypervisor {:>5.1}%",
                noise.measure,
                noise.load_before.unwrap_or(f64::NAN),
                noise.busy_percent.unwrap_or(f64::NAN),
                noise.steal_percent.unwrap_or(f64::NAN)
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
                row(
                    out,
                    &format!("crash → command answered ({} crashes)", crash.crashes),
                    &crash.to_serving,
                );
                for kind in &crash.kinds {
                    timings_row(out, &format!("  {}", kind.kind), kind);
                    let variants: Vec<&Timings> = crash
                        .variants
                        .iter()
                        .filter(|v| v.kind == kind.kind)
                        .collect();
                    if variants.len() > 1 {
                        for variant in variants {
                            let probe = variant.probe.replace('_', " ");
                            timings_row(out, &format!("    probe {probe}"), variant);
                        }
                    }
                }
                row(out, "  crash → new host ready (all)", &crash.to_ready);
                let _ = writeln!(
                    out,
                    "    ({}; probe after the exit sent {} ms after it; {} over 1 s or never, {} never answered, {} crashes redone)",
                    crash.how, crash.probe_delay_ms, crash.over_1s, crash.unanswered, crash.disturbed
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
                    "  floor: from the stream, harness as the host",
                    &floor.jetstream_command,
                );
                row(
                    out,
                    "  floor: same path, harness as the host",
                    &floor.plain_copy,
                );
            }
            None => missing(out, "  NATS floors", &self.floor),
        }
        crate::timers::render(out, &self.timers);
        crate::new_plugin::render(out, &self.new_plugin);
        crate::status::render(out, &self.status);
        crate::nodes::render(out, &self.on_node);
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
        match self.crash_load.get() {
            Some(load) => {
                let _ = writeln!(
                    out,
                    "\nLoad with kills: {} commands at {:.0}/s (achieved {:.1}/s), a SIGKILL every {} ms: {} kills ({} ticks found no host): lost {}, duplicated {} ({} extra replies), not stored {}{}",
                    load.sent, load.target_rate, load.achieved_rate, load.kill_every_ms, load.kills, load.kills_missed, load.lost, load.duplicated, load.extra_replies, load.not_stored,
                    if load.drained { "" } else { " (drain time ran out)" }
                );
                row(
                    out,
                    "  command → reply under load, kills running",
                    &load.latency,
                );
                if !load.lost_examples.is_empty() {
                    let _ = writeln!(
                        out,
                        "  lost ids (first few): {}",
                        load.lost_examples.join(", ")
                    );
                }
            }
            None => missing(out, "\nLoad with kills", &self.crash_load),
        }
        match self.sustained.get() {
            Some(sustained) => render_sustained(out, "rosey, dice-roller `!roll 1d6`", sustained),
            None => missing(out, "\nSustained rate", &self.sustained),
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
        match self.hosts_pss.get() {
            Some(hosts) => {
                let _ = writeln!(
                    out,
                    "  {} plugin hosts together: PSS {:.2} MB; VmRSS mean {:.2} MB, largest {:.2} MB, summed {:.2} MB",
                    hosts.hosts,
                    mb(hosts.pss_total_kb),
                    hosts.rss_mean_kb * 1024.0 / 1_000_000.0,
                    mb(hosts.rss_max_kb),
                    mb(hosts.rss_total_kb)
                );
            }
            None => missing(out, "  many hosts", &self.hosts_pss),
        }
        match self.daemon_growth.get() {
            Some(growth) => {
                let at = |reloads: usize| {
                    growth
                        .readings
                        .iter()
                        .find(|r| r.reloads == reloads)
                        .map_or("-".to_owned(), |r| format!("{:.2}", mb(r.rss_kb)))
                };
                let _ = writeln!(
                    out,
                    "  daemon VmRSS over {} reloads: start {:.2} MB, after 100 {} MB, after {} {:.2} MB: growth {}",
                    growth.reloads,
                    mb(growth.rss_start_kb),
                    at(crate::growth::WARM),
                    growth.reloads,
                    mb(growth.rss_end_kb),
                    growth.growth_kb.map_or("-".to_owned(), |kb| format!(
                        "{:+.3} MB",
                        kb as f64 * 1024.0 / 1_000_000.0
                    ))
                );
            }
            None => missing(out, "  daemon growth", &self.daemon_growth),
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
        if let Some(sustained) = &errbot.sustained {
            render_sustained(out, "Errbot, `!hello <id>`", sustained);
        }
        let ratio = |ours: Option<Summary>, theirs: Option<Summary>| match (ours, theirs) {
            (Some(ours), Some(theirs)) if theirs.p50_ms > 0.0 => {
                format!("{:.2}", ours.p50_ms / theirs.p50_ms)
            }
            _ => "-".to_owned(),
        };
        let ours_reload = self.reload.get().and_then(|r| r.to_first_reply.summary());
        let ours_steady = self.steady.get().and_then(|s| s.latency.summary());
        let rate_ratio = match (
            self.sustained.get().and_then(|s| s.best_rate),
            errbot.sustained.as_ref().and_then(|s| s.best_rate),
        ) {
            (Some(ours), Some(theirs)) if theirs > 0.0 => format!("{:.2}", ours / theirs),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "  ratio rosey/Errbot: reload p50 {}, steady p50 {}, sustained rate {}",
            ratio(ours_reload, reload.summary()),
            ratio(ours_steady, steady.summary()),
            rate_ratio
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
    row_marked(out, name, series, "");
}

/// One latency row with `mark` after it (`   reported` for a figure without a target).
pub fn row_marked(out: &mut String, name: &str, series: &Series, mark: &str) {
    match series.summary() {
        Some(s) => {
            let _ = writeln!(
                out,
                "{:<52} {:>6} {:>6.3} ms {:>6.3} ms {:>6.3} ms{mark}",
                name, s.count, s.p50_ms, s.p99_ms, s.max_ms
            );
        }
        None => {
            let _ = writeln!(out, "{name:<52} no samples");
        }
    }
}

/// A measure that has no figures, with the reason.
pub fn missing<T>(out: &mut String, name: &str, outcome: &Outcome<T>) {
    let _ = writeln!(out, "{name}: {}", outcome.why_not().unwrap_or_default());
}

/// One row of crash timings, with its counts below when any is not 0.
fn timings_row(out: &mut String, name: &str, timings: &Timings) {
    row(out, name, &timings.to_serving);
    let counts = [
        (timings.over_1s, "over 1 s or never"),
        (timings.unanswered, "never answered"),
        (timings.disturbed, "redone"),
        (timings.answered_before_exit, "answered before the exit"),
    ];
    let shown: Vec<String> = counts
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, what)| format!("{count} {what}"))
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(out, "{:<8}({})", "", shown.join(", "));
    }
}

/// The sustained-rate search of `who`.
fn render_sustained(out: &mut String, who: &str, sustained: &Sustained) {
    let _ = writeln!(
        out,
        "\nSustained rate, {who} ({} s steps, p99 ≤ {} ms): {}",
        sustained.step_secs,
        sustained.p99_limit_ms,
        match (
            sustained.best_rate,
            sustained.best_p50_ms,
            sustained.best_p99_ms
        ) {
            (Some(rate), Some(p50), Some(p99)) =>
                format!("{rate:.0}/s (p50 {p50:.3} ms, p99 {p99:.3} ms)"),
            _ => "no rate passed".to_owned(),
        }
    );
    let steps: Vec<String> = sustained
        .steps
        .iter()
        .map(|step| {
            format!(
                "{:.0}/s {} (p99 {})",
                step.rate,
                if step.passed { "✓" } else { "✗" },
                step.p99_ms
                    .map_or("-".to_owned(), |p99| format!("{p99:.2} ms"))
            )
        })
        .collect();
    let _ = writeln!(out, "  steps: {}", steps.join(", "));
    if let Some(stopped) = &sustained.stopped {
        let _ = writeln!(out, "  stopped: {stopped}");
    }
    for step in sustained.steps.iter().filter(|step| step.silent()) {
        if let Some(why) = &step.why {
            let _ = writeln!(out, "  {:.0}/s: {why}", step.rate);
        }
    }
    if let Some(plugin) = &sustained.plugin_after {
        let _ = writeln!(out, "  the plugin after the search: {plugin}");
    }
}

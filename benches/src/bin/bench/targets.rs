//! The targets, checked against a run's figures (status's busy figure only when its requests
//! really overlapped a plugin's start), and the figures reported beside them without a target
//! (the sustained rates, the ratios to Errbot, timer lateness, and a new plugin's first answer
//! in `rosey dev`).

use rosey_benches::stats::{Series, Summary, Target};

use crate::report::{mb, Reported, Results};

/// `ours / theirs`, when both are measured and `theirs` is not 0.
fn ratio(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    match (ours, theirs) {
        (Some(ours), Some(theirs)) if theirs > 0.0 => Some(ours / theirs),
        _ => None,
    }
}

fn reported(what: &str, measured: Option<f64>, unit: &str) -> Reported {
    Reported {
        what: what.to_owned(),
        measured,
        unit: unit.to_owned(),
    }
}

impl Results {
    /// Errbot's reload and steady summaries, when measured.
    pub fn errbot_summaries(&self) -> (Option<Summary>, Option<Summary>) {
        match self.errbot.get() {
            Some(errbot) => (
                Series(errbot.reload_ms.clone()).summary(),
                Series(errbot.steady_ms.clone()).summary(),
            ),
            None => (None, None),
        }
    }

    /// Checks the targets against the figures.
    pub fn check_targets(&mut self) {
        let summary = |series: &Series| series.summary();
        let reload = self
            .reload
            .get()
            .and_then(|reload| summary(&reload.to_first_reply));
        let (errbot_reload, errbot_steady) = self.errbot_summaries();
        let loss = self.loss.get();
        let crash = self.crash.get();
        let crash_all = crash.and_then(|crash| summary(&crash.to_serving));
        let killed = self.crash_load.get();
        let cold = |n: usize| {
            self.cold_start.get().and_then(|sizes| {
                sizes
                    .iter()
                    .find(|size| size.plugins == n)
                    .and_then(|size| summary(&size.all_running))
            })
        };
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
        let pss = self.hosts_pss.get();
        let growth = self
            .daemon_growth
            .get()
            .and_then(|growth| growth.growth_kb)
            .map(|kb| kb as f64 * 1024.0 / 1_000_000.0);
        let p50 = |s: Option<Summary>| s.map(|s| s.p50_ms);
        let p99 = |s: Option<Summary>| s.map(|s| s.p99_ms);
        self.targets = vec![
            Target::at_most("reload → first reply p50", p50(reload), 2.0, "ms"),
            Target::at_most("reload → first reply p99", p99(reload), 5.0, "ms"),
            Target::at_most(
                "reload p50 ÷ Errbot's reload p50",
                ratio(p50(reload), p50(errbot_reload)),
                0.6,
                "×",
            ),
            Target::at_most(
                "crash → answered p50 (all kinds)",
                p50(crash_all),
                3.0,
                "ms",
            ),
            Target::at_most(
                "crash → answered p99 (all kinds)",
                p99(crash_all),
                10.0,
                "ms",
            ),
            Target::at_most(
                "crash → answered over 1 s or never",
                crash.map(|c| c.over_1s as f64),
                0.0,
                "commands",
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
            Target::at_most(
                "lost while the host is SIGKILLed",
                killed.map(|k| k.lost as f64),
                0.0,
                "commands",
            ),
            Target::at_most(
                "duplicated while killed (≤ 1 per kill)",
                killed.map(|k| k.duplicated as f64),
                killed.map_or(0.0, |k| k.kills as f64),
                "commands",
            ),
            Target::at_most("steady p50", p50(steady), 0.25, "ms"),
            Target::at_most("steady p99", p99(steady), 0.6, "ms"),
            Target::at_most(
                "cold start, 10 plugins (p50 of runs, all running)",
                p50(cold(10)),
                80.0,
                "ms",
            ),
            Target::at_most(
                "cold start, 50 plugins (p50 of runs, all running)",
                p50(cold(50)),
                250.0,
                "ms",
            ),
            Target::at_most("plugin host resident (VmRSS)", host, 4.0, "MB"),
            Target::at_most(
                &format!(
                    "{} hosts together, PSS summed",
                    pss.map_or(50, |pss| pss.hosts)
                ),
                pss.map(|pss| mb(pss.pss_total_kb)),
                100.0,
                "MB",
            ),
            Target::at_most("daemon VmRSS growth, reload 100 → last", growth, 1.0, "MB"),
        ];
        let status = self.status.get();
        let status_idle = status.and_then(|s| summary(&s.idle));
        let status_busy = status.and_then(|s| s.busy_counted()).and_then(summary);
        self.targets.extend([
            Target::at_most("status p99, idle", p99(status_idle), 50.0, "ms"),
            Target::at_most(
                "status p99 while a plugin starts",
                p99(status_busy),
                50.0,
                "ms",
            ),
            Target::at_most(
                "plugin starts no status showed as `starting`",
                status.map(|s| s.starts_unseen() as f64),
                0.0,
                "starts",
            ),
        ]);
        let ours = self.sustained.get().and_then(|s| s.best_rate);
        let theirs = self
            .errbot
            .get()
            .and_then(|errbot| errbot.sustained.as_ref())
            .and_then(|s| s.best_rate);
        self.reported = vec![
            reported("sustained rate with p99 ≤ 10 ms, rosey", ours, "commands/s"),
            reported(
                "sustained rate with p99 ≤ 10 ms, Errbot",
                theirs,
                "commands/s",
            ),
            reported("sustained rate, rosey ÷ Errbot", ratio(ours, theirs), "×"),
            reported(
                "steady p50, rosey ÷ Errbot",
                ratio(p50(steady), p50(errbot_steady)),
                "×",
            ),
        ];
        let on_node = self.on_node.get();
        let node_steady = on_node.and_then(|n| summary(&n.steady));
        let node_reload = on_node.and_then(|n| summary(&n.reload_to_first_reply));
        let failover = on_node.and_then(|n| summary(&n.failover));
        self.reported.extend([
            reported("steady p50, plugin on a node", p50(node_steady), "ms"),
            reported("steady p99, plugin on a node", p99(node_steady), "ms"),
            reported(
                "reload → first reply p50, plugin on a node",
                p50(node_reload),
                "ms",
            ),
            reported(
                "reload → first reply p99, plugin on a node",
                p99(node_reload),
                "ms",
            ),
            reported(
                "failover p50: node killed → answered on the main daemon",
                p50(failover),
                "ms",
            ),
            reported("failover, slowest", failover.map(|f| f.max_ms), "ms"),
        ]);
        let timers = self.timers.get();
        let idle = timers.and_then(|t| summary(&t.idle.lateness));
        let loaded = timers
            .and_then(|t| t.under_load.as_ref())
            .and_then(|loaded| summary(&loaded.lateness));
        let new_plugin = self.new_plugin.get();
        self.reported.extend([
            reported("timer lateness p50 (due → said)", p50(idle), "ms"),
            reported("timer lateness p99 (due → said)", p99(idle), "ms"),
            reported("timer lateness p99 under load", p99(loaded), "ms"),
            reported(
                "plugin new → first answer in rosey dev",
                new_plugin.map(|run| run.total_secs),
                "s",
            ),
            reported(
                "  of it rosey dev's first build and pack",
                new_plugin.and_then(|run| run.build_secs),
                "s",
            ),
        ]);
    }
}

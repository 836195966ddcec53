//! `bench`: the rosey benchmark harness.
//!
//! `cargo run --release -p rosey-benches --bin bench [-- --quick] [-- --out FILE]` builds the
//! release `rosey`, packs the dice-roller and chaos plugins, and then, each in temporary homes
//! under `target/bench/homes/` and on loopback only, measures:
//!
//! 1. reload latency (request → first reply from the new instance);
//! 2. commands lost and duplicated during reloads under a steady load;
//! 3. crash → serving-again latency (chaos fixture: abort, segfault, SIGKILL idle and busy;
//!    the command timed sent after the exit and while the handler runs), and commands lost
//!    while the host is SIGKILLed every 200 ms under load (`crash-load`);
//! 4. cold start of the whole stack with 1, 10 and 50 plugins, and the memory (PSS) of the 50
//!    hosts together (`pss`);
//! 5. steady command → reply latency, and the highest rate one plugin sustains with a p99 ≤
//!    10 ms (`sustained`);
//! 6. resident memory of the daemon and of one plugin host, and the daemon's growth over 1000
//!    reloads (`growth`);
//! 7. the same reload, steady and sustained measures on Errbot's in-process test bot, as a
//!    peer;
//! 8. a plugin timer's lateness, due → said in chat (chaos fixture: one-off timers idle and
//!    under load, and a repeating one) (`timers`);
//! 9. `rosey plugin new` → the first answer in a running `rosey dev`, the new crate's first
//!    build included (`new-plugin`);
//! 10. `rosey status` over the control socket, idle and while the plugin supervisor is busy
//!     starting a slow plugin (chaos fixture, an operator restart) (`status`);
//! 11. with the plugin on a plugin node (three nats-servers clustered over loopback, a main
//!     daemon and two `rosey node`s): steady and reload latency, and the failover when the
//!     node is killed (`node`).
//!
//! It prints a table with the targets marked ✓/✗ and writes everything (with the raw samples)
//! to `target/bench/results.json`. Every stack it starts is stopped, and anything
//! left of a home killed, when it finishes, fails, or is interrupted (Ctrl+C).

mod args;
mod cleanup;
mod cold;
mod crash;
mod crash_load;
mod errbot;
mod floor;
mod growth;
mod homes;
mod load;
mod machine;
mod memory;
mod new_plugin;
mod nodes;
mod pidfd;
mod reload;
mod render;
mod report;
mod setup;
mod stack;
mod status;
mod steady;
mod sustained;
mod targets;
mod timers;
mod wire;

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::{
    args::Args,
    machine::{CpuMeter, Noise},
    report::{Outcome, Results},
};

/// The probe command every dice-roller measure sends.
const ROLL: (&str, &str) = ("roll", "1d6");

fn main() -> ExitCode {
    let mut args = Args::parse();
    args.apply_quick();
    // No core files from the chaos fixture's aborts, whatever this shell's ulimit says.
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a valid struct; lowering a limit always succeeds or is harmless.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    if let Err(err) = cleanup::install_signal_handler() {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot build the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(args));
    cleanup::cleanup_all();
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs everything; `Ok(false)` when some measure failed.
async fn run(args: Args) -> Result<bool> {
    let unknown = args.unknown_skips();
    if !unknown.is_empty() {
        bail!(
            "--skip {}: not a measure (known: {})",
            unknown.join(","),
            args::MEASURES.join(", ")
        );
    }
    let tools = setup::prepare(
        !args.no_build && args.rosey.is_none(),
        args.rosey.as_deref(),
    )?;
    cleanup::set_rosey(&tools.rosey, &tools.bench_dir.join("homes"));
    let dice = tools.pack("plugins/dice-roller")?;
    let chaos = if ["crash", "crash-load", "timers", "status"]
        .iter()
        .any(|measure| args.wants(measure))
    {
        Some(tools.pack("plugins/fixtures/chaos")?)
    } else {
        None
    };
    eprintln!("measuring the machine's idle load (1 s)");
    let machine = machine::describe();
    if machine.idle_busy_percent.is_some_and(|busy| busy > 10.0) {
        eprintln!(
            "warning: the machine is {:.0}% busy before the run; figures will be noisy",
            machine.idle_busy_percent.unwrap_or_default()
        );
    }
    const NOT_ASKED: &str = "not asked for";
    let mut results = Results {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine,
        software: machine::software(&tools, args.rosey.is_some()),
        settings: serde_json::to_value(&args).unwrap_or_default(),
        reload: Outcome::skipped(NOT_ASKED),
        loss: Outcome::skipped(NOT_ASKED),
        crash: Outcome::skipped(NOT_ASKED),
        cold_start: Outcome::skipped(NOT_ASKED),
        steady: Outcome::skipped(NOT_ASKED),
        floor: Outcome::skipped(NOT_ASKED),
        memory: Outcome::skipped(NOT_ASKED),
        errbot: Outcome::skipped(NOT_ASKED),
        crash_load: Outcome::skipped(NOT_ASKED),
        hosts_pss: Outcome::skipped(NOT_ASKED),
        daemon_growth: Outcome::skipped(NOT_ASKED),
        sustained: Outcome::skipped(NOT_ASKED),
        timers: Outcome::skipped(NOT_ASKED),
        new_plugin: Outcome::skipped(NOT_ASKED),
        status: Outcome::skipped(NOT_ASKED),
        on_node: Outcome::skipped(NOT_ASKED),
        noise: Vec::new(),
        targets: Vec::new(),
        reported: Vec::new(),
    };

    if homes::MAIN_MEASURES
        .iter()
        .any(|measure| args.wants(measure))
    {
        homes::main_home(&tools, &args, &dice, &mut results).await;
    }
    if args.wants("growth") {
        eprintln!("daemon growth: {} reloads", args.daemon_reloads);
        let meter = Meter::start("growth");
        results.daemon_growth = Outcome::of(homes::growth_home(&tools, &args, &dice).await);
        results.noise.push(meter.stop());
    }
    if let Some(chaos) = &chaos {
        if args.wants("crash") {
            eprintln!(
                "crash recovery: {} crashes in each of {} variants",
                args.crashes,
                crash::VARIANTS.len()
            );
            let meter = Meter::start("crash");
            results.crash = Outcome::of(homes::crash_home(&tools, &args, chaos).await);
            results.noise.push(meter.stop());
        }
        if args.wants("crash-load") {
            eprintln!(
                "loss under kills: {} commands/s for {} s, a SIGKILL every {} ms",
                args.crash_load_rate, args.crash_load_secs, args.kill_every_ms
            );
            let meter = Meter::start("crash-load");
            results.crash_load = Outcome::of(homes::crash_load_home(&tools, &args, chaos).await);
            results.noise.push(meter.stop());
        }
        if args.wants("timers") {
            eprintln!(
                "timer lateness: {} one-off timers of {} ms idle{}{}",
                args.timers,
                args.timer_delay_ms,
                if args.timers_load_rate > 0.0 {
                    format!(
                        ", {} under {} commands/s",
                        args.timers, args.timers_load_rate
                    )
                } else {
                    String::new()
                },
                if args.timers_every_secs > 0 {
                    format!(", one every 100 ms for {} s", args.timers_every_secs)
                } else {
                    String::new()
                }
            );
            let meter = Meter::start("timers");
            results.timers = Outcome::of(homes::timers_home(&tools, &args, chaos).await);
            results.noise.push(meter.stop());
        }
        if args.wants("status") {
            eprintln!(
                "status latency: {} requests idle, then {} restarts of chaos with a {} ms load",
                args.status, args.status_rounds, args.status_load_delay_ms
            );
            let meter = Meter::start("status");
            results.status = Outcome::of(homes::status_home(&tools, &args, &dice, chaos).await);
            results.noise.push(meter.stop());
        }
    }
    if args.wants("node") {
        eprintln!(
            "plugin on a node: {} steady, {} reloads, {} failovers (three clustered nats-servers)",
            args.steady, args.reloads, args.failovers
        );
        let meter = Meter::start("node");
        let counts = (args.warmup, args.steady, args.reloads, args.failovers);
        results.on_node = Outcome::of(nodes::measure(&tools, &dice, counts, args.keep_homes).await);
        results.noise.push(meter.stop());
    }
    if args.wants("cold") || args.wants("pss") {
        if let Err(err) = homes::cold_starts(&tools, &args, &dice, &mut results).await {
            let error = format!("{err:#}");
            if args.wants("cold") {
                results.cold_start = Outcome::Failed {
                    error: error.clone(),
                };
            }
            if args.wants("pss") {
                results.hosts_pss = Outcome::Failed { error };
            }
        }
    }
    if args.wants("new-plugin") {
        eprintln!("new plugin: rosey plugin new → first answer in rosey dev (a first build)");
        let meter = Meter::start("new-plugin");
        results.new_plugin = Outcome::of(new_plugin::measure(&tools, args.keep_homes).await);
        results.noise.push(meter.stop());
    }
    if args.wants("errbot") {
        eprintln!("peer: Errbot");
        let meter = Meter::start("errbot");
        let (reloads, steady, warmup) = (args.errbot_reloads, args.steady, args.warmup);
        let search = args.wants("sustained").then(|| args.search());
        let peer = tokio::task::spawn_blocking({
            let tools = tools.clone();
            move || errbot::measure(&tools, reloads, steady, warmup, search)
        })
        .await
        .context("the Errbot measurement panicked");
        results.errbot = Outcome::of(peer.and_then(|result| result));
        results.noise.push(meter.stop());
    }

    results.check_targets();
    print!("{}", results.render());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| tools.bench_dir.join("results.json"));
    let json = serde_json::to_string_pretty(&results).context("cannot encode the results")?;
    std::fs::write(&out, json).with_context(|| format!("cannot write {}", out.display()))?;
    println!("\nJSON: {}", out.display());
    let failed = results
        .why_not_all()
        .into_iter()
        .flatten()
        .any(|why| why.starts_with("FAILED"));
    Ok(!failed)
}

/// Records how busy the machine was during one measure.
pub struct Meter {
    noise: Noise,
    cpu: CpuMeter,
}

impl Meter {
    /// Starts watching the machine for `measure`.
    pub fn start(measure: &str) -> Meter {
        Meter {
            noise: Noise {
                measure: measure.to_owned(),
                load_before: machine::load1(),
                busy_percent: None,
                steal_percent: None,
            },
            cpu: CpuMeter::start(),
        }
    }

    /// How busy it was.
    pub fn stop(mut self) -> Noise {
        self.noise.busy_percent = self.cpu.busy_percent();
        self.noise.steal_percent = self.cpu.steal_percent();
        self.noise
    }
}

//! `bench`: the rosey benchmark harness (issue 4, item 6).
//!
//! `cargo run --release -p rosey-benches --bin bench [-- --quick] [-- --out FILE]` builds the
//! release `rosey`, packs the dice-roller and chaos plugins, and then, each in temporary homes
//! under `target/bench/homes/` and on loopback only, measures:
//!
//! 1. reload latency (request → first reply from the new instance);
//! 2. commands lost and duplicated during reloads under a steady load;
//! 3. crash → serving-again latency (chaos fixture, `abort`);
//! 4. cold start of the whole stack with 1, 10 and 50 plugins;
//! 5. steady command → reply latency;
//! 6. resident memory of the daemon and of one plugin host;
//! 7. the same reload and steady measures on Errbot's in-process test bot, as a peer.
//!
//! It prints a table with the targets of issue 4 marked ✓/✗ and writes everything (with the
//! raw samples) to `target/bench/results.json`. Every stack it starts is stopped, and anything
//! left of a home killed, when it finishes, fails, or is interrupted (Ctrl+C).

mod cleanup;
mod cold;
mod crash;
mod errbot;
mod floor;
mod machine;
mod memory;
mod reload;
mod report;
mod setup;
mod stack;
mod steady;
mod wire;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, Result};
use clap::Parser;
use rosey_benches::stats::Series;

use crate::{
    machine::{CpuMeter, Noise},
    report::{Outcome, Results, Steady},
    setup::Tools,
    stack::BenchHome,
    wire::Wire,
};

/// Command line.
#[derive(Debug, Clone, Parser, serde::Serialize)]
#[command(
    name = "bench",
    about = "The rosey benchmark harness (see docs/BENCHMARKS.md)"
)]
struct Args {
    /// Where to write the JSON results (default: target/bench/results.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A short run (fewer samples than the issue asks for) to check the harness works.
    #[arg(long)]
    quick: bool,
    /// Reloads timed (measure 1).
    #[arg(long, default_value_t = 200)]
    reloads: usize,
    /// Commands per second during the reload load test (measure 2).
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Seconds the load runs while reloads happen (measure 2).
    #[arg(long, default_value_t = 20)]
    load_secs: u64,
    /// Seconds to wait for the last replies after the load stops (measure 2).
    #[arg(long, default_value_t = 15)]
    drain_secs: u64,
    /// Crashes timed (measure 3).
    #[arg(long, default_value_t = 200)]
    crashes: usize,
    /// Stack sizes (plugins) for cold starts (measure 4).
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    cold_sizes: Vec<usize>,
    /// Starts per stack size (measure 4).
    #[arg(long, default_value_t = 5)]
    cold_runs: usize,
    /// Commands timed for steady latency (measure 5).
    #[arg(long, default_value_t = 2000)]
    steady: usize,
    /// Commands sent before timing steady latency.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Reloads timed on Errbot (measure 7).
    #[arg(long, default_value_t = 200)]
    errbot_reloads: usize,
    /// Measures to leave out: reload, loss, crash, cold, steady, floor, memory, errbot.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Milliseconds between reloads during the load test (measure 2).
    #[arg(long, default_value_t = 100)]
    load_reload_gap_ms: u64,
    /// Milliseconds to wait after a crash before sending the command timed (measure 3); 0
    /// sends it the moment the host's exit is seen.
    #[arg(long, default_value_t = 0)]
    crash_probe_delay_ms: u64,
    /// Do not run `cargo build --release -p rosey` first (use the binary already built).
    #[arg(long)]
    no_build: bool,
    /// Measure this rosey binary instead of target/release/rosey (implies --no-build), e.g.
    /// one built from a patched tree, to compare.
    #[arg(long)]
    rosey: Option<PathBuf>,
    /// Keep the temporary homes (their logs) after the run.
    #[arg(long)]
    keep_homes: bool,
}

impl Args {
    /// `--quick` scales every count down.
    fn apply_quick(&mut self) {
        if self.quick {
            self.reloads = self.reloads.min(30);
            self.load_secs = self.load_secs.min(5);
            self.drain_secs = self.drain_secs.min(12);
            self.crashes = self.crashes.min(30);
            self.cold_runs = self.cold_runs.min(2);
            self.steady = self.steady.min(300);
            self.warmup = self.warmup.min(50);
            self.errbot_reloads = self.errbot_reloads.min(30);
        }
    }

    fn wants(&self, measure: &str) -> bool {
        !self.skip.iter().any(|skip| skip == measure)
    }
}

/// The probe command every dice-roller measure sends.
const ROLL: (&str, &str) = ("roll", "1d6");

/// The main home's `rosey.yaml`: defaults, free NATS and dashboard ports.
const MAIN_CONFIG: &str = "nats:\n  port: 0\nweb:\n  port: 0\n";

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
    let tools = setup::prepare(
        !args.no_build && args.rosey.is_none(),
        args.rosey.as_deref(),
    )?;
    cleanup::set_rosey(&tools.rosey, &tools.bench_dir.join("homes"));
    let dice = tools.pack("plugins/dice-roller")?;
    let chaos = if args.wants("crash") {
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
    let mut results = Results {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine,
        software: machine::software(&tools, args.rosey.is_some()),
        settings: serde_json::to_value(&args).unwrap_or_default(),
        reload: Outcome::skipped("not asked for"),
        loss: Outcome::skipped("not asked for"),
        crash: Outcome::skipped("not asked for"),
        cold_start: Outcome::skipped("not asked for"),
        steady: Outcome::skipped("not asked for"),
        floor: Outcome::skipped("not asked for"),
        memory: Outcome::skipped("not asked for"),
        errbot: Outcome::skipped("not asked for"),
        noise: Vec::new(),
        targets: Vec::new(),
    };

    if ["steady", "floor", "memory", "reload", "loss"]
        .iter()
        .any(|measure| args.wants(measure))
    {
        main_home(&tools, &args, &dice, &mut results).await;
    }
    if let Some(chaos) = &chaos {
        eprintln!("crash recovery: {} crashes", args.crashes);
        let meter = Meter::start("crash");
        results.crash = Outcome::of(crash_home(&tools, &args, chaos).await);
        results.noise.push(meter.stop());
    }
    if args.wants("cold") {
        let meter = Meter::start("cold start");
        results.cold_start = Outcome::of(cold_starts(&tools, &args, &dice).await);
        results.noise.push(meter.stop());
    }
    if args.wants("errbot") {
        eprintln!("peer: Errbot");
        let meter = Meter::start("errbot");
        let (reloads, steady, warmup) = (args.errbot_reloads, args.steady, args.warmup);
        let peer = tokio::task::spawn_blocking({
            let tools = tools.clone();
            move || errbot::measure(&tools, reloads, steady, warmup)
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
    let failed = [
        results.reload.why_not(),
        results.loss.why_not(),
        results.crash.why_not(),
        results.cold_start.why_not(),
        results.steady.why_not(),
        results.floor.why_not(),
        results.memory.why_not(),
        results.errbot.why_not(),
    ]
    .into_iter()
    .flatten()
    .any(|why| why.starts_with("FAILED"));
    Ok(!failed)
}

/// Records how busy the machine was during one measure.
struct Meter {
    noise: Noise,
    cpu: CpuMeter,
}

impl Meter {
    fn start(measure: &str) -> Meter {
        Meter {
            noise: Noise {
                measure: measure.to_owned(),
                load_before: machine::load1(),
                busy_percent: None,
            },
            cpu: CpuMeter::start(),
        }
    }

    fn stop(mut self) -> Noise {
        self.noise.busy_percent = self.cpu.busy_percent();
        self.noise
    }
}

/// Measures 5 (and its NATS floors), 6, 1 and 2 on one home with dice-roller, in that order.
async fn main_home(tools: &Tools, args: &Args, dice: &std::path::Path, results: &mut Results) {
    let setup = async {
        let home = BenchHome::new(tools, "main", MAIN_CONFIG, args.keep_homes)?;
        home.install(dice).await?;
        home.start().await?;
        let status = home
            .wait_running(&["dice-roller".to_owned()], Duration::from_secs(30))
            .await?;
        let url = home.nats_url().await?;
        let wire = Wire::connect(&url).await?;
        anyhow::Ok((home, wire, status.pid, url))
    };
    let (home, mut wire, daemon_pid, url) = match setup.await {
        Ok(ready) => ready,
        Err(err) => {
            let error = format!("the dice-roller stack did not start: {err:#}");
            for (measure, outcome) in [
                ("steady", &mut results.steady as &mut dyn SetFailed),
                ("floor", &mut results.floor),
                ("memory", &mut results.memory),
                ("reload", &mut results.reload),
                ("loss", &mut results.loss),
            ] {
                if args.wants(measure) {
                    outcome.set_failed(&error);
                }
            }
            return;
        }
    };
    if args.wants("steady") {
        eprintln!("steady latency: {} commands", args.steady);
        let meter = Meter::start("steady");
        results.steady = Outcome::of(
            steady::latency(&wire, ROLL, args.warmup, args.steady)
                .await
                .map(|samples| Steady {
                    warmup: args.warmup,
                    latency: Series(samples),
                }),
        );
        results.noise.push(meter.stop());
    }
    if args.wants("floor") {
        eprintln!("NATS floors: {} requests each", args.steady);
        let meter = Meter::start("floor");
        results.floor = Outcome::of(floor::measure(&url, &wire, args.warmup, args.steady).await);
        results.noise.push(meter.stop());
    }
    if args.wants("memory") {
        results.memory = Outcome::of(memory_of(&home, daemon_pid).await);
    }
    if args.wants("reload") || args.wants("loss") {
        match reload::ReloadVia::detect(&home, "dice-roller").await {
            Ok(via) => {
                if args.wants("reload") {
                    eprintln!("reload latency: {} reloads", args.reloads);
                    let meter = Meter::start("reload");
                    results.reload = Outcome::of(
                        reload::latency(&home, &mut wire, "dice-roller", ROLL, args.reloads, via)
                            .await,
                    );
                    results.noise.push(meter.stop());
                }
                if args.wants("loss") {
                    eprintln!(
                        "loss under reloads: {} commands/s for {} s",
                        args.rate, args.load_secs
                    );
                    let meter = Meter::start("loss");
                    results.loss = Outcome::of(
                        reload::loss_under_load(
                            &home,
                            &wire,
                            "dice-roller",
                            ROLL,
                            via,
                            reload::Load {
                                rate: args.rate,
                                duration: Duration::from_secs(args.load_secs),
                                reload_gap: Duration::from_millis(args.load_reload_gap_ms),
                                drain: Duration::from_secs(args.drain_secs),
                            },
                        )
                        .await,
                    );
                    results.noise.push(meter.stop());
                }
            }
            Err(err) => {
                let error = format!("cannot reload dice-roller: {err:#}");
                results.reload.set_failed(&error);
                results.loss.set_failed(&error);
            }
        }
    }
    drop(wire);
    drop(home);
}

/// Lets a failure be recorded in any measure's outcome.
trait SetFailed {
    fn set_failed(&mut self, error: &str);
}

impl<T> SetFailed for Outcome<T> {
    fn set_failed(&mut self, error: &str) {
        *self = Outcome::Failed {
            error: error.to_owned(),
        };
    }
}

/// Measure 6 on the running main home.
async fn memory_of(home: &BenchHome, daemon_pid: u32) -> Result<Vec<memory::Memory>> {
    let status = home.status().await?;
    let host = status
        .unit("dice-roller")
        .and_then(|unit| unit.pid)
        .context("dice-roller has no pid")?;
    let mut all = vec![
        memory::of("daemon (with the bot)", daemon_pid)?,
        memory::of("plugin host (dice-roller)", host)?,
    ];
    if let Some(nats) = status.unit("nats").and_then(|unit| unit.pid) {
        all.push(memory::of("nats-server", nats)?);
    }
    Ok(all)
}

/// Measure 3 on a home with the chaos fixture.
async fn crash_home(
    tools: &Tools,
    args: &Args,
    chaos: &std::path::Path,
) -> Result<crash::CrashRecovery> {
    let home = BenchHome::new(tools, "crash", crash::CONFIG, args.keep_homes)?;
    home.install(chaos).await?;
    home.start().await?;
    let mut wire = Wire::connect(&home.nats_url().await?).await?;
    let delay = Duration::from_millis(args.crash_probe_delay_ms);
    let result = crash::recovery(&home, &mut wire, args.crashes, delay).await;
    drop(wire);
    drop(home);
    result
}

/// Measure 4 for every requested size.
async fn cold_starts(
    tools: &Tools,
    args: &Args,
    dice: &std::path::Path,
) -> Result<Vec<cold::ColdStart>> {
    let largest = args.cold_sizes.iter().copied().max().unwrap_or(1).max(1);
    let archives = cold::archives(tools, dice, largest)?;
    let mut sizes = Vec::new();
    for &n in &args.cold_sizes {
        let n = n.max(1);
        eprintln!("cold start: {n} plugins, {} runs", args.cold_runs);
        sizes.push(cold::measure(tools, &archives[..n], args.cold_runs, args.keep_homes).await?);
    }
    Ok(sizes)
}

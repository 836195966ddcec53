//! The homes the measures run in, each started, measured and stopped here: the main
//! dice-roller home (steady, floors, memory, reload, loss, sustained rate), a fresh dice-roller
//! home for the daemon's growth over reloads, the chaos homes (crash kinds, crash under load,
//! timer lateness), a home with both for status latency, and the cold-start homes (with the
//! memory of 50 hosts).

use std::{path::Path, time::Duration};

use anyhow::{Context, Result};
use rosey_benches::stats::Series;

use crate::{
    args::Args,
    cold, crash, crash_load, growth,
    memory::{self, HostsMemory},
    reload,
    report::{Outcome, Results, Steady},
    setup::Tools,
    stack::BenchHome,
    status, steady, sustained, timers, Meter, ROLL,
};

/// The main home's `rosey.yaml`: defaults, free NATS and dashboard ports.
const MAIN_CONFIG: &str = "nats:\n  port: 0\nweb:\n  port: 0\n";

/// The measures of the main home.
pub const MAIN_MEASURES: [&str; 6] = ["steady", "floor", "memory", "reload", "loss", "sustained"];

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

/// A dice-roller home, started, with the harness connected.
async fn dice_home(
    tools: &Tools,
    label: &str,
    dice: &Path,
    keep: bool,
) -> Result<(BenchHome, crate::wire::Wire, u32)> {
    let home = BenchHome::new(tools, label, MAIN_CONFIG, keep)?;
    home.install(dice).await?;
    home.start().await?;
    let status = home
        .wait_running(&["dice-roller".to_owned()], Duration::from_secs(30))
        .await?;
    let wire = crate::wire::Wire::connect(home.nats_client("rosey-bench").await?).await?;
    Ok((home, wire, status.pid))
}

/// Measures 5 (and its NATS floors), 6, 1 and 2, then the sustained rate, on one home with
/// dice-roller, in that order.
pub async fn main_home(tools: &Tools, args: &Args, dice: &Path, results: &mut Results) {
    let (home, mut wire, daemon_pid) = match dice_home(tools, "main", dice, args.keep_homes).await {
        Ok(ready) => ready,
        Err(err) => {
            let error = format!("the dice-roller stack did not start: {err:#}");
            for (measure, outcome) in [
                ("steady", &mut results.steady as &mut dyn SetFailed),
                ("floor", &mut results.floor),
                ("memory", &mut results.memory),
                ("reload", &mut results.reload),
                ("loss", &mut results.loss),
                ("sustained", &mut results.sustained),
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
        if let Ok(status) = home.control(&serde_json::json!({ "cmd": "status" })).await {
            let plugin = status["plugins"]
                .as_array()
                .and_then(|plugins| plugins.iter().find(|unit| unit["name"] == "dice-roller"));
            if let Some(unit) = plugin {
                eprintln!(
                    "  dice-roller handled {} messages, {} of them early",
                    unit["handled"], unit["handled_early"]
                );
            }
        }
    }
    if args.wants("floor") {
        eprintln!("NATS floors: {} requests each", args.steady);
        let meter = Meter::start("floor");
        results.floor =
            Outcome::of(crate::floor::measure(&home, &wire, args.warmup, args.steady).await);
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
                    let load = reload::Load {
                        rate: args.rate,
                        duration: Duration::from_secs(args.load_secs),
                        reload_gap: Duration::from_millis(args.load_reload_gap_ms),
                        drain: Duration::from_secs(args.drain_secs),
                    };
                    results.loss = Outcome::of(
                        reload::loss_under_load(&home, &wire, "dice-roller", ROLL, via, load).await,
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
    if args.wants("sustained") {
        eprintln!(
            "sustained rate: steps of {} s from 500/s",
            args.sustained_step_secs
        );
        let meter = Meter::start("sustained");
        let mut searched = sustained::measure(&wire, ROLL, args.search()).await;
        if let Some(search) = searched
            .as_mut()
            .ok()
            .filter(|search| search.had_silent_step())
        {
            search.plugin_after = Some(match home.status().await {
                Ok(status) => format!("{:?}", status.unit("dice-roller")),
                Err(err) => format!("no status: {err:#}"),
            });
        }
        results.sustained = Outcome::of(searched);
        results.noise.push(meter.stop());
    }
    drop(wire);
    drop(home);
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

/// The daemon's growth over reloads, on a fresh dice-roller home.
pub async fn growth_home(tools: &Tools, args: &Args, dice: &Path) -> Result<growth::Growth> {
    let (home, mut wire, _) = dice_home(tools, "growth", dice, args.keep_homes).await?;
    let result = growth::measure(&home, &mut wire, "dice-roller", args.daemon_reloads).await;
    drop(wire);
    drop(home);
    result
}

/// A started home with the chaos fixture, and the harness connected.
async fn chaos_home(
    tools: &Tools,
    label: &str,
    config: &str,
    chaos: &Path,
    keep: bool,
) -> Result<(BenchHome, crate::wire::Wire)> {
    let home = BenchHome::new(tools, label, config, keep)?;
    home.install(chaos).await?;
    home.start().await?;
    home.wait_running(&["chaos".to_owned()], Duration::from_secs(30))
        .await?;
    let wire = crate::wire::Wire::connect(home.nats_client("rosey-bench").await?).await?;
    Ok((home, wire))
}

/// Measure 3 on a home with the chaos fixture.
pub async fn crash_home(tools: &Tools, args: &Args, chaos: &Path) -> Result<crash::CrashRecovery> {
    let (home, mut wire) =
        chaos_home(tools, "crash", crash::CONFIG, chaos, args.keep_homes).await?;
    let delay = Duration::from_millis(args.crash_probe_delay_ms);
    let result = crash::recovery(&home, &mut wire, args.crashes, delay).await;
    drop(wire);
    drop(home);
    result
}

/// Commands lost while hosts are killed, on another chaos home.
pub async fn crash_load_home(
    tools: &Tools,
    args: &Args,
    chaos: &Path,
) -> Result<crash_load::CrashLoad> {
    let (home, wire) = chaos_home(
        tools,
        "crashload",
        crash_load::CONFIG,
        chaos,
        args.keep_homes,
    )
    .await?;
    let result = crash_load::measure(&home, &wire, args.crash_load_plan()).await;
    drop(wire);
    drop(home);
    result
}

/// Timer lateness, on a chaos home of its own.
pub async fn timers_home(
    tools: &Tools,
    args: &Args,
    chaos: &Path,
) -> Result<timers::TimerLateness> {
    let (home, wire) = chaos_home(tools, "timers", timers::CONFIG, chaos, args.keep_homes).await?;
    let result = timers::measure(&wire, args.timer_plan()).await;
    drop(wire);
    drop(home);
    result
}

/// Status latency, on a home of its own with dice-roller and chaos.
pub async fn status_home(
    tools: &Tools,
    args: &Args,
    dice: &Path,
    chaos: &Path,
) -> Result<status::StatusLatency> {
    let home = BenchHome::new(tools, "status", status::CONFIG, args.keep_homes)?;
    home.install(dice).await?;
    home.install(chaos).await?;
    home.start().await?;
    let plugins = status::PLUGINS.map(str::to_owned);
    home.wait_running(&plugins, Duration::from_secs(30)).await?;
    let result = status::measure(&home, args.status_plan()).await;
    drop(home);
    result
}

/// Measure 4 for every requested size (with `cold`), and the memory of `--pss-plugins` hosts
/// (with `pss`): read in the cold-start stack of that size when there is one, else in a
/// stack of that size started once for it.
pub async fn cold_starts(
    tools: &Tools,
    args: &Args,
    dice: &Path,
    results: &mut Results,
) -> Result<()> {
    let sizes: Vec<usize> = if args.wants("cold") {
        args.cold_sizes.iter().map(|n| (*n).max(1)).collect()
    } else {
        Vec::new()
    };
    let pss_size = args.pss_plugins.max(1);
    let want_pss = args.wants("pss");
    let largest = sizes
        .iter()
        .copied()
        .chain(want_pss.then_some(pss_size))
        .max()
        .unwrap_or(1);
    let archives = cold::archives(tools, dice, largest)?;
    let mut measured = Vec::new();
    let mut pss: Option<Result<HostsMemory>> = None;
    let mut failure = None;
    for &n in &sizes {
        eprintln!("cold start: {n} plugins, {} runs", args.cold_runs);
        let read_pss = want_pss && n == pss_size && pss.is_none();
        let meter = Meter::start(&format!("cold start {n}"));
        let outcome = cold::measure(
            tools,
            &archives[..n],
            args.cold_runs,
            args.keep_homes,
            read_pss,
        )
        .await;
        results.noise.push(meter.stop());
        match outcome {
            Ok((size, memory)) => {
                measured.push(size);
                if memory.is_some() {
                    pss = memory;
                }
            }
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    if args.wants("cold") {
        results.cold_start = match failure {
            Some(err) => Outcome::of(Err(err)),
            None => Outcome::Measured { result: measured },
        };
    }
    if want_pss && pss.is_none() {
        eprintln!("memory of {pss_size} hosts: one start");
        pss = Some(
            cold::measure(tools, &archives[..pss_size], 1, args.keep_homes, true)
                .await
                .and_then(|(_, memory)| memory.context("the hosts' memory was not read")?),
        );
    }
    if let Some(pss) = pss {
        results.hosts_pss = Outcome::of(pss);
    }
    Ok(())
}

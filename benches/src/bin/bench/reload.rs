//! Measures 1 and 2: reload latency, and commands lost or duplicated during reloads under load.
//!
//! A reload is requested over the control socket, as `rosey plugin reload` does, so no CLI
//! process start is timed. Where the daemon does not know `plugin_reload` yet, `restart` (a
//! supervised stop and start, the closest stand-in) is used instead and the report says so.
//!
//! Reload latency: at the request, a probe command is published; whenever a probe is answered
//! by the old instance, the next one is published at once, so one is always outstanding. The
//! sample is request → the first reply that arrives after the new host's `ready` notice (the
//! old host flushes its replies before it exits, so any reply after the new `ready` is the new
//! instance's).

use std::{
    cell::Cell,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use rosey_benches::stats::Series;
use serde::Serialize;
use tokio::time::sleep_until;

use crate::{load, stack::BenchHome, wire::Wire};

/// How a reload is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadVia {
    /// `plugin_reload` (`rosey plugin reload`): the same version restarted, state handed over.
    PluginReload,
    /// `restart` (`rosey restart`): a supervised stop and start, the stand-in.
    Restart,
}

impl ReloadVia {
    /// The control request reloading `plugin`.
    pub fn request(self, plugin: &str) -> serde_json::Value {
        match self {
            ReloadVia::PluginReload => {
                serde_json::json!({ "cmd": "plugin_reload", "name": plugin })
            }
            ReloadVia::Restart => serde_json::json!({ "cmd": "restart", "target": plugin }),
        }
    }

    /// What the report calls it.
    pub fn describe(self) -> &'static str {
        match self {
            ReloadVia::PluginReload => "rosey plugin reload (control request plugin_reload)",
            ReloadVia::Restart => {
                "rosey restart (control request restart; `plugin reload` not in this daemon)"
            }
        }
    }

    /// Reloads `plugin` once with `plugin_reload`, falling back to `restart` when this daemon
    /// does not know that request; returns the method that worked.
    pub async fn detect(home: &BenchHome, plugin: &str) -> Result<ReloadVia> {
        match home.control(&ReloadVia::PluginReload.request(plugin)).await {
            Ok(_) => Ok(ReloadVia::PluginReload),
            Err(err) if format!("{err:#}").contains("unreadable request") => {
                home.control(&ReloadVia::Restart.request(plugin))
                    .await
                    .context("restart, the stand-in for reload, failed")?;
                Ok(ReloadVia::Restart)
            }
            Err(err) => Err(err.context("plugin_reload failed")),
        }
    }
}

/// Reload latency samples, in ms.
#[derive(Debug, Default, Serialize)]
pub struct ReloadLatency {
    /// How reloads were requested.
    pub via: Option<ReloadVia>,
    /// Request → first reply from the new instance.
    pub to_first_reply: Series,
    /// Request → the new host's `ready` notice.
    pub to_ready: Series,
    /// Request → the daemon's answer to it.
    pub to_answer: Series,
    /// Probes the old instance answered while the reload was under way.
    pub answered_by_old: usize,
    /// Wall time of the operator's command, `rosey plugin reload <name>` (its own process
    /// start included), for a few reloads after the timed ones.
    pub cli_wall: Series,
}

/// How many reloads are also timed through the CLI.
const CLI_RELOADS: usize = 20;

/// Reloads `plugin` `count` times and times each; `command`/`args` make the probe.
pub async fn latency(
    home: &BenchHome,
    wire: &mut Wire,
    plugin: &str,
    probe: (&str, &str),
    count: usize,
    via: ReloadVia,
) -> Result<ReloadLatency> {
    latency_with_host_on(home, home, wire, plugin, probe, count, via).await
}

/// [`latency`], the plugin's host running under `host_home`'s daemon (a plugin node's, whose
/// status has the host's pid) while `home`'s daemon is asked to reload it.
pub async fn latency_with_host_on(
    home: &BenchHome,
    host_home: &BenchHome,
    wire: &mut Wire,
    plugin: &str,
    (command, args): (&str, &str),
    count: usize,
    via: ReloadVia,
) -> Result<ReloadLatency> {
    let mut result = ReloadLatency {
        via: Some(via),
        ..Default::default()
    };
    let request = via.request(plugin);
    let mut pid = running_pid(host_home, plugin).await?;
    for reload in 0..count {
        wire.drain_notices();
        let mut probes = 0usize;
        let mut probe = |wire: &Wire| {
            probes += 1;
            let id = format!("reload-{reload}-{probes}");
            (id.clone(), wire.watch_reply(&id))
        };
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut control = home.control_now(&request);
        let (id, mut waiting) = probe(wire);
        wire.publish(&id, command, args).await?;
        let mut ready = None;
        let mut answered = None;
        let first_reply = loop {
            tokio::select! {
                biased;
                notice = wire.next_notice() => {
                    let notice = notice.context("the NATS subscription ended")?;
                    if notice.what == "ready" && notice.plugin == plugin && notice.pid != pid {
                        ready = Some(notice.stamp);
                        pid = notice.pid;
                    }
                }
                answer = &mut control, if answered.is_none() => {
                    answer
                        .context("the control request's task failed")?
                        .with_context(|| format!("reload {reload} of {plugin} failed"))?;
                    answered = Some(Instant::now());
                }
                stamp = &mut waiting => {
                    let stamp = stamp.context("the reply book was dropped")?;
                    if ready.is_some_and(|ready| stamp.seq > ready.seq) {
                        break stamp;
                    }
                    result.answered_by_old += 1;
                    let (id, next) = probe(wire);
                    waiting = next;
                    wire.publish(&id, command, args).await?;
                }
                _ = sleep_until(deadline) => {
                    bail!("reload {reload} of {plugin}: no reply from a new instance within 30 s (ready: {ready:?})");
                }
            }
        };
        let answered = match answered {
            Some(at) => at,
            None => {
                tokio::time::timeout(Duration::from_secs(30), control)
                    .await
                    .context("the daemon did not answer a reload within 30 s")?
                    .context("the control request's task failed")??;
                Instant::now()
            }
        };
        result.to_first_reply.push(ms(first_reply.at - started));
        if let Some(ready) = ready {
            result.to_ready.push(ms(ready.at - started));
        }
        result.to_answer.push(ms(answered - started));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wire.forget_replies();
    if via == ReloadVia::PluginReload {
        for _ in 0..CLI_RELOADS.min(count) {
            let took = home.cli(&["plugin", "reload", plugin]).await?;
            result.cli_wall.push(ms(took));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(result)
}

/// The pid of running plugin `plugin`, from the status.
async fn running_pid(home: &BenchHome, plugin: &str) -> Result<u32> {
    let status = home
        .wait_running(&[plugin.to_owned()], Duration::from_secs(30))
        .await?;
    status
        .unit(plugin)
        .and_then(|unit| unit.pid)
        .with_context(|| format!("{plugin} has no pid"))
}

/// Milliseconds in a duration, as a float.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// What the load test counted.
#[derive(Debug, Default, Serialize)]
pub struct Loss {
    /// Commands per second asked for.
    pub target_rate: f64,
    /// Pause between reloads, in ms.
    pub reload_gap_ms: f64,
    /// Commands per second published, first to last.
    pub achieved_rate: f64,
    /// Commands published (and stored by the stream).
    pub sent: usize,
    /// Commands the stream did not acknowledge even after retries (a harness-side failure,
    /// not counted as lost).
    pub not_stored: usize,
    /// Reloads completed while the load ran.
    pub reloads: usize,
    /// Reloads that failed.
    pub reload_errors: Vec<String>,
    /// Commands never answered, after the drain period.
    pub lost: usize,
    /// Commands answered more than once.
    pub duplicated: usize,
    /// A few of the lost ids, for the log.
    pub lost_examples: Vec<String>,
    /// Publish → first reply of every answered command, in ms.
    pub latency: Series,
}

/// The load of the loss test.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Commands per second.
    pub rate: f64,
    /// How long commands are published.
    pub duration: Duration,
    /// Pause between one reload's answer and the next request.
    pub reload_gap: Duration,
    /// How long to wait for the last replies once publishing stops.
    pub drain: Duration,
}

/// Publishes `load.rate` commands a second for `load.duration` while reloading `plugin` over
/// and over, then waits up to `load.drain` for replies and counts what was lost or duplicated.
pub async fn loss_under_load(
    home: &BenchHome,
    wire: &Wire,
    plugin: &str,
    probe: (&str, &str),
    via: ReloadVia,
    load: Load,
) -> Result<Loss> {
    let Load {
        rate,
        duration,
        reload_gap,
        drain,
    } = load;
    let total = (rate * duration.as_secs_f64()).round() as usize;
    let publishing = Cell::new(true);
    let id_of = |i: usize| format!("load-{i}");
    let publisher = async {
        let published = load::publish_paced(wire, &id_of, probe, rate, total).await;
        // Whatever happened to the publisher, the reloader stops with it.
        publishing.set(false);
        published
    };
    let reloader = async {
        let mut done = 0;
        let mut errors = Vec::new();
        let request = via.request(plugin);
        while publishing.get() {
            match home.control(&request).await {
                Ok(_) => done += 1,
                Err(err) => errors.push(format!("{err:#}")),
            }
            tokio::time::sleep(reload_gap).await;
        }
        (done, errors)
    };
    let (published, (reloads, reload_errors)) = tokio::join!(publisher, reloader);
    let published = published?;
    // Drain: wait for every reply (a redelivery waits out the 5 s ack wait at most), then a
    // moment more for duplicates.
    load::drain(wire, &id_of, published.sent_at.len(), drain).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tally = load::tally(wire, &id_of, &published.sent_at);
    wire.forget_replies();
    Ok(Loss {
        target_rate: rate,
        reload_gap_ms: ms(reload_gap),
        achieved_rate: published.achieved_rate,
        sent: published.sent_at.len(),
        not_stored: published.not_stored,
        reloads,
        reload_errors,
        lost: tally.lost,
        duplicated: tally.duplicated,
        lost_examples: tally.lost_examples,
        latency: tally.latency,
    })
}

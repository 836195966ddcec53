//! Daemon growth over reloads: does the daemon keep memory for every reload it performs? A
//! fresh home with dice-roller (the main home's configuration) is reloaded `--daemon-reloads`
//! times (1000) one after the other, each requested over the control socket as `rosey plugin
//! reload` does (see [`crate::reload::ReloadVia`]) and finished when the daemon has answered
//! and the new host's `ready` notice has arrived. The daemon's VmRSS (pid from the status) is
//! read 200 ms after reload 100 and every 100 reloads after, and after the last; the growth is
//! the last reading minus the one after reload 100 (the first 100 reloads warm the allocator
//! and any cache up).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio::time::sleep_until;

use crate::{memory, reload::ReloadVia, stack::BenchHome, wire::Wire};

/// Reloads before the baseline reading.
pub const WARM: usize = 100;

/// One reading.
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    /// Reloads done when it was taken.
    pub reloads: usize,
    /// The daemon's VmRSS, in KiB.
    pub rss_kb: u64,
}

/// What the measure found.
#[derive(Debug, Default, Serialize)]
pub struct Growth {
    /// How reloads were requested.
    pub via: Option<ReloadVia>,
    /// The daemon's pid.
    pub daemon_pid: u32,
    /// Reloads done.
    pub reloads: usize,
    /// The daemon's VmRSS before the first reload, in KiB.
    pub rss_start_kb: u64,
    /// After reload 100, in KiB.
    pub rss_after_warm_kb: Option<u64>,
    /// After the last reload, in KiB.
    pub rss_end_kb: u64,
    /// End minus after-100, in KiB (negative when it shrank).
    pub growth_kb: Option<i64>,
    /// Every reading.
    pub readings: Vec<Reading>,
}

/// Reloads `plugin` `count` times in `home` and reads the daemon's memory along the way.
pub async fn measure(
    home: &BenchHome,
    wire: &mut Wire,
    plugin: &str,
    count: usize,
) -> Result<Growth> {
    let status = home
        .wait_running(&[plugin.to_owned()], Duration::from_secs(30))
        .await?;
    let daemon = status.pid;
    let mut pid = status
        .unit(plugin)
        .and_then(|unit| unit.pid)
        .with_context(|| format!("{plugin} has no pid"))?;
    let rss = || memory::of("daemon", daemon).map(|memory| memory.rss_kb);
    let mut growth = Growth {
        daemon_pid: daemon,
        rss_start_kb: rss()?,
        ..Default::default()
    };
    // The first reload finds out how reloads are requested (and is not counted).
    let via = ReloadVia::detect(home, plugin).await?;
    pid = wait_ready(wire, plugin, pid).await?;
    growth.via = Some(via);
    let request = via.request(plugin);
    for reload in 1..=count {
        wire.drain_notices();
        home.control(&request)
            .await
            .with_context(|| format!("reload {reload} of {plugin} failed"))?;
        pid = wait_ready(wire, plugin, pid).await?;
        if reload % WARM == 0 || reload == count {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let rss_kb = rss()?;
            growth.readings.push(Reading {
                reloads: reload,
                rss_kb,
            });
            if reload == WARM {
                growth.rss_after_warm_kb = Some(rss_kb);
            }
        }
    }
    growth.reloads = count;
    growth.rss_end_kb = growth
        .readings
        .last()
        .map_or(growth.rss_start_kb, |r| r.rss_kb);
    growth.growth_kb = growth
        .rss_after_warm_kb
        .map(|warm| growth.rss_end_kb as i64 - warm as i64);
    Ok(growth)
}

/// Waits (up to 30 s) for a `ready` notice of `plugin` from a host other than `old`; returns its
/// pid.
async fn wait_ready(wire: &mut Wire, plugin: &str, old: u32) -> Result<u32> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::select! {
            notice = wire.next_notice() => {
                let notice = notice.context("the NATS subscription ended")?;
                if notice.what == "ready" && notice.plugin == plugin && notice.pid != old {
                    return Ok(notice.pid);
                }
            }
            _ = sleep_until(deadline) => bail!("no new {plugin} host ready within 30 s"),
        }
    }
}

//! Measure 4: cold start of the whole stack with N plugins: how long `rosey start` takes to
//! return, and how long until the status shows every plugin running (polled every 2 ms over the
//! control socket while `rosey start` runs). The first start of a home also creates the
//! JetStream stream and consumers; later starts find them in the store, as a restarted bot
//! would.
//!
//! The memory of many hosts at once is read in the same stack (see [`crate::memory::hosts`]):
//! after the last start of the asked size, 1 s after every plugin runs.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use rosey_benches::stats::Series;
use serde::Serialize;

use crate::{
    cleanup,
    memory::{self, HostsMemory},
    reload::ms,
    setup::{self, Tools},
    stack::BenchHome,
};

/// The cold-start home's `rosey.yaml`.
const CONFIG: &str = "nats:\n  port: 0\nweb:\n  port: 0\n";

/// The runs of one stack size.
#[derive(Debug, Default, Serialize)]
pub struct ColdStart {
    /// Plugins installed.
    pub plugins: usize,
    /// `rosey start` launched → returned, one per run, in ms (run 1 on a fresh store).
    pub start_returned: Series,
    /// `rosey start` launched → every plugin running, in ms.
    pub all_running: Series,
}

/// Archives of `n` plugins: `archive` itself, then copies `dice-01`… claiming `roll1`/`flip1`….
pub fn archives(tools: &Tools, archive: &Path, n: usize) -> Result<Vec<(String, PathBuf)>> {
    let dir = tools.bench_dir.join("packs/copies");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let original = archive
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.rsplit_once('-'))
        .map(|(name, _)| name.to_owned())
        .context("the archive's name is not <name>-<version>.roseyplug")?;
    let mut all = vec![(original, archive.to_path_buf())];
    for i in 1..n {
        let name = format!("dice-{i:02}");
        let existing = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .and_then(|file| file.to_str())
                    .is_some_and(|file| file.starts_with(&format!("{name}-")))
            });
        let copy = match existing {
            Some(path) => path,
            None => setup::clone_archive(
                archive,
                &name,
                vec![format!("roll{i}"), format!("flip{i}")],
                &dir,
            )?,
        };
        all.push((name, copy));
    }
    Ok(all)
}

/// Installs `plugins` into a fresh home and starts and stops its stack `runs` times; with
/// `hosts_memory`, also reads the memory of every host after the last start.
pub async fn measure(
    tools: &Tools,
    plugins: &[(String, PathBuf)],
    runs: usize,
    keep: bool,
    hosts_memory: bool,
) -> Result<(ColdStart, Option<Result<HostsMemory>>)> {
    let home = BenchHome::new(tools, &format!("cold{}", plugins.len()), CONFIG, keep)?;
    for (_, archive) in plugins {
        home.install(archive).await?;
    }
    let names: Vec<String> = plugins.iter().map(|(name, _)| name.clone()).collect();
    let mut result = ColdStart {
        plugins: plugins.len(),
        ..Default::default()
    };
    let mut memory = None;
    for run in 0..runs {
        let (returned, running) = one_start(&home, &names)
            .await
            .with_context(|| format!("cold start {run} with {} plugins", names.len()))?;
        result.start_returned.push(ms(returned));
        result.all_running.push(ms(running));
        if hosts_memory && run + 1 == runs {
            tokio::time::sleep(Duration::from_secs(1)).await;
            memory = Some(
                home.status()
                    .await
                    .and_then(|status| memory::hosts(&status)),
            );
        }
        home.stop().await?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while !cleanup::processes_mentioning(home.path()).is_empty() {
            if Instant::now() > deadline {
                bail!(
                    "the stack of {} did not stop within 15 s",
                    home.path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok((result, memory))
}

/// One `rosey start`: (launch → it returned, launch → every plugin running).
async fn one_start(home: &BenchHome, names: &[String]) -> Result<(Duration, Duration)> {
    let started = Instant::now();
    let start = home.start();
    tokio::pin!(start);
    let socket = home.path().join("data/run/rosey.sock");
    let mut returned = None;
    let mut running = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while returned.is_none() || running.is_none() {
        tokio::select! {
            took = &mut start, if returned.is_none() => {
                took?;
                returned = Some(started.elapsed());
            }
            _ = tokio::time::sleep(Duration::from_millis(2)), if running.is_none() => {
                if !socket.exists() {
                    continue;
                }
                let Ok(status) = home.status().await else { continue };
                let all = names.iter().all(|name| {
                    status
                        .unit(name)
                        .is_some_and(|unit| unit.state == "running" && unit.pid.is_some())
                });
                if all {
                    running = Some(started.elapsed());
                }
            }
            _ = tokio::time::sleep_until(deadline) => bail!("not up within 120 s"),
        }
    }
    match (returned, running) {
        (Some(returned), Some(running)) => Ok((returned, running)),
        _ => bail!("start did not finish"),
    }
}

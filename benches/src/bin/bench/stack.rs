//! One rosey home for a measure: a folder under `target/bench/homes/`, a `rosey.yaml`, plugins
//! installed with the real CLI, and the stack started with `rosey start`. The harness talks to
//! the running daemon the way the CLI does (one JSON line over `data/run/rosey.sock`), so no
//! CLI process start sits inside a timed section. Dropping a home stops its stack, kills any
//! process still naming the home, and deletes it (see [`crate::cleanup`]).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::UnixStream,
};

use crate::{cleanup, setup::Tools};

/// One unit of `rosey status --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Unit {
    /// Service or plugin name.
    pub name: String,
    /// running, starting, stopped, crashed, …
    pub state: String,
    /// Its process.
    pub pid: Option<u32>,
    /// A short note (the NATS URL for `nats`).
    pub detail: Option<String>,
}

/// `rosey status --json`, the parts the harness reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    /// The daemon's pid.
    pub pid: u32,
    /// nats, bot.
    pub services: Vec<Unit>,
    /// The plugins.
    pub plugins: Vec<Unit>,
}

impl Status {
    /// The unit called `name`, service or plugin.
    pub fn unit(&self, name: &str) -> Option<&Unit> {
        self.services
            .iter()
            .chain(&self.plugins)
            .find(|unit| unit.name == name)
    }
}

/// A home and, maybe, its running stack.
pub struct BenchHome {
    tools: Tools,
    path: PathBuf,
}

impl BenchHome {
    /// A fresh home `target/bench/homes/<label>-<pid>-<n>` with `config` as its rosey.yaml.
    pub fn new(tools: &Tools, label: &str, config: &str, keep: bool) -> Result<BenchHome> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = tools
            .bench_dir
            .join("homes")
            .join(format!("{label}-{}-{n}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove the stale {}", path.display()))?;
        }
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        cleanup::register_home(&path, keep)?;
        let home = BenchHome {
            tools: tools.clone(),
            path,
        };
        std::fs::write(home.path.join("rosey.yaml"), config)
            .with_context(|| format!("cannot write {}/rosey.yaml", home.path.display()))?;
        Ok(home)
    }

    /// The home folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A `rosey --home <home>` command with nats-server named; refused once the harness is
    /// being interrupted, so no stack starts after the cleanup.
    fn rosey(&self) -> Result<tokio::process::Command> {
        if cleanup::stopping() {
            bail!("interrupted");
        }
        let mut command = tokio::process::Command::new(&self.tools.rosey);
        command
            .arg("--home")
            .arg(&self.path)
            .env("ROSEY_NATS_SERVER", &self.tools.nats)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        Ok(command)
    }

    /// `rosey plugin install <archive>`.
    pub async fn install(&self, archive: &Path) -> Result<()> {
        let output = self
            .rosey()?
            .args(["plugin", "install"])
            .arg(archive)
            .output()
            .await
            .context("cannot run rosey plugin install")?;
        if !output.status.success() {
            bail!(
                "rosey plugin install {} failed: {}{}",
                archive.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Runs `rosey --home <home> <args>`; returns how long it took, failing with its output
    /// when it fails.
    pub async fn cli(&self, args: &[&str]) -> Result<Duration> {
        let started = Instant::now();
        let output = self
            .rosey()?
            .args(args)
            .output()
            .await
            .with_context(|| format!("cannot run rosey {}", args.join(" ")))?;
        let took = started.elapsed();
        if !output.status.success() {
            bail!(
                "rosey {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(took)
    }

    /// `rosey start`; returns how long it took to return.
    pub async fn start(&self) -> Result<Duration> {
        let started = Instant::now();
        let output = self
            .rosey()?
            .arg("start")
            .output()
            .await
            .context("cannot run rosey start")?;
        let took = started.elapsed();
        if !output.status.success() {
            bail!(
                "rosey start failed in {}: {}{}\n--- last lines of logs/rosey.log:\n{}",
                self.path.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                self.log_tail("logs/rosey.log", 30)
            );
        }
        Ok(took)
    }

    /// `rosey stop`, waiting until the daemon is gone.
    pub async fn stop(&self) -> Result<()> {
        let output =
            tokio::time::timeout(Duration::from_secs(60), self.rosey()?.arg("stop").output())
                .await
                .context("rosey stop took over 60 s")?
                .context("cannot run rosey stop")?;
        if !output.status.success() {
            bail!(
                "rosey stop failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// The last `lines` lines of a file of the home, for error messages.
    pub fn log_tail(&self, relative: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.path.join(relative)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Sends one control request (a JSON object) to the daemon; returns its `data` on success.
    /// Fails when the daemon has not answered within 60 s, so no measure waits forever.
    pub async fn control(&self, request: &serde_json::Value) -> Result<serde_json::Value> {
        tokio::time::timeout(Duration::from_secs(60), self.control_unbounded(request))
            .await
            .with_context(|| format!("the daemon did not answer {request} within 60 s"))?
    }

    /// Sends `request` now, on a task of its own, so that what the caller does next cannot
    /// delay it (a timed section starts when the request leaves); the answer comes later.
    pub fn control_now(
        &self,
        request: &serde_json::Value,
    ) -> tokio::task::JoinHandle<Result<serde_json::Value>> {
        let socket = self.socket();
        let request = request.clone();
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(60), Self::control_at(&socket, &request))
                .await
                .with_context(|| format!("the daemon did not answer {request} within 60 s"))?
        })
    }

    fn socket(&self) -> PathBuf {
        self.path.join("data/run/rosey.sock")
    }

    async fn control_unbounded(&self, request: &serde_json::Value) -> Result<serde_json::Value> {
        Self::control_at(&self.socket(), request).await
    }

    /// Sends one control request, as [`BenchHome::control`] does, and times it: from the
    /// connect to the whole answer read (its JSON not yet parsed). Returns the time and the
    /// answer's `data`.
    pub async fn control_timed(
        &self,
        request: &serde_json::Value,
    ) -> Result<(Duration, serde_json::Value)> {
        let (answer, took) = tokio::time::timeout(
            Duration::from_secs(60),
            Self::exchange(&self.socket(), request),
        )
        .await
        .with_context(|| format!("the daemon did not answer {request} within 60 s"))??;
        Ok((took, Self::answer_data(request, &answer)?))
    }

    /// One request on the control socket at `socket`, the way the CLI sends it.
    async fn control_at(
        socket: &std::path::Path,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let (answer, _) = Self::exchange(socket, request).await?;
        Self::answer_data(request, &answer)
    }

    /// Connects to `socket`, sends `request` as one line and reads the one-line answer; returns
    /// it and the time from the connect to the answer's end.
    async fn exchange(
        socket: &std::path::Path,
        request: &serde_json::Value,
    ) -> Result<(String, Duration)> {
        let mut line = request.to_string();
        line.push('\n');
        let started = Instant::now();
        let mut stream = UnixStream::connect(&socket)
            .await
            .with_context(|| format!("cannot reach the daemon at {}", socket.display()))?;
        stream
            .write_all(line.as_bytes())
            .await
            .context("cannot send a control request")?;
        let mut answer = String::new();
        BufReader::new(stream)
            .read_line(&mut answer)
            .await
            .context("cannot read the daemon's answer")?;
        Ok((answer, started.elapsed()))
    }

    /// The `data` of the daemon's `answer` to `request`, or its refusal as an error.
    fn answer_data(request: &serde_json::Value, answer: &str) -> Result<serde_json::Value> {
        let answer: serde_json::Value = serde_json::from_str(answer)
            .with_context(|| format!("the daemon's answer is not JSON: {answer:?}"))?;
        if answer["ok"] == true {
            Ok(answer["data"].clone())
        } else {
            Err(anyhow!(
                "the daemon refused {request}: {}",
                answer["error"].as_str().unwrap_or("no reason given")
            ))
        }
    }

    /// The stack's status.
    pub async fn status(&self) -> Result<Status> {
        let data = self
            .control(&serde_json::json!({ "cmd": "status" }))
            .await?;
        serde_json::from_value(data).context("the daemon's status does not parse")
    }

    /// The NATS URL of the running stack.
    pub async fn nats_url(&self) -> Result<String> {
        let status = self.status().await?;
        status
            .unit("nats")
            .and_then(|unit| unit.detail.clone())
            .filter(|detail| detail.starts_with("nats://"))
            .context("the status gives no NATS URL for the nats service")
    }

    /// A new connection to the running stack's NATS as the daemon's user, with the password
    /// the daemon keeps in the home (the harness publishes commands, as the bot does).
    pub async fn nats_client(&self, name: &str) -> Result<async_nats::Client> {
        let url = self.nats_url().await?;
        let home = rosey_core::paths::Home::new(self.path());
        if !home.nats_credentials_file().exists() {
            // A rosey from before the bus had passwords (`--rosey PATH` measuring an older
            // build): its nats-server takes anonymous clients.
            return Ok(async_nats::ConnectOptions::new()
                .name(name)
                .connect(url.as_str())
                .await?);
        }
        let credentials = rosey_core::bus::Credentials::load_for_clients(&home)?;
        Ok(credentials
            .connect(&url, rosey_core::bus::BusUser::Daemon, name)
            .await?)
    }

    /// Polls the status until every plugin in `names` runs; fails after `timeout`.
    pub async fn wait_running(&self, names: &[String], timeout: Duration) -> Result<Status> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status().await?;
            let all = names.iter().all(|name| {
                status
                    .unit(name)
                    .is_some_and(|unit| unit.state == "running" && unit.pid.is_some())
            });
            if all {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("plugins not all running after {timeout:?}: {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for BenchHome {
    fn drop(&mut self) {
        cleanup::clean_home(&self.path);
    }
}

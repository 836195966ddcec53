//! Measure 7, the peer: Errbot (PyPI `errbot`) and its in-process test bot, installed with pip
//! into a throwaway venv under `target/bench/errbot-venv` (never system-wide), measured by
//! `benches/errbot/errbot_bench.py` the way the harness measures rosey: a plugin reload →
//! first reply, steady command → reply, and (unless skipped) the sustained rate, searched
//! the way [`crate::sustained`] searches rosey's. Anything that stops it (no python3, no venv
//! module, pip cannot reach PyPI, Errbot fails to start) is reported as the reason, never
//! papered over.

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::{
    cleanup,
    setup::Tools,
    sustained::{Search, Sustained},
};

/// The measuring script, shipped inside the harness.
const SCRIPT: &str = include_str!("../../../errbot/errbot_bench.py");

/// What the script reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrbotRun {
    /// Errbot's version.
    pub errbot_version: String,
    /// Python's version.
    pub python: String,
    /// `!plugin reload` → first reply after it, in ms.
    pub reload_ms: Vec<f64>,
    /// Probes answered before the reload was acknowledged.
    pub reload_answered_before_reloaded: usize,
    /// `!hello` → `hi`, in ms.
    pub steady_ms: Vec<f64>,
    /// The Python process's VmRSS after the reload and steady measures, in KiB.
    pub rss_kb: Option<u64>,
    /// The sustained rate, when it was asked for.
    #[serde(default)]
    pub sustained: Option<Sustained>,
}

/// Runs `command` with no input; fails with its output when it fails or outlives `limit`.
fn run_bounded(command: &mut Command, what: &str, limit: Duration) -> Result<String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    let pgid = child.id() as i32;
    cleanup::register_group(pgid);
    // Output is read on threads so a chatty child never blocks on a full pipe.
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            text
        })
    });
    let stderr = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
            text
        })
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().context("cannot wait for a child")? {
            break Some(status);
        }
        if Instant::now() > deadline {
            // SAFETY: plain syscall on the process group this function created.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: as above; anything the child left in its group goes too.
    unsafe { libc::killpg(pgid, libc::SIGKILL) };
    cleanup::unregister_group(pgid);
    let out = stdout
        .and_then(|thread| thread.join().ok())
        .unwrap_or_default();
    let err = stderr
        .and_then(|thread| thread.join().ok())
        .unwrap_or_default();
    let tail = |text: &str| {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    match status {
        None => bail!("{what} did not finish within {limit:?}\n{}", tail(&err)),
        Some(status) if !status.success() => {
            bail!("{what} failed ({status}):\n{}\n{}", tail(&out), tail(&err))
        }
        Some(_) => Ok(out),
    }
}

/// Makes the venv and installs Errbot (and pytest, which `errbot.backends.test` imports)
/// unless they are there; returns the venv's python.
fn venv(tools: &Tools) -> Result<std::path::PathBuf> {
    let venv = tools.bench_dir.join("errbot-venv");
    let python = venv.join("bin/python");
    let ready = python.is_file()
        && run_bounded(
            Command::new(&python).args(["-c", "import errbot.backends.test"]),
            "python -c 'import errbot.backends.test'",
            Duration::from_secs(60),
        )
        .is_ok();
    if ready {
        return Ok(python);
    }
    let system_python = std::env::var_os("BENCH_PYTHON").unwrap_or_else(|| "python3".into());
    if !python.is_file() {
        eprintln!("errbot: creating {}", venv.display());
        run_bounded(
            Command::new(&system_python).args(["-m", "venv"]).arg(&venv),
            "python3 -m venv (the peer needs Python 3 with its venv module)",
            Duration::from_secs(120),
        )?;
    }
    eprintln!("errbot: pip install errbot pytest into {}", venv.display());
    run_bounded(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "errbot",
            "pytest",
        ]),
        "pip install errbot pytest (from PyPI)",
        Duration::from_secs(600),
    )?;
    Ok(python)
}

/// Installs (if needed) and measures Errbot; `sustained` also searches its sustained rate.
pub fn measure(
    tools: &Tools,
    reloads: usize,
    steady: usize,
    warmup: usize,
    sustained: Option<Search>,
) -> Result<ErrbotRun> {
    let python = venv(tools)?;
    let work = tools.bench_dir.join("errbot");
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("cannot empty {}", work.display()))?;
    }
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let script = work.join("errbot_bench.py");
    std::fs::write(&script, SCRIPT)
        .with_context(|| format!("cannot write {}", script.display()))?;
    let out = run_bounded(
        Command::new(&python)
            .arg(&script)
            .arg(Path::new(&work).join("run"))
            .args([reloads.to_string(), steady.to_string(), warmup.to_string()])
            .args(sustained.map_or_else(Vec::new, |search| {
                vec![
                    search.step_secs.to_string(),
                    search.bisections.to_string(),
                    search.start_rate.to_string(),
                    search.max_rate.to_string(),
                    search.p99_limit_ms.to_string(),
                ]
            }))
            .current_dir(&work),
        "the Errbot measurement (errbot_bench.py)",
        Duration::from_secs(1200),
    )?;
    let line = out
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .context("errbot_bench.py printed no JSON")?;
    serde_json::from_str(line).with_context(|| format!("errbot_bench.py's JSON: {line}"))
}

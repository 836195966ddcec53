//! A new author's first loop: `rosey plugin new <name>` → the first answer to `!<name>` from
//! the running `rosey dev`, in seconds, the first build included.
//!
//! Flow. `rosey dev` adopts a plugin crate created in the `plugins/` folder of the workspace it
//! runs from, with no restart and no save, and builds and installs it at once: the author's
//! path of docs/PLUGINS.md ("Start here") and docs/OPERATORS.md ("Development mode"). (A crate
//! named by `dev.watch` must exist before `rosey dev` starts and is built on its first change
//! only.) So, leaving the repository alone, the harness makes a scratch author workspace under
//! `target/bench/homes/` (a `Cargo.toml` with an empty `[workspace]`, and `plugins/`), starts
//! `rosey dev` there (its home beside it, no `dev.watch`), waits for the stack, and runs `rosey
//! plugin new <name> --path <workspace>/plugins/<name>`. That workspace does not list
//! `plugins/*`, so the crate is what an author outside a rosey checkout gets: a workspace of its
//! own on the checkout's `rosey-abi` by path, with a fresh target folder (`CARGO_TARGET_DIR`
//! cleared), whose first build compiles rosey-abi, abi_stable and the rest (cargo's download
//! cache is shared). In a checkout's `plugins/` the crate would reuse rosey's target folder.
//!
//! Timing. From spawning `rosey plugin new` to the harness's NATS subscription receiving the
//! plugin's reply (`Hello, author!`) to `!<name>`, said in the local chat through the control
//! socket as `rosey say` does: once dev prints that the plugin was installed and started (or
//! the status shows it running), again every 200 ms while no such reply comes. Dev's lines,
//! stamped as they are read, give the parts: adopted by the watcher (after its debounce),
//! installed, and dev's own build figure (`built in X s`: cargo build and pack).

use std::{
    collections::VecDeque,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    sync::mpsc,
};

use crate::{
    cleanup, render::missing, report::Outcome, setup::Tools, stack::BenchHome, wire::Wire,
};

/// The plugin created; its command is the same word.
const NAME: &str = "greeter";

/// Who asks (exempt from the per-user rate limit, so a question asked before the plugin's
/// route exists cannot get the answer refused).
const USER: &str = "author";

/// The home's `rosey.yaml`.
const CONFIG: &str =
    "nats:\n  port: 0\nweb:\n  port: 0\nbot:\n  rate_limit: { exempt: [author] }\n";

/// The longest the first build and answer may take.
const LIMIT: Duration = Duration::from_secs(900);

/// What the measure found, in seconds from the start of `rosey plugin new`.
#[derive(Debug, Default, Serialize)]
pub struct NewPlugin {
    /// The plugin made.
    pub plugin: String,
    /// How it was done.
    pub flow: String,
    /// → the first answer arrived.
    pub total_secs: f64,
    /// → `rosey plugin new` returned.
    pub plugin_new_secs: f64,
    /// → `rosey dev` said it watches the new crate.
    pub adopted_secs: Option<f64>,
    /// → `rosey dev` said the plugin was installed and started.
    pub installed_secs: Option<f64>,
    /// The build and pack, as `rosey dev` reports it.
    pub build_secs: Option<f64>,
    /// The swap-in, as `rosey dev` reports it, in ms.
    pub swapped_in_ms: Option<f64>,
    /// Crates cargo compiled for the build.
    pub compiled_crates: usize,
    /// `rosey dev` start → its stack ready (before the clock starts).
    pub dev_start_secs: f64,
    /// The answer.
    pub answer: String,
}

/// A scratch folder registered for cleaning, removed (and anything running in it killed)
/// when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tools: &Tools, keep: bool) -> Result<Scratch> {
        let path = tools
            .bench_dir
            .join("homes")
            .join(format!("author-{}-0", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(path.join("plugins"))
            .with_context(|| format!("cannot create {}", path.display()))?;
        cleanup::register_home(&path, keep)?;
        let scratch = Scratch(path);
        std::fs::write(scratch.0.join("Cargo.toml"), "[workspace]\nmembers = []\n")
            .context("cannot write the scratch workspace's Cargo.toml")?;
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        cleanup::clean_home(&self.0);
    }
}

/// The running `rosey dev`, its whole process group killed when dropped.
struct Dev {
    child: tokio::process::Child,
    pgid: i32,
}

impl Drop for Dev {
    fn drop(&mut self) {
        // SAFETY: plain syscall on the process group this harness created for `rosey dev`.
        unsafe { libc::killpg(self.pgid, libc::SIGKILL) };
        cleanup::unregister_group(self.pgid);
    }
}

/// What `rosey dev` printed so far that the measure reads.
#[derive(Default)]
struct Seen {
    ready: bool,
    adopted: Option<Instant>,
    installed: Option<Instant>,
    build_secs: Option<f64>,
    swapped_in_ms: Option<f64>,
    failed: Option<String>,
    compiled: usize,
    tail: VecDeque<String>,
}

impl Seen {
    fn line(&mut self, at: Instant, line: String) {
        let text = line.trim_start();
        if text.starts_with("✓ Development mode active") {
            self.ready = true;
        } else if text.starts_with(&format!("+ {NAME}: new plugin crate")) {
            self.adopted.get_or_insert(at);
        } else if text.starts_with(&format!("✓ {NAME} v")) {
            self.installed.get_or_insert(at);
            self.build_secs = number_after(text, "built in ");
            self.swapped_in_ms = number_after(text, "swapped in ");
        } else if text.starts_with(&format!("✗ {NAME}")) {
            self.failed.get_or_insert(line.clone());
        } else if text.starts_with("Compiling ") {
            self.compiled += 1;
        }
        if self.tail.len() == 40 {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// The number right after `label` in `text` (`built in 31.4 s` → 31.4).
fn number_after(text: &str, label: &str) -> Option<f64> {
    let rest = &text[text.find(label)? + label.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Sends each line of `stream` with the time it was read.
fn forward(stream: impl AsyncRead + Unpin + Send + 'static, tx: mpsc::UnboundedSender<Line>) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    // A closed receiver still has the pipe drained, so dev never blocks.
                    let _ = tx.send((Instant::now(), line));
                }
            }
        }
    });
}

type Line = (Instant, String);

/// Runs the measure in a scratch workspace and home, removed afterwards.
pub async fn measure(tools: &Tools, keep: bool) -> Result<NewPlugin> {
    let home = BenchHome::new(tools, "newplugin", CONFIG, keep)?;
    let author = Scratch::new(tools, keep)?;
    let result = run(tools, &home, &author.0).await;
    drop(author);
    drop(home);
    result
}

async fn run(tools: &Tools, home: &BenchHome, workspace: &Path) -> Result<NewPlugin> {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&tools.rosey)
        .arg("--home")
        .arg(home.path())
        .arg("dev")
        .current_dir(workspace)
        .env("ROSEY_NATS_SERVER", &tools.nats)
        .env("NO_COLOR", "1")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start rosey dev")?;
    let pgid = child.id().context("rosey dev has no pid")? as i32;
    cleanup::register_group(pgid);
    let (tx, mut lines) = mpsc::unbounded_channel();
    if let Some(out) = child.stdout.take() {
        forward(out, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        forward(err, tx);
    }
    let mut dev = Dev { child, pgid };
    let mut seen = Seen::default();
    let result = timed(
        tools, home, workspace, &mut dev, &mut lines, &mut seen, started,
    )
    .await;
    let result = result.with_context(|| {
        format!(
            "--- last lines of rosey dev:\n{}\n--- last lines of logs/rosey.log:\n{}",
            Vec::from(seen.tail.clone()).join("\n"),
            home.log_tail("logs/rosey.log", 20)
        )
    });
    // Stopped the way an author would (the home's cleanup kills whatever is left).
    if home.stop().await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(10), dev.child.wait()).await;
    }
    drop(dev);
    result
}

/// Waits for dev's stack, creates the crate and times it to its first answer.
async fn timed(
    tools: &Tools,
    home: &BenchHome,
    workspace: &Path,
    dev: &mut Dev,
    lines: &mut mpsc::UnboundedReceiver<Line>,
    seen: &mut Seen,
    started: Instant,
) -> Result<NewPlugin> {
    let ready_by = Instant::now() + Duration::from_secs(60);
    while !seen.ready {
        if let Some(status) = dev.child.try_wait().context("cannot wait for rosey dev")? {
            bail!("rosey dev exited ({status}) before its stack was ready");
        }
        if Instant::now() > ready_by {
            bail!("rosey dev's stack not ready within 60 s");
        }
        if let Ok(Some((at, line))) =
            tokio::time::timeout(Duration::from_millis(100), lines.recv()).await
        {
            seen.line(at, line);
        }
    }
    let dev_start_secs = started.elapsed().as_secs_f64();
    let wire = Wire::connect(home.nats_client("rosey-bench").await?).await?;
    let mut said = wire.hear_said();

    let crate_dir = workspace.join("plugins").join(NAME);
    let start = Instant::now();
    let output = tokio::process::Command::new(&tools.rosey)
        .args(["plugin", "new", NAME, "--path"])
        .arg(&crate_dir)
        .current_dir(workspace)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run rosey plugin new")?;
    let new_done = Instant::now();
    if !output.status.success() {
        bail!(
            "rosey plugin new failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let ask = serde_json::json!({
        "cmd": "say", "text": format!("!{NAME}"), "user": USER, "timeout_ms": 2000
    });
    let mut asking: Option<tokio::task::JoinHandle<Result<serde_json::Value>>> = None;
    let (mut last_asked, mut next_status, mut running) = (start, start, false);
    let mut other = String::new();
    let deadline = tokio::time::Instant::from_std(start + LIMIT);
    let (answered, answer) = loop {
        tokio::select! {
            biased;
            heard = said.recv() => {
                let heard = heard.context("the NATS subscription ended")?;
                if heard.plugin == NAME && heard.in_reply_to.is_some() {
                    if heard.text.starts_with("Hello, ") {
                        break (heard.stamp.at, heard.text);
                    }
                    other = heard.text;
                }
            }
            line = lines.recv() => {
                if let Some((at, line)) = line {
                    seen.line(at, line);
                }
                if let Some(failed) = &seen.failed {
                    bail!("rosey dev could not build or start {NAME}: {failed}");
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = tokio::time::sleep_until(deadline) => {
                bail!("no answer to !{NAME} within {LIMIT:?} (it said {other:?})");
            }
        }
        if let Some(status) = dev.child.try_wait().context("cannot wait for rosey dev")? {
            bail!("rosey dev exited ({status}) before {NAME} answered");
        }
        // Dev's `✓` line is the cue; the status is the fallback, should its wording change.
        running |= seen.installed.is_some();
        if !running && Instant::now() >= next_status {
            next_status = Instant::now() + Duration::from_millis(250);
            running = home.status().await.is_ok_and(|status| {
                status
                    .unit(NAME)
                    .is_some_and(|unit| unit.state == "running")
            });
        }
        let idle = asking.as_ref().is_none_or(|handle| handle.is_finished());
        if running && idle && last_asked.elapsed() >= Duration::from_millis(200) {
            asking = Some(home.control_now(&ask));
            last_asked = Instant::now();
        }
    };
    if let Some(handle) = asking {
        handle.abort();
    }
    while let Ok((at, line)) = lines.try_recv() {
        seen.line(at, line);
    }
    let secs = |at: Instant| at.saturating_duration_since(start).as_secs_f64();
    Ok(NewPlugin {
        plugin: NAME.to_owned(),
        flow: "rosey dev running in a scratch workspace with plugins/; rosey plugin new \
               <name> --path <workspace>/plugins/<name> (a crate of its own on the checkout's \
               rosey-abi, fresh target folder); !<name> said once dev installed it"
            .to_owned(),
        total_secs: secs(answered),
        plugin_new_secs: secs(new_done),
        adopted_secs: seen.adopted.map(secs),
        installed_secs: seen.installed.map(secs),
        build_secs: seen.build_secs,
        swapped_in_ms: seen.swapped_in_ms,
        compiled_crates: seen.compiled,
        dev_start_secs,
        answer,
    })
}

/// The report's row: one sample, in seconds, and its parts below it.
pub fn render(out: &mut String, new_plugin: &Outcome<NewPlugin>) {
    let Some(run) = new_plugin.get() else {
        missing(out, "plugin new → first answer in rosey dev", new_plugin);
        return;
    };
    let total = run.total_secs;
    let _ = writeln!(
        out,
        "{:<52} {:>6} {total:>7.2} s  {total:>7.2} s  {total:>7.2} s    reported",
        "plugin new → first answer in rosey dev", 1
    );
    let at = |secs: Option<f64>| secs.map_or("-".to_owned(), |secs| format!("{secs:.2} s"));
    let _ = writeln!(
        out,
        "    (plugin new returned at {:.2} s, adopted by rosey dev at {}, installed at {}; \
         dev's build and pack {} ({} crates compiled), swap-in {}; dev's stack took {:.2} s \
         to start, before)",
        run.plugin_new_secs,
        at(run.adopted_secs),
        at(run.installed_secs),
        at(run.build_secs),
        run.compiled_crates,
        run.swapped_in_ms
            .map_or("-".to_owned(), |ms| format!("{ms:.0} ms")),
        run.dev_start_secs
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_lines_give_the_parts() {
        let mut seen = Seen::default();
        for line in [
            "✓ Development mode active",
            "   Compiling rosey-abi v0.1.0 (/x/rosey-abi)",
            "+ greeter: new plugin crate /x/plugins/greeter, now watched",
            "✓ greeter v0.1.0+dev.1 installed and started (built in 31.4 s, swapped in 12 ms)",
        ] {
            seen.line(Instant::now(), line.to_owned());
        }
        assert!(seen.ready);
        assert_eq!(seen.compiled, 1);
        assert!(seen.adopted.is_some() && seen.installed.is_some());
        assert_eq!(seen.build_secs, Some(31.4));
        assert_eq!(seen.swapped_in_ms, Some(12.0));
        assert_eq!(number_after("built in s", "built in "), None);
    }
}

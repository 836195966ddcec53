//! Leaves nothing behind. Every home the harness creates and every process group it starts is
//! registered here; [`clean_home`] stops a home's stack (`rosey stop`), kills whatever still
//! mentions the home in its command line, and deletes the home. [`cleanup_all`] does that for
//! everything registered, and a signal thread runs it on Ctrl+C, SIGTERM or SIGHUP before the
//! harness exits, so an interrupted run leaves no daemon, nats-server or plugin host running.

pub use rosey_e2e::stack::{processes_mentioning, processes_where};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, MutexGuard, OnceLock,
    },
    time::{Duration, Instant},
};

/// Set once a signal asked the harness to stop: no new home or stack may start after it.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// `true` once the harness is being interrupted.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// What is registered for cleaning.
#[derive(Default)]
struct Registry {
    /// The rosey binary, for `rosey stop`.
    rosey: Option<PathBuf>,
    /// The folder all homes are made in; each home's name carries this process's pid.
    homes_root: Option<PathBuf>,
    /// Homes that may have a stack running, and whether to keep their files.
    homes: Vec<(PathBuf, bool)>,
    /// Process groups started directly (Errbot's Python process).
    groups: Vec<i32>,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Held for the whole of a cleanup, so the signal thread and the main thread never clean the
/// same home at once.
fn cleaning() -> MutexGuard<'static, ()> {
    static CLEANING: Mutex<()> = Mutex::new(());
    CLEANING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Names the rosey binary used to stop stacks, and the folder homes are made in.
pub fn set_rosey(rosey: &Path, homes_root: &Path) {
    let mut registry = registry();
    registry.rosey = Some(rosey.to_path_buf());
    registry.homes_root = Some(homes_root.to_path_buf());
}

/// Registers a home; `keep` leaves its files for inspection after its stack is stopped.
/// Refused once the harness is being interrupted.
pub fn register_home(home: &Path, keep: bool) -> anyhow::Result<()> {
    let mut registry = registry();
    if stopping() {
        anyhow::bail!("interrupted");
    }
    registry.homes.push((home.to_path_buf(), keep));
    Ok(())
}

/// Registers a process group the harness started.
pub fn register_group(pgid: i32) {
    registry().groups.push(pgid);
}

/// Forgets a process group that has ended.
pub fn unregister_group(pgid: i32) {
    registry().groups.retain(|group| *group != pgid);
}

/// Stops and removes one registered home (no-op when it is not registered any more).
pub fn clean_home(home: &Path) {
    let _guard = cleaning();
    let (rosey, entry) = {
        let mut registry = registry();
        let position = registry.homes.iter().position(|(path, _)| path == home);
        let entry = position.map(|index| registry.homes.remove(index));
        (registry.rosey.clone(), entry)
    };
    if let Some((path, keep)) = entry {
        stop_and_remove(rosey.as_deref(), &path, keep);
    }
}

/// Cleans every registered home and kills every registered process group.
pub fn cleanup_all() {
    let _guard = cleaning();
    let (rosey, homes, groups, homes_root) = {
        let mut registry = registry();
        (
            registry.rosey.clone(),
            std::mem::take(&mut registry.homes),
            std::mem::take(&mut registry.groups),
            registry.homes_root.clone(),
        )
    };
    for pgid in groups {
        // SAFETY: plain syscall on a process group this harness created.
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
    }
    for (path, keep) in homes {
        stop_and_remove(rosey.as_deref(), &path, keep);
    }
    // Last sweep: anything naming a home of this run (`<root>/<label>-<pid>-<n>`), in case a
    // stack was being started while the registered ones were stopped.
    if let Some(root) = homes_root {
        let tag = format!("-{}-", std::process::id());
        let needle = root.to_string_lossy().into_owned();
        for pid in processes_where(|cmdline| {
            cmdline.split(needle.as_str()).skip(1).any(|rest| {
                rest.split('/')
                    .nth(1)
                    .is_some_and(|home| home.contains(&tag))
            })
        }) {
            // SAFETY: plain syscall on a process whose command line names a home of this run.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// `rosey stop` (bounded in time), then SIGKILL for anything still mentioning `home`, then
/// the home's files unless `keep`.
fn stop_and_remove(rosey: Option<&Path>, home: &Path, keep: bool) {
    if home.join("data/run/rosey.sock").exists() {
        if let Some(rosey) = rosey {
            run_bounded(
                Command::new(rosey).arg("--home").arg(home).arg("stop"),
                Duration::from_secs(20),
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_mentioning(home);
        if left.is_empty() {
            break;
        }
        for pid in &left {
            // SAFETY: plain syscall on a process whose command line names our temporary home.
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
        if Instant::now() > deadline {
            eprintln!(
                "warning: processes {left:?} of {} survive SIGKILL",
                home.display()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !keep {
        if let Err(err) = std::fs::remove_dir_all(home) {
            if err.kind() != std::io::ErrorKind::NotFound {
                eprintln!("warning: cannot remove {}: {err}", home.display());
            }
        }
    }
}

/// Runs `command` quietly, killing it after `limit`.
fn run_bounded(command: &mut Command, limit: Duration) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return };
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts the thread that cleans up and exits on SIGINT, SIGTERM or SIGHUP.
pub fn install_signal_handler() -> anyhow::Result<()> {
    use anyhow::Context;
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot build the signal thread's runtime")?;
    // Registered here, on the calling thread, so a signal arriving right after this returns is
    // already ours rather than the default (which would kill the harness and leave stacks).
    let mut streams = runtime.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        ))
    })?;
    std::thread::Builder::new()
        .name("bench-signals".to_owned())
        .spawn(move || {
            let name = runtime.block_on(async {
                let (int, term, hup) = &mut streams;
                tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                    _ = hup.recv() => "SIGHUP",
                }
            });
            eprintln!("\n{name}: stopping every stack the harness started, then exiting");
            STOPPING.store(true, Ordering::SeqCst);
            cleanup_all();
            std::process::exit(130);
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

//! The plugin sandbox: what the host applies to itself on `Open`, after it learns which plugin
//! it runs and before the plugin's library is loaded (so no plugin code, constructors
//! included, ever runs outside it).
//!
//! In order: resource limits (`RLIMIT_DATA`, `RLIMIT_NOFILE`, `RLIMIT_CORE` 0), the plugin's
//! storage folder and its private temp folder (`TMPDIR`), `PR_SET_NO_NEW_PRIVS`, Landlock
//! (files, TCP ports, signal and abstract-socket scoping: `landlock.rs`) and a small seccomp
//! filter for what Landlock does not cover (`seccomp.rs`). Every step that the kernel cannot
//! apply becomes a *gap*, one short line; no gaps means the sandbox is full. The host runs
//! single-threaded until `Start`, so everything applied here holds for every thread the plugin
//! ever has.

mod landlock;
mod seccomp;

use std::path::{Path, PathBuf};

use crate::wire::Network;

/// The private temp folder inside a plugin's storage folder (`TMPDIR` points there).
pub const TMP_DIR_NAME: &str = "tmp";

/// What one plugin may do, from its manifest and the daemon's layout.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The plugin's version folder: read-only.
    pub version_dir: PathBuf,
    /// The plugin's storage folder: read-write (with the temp folder inside). None for the
    /// install-time load check, which writes nothing.
    pub storage_dir: Option<PathBuf>,
    /// TCP the plugin may use.
    pub network: Network,
    /// `RLIMIT_DATA` in MiB (0: none).
    pub memory_mb: u64,
    /// `RLIMIT_NOFILE` (0: the default, [`DEFAULT_OPEN_FILES`]).
    pub open_files: u64,
}

/// `RLIMIT_NOFILE` when the manifest sets none.
pub const DEFAULT_OPEN_FILES: u64 = 256;

/// A failure that stops the host: the plugin would have nowhere to keep its files.
#[derive(Debug, thiserror::Error)]
#[error("cannot create {}: {source}", path.display())]
pub struct SandboxError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Applies `policy` to this process; the gaps (empty: the sandbox is full).
pub fn apply(policy: &Policy) -> Result<Vec<String>, SandboxError> {
    let mut gaps = Vec::new();
    limits(policy, &mut gaps);
    if let Some(storage_dir) = &policy.storage_dir {
        let tmp = storage_dir.join(TMP_DIR_NAME);
        for dir in [storage_dir, &tmp] {
            std::fs::create_dir_all(dir).map_err(|source| SandboxError {
                path: dir.clone(),
                source,
            })?;
        }
        // The host is still single-threaded here (the heartbeat thread starts after `Start`).
        std::env::set_var("TMPDIR", &tmp);
    }
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        gaps.push(format!("no_new_privs: {}", std::io::Error::last_os_error()));
    }
    // Landlock (before ABI 8) confines the calling thread and the threads it starts later,
    // not threads already running: there must be none.
    if let Some(threads) = thread_count().filter(|threads| *threads > 1) {
        gaps.push(format!(
            "{threads} threads were running when Landlock was applied: only this one is confined"
        ));
    }
    gaps.extend(landlock::restrict(policy));
    if let Err(err) = seccomp::install(&policy.network) {
        gaps.push(format!("seccomp filter not installed: {err}"));
    }
    Ok(gaps)
}

/// The policy of the install-time load check (`plugin-host check`): the library's folder
/// read-only, no storage, no network, default limits. Best effort: the check only loads the
/// library and exits.
pub fn for_check(library: &Path) -> Policy {
    Policy {
        version_dir: library.parent().unwrap_or(library).to_path_buf(),
        storage_dir: None,
        network: Network::None,
        memory_mb: 512,
        open_files: DEFAULT_OPEN_FILES,
    }
}

/// The resource limits; a limit the kernel refuses is a gap.
fn limits(policy: &Policy, gaps: &mut Vec<String>) {
    let megabytes = policy.memory_mb;
    if megabytes > 0 {
        let bytes = megabytes.saturating_mul(1024 * 1024);
        if let Err(err) = set_limit(libc::RLIMIT_DATA, bytes) {
            gaps.push(format!("memory limit (RLIMIT_DATA): {err}"));
        }
    }
    let files = if policy.open_files == 0 {
        DEFAULT_OPEN_FILES
    } else {
        policy.open_files
    };
    if let Err(err) = set_limit(libc::RLIMIT_NOFILE, files) {
        gaps.push(format!("open files limit (RLIMIT_NOFILE): {err}"));
    }
    if let Err(err) = set_limit(libc::RLIMIT_CORE, 0) {
        gaps.push(format!("no core dumps (RLIMIT_CORE): {err}"));
    }
}

/// Sets soft and hard limit `resource` to `value` (never above the current hard limit: only
/// a privileged process may raise it).
fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass.
    if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let value = (value as libc::rlim_t).min(current.rlim_max);
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// This process's thread count (`Threads:` in `/proc/self/status`), when it can be read.
fn thread_count() -> Option<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// Whether `path` exists as a folder (rules on files take only file rights).
fn is_dir(path: &Path) -> bool {
    path.metadata().map(|meta| meta.is_dir()).unwrap_or(false)
}

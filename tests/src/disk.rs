//! A stack whose message store sits on a small disk of its own: `rosey start` runs in a user
//! and mount namespace of its own (`unshare -rm`) with a tmpfs of a few MiB mounted on the
//! home's NATS store folder, so the daemon and everything it starts see that small disk there.
//! The control socket and pid file (`data/run/`) and the logs stay on the real disk, outside
//! the mount, so `rosey status`, `rosey say` and `rosey stop` run outside the namespace as
//! usual; the test reaches the small disk through `/proc/<daemon pid>/root`, which opens paths
//! in the daemon's mount namespace. The namespace (and the tmpfs) ends with its last process.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use crate::{
    cli::{rosey_bin, HOME_MARK_ENV},
    stack::TestStack,
};

/// The file [`SmallDisk::fill`] writes.
const FILLER: &str = "disk-filler";

/// A [`TestStack`] started on a small disk (see the module documentation). Dropping it stops
/// the stack like any other.
pub struct SmallDisk {
    /// The stack (its home, its CLI, its status).
    pub stack: TestStack,
    /// The small disk's size in MiB.
    mib: u32,
}

impl SmallDisk {
    /// A home with `plugins` installed and `config` as its rosey.yaml, whose store will be on
    /// a disk of `mib` MiB. Panics, saying what is missing, when this machine cannot mount a
    /// tmpfs in a user namespace (the test cannot run without it, and must not pass).
    pub fn new(plugins: &[&str], config: &str, mib: u32) -> SmallDisk {
        require_namespaces();
        let stack = TestStack::with_config(plugins, config);
        std::fs::create_dir_all(store_dir(&stack.home.path())).expect("make the store folder");
        SmallDisk { stack, mib }
    }

    /// `rosey start` inside a new user and mount namespace with the small disk mounted; what
    /// it returned. Its daemon keeps the namespace alive.
    pub fn start(&self) -> Output {
        let home = self.stack.home.path();
        let mut command = Command::new("unshare");
        command
            .args(["--user", "--map-root-user", "--mount", "--propagation", "private"])
            .arg("sh")
            .arg("-c")
            .arg(r#"mount -t tmpfs -o "size=$1m" rosey-small-disk "$2" && exec "$3" --home "$4" start"#)
            .arg("sh")
            .arg(self.mib.to_string())
            .arg(store_dir(&home))
            .arg(rosey_bin())
            .arg(&home)
            .current_dir(self.stack.home.scratch())
            .env_remove("ROSEY_HOME")
            .env(HOME_MARK_ENV, &home)
            .stdin(Stdio::null());
        command.output().expect("run unshare")
    }

    /// [`SmallDisk::start`], asserting it succeeded; returns what it printed.
    pub fn start_ok(&self) -> String {
        let out = self.start();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "rosey start on a small disk failed: {text}"
        );
        text
    }

    /// The store folder on the small disk, as seen from outside the namespace (through the
    /// running daemon's root).
    pub fn store(&self) -> PathBuf {
        let daemon = self.stack.daemon_pid().expect("the daemon's pid file");
        let inside = store_dir(&self.stack.home.path());
        Path::new(&format!("/proc/{daemon}/root")).join(inside.strip_prefix("/").expect("absolute"))
    }

    /// What is free on the small disk.
    pub fn free_bytes(&self) -> u64 {
        free_bytes(&self.store())
    }

    /// Fills the small disk: writes a file until no byte more fits.
    pub fn fill(&self) {
        let path = self.store().join(FILLER);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|err| panic!("open {}: {err}", path.display()));
        let mut chunk = 1 << 20;
        while chunk >= 512 {
            match file.write_all(&vec![0u8; chunk]) {
                Ok(()) => {}
                Err(err) if err.raw_os_error() == Some(libc::ENOSPC) => chunk /= 2,
                Err(err) => panic!("write {}: {err}", path.display()),
            }
        }
        let _ = file.flush();
    }

    /// Deletes what [`SmallDisk::fill`] wrote.
    pub fn free(&self) {
        let path = self.store().join(FILLER);
        std::fs::remove_file(&path)
            .unwrap_or_else(|err| panic!("remove {}: {err}", path.display()));
    }
}

/// The home's NATS store folder (where the small disk is mounted).
fn store_dir(home: &Path) -> PathBuf {
    rosey_core::paths::Home::new(home).nats_store_dir()
}

/// What an unprivileged writer may still put on the file system holding `path`.
fn free_bytes(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in a path");
    // SAFETY: statvfs only writes into the struct we pass.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::statvfs(path.as_ptr(), &mut stats) };
    assert_eq!(done, 0, "statvfs: {}", std::io::Error::last_os_error());
    (stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64)
}

/// Panics, naming what is missing, unless a user and mount namespace can be made here and a
/// tmpfs mounted in it (`unshare -rm`, as the small disk needs).
pub fn require_namespaces() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--propagation",
            "private",
        ])
        .arg("sh")
        .arg("-c")
        .arg(r#"mount -t tmpfs -o size=1m rosey-small-disk "$1""#)
        .arg("sh")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the disk tests need an unprivileged user and mount namespace with a tmpfs mounted in it (`unshare -rm` then `mount -t tmpfs`), which this machine refused ({}): {}; enable user namespaces (e.g. sysctl kernel.unprivileged_userns_clone=1 or user.max_user_namespaces > 0) to run them",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => panic!(
            "the disk tests need `unshare` (util-linux) to make a user and mount namespace: {err}"
        ),
    }
}

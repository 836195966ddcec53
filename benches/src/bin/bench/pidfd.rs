//! Processes of a stack, watched and killed through pidfds: a pidfd names one process for as
//! long as it is open, so a pid reused after an exit is never signalled by mistake, and it
//! becomes readable the moment the kernel reports the exit, which is when crashes are timed.

use std::{
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    time::Instant,
};

use anyhow::{Context, Result};
use tokio::io::{unix::AsyncFd, Interest};

/// An open pidfd of a process, readable once it has exited.
pub struct PidFd(AsyncFd<OwnedFd>);

impl PidFd {
    /// Opens a pidfd for `pid`; fails when there is no such process.
    pub fn open(pid: u32) -> Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot open a pidfd for process {pid}"));
        }
        // SAFETY: a fresh fd that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the OwnedFd is open and stays the same fd for as long as the AsyncFd owns it.
        let watched = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
            .map_err(std::io::Error::from)
            .context("cannot watch a pidfd with tokio")?;
        Ok(PidFd(watched))
    }

    /// Waits until the process has exited; returns when that was seen.
    pub async fn exited(&self) -> Result<Instant> {
        let _guard = self.0.readable().await.context("cannot wait on a pidfd")?;
        Ok(Instant::now())
    }

    /// Sends SIGKILL to the process this pidfd names (and to no other, whatever its pid).
    pub fn kill(&self) -> Result<()> {
        let fd = self.0.get_ref().as_raw_fd();
        // SAFETY: pidfd_send_signal on an fd this struct owns, no siginfo, no flags.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd,
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error()).context("pidfd_send_signal failed");
        }
        Ok(())
    }
}

/// `true` while process `pid` exists.
pub fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// `true` when `pid` is part of the stack of `home`: its command line names the home, or its
/// parent is the daemon `daemon`. Checked before a pid taken from the status or a notice is
/// killed.
pub fn of_stack(pid: u32, home: &Path, daemon: u32) -> bool {
    let needle = home.to_string_lossy().into_owned();
    let names_home = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .is_ok_and(|cmdline| cmdline.contains(&needle));
    names_home || parent(pid) == Some(daemon)
}

/// The parent pid of `pid`, from `/proc/<pid>/stat` (the field after the command's `)`).
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

//! Child processes that cannot outlive the test that started them.
//!
//! Every child is started in a process group of its own and with a parent-death signal; the
//! guard kills the whole group when dropped, so a failing (panicking) test cleans up too.

use std::{
    os::unix::process::{CommandExt, ExitStatusExt},
    process::{Child, Command, ExitStatus},
    time::{Duration, Instant},
};

/// A child process (and its process group), killed on drop.
pub struct ChildGuard {
    child: Child,
    name: String,
}

impl ChildGuard {
    /// Spawns `command` in a new process group; panics with `name` in the message on failure.
    pub fn spawn(name: &str, mut command: Command) -> ChildGuard {
        command.process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
        ChildGuard {
            child,
            name: name.to_owned(),
        }
    }

    /// The child's stderr, when it was piped (taken once).
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdout, when it was piped (taken once).
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Sends `signal` to the child's whole process group.
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain syscall on a pid we own.
        unsafe {
            libc::killpg(self.child.id() as i32, signal);
        }
    }

    /// Waits up to `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return None,
            }
        }
    }

    /// Waits for exit, panicking after `timeout` (the guard still kills it on drop).
    pub fn expect_exit(&mut self, timeout: Duration) -> ExitStatus {
        self.wait_timeout(timeout)
            .unwrap_or_else(|| panic!("{} did not exit within {timeout:?}", self.name))
    }

    /// Exit code, or `None` when killed by a signal.
    pub fn code_of(status: ExitStatus) -> Option<i32> {
        status.code()
    }

    /// Signal that ended the process, if any.
    pub fn signal_of(status: ExitStatus) -> Option<i32> {
        status.signal()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

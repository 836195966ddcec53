//! Child processes the stack owns (nats-server, plugin hosts): started in a process group of
//! their own, killed as a group, and never outliving the daemon.
//!
//! Every child is forked from one dedicated spawner thread that lives as long as the process,
//! with `PR_SET_PDEATHSIG = SIGKILL`: Linux sends that signal when the *thread* that forked the
//! child exits, so forking from short-lived tokio worker or blocking threads would kill children
//! at random; forking from a thread that only ends with the process makes "the daemon died" (even
//! by SIGKILL) the only trigger. A child's exit is awaited through a pidfd, so the owner learns
//! of it at once, as an event, with no polling.
//!
//! A child started with [`Spawner::spawn_logged`] writes its stdout and stderr into one pipe the
//! daemon reads: each line goes to the [`LogHub`] under the child's source (only the daemon
//! writes log files), and the last one is kept as the child's "last words" for when it dies
//! while starting.

use std::{
    io,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::process::{CommandExt, ExitStatusExt},
    },
    process::{Child, Command, ExitStatus},
    sync::{mpsc, Arc, Mutex},
    thread,
    time::Duration,
};

use rosey_core::logs::{parse_line, Level, LogHub, LogSource};
use tokio::{io::unix::AsyncFd, sync::watch};

/// A line longer than this is written in pieces (a child printing without newlines must not
/// grow the daemon's memory).
const MAX_LINE: usize = 16 * 1024;

type SpawnReply = tokio::sync::oneshot::Sender<io::Result<Child>>;

/// Forks children from one long-lived thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Spawner {
    requests: mpsc::Sender<(Command, SpawnReply)>,
}

impl Spawner {
    /// Starts the spawner thread.
    pub fn new() -> io::Result<Spawner> {
        let (requests, queue) = mpsc::channel::<(Command, SpawnReply)>();
        thread::Builder::new()
            .name("rosey-spawner".to_owned())
            .spawn(move || {
                for (mut command, reply) in queue {
                    let _ = reply.send(command.spawn());
                }
                // The queue closes only when every handle is gone; parking keeps this thread
                // (and so the children's parent-death signal) alive for the process's life.
                loop {
                    thread::park();
                }
            })?;
        Ok(Spawner { requests })
    }

    /// Starts `command` in a new process group, to be killed if this process dies.
    pub async fn spawn(&self, mut command: Command) -> io::Result<ChildProcess> {
        command.process_group(0);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() == 1 {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send((command, reply))
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
        let child = answer
            .await
            .map_err(|_| io::Error::other("the spawner thread dropped the request"))??;
        ChildProcess::watch(child)
    }

    /// Like [`Spawner::spawn`], with the child's stdout and stderr piped into `log`.
    pub async fn spawn_logged(
        &self,
        mut command: Command,
        log: ChildLog,
    ) -> io::Result<ChildProcess> {
        let (reader, writer) = io::pipe()?;
        // Both ends are close-on-exec; the command (holding the write ends) is dropped by the
        // spawner thread right after the fork, so the pipe ends when the child's output does.
        command.stdout(writer.try_clone()?).stderr(writer);
        let output = Output::pump(reader, log)?;
        let mut child = self.spawn(command).await?;
        child.output = Some(output);
        Ok(child)
    }

    /// Like [`Spawner::spawn_logged`], and the child gets one end of a fresh socketpair per
    /// entry of `child_fds`, at that descriptor (its only inherited descriptors besides
    /// stdio); the parent's ends are returned, in order. The pairs are close-on-exec, so no
    /// other child inherits them.
    pub async fn spawn_with_channels(
        &self,
        mut command: Command,
        log: ChildLog,
        child_fds: &[i32],
    ) -> io::Result<(ChildProcess, Vec<tokio::net::UnixStream>)> {
        let mut ours = Vec::with_capacity(child_fds.len());
        let mut theirs = Vec::with_capacity(child_fds.len());
        for &child_fd in child_fds {
            let (parent_end, child_end) = std::os::unix::net::UnixStream::pair()?;
            ours.push(parent_end);
            theirs.push((OwnedFd::from(child_end), child_fd));
        }
        // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec. The child
        // ends move into the closure, so they stay open until the command is dropped (right
        // after the fork, on the spawner thread), which closes the parent's copies. A child end
        // that happens to sit on another entry's target descriptor is first moved out of the
        // way (the targets are small numbers, above stdio, that a fresh socketpair rarely
        // gets, but may).
        if theirs.len() > MAX_CHANNELS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("at most {MAX_CHANNELS} channels per child"),
            ));
        }
        unsafe {
            command.pre_exec(move || {
                // No allocation here (not async-signal-safe): a fixed array.
                let mut fds = [-1i32; MAX_CHANNELS];
                for (slot, (end, target)) in fds.iter_mut().zip(&theirs) {
                    let mut fd = end.as_raw_fd();
                    if fd != *target && theirs.iter().any(|(_, other)| *other == fd) {
                        fd = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 64);
                        if fd < 0 {
                            return Err(io::Error::last_os_error());
                        }
                    }
                    *slot = fd;
                }
                for (fd, (_, target)) in fds.iter().zip(&theirs) {
                    let (fd, target) = (*fd, *target);
                    if fd == target {
                        // dup2 onto itself keeps close-on-exec set: clear it instead.
                        if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                            return Err(io::Error::last_os_error());
                        }
                    } else if libc::dup2(fd, target) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut streams = Vec::with_capacity(ours.len());
        for end in ours {
            end.set_nonblocking(true)?;
            streams.push(tokio::net::UnixStream::from_std(end)?);
        }
        let child = self.spawn_logged(command, log).await?;
        Ok((child, streams))
    }
}

/// The most channels [`Spawner::spawn_with_channels`] gives one child.
const MAX_CHANNELS: usize = 4;

/// Reads a line in a child's own log format as a level and message (`None`: not in it).
pub type Translate = fn(&str) -> Option<(Level, String)>;

/// Where a child's output goes.
#[derive(Clone, Debug)]
pub struct ChildLog {
    /// The daemon's log writer.
    pub hub: LogHub,
    /// The source the child's lines are written under.
    pub source: LogSource,
    /// Turns a line in the child's own log format into a level and message (`None`: not in
    /// that format, written as it is).
    pub translate: Option<Translate>,
}

/// The reading end of a child's output: the last line, whether the pipe has ended, and the
/// source its lines are written under (a warm spare host's changes when it is given a plugin).
#[derive(Clone)]
struct Output {
    last: Arc<Mutex<Option<String>>>,
    done: watch::Receiver<bool>,
    source: Arc<Mutex<LogSource>>,
}

impl Output {
    /// Starts the task that copies the pipe's lines into the hub.
    fn pump(reader: io::PipeReader, log: ChildLog) -> io::Result<Output> {
        use tokio::io::AsyncReadExt;
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
        let last: Arc<Mutex<Option<String>>> = Arc::default();
        let (done_tx, done) = watch::channel(false);
        let source = Arc::new(Mutex::new(log.source.clone()));
        let output = Output {
            last: last.clone(),
            done,
            source: source.clone(),
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let read = match pipe.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => read,
                };
                pending.extend_from_slice(&buf[..read]);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    emit(&log, &source, &last, &line);
                }
                if pending.len() > MAX_LINE {
                    emit(&log, &source, &last, &std::mem::take(&mut pending));
                }
            }
            if !pending.is_empty() {
                emit(&log, &source, &last, &pending);
            }
            let _ = done_tx.send(true);
        });
        Ok(output)
    }
}

/// Writes one line of a child's output and remembers its message as the last words.
fn emit(log: &ChildLog, source: &Mutex<LogSource>, last: &Mutex<Option<String>>, bytes: &[u8]) {
    let source = match source.lock() {
        Ok(source) => source.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let text = String::from_utf8_lossy(bytes);
    let line = text.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return;
    }
    let message = match log.translate.and_then(|translate| translate(line)) {
        Some((_, message)) if message.trim().is_empty() => return,
        Some((level, message)) => {
            log.hub.log(&source, level, &message);
            message
        }
        None => {
            log.hub.child_line(&source, line);
            parse_line(line)
                .map(|parsed| parsed.message.to_owned())
                .unwrap_or_else(|| line.trim().to_owned())
        }
    };
    let mut last = match last.lock() {
        Ok(last) => last,
        Err(poisoned) => poisoned.into_inner(),
    };
    *last = Some(message);
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl Exit {
    fn from_status(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(-1),
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "signal {} ({})", signal, signal_name(*signal)),
        }
    }
}

/// The conventional name of a signal number.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// A running child: its pid, and its exit as soon as it happens.
#[derive(Clone)]
pub struct ChildProcess {
    pid: u32,
    exit: watch::Receiver<Option<Exit>>,
    output: Option<Output>,
}

impl std::fmt::Debug for ChildProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildProcess")
            .field("pid", &self.pid)
            .field("exited", &self.exited())
            .finish_non_exhaustive()
    }
}

impl ChildProcess {
    fn watch(mut child: Child) -> io::Result<ChildProcess> {
        let pid = child.id();
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if raw < 0 {
            let err = io::Error::last_os_error();
            let _ = child.kill();
            let _ = child.wait();
            return Err(err);
        }
        // SAFETY: a fresh fd we own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        // SAFETY: `pidfd` is an OwnedFd moved into the AsyncFd, so its fd stays open and the
        // same for the AsyncFd's whole life.
        let pidfd =
            unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
                .map_err(|err| io::Error::other(err.to_string()))?;
        let (tx, exit) = watch::channel(None);
        tokio::spawn(async move {
            // Readable once the process has exited.
            let _ = pidfd.readable().await;
            let status = match child.wait() {
                Ok(status) => Exit::from_status(status),
                Err(_) => Exit::Code(-1),
            };
            let _ = tx.send(Some(status));
        });
        Ok(ChildProcess {
            pid,
            exit,
            output: None,
        })
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit, if it has happened.
    pub fn exited(&self) -> Option<Exit> {
        *self.exit.borrow()
    }

    /// Waits for the process to exit.
    pub async fn wait(&self) -> Exit {
        let mut exit = self.exit.clone();
        loop {
            if let Some(status) = *exit.borrow_and_update() {
                return status;
            }
            if exit.changed().await.is_err() {
                return Exit::Code(-1);
            }
        }
    }

    /// The last line the child printed (its message, for a line in the log format), once its
    /// output has ended or `within` has passed; `None` for a child started without a log, or
    /// one that printed nothing. For a child that died: its "last words".
    pub async fn last_line(&self, within: Duration) -> Option<String> {
        let output = self.output.as_ref()?;
        let mut done = output.done.clone();
        let _ = tokio::time::timeout(within, done.wait_for(|done| *done)).await;
        let last = match output.last.lock() {
            Ok(last) => last,
            Err(poisoned) => poisoned.into_inner(),
        };
        last.clone()
    }

    /// Writes the child's output from now on under `source` (a spare host given a plugin).
    pub fn set_log_source(&self, source: LogSource) {
        if let Some(output) = &self.output {
            match output.source.lock() {
                Ok(mut current) => *current = source,
                Err(poisoned) => *poisoned.into_inner() = source,
            }
        }
    }

    /// Sends `signal` to the child's whole process group, unless it has already exited (its
    /// pid may then belong to someone else).
    pub fn signal_group(&self, signal: i32) {
        if self.exited().is_none() {
            // SAFETY: plain syscall on a process group we created.
            unsafe {
                libc::killpg(self.pid as libc::pid_t, signal);
            }
        }
    }

    /// Graceful stop: SIGTERM to the group, then SIGKILL after `timeout`.
    pub async fn stop(&self, timeout: Duration) -> Exit {
        self.signal_group(libc::SIGTERM);
        match tokio::time::timeout(timeout, self.wait()).await {
            Ok(exit) => exit,
            Err(_) => self.kill().await,
        }
    }

    /// SIGKILL to the group; waits for the exit.
    pub async fn kill(&self) -> Exit {
        self.signal_group(libc::SIGKILL);
        self.wait().await
    }
}

/// The resident memory of process `pid` (`VmRSS` in `/proc/<pid>/status`), in bytes: what
/// status shows for each unit and a node reports of itself.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&status, "VmRSS:")
}

/// The memory this machine has available for new work (`MemAvailable` in `/proc/meminfo`),
/// in bytes: what decides whether a plugin placed where there is room fits here.
pub fn available_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&meminfo, "MemAvailable:")
}

/// The value of a `<field>  1234 kB` line of a `/proc` file, in bytes.
fn kib_field(text: &str, field: &str) -> Option<u64> {
    let kib = text
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests;

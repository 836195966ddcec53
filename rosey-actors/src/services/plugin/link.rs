//! One plugin host process and the actor's end of its channel: spawning it (or taking a warm
//! spare), the `Hello`/`Open`/`Start` steps, sending frames, and reading the host's frames as
//! they come. Everything a host writes is untrusted input: a malformed or oversized frame ends
//! the reading, which the actor treats as the host's death.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use rosey_core::logs::{LogHub, LogSource};
use rosey_host::wire::{self, FromHost, ToHost};
use tokio::{io::AsyncWriteExt, net::unix::OwnedWriteHalf};

use super::super::process::{ChildLog, ChildProcess, Spawner};
use super::{describe_exit, frames::FrameReader, HostProgram};

/// A host process with its channel.
#[derive(Debug)]
pub struct Host {
    /// The process.
    pub child: ChildProcess,
    /// What the host's sandbox lacks (empty: full), as it said when it opened the library.
    pub sandbox_gaps: Vec<String>,
    /// Frames the host wrote, in order (a field of its own, so a `select!` can read them
    /// beside waiting for the process).
    pub frames: FrameReader,
    writer: OwnedWriteHalf,
    /// The actor's end of the service channel, until the plugin is started in this host and
    /// [`super::questions`] takes it.
    pub service: Option<tokio::net::UnixStream>,
    /// How long the plugin has waited for the chat server to answer its channel actions
    /// (kept by [`super::questions`]): time the handler deadline does not count.
    pub acting: std::sync::Arc<super::questions::ActingClock>,
}

impl Drop for Host {
    fn drop(&mut self) {
        // A host nobody holds must not live on.
        self.child.signal_group(libc::SIGKILL);
    }
}

/// Starts a host process (nothing loaded) whose output goes to `source`.
pub async fn spawn(
    program: &HostProgram,
    spawner: &Spawner,
    logs: &LogHub,
    source: LogSource,
) -> std::io::Result<Host> {
    let mut command = Command::new(&program.exe);
    if let Some(subcommand) = &program.subcommand {
        command.arg(subcommand);
    }
    // A host starts with an empty environment: the daemon's holds secrets (the CyTube
    // password, …) and a plugin is untrusted. Symbols are bound when the library is opened
    // (off the critical path), not on the first call of each (inside the first message after
    // a start). The host sets TMPDIR itself once it knows the plugin's storage folder.
    command
        .arg("serve")
        .env_clear()
        .env("LD_BIND_NOW", "1")
        .stdin(Stdio::null());
    let log = ChildLog {
        hub: logs.clone(),
        source,
        translate: None,
    };
    let (child, streams) = spawner
        .spawn_with_channels(command, log, &[wire::HOST_FD, wire::SERVICE_FD])
        .await?;
    let mut streams = streams.into_iter();
    let (Some(stream), service) = (streams.next(), streams.next()) else {
        return Err(std::io::Error::other("the spawner made no channel"));
    };
    let (read_half, writer) = stream.into_split();
    Ok(Host {
        child,
        sandbox_gaps: Vec::new(),
        writer,
        frames: FrameReader::new(read_half),
        service,
        acting: Default::default(),
    })
}

/// What went wrong with a host during a step.
#[derive(Debug)]
pub struct StepError(pub String);

impl Host {
    /// The next frame the host wrote, in order; `None` once its channel ended (it exited, or
    /// broke the channel's rules). Cancel-safe (see [`FrameReader`]): a branch of a `select!`.
    pub async fn recv(&mut self) -> Option<FromHost> {
        self.frames.recv().await
    }

    /// Sends one frame.
    pub async fn send(&mut self, message: &ToHost) -> Result<(), StepError> {
        let frame = message.encode();
        if frame.len() > wire::MAX_FRAME + 4 {
            return Err(StepError(format!(
                "a frame of {} bytes is over the channel's limit",
                frame.len()
            )));
        }
        match self.writer.write_all(&frame).await {
            Ok(()) => Ok(()),
            Err(err) => Err(StepError(format!("cannot write to the host: {err}"))),
        }
    }

    /// Lets go of a host that has unloaded: its end of the channel reads the end, and it
    /// exits (it waits for this, so that its exit comes when the daemon chooses).
    pub async fn release(&mut self) {
        let _ = self.writer.shutdown().await;
    }

    /// Log lines a dead host wrote before it died (its channel is read to the end, bounded),
    /// so the plugin's last words reach its log; anything else it said is dropped (its
    /// message goes to the next instance).
    pub async fn last_log_lines(&mut self) -> Vec<FromHost> {
        let mut lines = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, self.frames.recv()).await {
            if let FromHost::Log { .. } = frame {
                lines.push(frame);
            }
        }
        lines
    }

    /// Why the host is gone: its exit and its last words, once it has exited (bounded).
    pub async fn death(&self) -> String {
        let exit = match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(exit) => exit,
            Err(_) => return "the host closed its channel".to_owned(),
        };
        let last = self
            .child
            .last_line(Duration::from_millis(200))
            .await
            .map(|line| format!(": {line}"))
            .unwrap_or_default();
        format!("{}{last}", describe_exit(exit))
    }

    /// Waits for the next frame accepted by `take`, passing the others to `other` (log lines,
    /// heartbeats, chat said while loading). `Err` with the reason when the host dies, fails
    /// the step (`Failed`), or `within` passes.
    pub async fn expect<T>(
        &mut self,
        what: &str,
        within: Duration,
        mut take: impl FnMut(&FromHost) -> Option<T>,
        mut other: impl FnMut(FromHost),
    ) -> Result<T, StepError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::select! {
                frame = self.frames.recv() => frame,
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(StepError(format!("host did not {what} within {within:?}")));
                }
            };
            let Some(frame) = frame else {
                return Err(StepError(format!(
                    "host exited while it should {what}: {}",
                    self.death().await
                )));
            };
            if let FromHost::Failed { code, message } = &frame {
                let exit = super::super::process::Exit::Code(*code);
                return Err(StepError(format!("{message} ({})", describe_exit(exit))));
            }
            match take(&frame) {
                Some(value) => return Ok(value),
                None => other(frame),
            }
        }
    }

    /// Waits for `Hello` and checks the protocol.
    pub async fn hello(&mut self, within: Duration) -> Result<(), StepError> {
        // The pid the host claims is not used: the kernel's (`child.pid()`) is the one that
        // counts, the host being untrusted.
        let (protocol, _claimed_pid) = self
            .expect(
                "say hello",
                within,
                |frame| match frame {
                    FromHost::Hello { protocol, pid } => Some((*protocol, *pid)),
                    _ => None,
                },
                drop,
            )
            .await?;
        if protocol != wire::PROTOCOL {
            return Err(StepError(format!(
                "host speaks channel protocol {protocol}, the daemon {}: the rosey-plugin-host binary does not belong to this rosey",
                wire::PROTOCOL
            )));
        }
        Ok(())
    }
}

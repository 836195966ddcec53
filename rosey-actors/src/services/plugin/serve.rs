//! The serving loop of one plugin actor: take the next message from the door, hand it to the
//! host, publish what the plugin says, ack once its `Done` is in and its events are stored;
//! watch heartbeats and the handler deadline; carry out reloads and the graceful stop.
//!
//! One message is in the host at a time, and the door holds it while it is: if the host dies
//! (crash, kill, hang), the message goes back to the door, counted against the plugin, and the
//! next instance gets it first. A reply is published before its message is acked; both go out
//! on the daemon's one NATS connection, in that order, so no flush is needed between them.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream::AckKind;
use rosey_core::{
    logs::Level,
    messaging::{self, Busy, CommandMessage, EventMessage},
};
use rosey_host::wire::{self, FromHost, Outcome, ToHost};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use super::{
    door::{Copy, Door, Taken},
    link::Host,
    output::{Outputs, PmReply, Rest},
    start::Plan,
    PluginArgs,
};

/// What the actor asks of its serving loop.
pub enum Control {
    /// Replace the running host with one running `version` (make-before-break).
    Swap {
        /// The version to run.
        version: String,
        /// The outcome, for the operator.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Finish the message in hand, unload, hand the state over, end.
    Stop,
}

/// How serving ended.
pub enum Ended {
    /// Stopped as asked.
    Stopped,
    /// The host died, hung or broke the channel's rules; the actor fails with this.
    Failed(String),
}

/// The running instance.
pub struct Serving {
    pub(super) args: PluginArgs,
    pub(super) door: Arc<Door>,
    pub(super) host: Host,
    pub(super) plan: Plan,
    pub(super) outputs: Outputs,
    pub(super) control: mpsc::UnboundedReceiver<Control>,
    pub(super) last_beat: Instant,
    pub(super) busy: Option<Busy>,
    /// When to open a standby host, if one is wanted: soon after a swap or restart, but after
    /// the first message (or a moment of idleness), so the new process it may take does not
    /// compete for the CPU with the first reply.
    pub(super) standby_due: Option<Instant>,
}

/// How long after a swap or restart a standby host is opened if no message came first.
pub const STANDBY_DELAY: Duration = Duration::from_millis(5);

impl Serving {
    /// Serves until stopped or failed.
    pub async fn run(mut self) -> Ended {
        let mut preparing: Option<super::swap::Preparing> = None;
        loop {
            let silence = self.last_beat + self.args.heartbeat_timeout;
            tokio::select! {
                biased;
                control = self.control.recv() => match control {
                    Some(Control::Stop) | None => return self.stop().await,
                    Some(Control::Swap { version, reply }) => {
                        if let Err(reason) = self.begin_swap(version, reply, &mut preparing).await {
                            return Ended::Failed(reason);
                        }
                    }
                },
                prepared = super::swap::Preparing::ready(&mut preparing) => {
                    if let Err(reason) = self.switch(prepared).await {
                        return Ended::Failed(reason);
                    }
                }
                frame = self.host.frames.recv() => match frame {
                    Some(frame) => {
                        if let Err(reason) = self.idle_frame(frame).await {
                            return Ended::Failed(reason);
                        }
                    }
                    None => return Ended::Failed(self.died().await),
                },
                _ = self.host.child.wait() => return Ended::Failed(self.died().await),
                message = self.door.next() => {
                    if let Err(reason) = self.handle(message).await {
                        return Ended::Failed(reason);
                    }
                }
                _ = tokio::time::sleep_until(silence) => {
                    return Ended::Failed(self.hung(format!("no heartbeat for {:?}", self.args.heartbeat_timeout)).await);
                }
                _ = sleep_until_due(self.standby_due) => self.open_standby(),
            }
        }
    }

    /// Opens the standby host that is due, if any.
    fn open_standby(&mut self) {
        if self.standby_due.take().is_some() {
            super::start::prepare_standby(&self.args, &self.plan);
        }
    }

    async fn idle_frame(&mut self, frame: FromHost) -> Result<(), String> {
        match self.outputs.take(frame, None).await {
            Rest::Consumed => Ok(()),
            Rest::Heartbeat => {
                self.last_beat = Instant::now();
                Ok(())
            }
            Rest::Frame(other) => Err(self.violation(&other).await),
        }
    }

    /// Kills a host that sent a frame out of turn.
    async fn violation(&mut self, frame: &FromHost) -> String {
        self.host.child.kill().await;
        let reason =
            format!("the host broke the channel's rules (sent {frame:?} out of turn); killed");
        self.outputs.host_line(Level::Error, &reason);
        reason
    }

    /// Kills a hung host; the message it held goes back, counted.
    async fn hung(&mut self, why: String) -> String {
        self.host.child.kill().await;
        self.door.return_held(true);
        let reason = format!("hung: {why}; killed");
        self.outputs.host_line(Level::Error, &reason);
        reason
    }

    /// Hands one message to the host and sees it through.
    async fn handle(&mut self, taken: Taken) -> Result<(), String> {
        let seq = taken.seq();
        let subject = taken.subject.clone();
        let taken = match taken.copy {
            Copy::Durable(message) => {
                let died = self.door.attempts(seq);
                if died >= self.args.max_attempts {
                    super::poison::dead_letter(&self.args, *message, subject, seq, died);
                    return Ok(());
                }
                Taken {
                    copy: Copy::Durable(message),
                    ..taken
                }
            }
            Copy::Early(_) => taken,
        };
        let (frame, what, id, pm_reply) = match to_host(seq, &subject, &taken.payload) {
            Ok(parts) => parts,
            Err(err) => {
                self.outputs.host_line(
                    Level::Warn,
                    &format!("dropping unreadable message on {subject}: {err}"),
                );
                self.finish(taken, AckKind::Term).await;
                return Ok(());
            }
        };
        self.door.hold(taken);
        self.outputs.pm_reply = pm_reply;
        if self.host.send(&frame).await.is_err() {
            self.door.return_held(false);
            return Err(self.died().await);
        }
        let started = Instant::now();
        self.busy = Some(Busy {
            what,
            message_id: id.clone(),
            since_ms: messaging::now_ms(),
        });
        let deadline = started + self.plan.handler_timeout;
        let every = self.args.ack_wait / 2;
        let mut progress = tokio::time::interval_at(started + every, every);
        let outcome = loop {
            let silence = self.last_beat + self.args.heartbeat_timeout;
            tokio::select! {
                frame = self.host.frames.recv() => {
                    let Some(frame) = frame else {
                        self.door.return_held(true);
                        return Err(self.died().await);
                    };
                    match self.outputs.take(frame, self.busy.as_ref()).await {
                        Rest::Consumed => {}
                        Rest::Heartbeat => self.last_beat = Instant::now(),
                        Rest::Frame(FromHost::Done { seq: done, outcome }) if done == seq => break outcome,
                        Rest::Frame(other) => {
                            self.door.return_held(true);
                            return Err(self.violation(&other).await);
                        }
                    }
                }
                _ = self.host.child.wait() => {
                    self.door.return_held(true);
                    return Err(self.died().await);
                }
                _ = tokio::time::sleep_until(deadline) => {
                    let why = format!("handler for message {id} ran past {:?}", self.plan.handler_timeout);
                    return Err(self.hung(why).await);
                }
                _ = tokio::time::sleep_until(silence) => {
                    let why = format!("no heartbeat for {:?}", self.args.heartbeat_timeout);
                    return Err(self.hung(why).await);
                }
                _ = progress.tick() => self.door.progress().await,
            }
        };
        self.busy = None;
        self.outputs.pm_reply = None;
        self.outputs.settle().await;
        match outcome {
            Outcome::Ok | Outcome::Failed(_) => {
                if let Outcome::Failed(err) = &outcome {
                    self.outputs
                        .plugin_line(Level::Error, &format!("{subject}: {err}"));
                }
                if let Some(taken) = self.door.release() {
                    self.finish(taken, AckKind::Ack).await;
                }
                self.open_standby();
                Ok(())
            }
            Outcome::Panicked(panic) => {
                self.outputs.host_line(
                    Level::Error,
                    &format!("plugin panicked handling {subject}: {panic}"),
                );
                self.door.return_held(true);
                Err(self.died().await)
            }
        }
    }

    /// A message is done with: its durable copy acked (`Ack`) or refused for good (`Term`),
    /// an early copy's left to be acked when it arrives.
    async fn finish(&mut self, taken: Taken, how: AckKind) {
        match taken.copy {
            Copy::Durable(message) => {
                let seq = super::door::sequence(&message);
                if let Err(err) = message.ack_with(how).await {
                    self.outputs.host_line(
                        Level::Warn,
                        &format!("ack failed (the message will come again): {err}"),
                    );
                }
                self.door.done(seq);
            }
            Copy::Early(id) => self.door.settle(id),
        }
    }

    /// The host is gone: its last log lines go to the log, and its exit is the reason.
    async fn died(&mut self) -> String {
        for line in self.host.last_log_lines().await {
            self.outputs.take(line, None).await;
        }
        self.host.death().await
    }

    /// The graceful stop: the host unloads (no message is in hand here), its state is written
    /// for the next instance, and it exits.
    async fn stop(mut self) -> Ended {
        let state = super::swap::unload(&mut self.host, &mut self.outputs, &self.args).await;
        if let Some(state) = state.filter(|state| !state.is_empty()) {
            super::swap::save_state(&self.args, &self.outputs, &state, true);
        }
        self.outputs
            .announce(messaging::stopped_subject(&self.args.name))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.host.child.wait()).await;
        Ended::Stopped
    }
}

/// The frame for a stream message, with what it is (`command roll`) and its id.
fn to_host(
    seq: u64,
    subject: &str,
    payload: &[u8],
) -> Result<(ToHost, String, String, Option<PmReply>), messaging::PayloadError> {
    if subject.starts_with("rosey.commands.") {
        let command: CommandMessage = messaging::decode(payload)?;
        let what = format!("command {}", command.command);
        let id = command.id.clone();
        let pm_reply = matches!(command.source, messaging::Source::Pm).then(|| PmReply {
            user: command.user.clone(),
            id: command.id.clone(),
        });
        let frame = ToHost::Command(wire::Command {
            seq,
            id: command.id,
            command: command.command,
            args: command.args,
            user: command.user,
            channel: command.channel,
            source: match command.source {
                messaging::Source::Chat => wire::Source::Chat,
                messaging::Source::Pm => wire::Source::Pm,
            },
            time_ms: command.time_ms,
        });
        Ok((frame, what, id, pm_reply))
    } else {
        let event: EventMessage = messaging::decode(payload)?;
        let what = format!("event {}", event.kind);
        let id = event.id.clone();
        let payload_json = serde_json::to_string(&event).unwrap_or_default();
        let frame = ToHost::Event(wire::Event {
            seq,
            id: event.id,
            kind: event.kind,
            user: event.user,
            text: event.text,
            payload_json,
            time_ms: event.time_ms,
        });
        Ok((frame, what, id, None))
    }
}

/// Sleeps until `due`; never when there is none.
async fn sleep_until_due(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

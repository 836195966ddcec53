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
    messaging::{self, Busy},
    metrics::Handled,
};
use rosey_host::wire::{FromHost, Outcome};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use super::{
    door::{Copy, Door, Taken},
    incoming::Incoming,
    link::Host,
    output::{Outputs, Rest},
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
    /// Hand the running instance its new configuration (the operator changed it): live
    /// through `on_config`, or by a reload with its state when it has none.
    Configure {
        /// How it was taken, for the operator.
        reply: oneshot::Sender<Result<ConfigTaken, String>>,
    },
    /// Finish the message in hand, unload, hand the state over, end.
    Stop,
}

/// How a running plugin took new configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigTaken {
    /// Its `on_config` took it, without a restart.
    Live,
    /// It has no `on_config`: it was reloaded with its state.
    Reloaded,
}

/// How serving ended.
pub enum Ended {
    /// Stopped as asked.
    Stopped,
    /// The host died, hung or broke the channel's rules; the actor fails with this.
    Failed(String),
    /// As `Failed`, while a handler had a message, which went back to the door counted as
    /// poison: that count bounds these failures, not the plugin's restart intensity.
    FailedOnMessage(String),
}

/// The running instance.
pub struct Serving {
    pub(super) args: PluginArgs,
    pub(super) door: Arc<Door>,
    pub(super) host: Host,
    pub(super) plan: Plan,
    /// The configuration the running instance has (started with, or took live): a rollback
    /// brings the old instance back with it, whatever the file says by then.
    pub(super) config: rosey_core::plugin_config::PluginConfig,
    pub(super) outputs: Outputs,
    pub(super) control: mpsc::UnboundedReceiver<Control>,
    pub(super) last_beat: Instant,
    pub(super) busy: Option<Busy>,
    /// When to open a standby host, if one is wanted: soon after a swap or restart, but after
    /// the first message (or a moment of idleness), so the new process it may take does not
    /// compete for the CPU with the first reply.
    pub(super) standby_due: Option<Instant>,
    /// The host died on a message, counted against the message (see [`Ended::FailedOnMessage`]).
    pub(super) on_message: bool,
    /// The number of the last timer firing or configuration handed to the host.
    pub(super) step_seq: u64,
    /// When the last timer fired.
    pub(super) last_timer: Instant,
    /// The writes of its handed-over state to the cluster, in order.
    pub(super) cluster_copies: super::shared_state::Copies,
}

/// How long after a swap or restart a standby host is opened if no message came first.
pub const STANDBY_DELAY: Duration = Duration::from_millis(5);

impl Serving {
    /// Serves until stopped or failed.
    pub async fn run(mut self) -> Ended {
        let mut preparing: Option<super::swap::Preparing> = None;
        loop {
            let silence = self.last_beat + self.args.heartbeat_timeout;
            // A bounded pace: a plugin arming many short timers cannot keep its actor (and
            // the daemon's CPU) firing them back to back.
            let timer_due = self
                .host
                .frames
                .timers
                .next_due()
                .map(|due| due.max(self.last_timer + super::timers::MIN_GAP));
            tokio::select! {
                biased;
                control = self.control.recv() => match control {
                    Some(Control::Stop) | None => return self.stop().await,
                    Some(Control::Swap { version, reply }) => {
                        if let Err(reason) = self.begin_swap(version, reply, &mut preparing).await {
                            return Ended::Failed(reason);
                        }
                    }
                    Some(Control::Configure { reply }) => {
                        if let Err(reason) = self.configure(reply, &mut preparing).await {
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
                _ = sleep_until_due(timer_due) => {
                    if let Err(reason) = self.fire_timer().await {
                        return Ended::Failed(reason);
                    }
                }
                message = self.door.next() => {
                    if let Err(reason) = self.handle(message).await {
                        return if self.on_message {
                            Ended::FailedOnMessage(reason)
                        } else {
                            Ended::Failed(reason)
                        };
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

    /// Hands one message to the host and sees it through.
    async fn handle(&mut self, taken: Taken) -> Result<(), String> {
        let seq = taken.seq();
        let replayed = taken.replayed();
        let subject = messaging::original_subject(&taken.subject).to_owned();
        let taken = match taken.copy {
            Copy::Durable(message) => {
                let died = self.door.attempts(seq);
                // A replayed dead letter gets one more host, not `max_attempts` more: the
                // operator sent it again once.
                let limit = if replayed { 1 } else { self.args.max_attempts };
                if died >= limit {
                    let tell = self.plan.manifest.failure_reply;
                    super::poison::dead_letter(&self.args, *message, subject, seq, died, tell);
                    return Ok(());
                }
                Taken {
                    copy: Copy::Durable(message),
                    ..taken
                }
            }
            Copy::Early(_) => taken,
        };
        let is_command = messaging::is_command_subject(&subject);
        let meters = self.outputs.meters.clone();
        let counted = |outcome| meters.handled(is_command, outcome);
        let incoming = match Incoming::read(seq, &subject, &taken.payload) {
            Ok(incoming) => incoming,
            Err(err) => {
                counted(Handled::Unreadable);
                self.outputs.host_line(
                    Level::Warn,
                    &format!("dropping unreadable message on {subject}: {err}"),
                );
                self.finish(taken, AckKind::Term).await;
                return Ok(());
            }
        };
        if let Some(age) = incoming.too_old(
            taken.waiting_since_ms,
            self.args.max_command_age,
            self.args.max_event_age,
        ) {
            self.door.count_stale();
            counted(Handled::Stale);
            self.outputs.host_line(
                Level::Warn,
                &format!(
                    "not handled: {} waited {:.0} s in the stream, past {} (the plugin was down or far behind); acked and counted in status",
                    incoming.cause,
                    age.as_secs_f64(),
                    incoming.age_key()
                ),
            );
            self.finish(taken, AckKind::Ack).await;
            return Ok(());
        }
        // The operator's replay is handled even for a sender held back.
        if let Some(asker) = incoming.asker.as_ref().filter(|_| !replayed) {
            if let Some(first) = self.door.held_back(&asker.user) {
                counted(Handled::HeldBack);
                if first {
                    self.outputs.host_line(
                        Level::Warn,
                        &format!(
                            "not handled: {}: {} is held back from this plugin (see rosey status); further ones are counted, not logged",
                            incoming.cause, asker.user
                        ),
                    );
                }
                self.finish(taken, AckKind::Ack).await;
                return Ok(());
            }
        }
        let Incoming {
            frame,
            what,
            id,
            pm_reply,
            cause,
            asker,
            user,
            ..
        } = incoming;
        let waited =
            Duration::from_millis(messaging::now_ms().saturating_sub(taken.waiting_since_ms));
        self.door.hold(taken);
        self.outputs.pm_reply = pm_reply;
        self.outputs.for_user = user;
        self.outputs.answering = is_command.then(|| super::output::Answering {
            id: id.clone(),
            waited,
            since: Instant::now(),
            answered: false,
        });
        if self.host.send(&frame).await.is_err() {
            self.door.return_held(false);
            return Err(self.died().await);
        }
        let outcome = match self.see_through(seq, what, &id, &cause).await {
            Ok(outcome) => outcome,
            Err(err) => {
                counted(Handled::Crashed);
                return Err(err);
            }
        };
        self.busy = None;
        self.outputs.pm_reply = None;
        self.outputs.for_user = None;
        self.outputs.answering = None;
        counted(match outcome {
            Outcome::Ok | Outcome::NotHandled => Handled::Ok,
            Outcome::Failed(_) => Handled::Failed,
            Outcome::Panicked(_) => Handled::Crashed,
        });
        self.outputs.settle().await;
        match outcome {
            // `NotHandled` answers new configuration only; for a message it means nothing.
            Outcome::Ok | Outcome::NotHandled | Outcome::Failed(_) => {
                if let Outcome::Failed(err) = &outcome {
                    self.outputs
                        .plugin_line(Level::Error, &format!("{cause} failed: {err}"));
                    if let Some(asker) = asker.filter(|_| self.plan.manifest.failure_reply) {
                        super::tell::failed(
                            &self.args.client,
                            &self.args.name,
                            &self.args.failure_wording,
                            &asker,
                        )
                        .await;
                    }
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
                    &format!("plugin panicked on {cause}: {panic}"),
                );
                self.give_back();
                Err(self.died().await)
            }
        }
    }

    /// Waits for the `Done` of `seq`, just handed to the host (`what` for status, `id` and
    /// `cause` for the log), publishing the plugin's output meanwhile; `Err` when the host
    /// dies, hangs or breaks the rules first (a message in hand then goes back to the door).
    pub(super) async fn see_through(
        &mut self,
        seq: u64,
        what: String,
        id: &str,
        cause: &str,
    ) -> Result<Outcome, String> {
        let started = Instant::now();
        self.busy = Some(Busy {
            what,
            message_id: id.to_owned(),
            since_ms: messaging::now_ms(),
        });
        let mut deadline = started + self.plan.handler_timeout;
        let acted_before = self.host.acting.spent();
        let every = self.args.ack_wait / 2;
        let mut progress = tokio::time::interval_at(started + every, every);
        loop {
            let silence = self.last_beat + self.args.heartbeat_timeout;
            tokio::select! {
                frame = self.host.frames.recv() => {
                    let Some(frame) = frame else {
                        self.give_back();
                        return Err(self.died_on(cause).await);
                    };
                    match self.outputs.take(frame, self.busy.as_ref()).await {
                        Rest::Consumed => {}
                        Rest::Heartbeat => self.last_beat = Instant::now(),
                        Rest::Frame(FromHost::Done { seq: done, outcome }) if done == seq => return Ok(outcome),
                        Rest::Frame(other) => {
                            self.give_back();
                            let reason = self.violation(&other).await;
                            return Err(format!("{reason}, handling {cause}"));
                        }
                    }
                }
                _ = self.host.child.wait() => {
                    // A host that finished the message just before it exited (a panic ends it
                    // right after its `Done`) finished it: what it wrote is read first.
                    if let Some(outcome) = self.last_words(seq).await {
                        return Ok(outcome);
                    }
                    self.give_back();
                    return Err(self.died_on(cause).await);
                }
                _ = tokio::time::sleep_until(deadline) => {
                    // Time spent waiting for the chat server's answers to channel actions is
                    // not the handler's own.
                    let acting = self.host.acting.spent().saturating_sub(acted_before);
                    let used = started.elapsed().saturating_sub(acting);
                    if used < self.plan.handler_timeout {
                        deadline = Instant::now() + (self.plan.handler_timeout - used);
                        continue;
                    }
                    let why = format!("handler for {cause} (message {id}) ran past {:?}", self.plan.handler_timeout);
                    return Err(self.hung(why).await);
                }
                _ = tokio::time::sleep_until(silence) => {
                    let why = format!("no heartbeat for {:?}", self.args.heartbeat_timeout);
                    return Err(self.hung(why).await);
                }
                _ = progress.tick() => self.door.progress().await,
            }
        }
    }

    /// A message is done with: its durable copy acked (`Ack`) or refused for good (`Term`),
    /// an early copy's left to be acked when it arrives.
    async fn finish(&mut self, taken: Taken, how: AckKind) {
        match taken.copy {
            Copy::Durable(message) => {
                let seq = super::door::sequence(&message);
                let id = super::early::message_id(message.headers.as_ref());
                if let Err(err) = message.ack_with(how).await {
                    self.outputs.host_line(
                        Level::Warn,
                        &format!("ack failed (the message will come again): {err}"),
                    );
                }
                self.door.done(seq, id);
            }
            Copy::Early(id) => self.door.settle(id),
        }
    }

    /// The graceful stop: the host unloads (no message is in hand here), its state is written
    /// for the next instance (and, in a cluster, kept there as waiting for it, wherever it
    /// starts), and it exits.
    async fn stop(mut self) -> Ended {
        let state = super::swap::unload(&mut self.host, &mut self.outputs, &self.args).await;
        let state = state.unwrap_or_default();
        if !state.is_empty() {
            super::swap::save_state(&self.args, &self.outputs, &state, true);
        }
        self.cluster_copies.keep(&self.args, &state, true);
        self.cluster_copies.settled(Duration::from_secs(5)).await;
        self.outputs
            .announce(messaging::stopped_subject(&self.args.name))
            .await;
        self.host.release().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.host.child.wait()).await;
        Ended::Stopped
    }
}

/// Sleeps until `due`; never when there is none.
async fn sleep_until_due(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

//! The supervisor's decisions: starting and stopping children, reading an exit, applying the
//! strategy, intensity, backoff and give-up policy, and the operator's requests.
//!
//! Everything runs inside the supervisor actor's handlers, one at a time, so there are no
//! locks: a start or a stop is awaited to completion (bounded by the child's shutdown timeout
//! and a kill), while backoff delays are timers that post a message back, never a sleep.
//! The operator's requests are in [`requests`].

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt;
use ractor::concurrency::JoinHandle;
use ractor::{ActorCell, ActorStatus, MessagingErr, SupervisionEvent};

use crate::child::{exit_cause, read_exit, restarts_after, Child, Exit};
use crate::error::SupervisorError;
use crate::events::{ChildInfo, ChildState, Listener, SupervisionEventKind, SupervisionNotice};
use crate::spec::{ChildSpec, GiveUp, Strategy, SupervisorSpec};
use crate::supervisor::{BackoffElapsed, SupervisorMsg};

mod boot;
mod requests;

/// How long to wait for a killed child to be gone. A kill takes effect at the child's next
/// await point, so only a child blocking its thread can outlast this; the supervisor then
/// moves on rather than hang with it.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Why the supervisor must fail: the reason its own supervisor will read.
#[derive(Debug)]
pub(crate) struct Escalation(pub String);

/// The supervisor's whole state.
pub(crate) struct Engine {
    spec: SupervisorSpec,
    /// In start order.
    children: Vec<Child>,
    listener: Listener,
    myself: ActorCell,
    next_token: u64,
    timers: HashMap<u64, JoinHandle<Result<(), MessagingErr<SupervisorMsg>>>>,
    /// Where [`Engine::publish`] puts the children for readers that must not wait.
    snapshot: tokio::sync::watch::Sender<Vec<ChildInfo>>,
}

impl Engine {
    /// A supervisor state holding `children`, none started; refuses duplicate names.
    pub fn new(
        spec: SupervisorSpec,
        children: Vec<ChildSpec>,
        listener: Listener,
        myself: ActorCell,
    ) -> Result<Self, SupervisorError> {
        let mut engine = Self {
            spec,
            children: Vec::with_capacity(children.len()),
            listener,
            myself,
            next_token: 0,
            timers: HashMap::new(),
            snapshot: tokio::sync::watch::Sender::new(Vec::new()),
        };
        for child in children {
            if engine.index_of(&child.name).is_some() {
                return Err(SupervisorError::NameTaken {
                    supervisor: engine.spec.name.clone(),
                    child: child.name,
                });
            }
            engine.children.push(Child::new(child));
        }
        Ok(engine)
    }

    /// A reader of the snapshots [`Engine::publish`] makes.
    pub fn snapshots(&self) -> tokio::sync::watch::Receiver<Vec<ChildInfo>> {
        self.snapshot.subscribe()
    }

    /// Publishes the children as they are now (after every change).
    pub fn publish(&self) {
        self.snapshot.send_replace(self.children());
    }

    /// Snapshots of all children, in start order.
    pub fn children(&self) -> Vec<ChildInfo> {
        self.children.iter().map(Child::info).collect()
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.children.iter().position(|c| c.spec.name == name)
    }

    fn find(&self, name: &str) -> Result<usize, SupervisorError> {
        self.index_of(name)
            .ok_or_else(|| SupervisorError::NoSuchChild {
                supervisor: self.spec.name.clone(),
                child: name.to_owned(),
            })
    }

    fn notify(&self, idx: usize, kind: SupervisionEventKind) {
        let Some(child) = self.children.get(idx) else {
            return;
        };
        let exit_cause = match &kind {
            SupervisionEventKind::Exited { reason, .. } => Some(exit_cause(reason)),
            _ => None,
        };
        rosey_core::metrics::supervision_event(&child.spec.name, kind.name(), exit_cause);
        let notice = SupervisionNotice {
            supervisor: self.spec.name.clone(),
            child: child.spec.name.clone(),
            kind,
            state: child.state,
            at: SystemTime::now(),
        };
        let listener = &self.listener;
        // A listener is the embedder's code: its panic must not take the supervisor down.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| listener(notice)));
        self.publish();
    }

    fn new_token(&mut self) -> u64 {
        self.next_token = self.next_token.wrapping_add(1);
        self.next_token
    }

    /// Runs the factory of child `idx`; on success the child is `Running` and `Started` is
    /// notified. On error nothing is changed but the state (`Starting`).
    async fn start_one(&mut self, idx: usize) -> Result<(), String> {
        let launched = self.launch(idx).await;
        self.started(idx, launched)
    }

    /// The start of child `idx` (its factory's future, panics caught), marking it `Starting`.
    fn launch(
        &mut self,
        idx: usize,
    ) -> impl std::future::Future<Output = Result<ActorCell, String>> + Send + 'static {
        let factory = self.children.get_mut(idx).map(|child| {
            child.state = ChildState::Starting;
            child.spec.factory.clone()
        });
        self.publish();
        let supervisor = self.myself.clone();
        async move {
            let Some(factory) = factory else {
                return Err("no such child".to_string());
            };
            match std::panic::catch_unwind(AssertUnwindSafe(|| factory.start(supervisor))) {
                Ok(future) => match AssertUnwindSafe(future).catch_unwind().await {
                    Ok(started) => started.map_err(|err| err.to_string()),
                    Err(panic) => Err(panic_reason(panic)),
                },
                Err(panic) => Err(panic_reason(panic)),
            }
        }
    }

    /// Records how the start of child `idx` went.
    fn started(&mut self, idx: usize, launched: Result<ActorCell, String>) -> Result<(), String> {
        let cell = launched?;
        // A factory must spawn linked; one that did not still gets its child supervised.
        if cell.try_get_supervisor().is_none() && cell.get_status() < ActorStatus::Stopping {
            cell.link(self.myself.clone());
        }
        if let Some(child) = self.children.get_mut(idx) {
            child.set_running(cell);
        }
        self.notify(idx, SupervisionEventKind::Started);
        Ok(())
    }

    /// Stops child `idx` on the supervisor's behalf (never a failure): a graceful stop, its
    /// shutdown timeout, then a kill; a pending restart is cancelled. Leaves it in
    /// `final_state` and notifies `Stopped`; does nothing to a child that is neither running
    /// nor pending.
    async fn stop_one(&mut self, idx: usize, final_state: ChildState) {
        let Some(child) = self.children.get_mut(idx) else {
            return;
        };
        let was_pending = child.pending.take().is_some();
        // A restart the operator or a give-up cancels is news; a first start not yet made is not.
        let was_restarting = was_pending && child.state == ChildState::Restarting;
        let cell = child.take_instance();
        if cell.is_none() && !was_pending {
            return;
        }
        let stopped_something = cell.is_some() || was_restarting;
        if let Some(cell) = cell {
            child.state = ChildState::Stopping;
            let timeout = child.spec.shutdown_timeout;
            self.publish();
            let how = stop_cell(&cell, timeout).await;
            if let Some(child) = self.children.get_mut(idx) {
                child.last_exit = Some(how);
            }
        }
        if let Some(child) = self.children.get_mut(idx) {
            child.state = final_state;
        }
        if stopped_something {
            self.notify(idx, SupervisionEventKind::Stopped);
        }
        self.prune_timers();
    }

    /// Stops the running children among `indices`, last started first.
    async fn stop_running_reverse(&mut self, indices: &[usize]) {
        for &idx in indices.iter().rev() {
            if self.children.get(idx).is_some_and(|c| c.cell.is_some()) {
                self.stop_one(idx, ChildState::Stopped).await;
            }
        }
    }

    /// Starts, in start order, every child waiting for timer `token`. A failed start is
    /// handled as that child's failure; children it sweeps along move to a new timer and are
    /// skipped here.
    ///
    /// Under `one_for_one` with `concurrent_start` no child's start depends on another's, so
    /// the children due are started concurrently (a stack with fifty plugins starts in about
    /// the time of one); the ones that started are recorded first, then each failed start is
    /// handled in start order.
    /// The other strategies start in order: a failed start there sweeps the children after it.
    async fn run_plan(&mut self, token: u64) -> Result<(), Escalation> {
        if self.spec.strategy == Strategy::OneForOne && self.spec.concurrent_start {
            let due: Vec<usize> = (0..self.children.len())
                .filter(|&idx| self.children.get(idx).and_then(|c| c.pending) == Some(token))
                .collect();
            let mut launches = Vec::with_capacity(due.len());
            for &idx in &due {
                if let Some(child) = self.children.get_mut(idx) {
                    child.pending = None;
                }
                launches.push(self.launch(idx));
            }
            let outcomes = futures::future::join_all(launches).await;
            // Every child that did start is recorded before any failure is handled, so an
            // escalation stops them too.
            let failed: Vec<(usize, String)> = due
                .into_iter()
                .zip(outcomes)
                .filter_map(|(idx, launched)| self.started(idx, launched).err().map(|e| (idx, e)))
                .collect();
            for (idx, error) in failed {
                self.on_exit(idx, Exit::failed_start(&error), None).await?;
            }
            return Ok(());
        }
        for idx in 0..self.children.len() {
            if self.children.get(idx).and_then(|c| c.pending) != Some(token) {
                continue;
            }
            if let Some(child) = self.children.get_mut(idx) {
                child.pending = None;
            }
            if let Err(error) = self.start_one(idx).await {
                self.on_exit(idx, Exit::failed_start(&error), None).await?;
            }
        }
        Ok(())
    }

    /// A backoff timer fired.
    pub async fn on_timer(&mut self, timer: BackoffElapsed) -> Result<(), Escalation> {
        self.timers.remove(&timer.token);
        self.run_plan(timer.token).await
    }

    /// A ractor supervision event arrived; only the exit of a current instance matters.
    pub async fn on_event(&mut self, event: SupervisionEvent) -> Result<(), Escalation> {
        let Some((id, exit)) = read_exit(&event) else {
            return Ok(());
        };
        let Some(idx) = self.children.iter().position(|c| c.is_current(id)) else {
            return Ok(()); // stale: an instance the supervisor stopped or already replaced
        };
        let uptime = self.children.get(idx).and_then(Child::uptime);
        self.on_exit(idx, exit, uptime).await
    }

    /// Child `idx` exited by itself after `uptime`, or failed to start (`uptime` `None`):
    /// restart type, intensity, give-up, backoff and strategy, in that order.
    async fn on_exit(
        &mut self,
        idx: usize,
        exit: Exit,
        uptime: Option<Duration>,
    ) -> Result<(), Escalation> {
        let Some(child) = self.children.get_mut(idx) else {
            return Ok(());
        };
        // A child's own budget and delays, where it has them, override the supervisor's.
        let intensity = child.spec.intensity.unwrap_or(self.spec.intensity);
        let backoff = child.spec.backoff.unwrap_or(self.spec.backoff);
        child.take_instance();
        child.pending = None;
        child.last_exit = Some(exit.reason.clone());
        let restart = restarts_after(child.spec.restart, exit.abnormal);
        // The notice tells the state right after the exit: down for good, or on its way to a
        // restart (a give-up decided next is a notice of its own).
        child.state = match (restart, exit.abnormal) {
            (true, _) => ChildState::Restarting,
            (false, true) => ChildState::Crashed,
            (false, false) => ChildState::Stopped,
        };
        self.notify(
            idx,
            SupervisionEventKind::Exited {
                reason: exit.reason.clone(),
                abnormal: exit.abnormal,
            },
        );
        if !restart {
            return Ok(());
        }

        let Some(child) = self.children.get_mut(idx) else {
            return Ok(());
        };
        if exit.counted && !child.admit_restart(Instant::now(), &intensity) {
            child.state = ChildState::Crashed;
            let retry = child.spec.retry_after.unwrap_or(self.spec.retry_after);
            let retried = self.spec.give_up == GiveUp::MarkCrashed && !retry.is_zero();
            let reason = format!(
                "child '{}' exceeded {} restarts within {:?}; last exit: {}{}",
                child.spec.name,
                intensity.max_restarts,
                intensity.within,
                exit.reason,
                if retried {
                    format!("; tried again in {retry:?}")
                } else {
                    String::new()
                }
            );
            self.notify(
                idx,
                SupervisionEventKind::GaveUp {
                    reason: reason.clone(),
                },
            );
            return match self.spec.give_up {
                GiveUp::MarkCrashed => {
                    if retried {
                        let token = self.schedule(retry);
                        if let Some(child) = self.children.get_mut(idx) {
                            // Still crashed until then; started with a fresh budget.
                            child.pending = Some(token);
                            child.retry_at = Some(SystemTime::now() + retry);
                            child.reset_history();
                        }
                    }
                    Ok(())
                }
                GiveUp::Escalate => Err(self.escalate(idx, reason).await),
            };
        }
        let (attempt, delay) = child.next_backoff(uptime, &backoff);
        child.restarts = child.restarts.saturating_add(1);

        let swept: Vec<usize> = match self.spec.strategy {
            Strategy::OneForOne => Vec::new(),
            Strategy::OneForAll => (0..self.children.len()).filter(|&j| j != idx).collect(),
            Strategy::RestForOne => (idx + 1..self.children.len()).collect(),
        };
        let swept: Vec<usize> = swept
            .into_iter()
            .filter(|&j| self.children.get(j).is_some_and(Child::is_live))
            .collect();
        // Temporary children that were running go down with the sweep but never come back.
        let comes_back: Vec<usize> = swept
            .iter()
            .copied()
            .filter(|&j| {
                self.children.get(j).is_some_and(|c| {
                    c.pending.is_some() || c.spec.restart != crate::spec::Restart::Temporary
                })
            })
            .collect();
        self.stop_running_reverse(&swept).await;

        let token = self.schedule(delay);
        for j in comes_back.into_iter().chain(std::iter::once(idx)) {
            if let Some(child) = self.children.get_mut(j) {
                child.pending = Some(token);
                child.state = ChildState::Restarting;
            }
        }
        self.prune_timers();
        self.notify(idx, SupervisionEventKind::Restarting { attempt, delay });
        Ok(())
    }

    /// Stops every child (reverse start order) because child `idx` exhausted its budget, and
    /// returns the reason the supervisor fails with.
    async fn escalate(&mut self, idx: usize, reason: String) -> Escalation {
        let name = self.spec.name.clone();
        self.stop_all().await;
        if let Some(child) = self.children.get_mut(idx) {
            child.state = ChildState::Crashed;
        }
        let reason = format!("supervisor '{name}' gave up: {reason}");
        self.notify(
            idx,
            SupervisionEventKind::Escalated {
                reason: reason.clone(),
            },
        );
        Escalation(reason)
    }

    /// Stops every running child in reverse start order and cancels every pending restart:
    /// the supervisor's own shutdown.
    pub async fn stop_all(&mut self) {
        for idx in (0..self.children.len()).rev() {
            self.stop_one(idx, ChildState::Stopped).await;
        }
        for (_, timer) in self.timers.drain() {
            timer.abort();
        }
    }

    /// Arms a timer that posts [`BackoffElapsed`] back to the supervisor after `delay`; with
    /// no delay it is posted at once (a timer would add its own millisecond of granularity).
    fn schedule(&mut self, delay: Duration) -> u64 {
        let token = self.new_token();
        if delay.is_zero() {
            let _ = self
                .myself
                .send_message(SupervisorMsg::Backoff(BackoffElapsed { token }));
            return token;
        }
        let handle = ractor::time::send_after(delay, self.myself.clone(), move || {
            SupervisorMsg::Backoff(BackoffElapsed { token })
        });
        self.timers.insert(token, handle);
        token
    }

    /// Cancels timers no child waits for any more.
    fn prune_timers(&mut self) {
        let children = &self.children;
        self.timers.retain(|token, handle| {
            let used = children.iter().any(|c| c.pending == Some(*token));
            if !used {
                handle.abort();
            }
            used
        });
    }
}

/// Graceful stop within `timeout`, then a kill; returns how it ended, for `last_exit`.
async fn stop_cell(cell: &ActorCell, timeout: Duration) -> String {
    cell.stop(Some("shutdown".to_string()));
    if cell.wait(Some(timeout)).await.is_ok() {
        return "stopped by supervisor".to_string();
    }
    cell.kill();
    match cell.wait(Some(KILL_GRACE)).await {
        Ok(()) => format!("killed after its {timeout:?} shutdown timeout"),
        Err(_) => format!(
            "killed after its {timeout:?} shutdown timeout; still not gone after {KILL_GRACE:?}"
        ),
    }
}

/// The message of a caught panic.
fn panic_reason(panic: Box<dyn std::any::Any + Send>) -> String {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    format!("factory panicked: {message}")
}

//! The supervisor's record of one child: its spec, its current instance, and the history
//! that restart intensity and backoff are computed from. Also how ractor's supervision events
//! are read as exits.
//!
//! The current instance is identified by its ractor `ActorId`: an event about any other id is
//! stale (an instance the supervisor itself stopped, or one it already replaced) and ignored.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use ractor::{ActorCell, ActorId, SupervisionEvent};

use crate::events::{ChildInfo, ChildState};
use crate::spec::{Backoff, ChildSpec, Intensity, Restart};

/// A failure an actor may fail with when it is not the child's own fault: the child is
/// restarted as after any failure, but the restart does not count toward the intensity. A
/// plugin actor whose host died on a message fails with it: that message's own poison count
/// bounds those restarts (it is dead-lettered after a few), so one bad message, or one user
/// sending it again and again, cannot exhaust the plugin's budget and take it down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncounted(pub String);

impl std::fmt::Display for Uncounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Uncounted {}

/// How an instance ended, as the supervisor reasons about it.
#[derive(Debug, Clone)]
pub(crate) struct Exit {
    /// Human-readable, one line.
    pub reason: String,
    /// A failure, for [`Restart::Transient`] and for the notice.
    pub abnormal: bool,
    /// Counts toward the restart intensity (every failure but an [`Uncounted`] one).
    pub counted: bool,
}

impl Exit {
    /// A start that did not succeed: always abnormal.
    pub fn failed_start(error: &str) -> Self {
        Self {
            reason: format!("failed to start: {error}"),
            abnormal: true,
            counted: true,
        }
    }
}

/// Reads a ractor supervision event as the exit of the actor it names; `None` for events that
/// are not exits (`ActorStarted`, process groups).
///
/// Normal: `ActorTerminated` with no reason or the reason `"normal"`. Everything else that
/// ends an actor (a failure, a panic, a kill, any other stop reason) is abnormal.
pub(crate) fn read_exit(event: &SupervisionEvent) -> Option<(ActorId, Exit)> {
    match event {
        SupervisionEvent::ActorTerminated(cell, _, None) => Some((
            cell.get_id(),
            Exit {
                reason: "normal".to_string(),
                abnormal: false,
                counted: true,
            },
        )),
        SupervisionEvent::ActorTerminated(cell, _, Some(reason)) => Some((
            cell.get_id(),
            Exit {
                abnormal: reason != "normal",
                reason: if reason == "normal" {
                    reason.clone()
                } else {
                    format!("stopped: {reason}")
                },
                counted: true,
            },
        )),
        SupervisionEvent::ActorFailed(cell, err) => Some((
            cell.get_id(),
            Exit {
                reason: format!("failed: {err}"),
                abnormal: true,
                counted: err.downcast_ref::<Uncounted>().is_none(),
            },
        )),
        _ => None,
    }
}

/// What kind of exit an [`Exit::reason`] tells, for the operator's metrics: `normal`,
/// `stopped` (it stopped itself with a reason), `failed_to_start` or `failed`.
pub(crate) fn exit_cause(reason: &str) -> &'static str {
    if reason == "normal" {
        "normal"
    } else if reason.starts_with("stopped: ") {
        "stopped"
    } else if reason.starts_with("failed to start: ") {
        "failed_to_start"
    } else {
        "failed"
    }
}

/// Whether a child of this restart type is restarted after this kind of exit.
pub(crate) fn restarts_after(restart: Restart, abnormal: bool) -> bool {
    match restart {
        Restart::Permanent => true,
        Restart::Transient => abnormal,
        Restart::Temporary => false,
    }
}

/// One supervised child and everything the supervisor remembers about it.
pub(crate) struct Child {
    pub spec: ChildSpec,
    pub state: ChildState,
    /// The running instance, if any; the only instance whose events count.
    pub cell: Option<ActorCell>,
    pub started_at: Option<SystemTime>,
    pub started_instant: Option<Instant>,
    /// Automatic restarts since the child was added.
    pub restarts: u32,
    pub last_exit: Option<String>,
    /// The backoff timer this child waits for before it is (re)started.
    pub pending: Option<u64>,
    /// When a child given up on is tried again (its timer is `pending`).
    pub retry_at: Option<SystemTime>,
    /// Times of the automatic restarts still inside the intensity window.
    history: VecDeque<Instant>,
    /// Position in the current backoff sequence.
    consecutive: u32,
}

impl Child {
    /// A child not started yet.
    pub fn new(spec: ChildSpec) -> Self {
        Self {
            spec,
            state: ChildState::Stopped,
            cell: None,
            started_at: None,
            started_instant: None,
            restarts: 0,
            last_exit: None,
            pending: None,
            retry_at: None,
            history: VecDeque::new(),
            consecutive: 0,
        }
    }

    /// The snapshot handed to callers.
    pub fn info(&self) -> ChildInfo {
        ChildInfo {
            name: self.spec.name.clone(),
            state: self.state,
            restarts: self.restarts,
            started_at: self.started_at,
            last_exit: self.last_exit.clone(),
            actor: self.cell.clone(),
            retry_at: self.retry_at.filter(|_| self.pending.is_some()),
        }
    }

    /// Whether `id` is the current instance.
    pub fn is_current(&self, id: ActorId) -> bool {
        self.cell.as_ref().is_some_and(|cell| cell.get_id() == id)
    }

    /// Running or waiting to be (re)started: what a restart sweep takes along.
    pub fn is_live(&self) -> bool {
        self.cell.is_some() || self.pending.is_some()
    }

    /// How long the current instance has been up.
    pub fn uptime(&self) -> Option<Duration> {
        self.started_instant.map(|at| at.elapsed())
    }

    /// Forgets past restarts: an operator's start is a fresh beginning.
    pub fn reset_history(&mut self) {
        self.history.clear();
        self.consecutive = 0;
    }

    /// Records an automatic restart at `now` if the intensity allows it; `false` means the
    /// budget is spent (more than `max_restarts` within `within`) and nothing was recorded.
    pub fn admit_restart(&mut self, now: Instant, intensity: &Intensity) -> bool {
        while let Some(&oldest) = self.history.front() {
            if now.saturating_duration_since(oldest) >= intensity.within {
                self.history.pop_front();
            } else {
                break;
            }
        }
        if self.history.len() >= intensity.max_restarts as usize {
            return false;
        }
        self.history.push_back(now);
        true
    }

    /// Advances the backoff sequence for a failure after `uptime` (`None`: the instance never
    /// started) and returns the attempt number and its delay.
    pub fn next_backoff(&mut self, uptime: Option<Duration>, backoff: &Backoff) -> (u32, Duration) {
        if uptime.is_some_and(|up| up >= backoff.reset_after) {
            self.consecutive = 0;
        }
        self.consecutive = self.consecutive.saturating_add(1);
        (self.consecutive, backoff.delay(self.consecutive))
    }

    /// Marks the child as having a fresh running instance.
    pub fn set_running(&mut self, cell: ActorCell) {
        self.cell = Some(cell);
        self.state = ChildState::Running;
        self.started_at = Some(SystemTime::now());
        self.started_instant = Some(Instant::now());
    }

    /// Forgets the instance (it exited, or is being stopped) and returns it.
    pub fn take_instance(&mut self) -> Option<ActorCell> {
        self.started_at = None;
        self.started_instant = None;
        self.cell.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let backoff = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(80),
            reset_after: Duration::from_secs(1),
        };
        let delays: Vec<u64> = (1..=6)
            .map(|k| backoff.delay(k).as_millis() as u64)
            .collect();
        assert_eq!(delays, [10, 20, 40, 80, 80, 80]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_millis(80));
        assert_eq!(backoff.delay(0), Duration::from_millis(10));
    }

    #[test]
    fn intensity_window_slides() {
        let spec = ChildSpec::new("x", |_sup: ActorCell| async { Err("unused".into()) });
        let mut child = Child::new(spec);
        let intensity = Intensity {
            max_restarts: 2,
            within: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        assert!(child.admit_restart(t0, &intensity));
        assert!(child.admit_restart(t0 + Duration::from_secs(1), &intensity));
        assert!(!child.admit_restart(t0 + Duration::from_secs(2), &intensity));
        // The first restart leaves the window at t0 + 10 s.
        assert!(child.admit_restart(t0 + Duration::from_secs(10), &intensity));
        assert!(!child.admit_restart(t0 + Duration::from_secs(10), &intensity));
        child.reset_history();
        assert!(child.admit_restart(t0 + Duration::from_secs(10), &intensity));
    }

    #[test]
    fn zero_intensity_never_restarts() {
        let spec = ChildSpec::new("x", |_sup: ActorCell| async { Err("unused".into()) });
        let mut child = Child::new(spec);
        let intensity = Intensity {
            max_restarts: 0,
            within: Duration::from_secs(10),
        };
        assert!(!child.admit_restart(Instant::now(), &intensity));
    }

    #[test]
    fn stable_run_resets_backoff() {
        let spec = ChildSpec::new("x", |_sup: ActorCell| async { Err("unused".into()) });
        let mut child = Child::new(spec);
        let backoff = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_secs(1),
            reset_after: Duration::from_secs(5),
        };
        assert_eq!(child.next_backoff(None, &backoff).0, 1);
        assert_eq!(
            child.next_backoff(Some(Duration::from_secs(1)), &backoff).0,
            2
        );
        assert_eq!(child.next_backoff(None, &backoff).0, 3);
        let (attempt, delay) = child.next_backoff(Some(Duration::from_secs(5)), &backoff);
        assert_eq!((attempt, delay), (1, Duration::from_millis(10)));
    }

    #[test]
    fn restart_types() {
        assert!(restarts_after(Restart::Permanent, false));
        assert!(restarts_after(Restart::Permanent, true));
        assert!(!restarts_after(Restart::Transient, false));
        assert!(restarts_after(Restart::Transient, true));
        assert!(!restarts_after(Restart::Temporary, false));
        assert!(!restarts_after(Restart::Temporary, true));
    }
}

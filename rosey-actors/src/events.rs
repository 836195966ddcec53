//! What a supervisor tells the outside world: a snapshot of each child ([`ChildInfo`]) on
//! request, and a [`SupervisionNotice`] for every lifecycle event as it happens.
//!
//! The supervisor never logs or publishes anything itself (an embedding bot decides where
//! events go); the daemon installs a [`Listener`] that logs each notice and publishes it on
//! NATS for the dashboard and `rosey status`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ractor::ActorCell;

/// Where a child is in its lifecycle, as an operator would want to see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// Its factory is running (only seen by listeners: the supervisor answers no query
    /// meanwhile).
    Starting,
    /// Started and not known to have exited.
    Running,
    /// Waiting out a backoff delay before an automatic restart.
    Restarting,
    /// Being stopped by the supervisor (only seen by listeners, like `Starting`).
    Stopping,
    /// Not running and not going to be restarted automatically: stopped by an operator or
    /// the supervisor, or exited in a way its restart type does not restart.
    Stopped,
    /// Not running after a failure the supervisor will not repair: it gave up (intensity
    /// exceeded), a temporary child failed, or an operator's start failed.
    Crashed,
}

impl ChildState {
    /// A stable lower-case name, for logs and published payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Crashed => "crashed",
        }
    }
}

impl std::fmt::Display for ChildState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of one child, in start order, for status displays and the daemon's decisions.
#[derive(Debug, Clone)]
pub struct ChildInfo {
    /// The child's name.
    pub name: String,
    /// Its state at the time of the query.
    pub state: ChildState,
    /// Automatic restarts caused by this child's own exits since it was added (not those of a
    /// sibling's sweep, nor operator restarts; never reset, unlike the intensity and backoff
    /// history).
    pub restarts: u32,
    /// When the running instance started; `None` when not running.
    pub started_at: Option<SystemTime>,
    /// How the last instance ended (or why the last start failed).
    pub last_exit: Option<String>,
    /// The running instance, so its owner can message it; `None` when not running.
    pub actor: Option<ActorCell>,
    /// When a crashed child is tried again (`None`: it is not crashed, or stays down).
    pub retry_at: Option<SystemTime>,
}

/// What happened to a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisionEventKind {
    /// A new instance started (first start, automatic or operator restart).
    Started,
    /// The child exited by itself, or a start failed (`abnormal`, reason `failed to start:
    /// …`). Stops the supervisor asked for are reported as [`Self::Stopped`] instead.
    Exited {
        /// `normal`, `stopped: <reason>`, `failed: <error>` or `failed to start: <error>`.
        reason: String,
        /// Whether the exit counts as a failure for [`crate::Restart::Transient`].
        abnormal: bool,
    },
    /// An automatic restart of this (failed) child is scheduled after `delay`, the
    /// `attempt`-th consecutive one. Siblings a strategy sweeps along get `Stopped` now and
    /// `Started` when they come back with it.
    Restarting {
        /// 1-based position in the current backoff sequence.
        attempt: u32,
        /// The backoff delay before the restart.
        delay: Duration,
    },
    /// The child exceeded its restart intensity; it is left `Crashed`.
    GaveUp {
        /// Names the limit and the child's last exit.
        reason: String,
    },
    /// The supervisor stopped the child (operator request, a sibling's restart sweep,
    /// shutdown, escalation), or cancelled its pending restart.
    Stopped,
    /// The child was removed from the supervisor.
    Removed,
    /// The supervisor stopped all its children and is failing because of this child.
    Escalated {
        /// The reason its own supervisor will see.
        reason: String,
    },
}

impl SupervisionEventKind {
    /// A stable one-word name for the event (`gave_up`, …): a key for logs, NATS notices
    /// and scripts, which should not parse the sentence [`Display`](std::fmt::Display) gives.
    pub fn name(&self) -> &'static str {
        match self {
            SupervisionEventKind::Started => "started",
            SupervisionEventKind::Exited { .. } => "exited",
            SupervisionEventKind::Restarting { .. } => "restarting",
            SupervisionEventKind::GaveUp { .. } => "gave_up",
            SupervisionEventKind::Stopped => "stopped",
            SupervisionEventKind::Removed => "removed",
            SupervisionEventKind::Escalated { .. } => "escalated",
        }
    }

    /// Whether the event is a failure an operator should see as an error (an abnormal exit,
    /// a child given up on, an escalation), rather than the tree doing its normal work.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            SupervisionEventKind::Exited { abnormal: true, .. }
                | SupervisionEventKind::GaveUp { .. }
                | SupervisionEventKind::Escalated { .. }
        )
    }
}

/// What happened, as the end of a sentence whose subject is the child: `restarting in 100ms
/// (attempt 2)`, `crashed, not restarted: …`. One wording for the daemon's log, its NATS
/// notices and embedders' own output.
impl std::fmt::Display for SupervisionEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SupervisionEventKind::Started => f.write_str("started"),
            SupervisionEventKind::Exited { reason, .. } => write!(f, "exited: {reason}"),
            SupervisionEventKind::Restarting { attempt, delay } => {
                write!(f, "restarting in {delay:?} (attempt {attempt})")
            }
            SupervisionEventKind::GaveUp { reason } => {
                write!(f, "crashed, not restarted: {reason}")
            }
            SupervisionEventKind::Stopped => f.write_str("stopped"),
            SupervisionEventKind::Removed => f.write_str("removed"),
            SupervisionEventKind::Escalated { reason } => write!(f, "escalated: {reason}"),
        }
    }
}

/// One event, with who it happened to and when: the unit the daemon logs and publishes.
#[derive(Debug, Clone)]
pub struct SupervisionNotice {
    /// The supervisor's name ([`crate::SupervisorSpec::name`]).
    pub supervisor: String,
    /// The child's name.
    pub child: String,
    /// What happened.
    pub kind: SupervisionEventKind,
    /// The child's state right after it happened (so a listener can follow who is
    /// [`ChildState::Crashed`] without asking the supervisor).
    pub state: ChildState,
    /// When the supervisor observed it.
    pub at: SystemTime,
}

/// Observer the daemon installs to log and publish every event. Called synchronously from the
/// supervisor, so it must not block; a panic in it is caught and ignored.
pub type Listener = Arc<dyn Fn(SupervisionNotice) + Send + Sync>;

/// A listener that drops every notice, for embedders and tests that do not care.
pub fn ignore_notices() -> Listener {
    Arc::new(|_| {})
}

#[cfg(test)]
mod tests {
    use super::SupervisionEventKind as Kind;
    use std::time::Duration;

    #[test]
    fn each_event_has_a_stable_name_a_sentence_and_a_failure_flag() {
        let cases = [
            (Kind::Started, "started", "started", false),
            (
                Kind::Exited {
                    reason: "normal".into(),
                    abnormal: false,
                },
                "exited",
                "exited: normal",
                false,
            ),
            (
                Kind::Exited {
                    reason: "failed: boom".into(),
                    abnormal: true,
                },
                "exited",
                "exited: failed: boom",
                true,
            ),
            (
                Kind::Restarting {
                    attempt: 2,
                    delay: Duration::from_millis(100),
                },
                "restarting",
                "restarting in 100ms (attempt 2)",
                false,
            ),
            (
                Kind::GaveUp {
                    reason: "too many".into(),
                },
                "gave_up",
                "crashed, not restarted: too many",
                true,
            ),
            (Kind::Stopped, "stopped", "stopped", false),
            (Kind::Removed, "removed", "removed", false),
            (
                Kind::Escalated {
                    reason: "child x".into(),
                },
                "escalated",
                "escalated: child x",
                true,
            ),
        ];
        for (kind, name, sentence, failure) in cases {
            assert_eq!(kind.name(), name, "{kind:?}");
            assert_eq!(kind.to_string(), sentence, "{kind:?}");
            assert_eq!(kind.is_failure(), failure, "{kind:?}");
        }
    }
}

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

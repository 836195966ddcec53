//! What a supervisor is told before it runs: its strategy, its limits (intensity, backoff), what
//! to do when a limit is reached, and how to start each child.
//!
//! Everything here is plain data plus the [`ChildFactory`] seam, so the supervisor stays generic:
//! it never knows whether a child wraps a NATS server, the bot or a plugin host process.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{Actor, ActorCell, ActorProcessingErr, SpawnErr};

/// Which children go down and come back with a child that is restarted.
///
/// The choice encodes dependencies between siblings: independent ones use
/// [`Strategy::OneForOne`]; when later children depend on earlier ones (the bot on NATS),
/// [`Strategy::RestForOne`]; when all depend on each other, [`Strategy::OneForAll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Only the failed child is restarted.
    OneForOne,
    /// Every other live child is stopped (reverse start order), then all are restarted (start
    /// order).
    OneForAll,
    /// The live children started after the failed one are stopped (reverse start order), then
    /// the failed one and those are restarted (start order).
    RestForOne,
}

/// When a child that exited by itself is restarted: the child's own contract with its
/// supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always restarted, whatever the exit (a service that must always run).
    Permanent,
    /// Restarted only after an abnormal exit: a failure (`ActorFailed`, a panic included), or
    /// a termination whose reason is neither absent nor `"normal"`. A job that may finish.
    Transient,
    /// Never restarted, neither after its own exit nor when a sibling's failure sweeps it away
    /// under [`Strategy::OneForAll`] / [`Strategy::RestForOne`].
    Temporary,
}

/// How many automatic restarts a child may have in a sliding time window before the
/// supervisor gives up on it: the guard against a silent restart loop.
///
/// Counted per child (see the crate documentation for why). More than `max_restarts`
/// restarts within `within` gives up; `max_restarts: 0` gives up at the first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// Restarts allowed within the window.
    pub max_restarts: u32,
    /// Length of the sliding window.
    pub within: Duration,
}

impl Default for Intensity {
    /// Five restarts a minute: generous for a flapping dependency, still bounded.
    fn default() -> Self {
        Self {
            max_restarts: 5,
            within: Duration::from_secs(60),
        }
    }
}

/// Delay between a failure and the restart that follows, so that a child failing at once on
/// every start does not spin the CPU or hammer what it depends on.
///
/// The k-th consecutive restart of a child waits `initial * 2^(k-1)`, capped at `max`. A child
/// that ran at least `reset_after` before failing starts a fresh sequence (delay `initial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first restart of a sequence.
    pub initial: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
    /// Uptime after which a failure counts as the first of a new sequence.
    pub reset_after: Duration,
}

impl Backoff {
    /// The delay before the `attempt`-th consecutive restart (1-based; 0 is treated as 1), so
    /// callers and tests can compute what the supervisor will wait without running it.
    pub fn delay(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

impl Default for Backoff {
    /// 100 ms doubling up to 5 s; a child that stayed up 30 s is considered healthy again.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            reset_after: Duration::from_secs(30),
        }
    }
}

/// What the supervisor does when a child exceeds the restart intensity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Stop every child in reverse start order, then fail the supervisor itself, so that its
    /// own supervisor sees an `ActorFailed` naming the child and its last failure. For
    /// services, where one that cannot run means the stack cannot run.
    Escalate,
    /// Mark the child `Crashed` and leave it stopped; its siblings keep running untouched. For
    /// plugins, where one broken plugin must not take the others down.
    MarkCrashed,
}

/// The supervisor's own configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorSpec {
    /// Names the supervisor in notices and escalation reasons (not registered with ractor, so
    /// several stacks, or tests, can run in one process).
    pub name: String,
    /// Which siblings are restarted with a failed child.
    pub strategy: Strategy,
    /// The restart budget of each child.
    pub intensity: Intensity,
    /// The delays between restarts.
    pub backoff: Backoff,
    /// What happens when a child exceeds its budget.
    pub give_up: GiveUp,
    /// Under [`Strategy::OneForOne`], start the children due at the same time together rather
    /// than one after the other (for children that do not depend on each other: plugins).
    /// Ignored by the other strategies, whose point is an order.
    pub concurrent_start: bool,
    /// The first start is all or nothing, as OTP's `init`: the first child that fails to start
    /// stops the ones started before it (reverse order) and makes [`crate::Supervisor::start`]
    /// return [`crate::SupervisorError::StartFailed`]. For services that need each other (a
    /// stack that cannot run without its message bus should say so at once, not retry in the
    /// background). Off: a failed first start is a failure like any other.
    pub all_or_nothing: bool,
    /// Under [`GiveUp::MarkCrashed`], a child given up on is started again this long after,
    /// with a fresh budget (systemd's start limit: whatever broke it may have passed). Zero
    /// leaves it down until an operator acts.
    pub retry_after: Duration,
}

impl SupervisorSpec {
    /// A spec with default intensity and backoff, so callers only state what matters to them.
    pub fn new(name: impl Into<String>, strategy: Strategy, give_up: GiveUp) -> Self {
        Self {
            name: name.into(),
            strategy,
            intensity: Intensity::default(),
            backoff: Backoff::default(),
            give_up,
            concurrent_start: false,
            all_or_nothing: false,
            retry_after: Duration::ZERO,
        }
    }
}

/// How to (re)start one child: called on every start and restart, so each run gets fresh
/// arguments (a new process, a new connection).
///
/// Contract:
/// - spawn the child actor **linked to `supervisor`** (e.g. with [`spawn_child`] or
///   `Actor::spawn_linked`) and return once it has started (its `pre_start` finished);
/// - an `Err` (any error: ractor's boxed [`ActorProcessingErr`], so `?` works on whatever the
///   start calls) is a failed start and counts as a failure for intensity and backoff; its
///   text is the reason notices and `last_exit` show;
/// - bound the time a start may take: the supervisor waits for it and handles nothing else
///   meanwhile (as an OTP supervisor waits for `init`).
///
/// Any `Fn(ActorCell) -> impl Future<Output = Result<ActorCell, ActorProcessingErr>>` closure
/// is a factory.
pub trait ChildFactory: Send + Sync + 'static {
    /// Spawn the child linked to `supervisor` and return its cell once it has started.
    fn start(
        &self,
        supervisor: ActorCell,
    ) -> BoxFuture<'static, Result<ActorCell, ActorProcessingErr>>;
}

impl<F, Fut> ChildFactory for F
where
    F: Fn(ActorCell) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ActorCell, ActorProcessingErr>> + Send + 'static,
{
    fn start(
        &self,
        supervisor: ActorCell,
    ) -> BoxFuture<'static, Result<ActorCell, ActorProcessingErr>> {
        Box::pin(self(supervisor))
    }
}

/// Spawn `actor` linked to `supervisor` and return its cell; a failed `pre_start` is its own
/// error (so an [`crate::Uncounted`] stays one): the usual body of a [`ChildFactory`].
pub async fn spawn_child<A: Actor>(
    name: Option<String>,
    actor: A,
    args: A::Arguments,
    supervisor: ActorCell,
) -> Result<ActorCell, ActorProcessingErr> {
    match Actor::spawn_linked(name, actor, args, supervisor).await {
        Ok((actor_ref, _handle)) => Ok(actor_ref.get_cell()),
        Err(SpawnErr::StartupFailed(err)) => Err(err),
        Err(other) => Err(Box::new(other)),
    }
}

/// One child: its name, restart type, how long it may take to stop, and how to start it.
#[derive(Clone)]
pub struct ChildSpec {
    /// Unique among the supervisor's children; how operators and notices refer to it.
    pub name: String,
    /// When the child is restarted after exiting by itself.
    pub restart: Restart,
    /// How long a graceful stop may take before the child is killed.
    pub shutdown_timeout: Duration,
    /// This child's own restart budget, instead of the supervisor's.
    pub intensity: Option<Intensity>,
    /// This child's own backoff, instead of the supervisor's.
    pub backoff: Option<Backoff>,
    /// This child's own [`SupervisorSpec::retry_after`], instead of the supervisor's.
    pub retry_after: Option<Duration>,
    /// Starts the child.
    pub factory: Arc<dyn ChildFactory>,
}

impl ChildSpec {
    /// A permanent child with a 5 s shutdown timeout, the common case.
    pub fn new(name: impl Into<String>, factory: impl ChildFactory) -> Self {
        Self {
            name: name.into(),
            restart: Restart::Permanent,
            shutdown_timeout: Duration::from_secs(5),
            intensity: None,
            backoff: None,
            retry_after: None,
            factory: Arc::new(factory),
        }
    }

    /// The same spec with another restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// The same spec with a restart budget of its own (e.g. one plugin allowed more restarts).
    pub fn intensity(mut self, intensity: Intensity) -> Self {
        self.intensity = Some(intensity);
        self
    }

    /// The same spec with backoff delays of its own.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// The same spec with a give-up retry delay of its own (zero: stays down).
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// The same spec with another shutdown timeout.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

//! Unit tests of the supervisor with plain test actors (no processes, no NATS), and the kit
//! they share: a child that can be told to fail, exit or panic and that logs its starts and
//! stops in a shared log, and helpers that wait for conditions instead of sleeping. Beside
//! them, tests with real parts: child processes (`process`), the JetStream keeper against a
//! real nats-server (`keeper`; `nats` starts one), and a stack embedded in the test process
//! (`stack`, `bot`).

mod archives;
mod ballast;
mod bot;
mod faults;
mod give_up;
mod keeper;
mod limits;
pub(crate) mod nats;
mod operations;
mod process;
mod restart_types;
mod snapshots;
mod stack;
mod strategies;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::{
    children, spawn_child, Backoff, ChildInfo, ChildSpec, ChildState, GiveUp, Intensity, Listener,
    Restart, Strategy, SupervisionEventKind, SupervisionNotice, SupervisorMsg, SupervisorSpec,
};

/// How long any awaited condition may take before the test fails: generous, for a loaded
/// 2-core machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// Lock that survives a poisoned mutex (a failed assertion elsewhere must not cascade).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a test child can be told to do.
pub(crate) enum TestMsg {
    /// Return this error from `handle`: an `ActorFailed`.
    Fail(String),
    /// Fail with an [`crate::Uncounted`] error.
    FailUncounted(String),
    /// Stop itself with this reason: an `ActorTerminated`.
    Exit(Option<String>),
    /// Panic in `handle`.
    Panic(String),
}

struct TestChild;

struct TestArgs {
    name: String,
    kit: Kit,
    /// How long `post_stop` takes; a long one makes a child that must be killed.
    stop_delay: Duration,
}

impl Actor for TestChild {
    type Msg = TestMsg;
    type State = TestArgs;
    type Arguments = TestArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<TestMsg>,
        args: TestArgs,
    ) -> Result<TestArgs, ActorProcessingErr> {
        args.kit.record(format!("start:{}", args.name));
        Ok(args)
    }

    async fn handle(
        &self,
        myself: ActorRef<TestMsg>,
        message: TestMsg,
        _state: &mut TestArgs,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            TestMsg::Fail(reason) => return Err(reason.into()),
            TestMsg::FailUncounted(reason) => return Err(Box::new(crate::Uncounted(reason))),
            TestMsg::Exit(reason) => myself.stop(reason),
            TestMsg::Panic(message) => panic!("{message}"),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<TestMsg>,
        state: &mut TestArgs,
    ) -> Result<(), ActorProcessingErr> {
        if !state.stop_delay.is_zero() {
            state.kit.record(format!("stopping:{}", state.name));
            tokio::time::sleep(state.stop_delay).await;
        }
        state.kit.record(format!("stop:{}", state.name));
        Ok(())
    }
}

/// Shared observations of one test: the start/stop log, each child's latest instance, the
/// notices, the factory calls, and start failures to inject.
#[derive(Clone, Default)]
pub(crate) struct Kit {
    log: Arc<Mutex<Vec<String>>>,
    actors: Arc<Mutex<HashMap<String, ActorCell>>>,
    notices: Arc<Mutex<Vec<SupervisionNotice>>>,
    refuse: Arc<Mutex<HashMap<String, u32>>>,
    attempts: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Kit {
    fn record(&self, entry: String) {
        lock(&self.log).push(entry);
    }

    /// The whole log.
    pub fn log(&self) -> Vec<String> {
        lock(&self.log).clone()
    }

    /// The log from entry `from` on.
    pub fn log_since(&self, from: usize) -> Vec<String> {
        lock(&self.log).get(from..).unwrap_or_default().to_vec()
    }

    /// How many times `name` started.
    pub fn starts_of(&self, name: &str) -> usize {
        let entry = format!("start:{name}");
        lock(&self.log).iter().filter(|e| **e == entry).count()
    }

    /// The listener that records notices.
    pub fn listener(&self) -> Listener {
        let notices = self.notices.clone();
        Arc::new(move |notice| lock(&notices).push(notice))
    }

    /// The notices about `child`, in order.
    pub fn notices_of(&self, child: &str) -> Vec<SupervisionEventKind> {
        lock(&self.notices)
            .iter()
            .filter(|n| n.child == child)
            .map(|n| n.kind.clone())
            .collect()
    }

    /// The state `child`'s first exit notice gave it.
    pub fn state_at_exit(&self, child: &str) -> Option<ChildState> {
        lock(&self.notices)
            .iter()
            .find(|n| n.child == child && matches!(n.kind, SupervisionEventKind::Exited { .. }))
            .map(|n| n.state)
    }

    /// Every notice as `child:kind`, kinds abbreviated, in order.
    pub fn notice_trail(&self) -> Vec<String> {
        lock(&self.notices)
            .iter()
            .map(|n| format!("{}:{}", n.child, n.kind.name()))
            .collect()
    }

    /// The (attempt, delay) of each restart scheduled for `child`.
    pub fn restart_delays(&self, child: &str) -> Vec<(u32, Duration)> {
        self.notices_of(child)
            .into_iter()
            .filter_map(|kind| match kind {
                SupervisionEventKind::Restarting { attempt, delay } => Some((attempt, delay)),
                _ => None,
            })
            .collect()
    }

    /// When each factory call for `child` began.
    pub fn attempts_of(&self, child: &str) -> Vec<Instant> {
        lock(&self.attempts)
            .iter()
            .filter(|(name, _)| name == child)
            .map(|(_, at)| *at)
            .collect()
    }

    /// Makes the next `count` starts of `child` fail in the factory.
    pub fn refuse_starts(&self, child: &str, count: u32) {
        lock(&self.refuse).insert(child.to_string(), count);
    }

    /// The latest instance of `child`.
    pub fn actor(&self, child: &str) -> ActorCell {
        match lock(&self.actors).get(child) {
            Some(cell) => cell.clone(),
            None => panic!("child {child} never started"),
        }
    }

    /// Sends `message` to the latest instance of `child`.
    pub fn tell(&self, child: &str, message: TestMsg) {
        if self.actor(child).send_message(message).is_err() {
            panic!("child {child} is not running");
        }
    }

    /// A permanent test child with a 5 s shutdown timeout.
    pub fn child(&self, name: &str) -> ChildSpec {
        self.child_with(name, Duration::ZERO)
    }

    /// A test child whose `post_stop` takes `stop_delay`.
    pub fn child_with(&self, name: &str, stop_delay: Duration) -> ChildSpec {
        let kit = self.clone();
        let name_owned = name.to_string();
        ChildSpec::new(name, move |supervisor: ActorCell| {
            let kit = kit.clone();
            let name = name_owned.clone();
            async move {
                lock(&kit.attempts).push((name.clone(), Instant::now()));
                if let Some(left) = lock(&kit.refuse).get_mut(&name) {
                    if *left > 0 {
                        *left -= 1;
                        return Err(format!("{name} refused to start").into());
                    }
                }
                let args = TestArgs {
                    name: name.clone(),
                    kit: kit.clone(),
                    stop_delay,
                };
                let cell = spawn_child(None, TestChild, args, supervisor).await?;
                lock(&kit.actors).insert(name, cell.clone());
                Ok(cell)
            }
        })
        .shutdown_timeout(Duration::from_secs(5))
    }

    /// A child of the given restart type.
    pub fn child_of(&self, name: &str, restart: Restart) -> ChildSpec {
        self.child(name).restart(restart)
    }
}

/// A supervisor spec with room for restarts and near-zero backoff, for tests about something
/// else than limits.
pub(crate) fn spec(strategy: Strategy, give_up: GiveUp) -> SupervisorSpec {
    SupervisorSpec {
        name: "test".to_string(),
        strategy,
        intensity: Intensity {
            max_restarts: 50,
            within: Duration::from_secs(60),
        },
        backoff: Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(5),
            reset_after: Duration::from_secs(60),
        },
        give_up,
        concurrent_start: false,
        all_or_nothing: false,
        retry_after: Duration::ZERO,
    }
}

/// Polls `condition` until it holds; fails the test after [`PATIENCE`].
pub(crate) async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The supervisor's snapshot of `child`.
pub(crate) async fn info(supervisor: &ActorRef<SupervisorMsg>, child: &str) -> ChildInfo {
    let all = children(supervisor).await.expect("supervisor answers");
    match all.into_iter().find(|c| c.name == child) {
        Some(info) => info,
        None => panic!("no child {child}"),
    }
}

/// Waits until `child` is in `state`.
pub(crate) async fn wait_state(
    supervisor: &ActorRef<SupervisorMsg>,
    child: &str,
    state: ChildState,
) {
    eventually(&format!("{child} {state}"), || async {
        info(supervisor, child).await.state == state
    })
    .await;
}

/// Names of the children, in start order.
pub(crate) async fn names(supervisor: &ActorRef<SupervisorMsg>) -> Vec<String> {
    let all = children(supervisor).await.expect("supervisor answers");
    all.into_iter().map(|c| c.name).collect()
}

/// Lets in-flight events land before a negative assertion ("nothing more happened").
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}

/// A test actor standing in for a supervisor's own supervisor: records the supervision
/// events it receives as `failed:<reason>` / `terminated:<reason>`.
pub(crate) struct Parent;

impl Actor for Parent {
    type Msg = ();
    type State = Arc<Mutex<Vec<String>>>;
    type Arguments = Arc<Mutex<Vec<String>>>;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        events: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(events)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        event: SupervisionEvent,
        events: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(_, err) => lock(events).push(format!("failed:{err}")),
            SupervisionEvent::ActorTerminated(_, _, reason) => {
                lock(events).push(format!("terminated:{}", reason.unwrap_or_default()))
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reads the events a [`Parent`] recorded.
pub(crate) fn parent_events(events: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    lock(events).clone()
}

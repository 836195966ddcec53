//! The [`Supervisor`] actor: its messages, its lifecycle hooks, and how to start one.
//!
//! The actor is a thin shell over the engine (`engine/`): children are started in
//! `pre_start` (so `Supervisor::start` returns once the first start sequence is done),
//! requests and timers arrive as [`SupervisorMsg`], children's exits as ractor supervision
//! events, and a graceful stop of the supervisor stops its children in `post_stop`.

use ractor::concurrency::JoinHandle;
use ractor::SupervisionEvent;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};

use crate::engine::{Engine, Escalation};
use crate::error::SupervisorError;
use crate::events::{ChildInfo, Listener};
use crate::spec::{ChildSpec, SupervisorSpec};

/// Requests a supervisor answers. Each carries a reply port, so callers learn the outcome;
/// [`crate::client`] wraps them in plain async functions.
///
/// The supervisor handles one request at a time and a request that stops or starts a child
/// is answered once that is done (bounded by the child's shutdown timeout plus a kill, or by
/// its factory).
#[derive(Debug)]
pub enum SupervisorMsg {
    /// Append a child at the end of the start order and start it. `Err` if the name is taken
    /// or the start fails; a child that failed to start is not kept, and nothing of it runs.
    AddChild(ChildSpec, RpcReplyPort<Result<(), SupervisorError>>),
    /// Stop the child gracefully (shutdown timeout, then kill), then forget it.
    RemoveChild(String, RpcReplyPort<Result<(), SupervisorError>>),
    /// Stop the child (or cancel its pending restart) and keep its spec, state `Stopped`; it
    /// is not restarted until an operator starts it. A child already down is left as it is.
    StopChild(String, RpcReplyPort<Result<(), SupervisorError>>),
    /// Start a child that is not running (`Stopped`, `Crashed`, or waiting out a backoff:
    /// then now) with a fresh restart history. `Err` if it runs already or the start fails
    /// (then it is `Crashed`, not retried).
    StartChild(String, RpcReplyPort<Result<(), SupervisorError>>),
    /// Stop the child if it runs, then start it with a fresh restart history: an operator's
    /// restart, counted toward neither intensity nor `restarts`; siblings are untouched
    /// whatever the strategy. A failed start is reported and leaves it `Crashed`.
    RestartChild(String, RpcReplyPort<Result<(), SupervisorError>>),
    /// Snapshots of every child, in start order.
    Children(RpcReplyPort<Vec<ChildInfo>>),
    /// Internal: a backoff delay elapsed. Cannot be built outside this crate.
    #[doc(hidden)]
    Backoff(BackoffElapsed),
}

/// The supervisor's own timer message: which restart plan is due.
#[doc(hidden)]
#[derive(Debug)]
pub struct BackoffElapsed {
    pub(crate) token: u64,
}

/// What [`Supervisor`] is spawned with; public so a supervisor can be spawned with ractor's own
/// `Actor::spawn_linked` as well as with [`Supervisor::start`].
pub struct SupervisorArgs {
    /// The supervisor's configuration.
    pub spec: SupervisorSpec,
    /// Its initial children, in start order.
    pub children: Vec<ChildSpec>,
    /// Receives every notice.
    pub listener: Listener,
}

impl std::fmt::Debug for SupervisorArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorArgs")
            .field("spec", &self.spec)
            .field("children", &self.children)
            .finish_non_exhaustive()
    }
}

/// The supervisor's state, owned by the actor; opaque.
pub struct SupervisorState {
    engine: Engine,
}

/// Snapshots of the children, in start order.
impl std::fmt::Debug for SupervisorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorState")
            .field("children", &self.engine.children())
            .finish_non_exhaustive()
    }
}

/// A generic OTP-style supervisor: restarts its children (ractor actors linked to it)
/// according to a [`crate::Strategy`], restart types, an intensity limit and a backoff, and
/// gives up as its [`crate::GiveUp`] says. See the crate documentation for the exact rules.
#[derive(Debug)]
pub struct Supervisor;

impl Supervisor {
    /// Spawns a supervisor (linked to `parent` when given) and starts `children` in order,
    /// returning once each has started or failed its first start. A child that fails to start
    /// is handled like any failure (restart with backoff until the intensity is exceeded,
    /// then give up), unless the spec is [`SupervisorSpec::all_or_nothing`]: then the first
    /// failed start stops what started and is the `Err`. `Err` too when a child's failure
    /// escalates during this first sequence or two children share a name; nothing is left
    /// running then.
    pub async fn start(
        spec: SupervisorSpec,
        children: Vec<ChildSpec>,
        listener: Listener,
        parent: Option<ActorCell>,
    ) -> Result<(ActorRef<SupervisorMsg>, JoinHandle<()>), SupervisorError> {
        let args = SupervisorArgs {
            spec,
            children,
            listener,
        };
        let spawned = match parent {
            Some(parent) => Actor::spawn_linked(None, Supervisor, args, parent).await,
            None => Actor::spawn(None, Supervisor, args).await,
        };
        spawned.map_err(|err| match err {
            SpawnErr::StartupFailed(reason) => match reason.downcast::<SupervisorError>() {
                Ok(error) => *error,
                Err(other) => SupervisorError::Escalated {
                    reason: other.to_string(),
                },
            },
            other => SupervisorError::Escalated {
                reason: other.to_string(),
            },
        })
    }
}

fn fail(escalation: Escalation) -> ActorProcessingErr {
    escalation.0.into()
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut engine = Engine::new(args.spec, args.children, args.listener, myself.get_cell())?;
        // Published before the first start, so the children are seen starting.
        crate::snapshot::register(myself.get_id(), engine.snapshots());
        if let Err(error) = engine.boot().await {
            crate::snapshot::unregister(myself.get_id());
            return Err(Box::new(error));
        }
        Ok(SupervisorState { engine })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.engine.stop_all().await;
        crate::snapshot::unregister(myself.get_id());
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let engine = &mut state.engine;
        // A caller that gave up waiting has dropped its port: nothing to tell it.
        match message {
            SupervisorMsg::AddChild(spec, reply) => {
                let _ = reply.send(engine.add_child(spec).await);
            }
            SupervisorMsg::RemoveChild(name, reply) => {
                let _ = reply.send(engine.remove_child(&name).await);
            }
            SupervisorMsg::StopChild(name, reply) => {
                let _ = reply.send(engine.stop_child(&name).await);
            }
            SupervisorMsg::StartChild(name, reply) => {
                let _ = reply.send(engine.start_child(&name).await);
            }
            SupervisorMsg::RestartChild(name, reply) => {
                let _ = reply.send(engine.restart_child(&name).await);
            }
            SupervisorMsg::Children(reply) => {
                let _ = reply.send(engine.children());
            }
            SupervisorMsg::Backoff(timer) => {
                let done = engine.on_timer(timer).await;
                engine.publish();
                done.map_err(fail)?
            }
        }
        engine.publish();
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let done = state.engine.on_event(event).await;
        state.engine.publish();
        done.map_err(fail)
    }
}

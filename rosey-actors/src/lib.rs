//! # rosey-actors
//!
//! The supervision tree that keeps a rosey stack running: the generic OTP-style
//! [`Supervisor`], on [`ractor`] 0.16, and the whole stack of a bot built on it
//! ([`stack::Stack::builder`]: NATS, the bot, the supervised plugins, and any services of the
//! embedding program's own). The supervisor knows nothing of NATS, processes or plugins: a
//! child is any ractor actor, spawned linked to the supervisor by a [`ChildFactory`]. Nothing
//! here assumes a CLI, a terminal, fixed paths or a global logger; events go to a
//! [`Listener`].
//!
//! ## API
//!
//! ```text
//! Supervisor::start(SupervisorSpec, Vec<ChildSpec>, Listener, parent: Option<ActorCell>)
//!     -> Result<(ActorRef<SupervisorMsg>, JoinHandle<()>), SupervisorError>
//! SupervisorMsg::{AddChild, RemoveChild, StopChild, StartChild, RestartChild, Children}
//! client::{add_child, remove_child, stop_child, start_child, restart_child, children, shutdown}
//!     (children reads the supervisor's latest snapshot: it never waits for a busy supervisor)
//! stack::Stack::builder(Home) … .start() -> Result<(Stack, JoinHandle<()>), BuildError>
//! ```
//!
//! ```
//! use std::time::Duration;
//! use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
//! use rosey_actors::{
//!     children, shutdown, spawn_child, ChildSpec, ChildState, GiveUp, Listener, Restart,
//!     Strategy, Supervisor, SupervisorSpec,
//! };
//!
//! struct Worker;
//! impl Actor for Worker {
//!     type Msg = ();
//!     type State = ();
//!     type Arguments = ();
//!     async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rosey_actors::SupervisorError> {
//! let worker = ChildSpec::new("worker", |sup: ActorCell| spawn_child(None, Worker, (), sup))
//!     .restart(Restart::Transient)
//!     .shutdown_timeout(Duration::from_secs(2));
//! let spec = SupervisorSpec::new("plugins", Strategy::OneForOne, GiveUp::MarkCrashed);
//! let listener: Listener = std::sync::Arc::new(|notice| println!("{notice:?}"));
//! let (supervisor, _join) = Supervisor::start(spec, vec![worker], listener, None).await?;
//! assert_eq!(children(&supervisor).await?[0].state, ChildState::Running);
//! shutdown(&supervisor, Duration::from_secs(10)).await
//! # }
//! ```
//!
//! ## Semantics (Erlang/OTP's, with the differences stated)
//!
//! - **Start order.** Children start in the order given, [`SupervisorMsg::AddChild`] appending
//!   at the end; [`Supervisor::start`] returns once each child has started or failed its first
//!   start. A failed start (factory `Err` or panic) is a failure like any other (below); only an
//!   escalation during that first sequence makes `start` return `Err`.
//! - **Exits.** A child's exit is *normal* when ractor reports `ActorTerminated` with no reason
//!   or the reason `"normal"`; anything else (`ActorFailed`, a panic, a kill, any other reason)
//!   is *abnormal*. Only exits of the current instance count: an instance the supervisor is
//!   stopping itself (operator stop/remove/restart, a strategy sweep, shutdown, escalation) is
//!   forgotten before it is stopped, so its exit, normal or not, is ignored (tracked by actor
//!   id).
//! - **Restart types.** [`Restart::Permanent`] is always restarted, [`Restart::Transient`]
//!   only after an abnormal exit, [`Restart::Temporary`] never (not even when a sibling's sweep
//!   took it down). A child not restarted is left `Stopped` after a normal exit and `Crashed`
//!   after an abnormal one, its spec kept (OTP forgets temporary children; here an operator
//!   can still see and start it). A child that is not restarted triggers no sweep.
//! - **Intensity**, per child: each automatic restart is recorded; a restart that would make
//!   more than `max_restarts` within the sliding `within` window is refused and the
//!   supervisor gives up. Per child rather than per supervisor (OTP), because under
//!   [`GiveUp::MarkCrashed`] one plugin's crash loop must not spend its siblings' budget; the
//!   same rule holds for [`GiveUp::Escalate`] to keep one rule. Operator starts and restarts
//!   are not counted and reset the child's history. A failure with an [`Uncounted`] error is
//!   restarted (with backoff) but not recorded: the failing actor says the fault was not its
//!   own (a plugin actor whose host died on a message, which its poison count bounds).
//! - **Give up.** `MarkCrashed`: the child is `Crashed`; siblings are untouched. With a
//!   non-zero `retry_after` (supervisor's, or the child's own) it is started again that long
//!   after, with a fresh history (systemd's start limit); an operator stop cancels that.
//!   `Escalate`: every child is stopped in reverse start order, then the supervisor fails with
//!   `supervisor '<name>' gave up: child '<child>' exceeded N restarts within T; last exit:
//!   <reason>`, which its own supervisor receives as `ActorFailed` (and a parent
//!   [`Supervisor`] handles as a failure of this child).
//! - **Backoff.** The k-th consecutive restart of a child waits `initial * 2^(k-1)`, capped at
//!   `max` ([`Backoff::delay`]); if the instance had run at least `reset_after` before failing
//!   the sequence starts again at `initial`. The wait is a timer message, never a sleep in the
//!   mailbox: the supervisor answers requests meanwhile, the child shows `Restarting`, and
//!   stopping, starting, restarting or removing it cancels the pending restart.
//! - **Strategies.** When child F is to be restarted: [`Strategy::OneForOne`] restarts F only;
//!   [`Strategy::RestForOne`] stops the running children started after F (reverse order),
//!   then after F's backoff restarts F and them in start order; [`Strategy::OneForAll`] does
//!   the same with all other children. Only live children are swept (running, or waiting for
//!   a restart of their own, which is merged into F's); `Stopped` and `Crashed` ones stay
//!   down. Swept children are stopped like any supervisor stop (shutdown timeout, then kill),
//!   keep their own backoff history and do not count toward intensity. If a start fails
//!   during a restart sequence, that is a failure of that child and the strategy applies to it
//!   in turn.
//! - **Stopping** a child: `ActorCell::stop`, wait up to its `shutdown_timeout`, then
//!   `ActorCell::kill` (after which the supervisor waits at most 2 s more, so that a child
//!   blocking its thread cannot hang it). [`shutdown`] (or any graceful stop of the supervisor
//!   actor, e.g. by a parent supervisor) stops all children in reverse start order this way,
//!   then the supervisor stops.
//! - **Operator requests** act on one child whatever the strategy: see [`SupervisorMsg`].
//!   `AddChild` whose start fails returns `Err` and keeps nothing. Starts and stops are awaited
//!   inside the supervisor, so a request is answered after them, as in OTP.
//! - **Notices.** Every start, exit, scheduled restart, give-up, stop, removal and escalation
//!   produces a [`SupervisionNotice`] to the [`Listener`]: there is no silent restart loop.
//! - **No panics.** Nothing a child, a factory or a listener does can panic the supervisor.

#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod client;
mod error;
pub mod events;
mod services;
pub mod spec;
pub mod stack;
pub mod supervisor;

mod child;
mod engine;
mod snapshot;

#[cfg(test)]
mod tests;

pub use child::Uncounted;
pub use client::{
    add_child, children, remove_child, restart_child, shutdown, start_child, stop_child,
};
pub use error::SupervisorError;
pub use events::{
    ignore_notices, ChildInfo, ChildState, Listener, SupervisionEventKind, SupervisionNotice,
};
pub use services::plugin::ConfigTaken;
pub use services::process::{available_memory_bytes, resident_bytes};
pub use spec::{
    spawn_child, Backoff, ChildFactory, ChildSpec, GiveUp, Intensity, Restart, Strategy,
    SupervisorSpec,
};
pub use supervisor::{Supervisor, SupervisorArgs, SupervisorMsg, SupervisorState};

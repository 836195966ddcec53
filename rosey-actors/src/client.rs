//! Plain async functions over a supervisor's messages, so callers (the daemon's control
//! socket, the dashboard, tests) need no RPC plumbing and get one [`SupervisorError`] for
//! every way a request can fail, including "the supervisor is gone". [`children`] does not
//! message the supervisor at all: it reads the snapshot the supervisor published after its
//! last change, so it answers at once even while the supervisor is busy starting a child.

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};

use crate::error::SupervisorError;
use crate::events::ChildInfo;
use crate::spec::ChildSpec;
use crate::supervisor::SupervisorMsg;

/// Sends one request and waits for its answer, however long the supervisor takes (each of its
/// operations is bounded; if it dies, the dropped reply port ends the wait).
async fn request<T: Send + 'static>(
    supervisor: &ActorRef<SupervisorMsg>,
    build: impl FnOnce(RpcReplyPort<T>) -> SupervisorMsg,
) -> Result<T, SupervisorError> {
    match supervisor.call(build, None).await {
        Ok(CallResult::Success(answer)) => Ok(answer),
        // No timeout is set, so a timeout can only mean the reply port was dropped unanswered.
        Ok(CallResult::Timeout | CallResult::SenderError) => {
            Err(SupervisorError::StoppedBeforeAnswering)
        }
        Err(_) => Err(SupervisorError::NotRunning),
    }
}

/// [`SupervisorMsg::AddChild`]: add a child at the end and start it.
pub async fn add_child(
    supervisor: &ActorRef<SupervisorMsg>,
    spec: ChildSpec,
) -> Result<(), SupervisorError> {
    request(supervisor, |port| SupervisorMsg::AddChild(spec, port)).await?
}

/// [`SupervisorMsg::RemoveChild`]: stop a child and forget it.
pub async fn remove_child(
    supervisor: &ActorRef<SupervisorMsg>,
    name: &str,
) -> Result<(), SupervisorError> {
    request(supervisor, |port| {
        SupervisorMsg::RemoveChild(name.to_string(), port)
    })
    .await?
}

/// [`SupervisorMsg::StopChild`]: stop a child and keep it stopped.
pub async fn stop_child(
    supervisor: &ActorRef<SupervisorMsg>,
    name: &str,
) -> Result<(), SupervisorError> {
    request(supervisor, |port| {
        SupervisorMsg::StopChild(name.to_string(), port)
    })
    .await?
}

/// [`SupervisorMsg::StartChild`]: start a child that is down.
pub async fn start_child(
    supervisor: &ActorRef<SupervisorMsg>,
    name: &str,
) -> Result<(), SupervisorError> {
    request(supervisor, |port| {
        SupervisorMsg::StartChild(name.to_string(), port)
    })
    .await?
}

/// [`SupervisorMsg::RestartChild`]: an operator's restart of one child.
pub async fn restart_child(
    supervisor: &ActorRef<SupervisorMsg>,
    name: &str,
) -> Result<(), SupervisorError> {
    request(supervisor, |port| {
        SupervisorMsg::RestartChild(name.to_string(), port)
    })
    .await?
}

/// Every child as of the supervisor's last change, in start order: never waits for the
/// supervisor (a child it is starting shows `Starting`).
pub async fn children(
    supervisor: &ActorRef<SupervisorMsg>,
) -> Result<Vec<ChildInfo>, SupervisorError> {
    if !ractor::ACTIVE_STATES.contains(&supervisor.get_status()) {
        crate::snapshot::unregister(supervisor.get_id());
        return Err(SupervisorError::NotRunning);
    }
    match crate::snapshot::latest(supervisor.get_id()) {
        Some(children) => Ok(children),
        // Spawned some other way than `Supervisor::start`'s `pre_start`: ask it.
        None => request(supervisor, SupervisorMsg::Children).await,
    }
}

/// Graceful stop of the whole supervisor: its children are stopped in reverse start order,
/// each given its shutdown timeout and then killed, then the supervisor stops.
///
/// `timeout` bounds the whole: past it the supervisor is killed (which kills whatever children
/// remain at once) and `Err` says so. Stopping a supervisor that has already stopped is `Ok`.
/// The stop carries no reason, so a parent supervisor reads it as a normal exit.
pub async fn shutdown(
    supervisor: &ActorRef<SupervisorMsg>,
    timeout: Duration,
) -> Result<(), SupervisorError> {
    let cell = supervisor.get_cell();
    cell.stop(None);
    if cell.wait(Some(timeout)).await.is_ok() {
        return Ok(());
    }
    cell.kill();
    // A kill takes effect at the supervisor's next await point; give it a moment to land.
    let _ = cell.wait(Some(Duration::from_secs(2))).await;
    Err(SupervisorError::KilledAfter(timeout))
}

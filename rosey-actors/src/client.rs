//! Plain async functions over a supervisor's messages, so callers (the daemon's control
//! socket, the dashboard, tests) need no RPC plumbing and get one `String` error for every
//! way a request can fail, including "the supervisor is gone".

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};

use crate::events::ChildInfo;
use crate::spec::ChildSpec;
use crate::supervisor::SupervisorMsg;

/// Sends one request and waits for its answer, however long the supervisor takes (each of its
/// operations is bounded; if it dies, the dropped reply port ends the wait).
async fn request<T: Send + 'static>(
    supervisor: &ActorRef<SupervisorMsg>,
    build: impl FnOnce(RpcReplyPort<T>) -> SupervisorMsg,
) -> Result<T, String> {
    match supervisor.call(build, None).await {
        Ok(CallResult::Success(answer)) => Ok(answer),
        Ok(CallResult::Timeout) => Err("the supervisor did not answer in time".to_string()),
        Ok(CallResult::SenderError) => Err("the supervisor stopped before answering".to_string()),
        Err(_) => Err("the supervisor is not running".to_string()),
    }
}

/// [`SupervisorMsg::AddChild`]: add a child at the end and start it.
pub async fn add_child(
    supervisor: &ActorRef<SupervisorMsg>,
    spec: ChildSpec,
) -> Result<(), String> {
    request(supervisor, |port| SupervisorMsg::AddChild(spec, port)).await?
}

/// [`SupervisorMsg::RemoveChild`]: stop a child and forget it.
pub async fn remove_child(supervisor: &ActorRef<SupervisorMsg>, name: &str) -> Result<(), String> {
    request(supervisor, |port| {
        SupervisorMsg::RemoveChild(name.to_string(), port)
    })
    .await?
}

/// [`SupervisorMsg::StopChild`]: stop a child and keep it stopped.
pub async fn stop_child(supervisor: &ActorRef<SupervisorMsg>, name: &str) -> Result<(), String> {
    request(supervisor, |port| {
        SupervisorMsg::StopChild(name.to_string(), port)
    })
    .await?
}

/// [`SupervisorMsg::StartChild`]: start a child that is down.
pub async fn start_child(supervisor: &ActorRef<SupervisorMsg>, name: &str) -> Result<(), String> {
    request(supervisor, |port| {
        SupervisorMsg::StartChild(name.to_string(), port)
    })
    .await?
}

/// [`SupervisorMsg::RestartChild`]: an operator's restart of one child.
pub async fn restart_child(supervisor: &ActorRef<SupervisorMsg>, name: &str) -> Result<(), String> {
    request(supervisor, |port| {
        SupervisorMsg::RestartChild(name.to_string(), port)
    })
    .await?
}

/// [`SupervisorMsg::Children`]: snapshots of every child, in start order.
pub async fn children(supervisor: &ActorRef<SupervisorMsg>) -> Result<Vec<ChildInfo>, String> {
    request(supervisor, SupervisorMsg::Children).await
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
) -> Result<(), String> {
    let cell = supervisor.get_cell();
    cell.stop(None);
    if cell.wait(Some(timeout)).await.is_ok() {
        return Ok(());
    }
    cell.kill();
    // A kill takes effect at the supervisor's next await point; give it a moment to land.
    let _ = cell.wait(Some(Duration::from_secs(2))).await;
    Err(format!(
        "the supervisor did not stop within {timeout:?} and was killed"
    ))
}

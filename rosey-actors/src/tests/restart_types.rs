//! Permanent, transient and temporary children after normal and abnormal exits.

use std::time::Duration;

use super::{eventually, info, settle, spec, wait_state, Kit, TestMsg};
use crate::{
    shutdown, ChildState, GiveUp, Restart, Strategy, SupervisionEventKind, Supervisor,
    SupervisorMsg,
};

async fn supervise_one(kit: &Kit, restart: Restart) -> ractor::ActorRef<SupervisorMsg> {
    let kids = vec![kit.child_of("c", restart), kit.child("sibling")];
    let (supervisor, _join) = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::MarkCrashed),
        kids,
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    supervisor
}

/// Makes `c` exit with `message` and waits until it either started again or reached `state`.
async fn exit_and_expect(
    restart: Restart,
    message: TestMsg,
    restarted: bool,
    state: ChildState,
    last_exit: &str,
) {
    let kit = Kit::default();
    let sup = supervise_one(&kit, restart).await;
    kit.tell("c", message);
    if restarted {
        eventually("c restarted", || async { kit.starts_of("c") == 2 }).await;
    }
    wait_state(&sup, "c", state).await;
    settle().await;

    let c = info(&sup, "c").await;
    assert_eq!(kit.starts_of("c"), if restarted { 2 } else { 1 });
    assert_eq!(c.state, state);
    assert_eq!(c.restarts, u32::from(restarted));
    let exit = c.last_exit.unwrap_or_default();
    assert!(exit.contains(last_exit), "last exit {exit:?}");
    assert_eq!(kit.starts_of("sibling"), 1);
    let exited = kit.notices_of("c").into_iter().find_map(|kind| match kind {
        SupervisionEventKind::Exited { abnormal, .. } => Some(abnormal),
        _ => None,
    });
    assert_eq!(exited, Some(last_exit != "normal"));
    // The exit notice tells where the child went: on to a restart, or down for good.
    let expected = if restarted {
        ChildState::Restarting
    } else {
        state
    };
    assert_eq!(kit.state_at_exit("c"), Some(expected));
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

fn fail() -> TestMsg {
    TestMsg::Fail("boom".into())
}

fn exit(reason: Option<&str>) -> TestMsg {
    TestMsg::Exit(reason.map(String::from))
}

#[tokio::test]
async fn permanent_is_restarted_after_a_normal_exit() {
    exit_and_expect(
        Restart::Permanent,
        exit(None),
        true,
        ChildState::Running,
        "normal",
    )
    .await;
}

#[tokio::test]
async fn permanent_is_restarted_after_a_failure() {
    exit_and_expect(
        Restart::Permanent,
        fail(),
        true,
        ChildState::Running,
        "boom",
    )
    .await;
}

#[tokio::test]
async fn permanent_is_restarted_after_a_panic() {
    let panic = TestMsg::Panic("kaboom".into());
    exit_and_expect(
        Restart::Permanent,
        panic,
        true,
        ChildState::Running,
        "kaboom",
    )
    .await;
}

#[tokio::test]
async fn transient_stays_stopped_after_a_normal_exit() {
    exit_and_expect(
        Restart::Transient,
        exit(None),
        false,
        ChildState::Stopped,
        "normal",
    )
    .await;
}

#[tokio::test]
async fn transient_stays_stopped_after_the_reason_normal() {
    let normal = exit(Some("normal"));
    exit_and_expect(
        Restart::Transient,
        normal,
        false,
        ChildState::Stopped,
        "normal",
    )
    .await;
}

#[tokio::test]
async fn transient_is_restarted_after_another_stop_reason() {
    let odd = exit(Some("lost connection"));
    exit_and_expect(
        Restart::Transient,
        odd,
        true,
        ChildState::Running,
        "lost connection",
    )
    .await;
}

#[tokio::test]
async fn transient_is_restarted_after_a_failure() {
    exit_and_expect(
        Restart::Transient,
        fail(),
        true,
        ChildState::Running,
        "boom",
    )
    .await;
}

#[tokio::test]
async fn temporary_stays_stopped_after_a_normal_exit() {
    exit_and_expect(
        Restart::Temporary,
        exit(None),
        false,
        ChildState::Stopped,
        "normal",
    )
    .await;
}

#[tokio::test]
async fn temporary_is_left_crashed_after_a_failure() {
    exit_and_expect(
        Restart::Temporary,
        fail(),
        false,
        ChildState::Crashed,
        "boom",
    )
    .await;
}

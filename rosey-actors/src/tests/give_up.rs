//! Failures that do not count toward the intensity, and a child given up on coming back after
//! `retry_after` with a fresh budget.

use std::time::Duration;

use super::{eventually, info, spec, wait_state, Kit, TestMsg};
use crate::{shutdown, ChildState, GiveUp, Intensity, Strategy, Supervisor, SupervisorSpec};

fn one_restart(retry_after: Duration) -> SupervisorSpec {
    let mut spec = spec(Strategy::OneForOne, GiveUp::MarkCrashed);
    spec.intensity = Intensity {
        max_restarts: 1,
        within: Duration::from_secs(60),
    };
    spec.retry_after = retry_after;
    spec
}

/// A supervisor of one child, `a`, with a budget of one restart and `retry_after`; the
/// supervisor and the handle that ends with it (keep it alive for the test).
async fn start_a(
    kit: &Kit,
    retry_after: Duration,
) -> (
    ractor::ActorRef<crate::SupervisorMsg>,
    tokio::task::JoinHandle<()>,
) {
    Supervisor::start(
        one_restart(retry_after),
        vec![kit.child("a")],
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts")
}

/// Fails child `a` twice, past a budget of one restart: it ends crashed.
async fn fail_past_the_budget(kit: &Kit, sup: &ractor::ActorRef<crate::SupervisorMsg>) {
    kit.tell("a", TestMsg::Fail("one".into()));
    eventually("a restarted", || async { kit.starts_of("a") == 2 }).await;
    wait_state(sup, "a", ChildState::Running).await;
    kit.tell("a", TestMsg::Fail("two".into()));
    wait_state(sup, "a", ChildState::Crashed).await;
}

#[tokio::test]
async fn uncounted_failures_restart_the_child_without_spending_its_budget() {
    let kit = Kit::default();
    let (sup, _join) = start_a(&kit, Duration::ZERO).await;
    for round in 0..4 {
        kit.tell("a", TestMsg::FailUncounted(format!("poison {round}")));
        eventually("a restarted", || async { kit.starts_of("a") == round + 2 }).await;
        wait_state(&sup, "a", ChildState::Running).await;
    }
    // One counted failure is within the budget of one; a second is not.
    kit.tell("a", TestMsg::Fail("its own fault".into()));
    eventually("a restarted", || async { kit.starts_of("a") == 6 }).await;
    wait_state(&sup, "a", ChildState::Running).await;
    kit.tell("a", TestMsg::Fail("again".into()));
    wait_state(&sup, "a", ChildState::Crashed).await;
    let a = info(&sup, "a").await;
    assert!(a.retry_at.is_none(), "retry_after 0 stays down: {a:?}");
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn a_child_given_up_on_is_tried_again_after_retry_after_with_a_fresh_budget() {
    let kit = Kit::default();
    let (sup, _join) = start_a(&kit, Duration::from_millis(300)).await;
    fail_past_the_budget(&kit, &sup).await;
    let crashed = info(&sup, "a").await;
    assert!(
        crashed.retry_at.is_some(),
        "the retry is shown: {crashed:?}"
    );
    assert_eq!(kit.starts_of("a"), 2, "not before the delay");

    wait_state(&sup, "a", ChildState::Running).await;
    assert_eq!(kit.starts_of("a"), 3);
    assert!(info(&sup, "a").await.retry_at.is_none());
    // A fresh budget: one failure is restarted again.
    kit.tell("a", TestMsg::Fail("three".into()));
    eventually("a restarted", || async { kit.starts_of("a") == 4 }).await;
    wait_state(&sup, "a", ChildState::Running).await;
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn an_operator_stop_cancels_the_retry() {
    let kit = Kit::default();
    let (sup, _join) = start_a(&kit, Duration::from_millis(300)).await;
    fail_past_the_budget(&kit, &sup).await;
    crate::stop_child(&sup, "a").await.expect("stop a");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(kit.starts_of("a"), 2, "stopped stays stopped");
    assert_eq!(info(&sup, "a").await.state, ChildState::Stopped);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

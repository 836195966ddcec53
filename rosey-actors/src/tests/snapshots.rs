//! Reading a supervisor without waiting for it, and the all-or-nothing first start.

use std::{sync::Arc, time::Duration};

use ractor::ActorCell;
use tokio::sync::Notify;

use super::{spec, Kit, TestArgs, TestChild};
use crate::{
    add_child, children, shutdown, spawn_child, ChildSpec, ChildState, GiveUp, Strategy,
    Supervisor, SupervisorError,
};

/// Long enough to tell "answers now" from "answers once the start is done" (the start below
/// never finishes until the test lets it); not a measure of speed.
const HANG_GUARD: Duration = Duration::from_secs(10);

#[tokio::test]
async fn children_are_read_while_the_supervisor_is_busy_starting_one() {
    let kit = Kit::default();
    let (sup, _done) = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::MarkCrashed),
        vec![kit.child("a")],
        kit.listener(),
        None,
    )
    .await
    .expect("start");
    let gate = Arc::new(Notify::new());
    let slow = {
        let gate = gate.clone();
        let kit = kit.clone();
        ChildSpec::new("slow", move |supervisor: ActorCell| {
            let gate = gate.clone();
            let args = TestArgs {
                name: "slow".to_owned(),
                kit: kit.clone(),
                stop_delay: Duration::ZERO,
            };
            async move {
                gate.notified().await;
                spawn_child(None, TestChild, args, supervisor).await
            }
        })
    };
    let adding = {
        let sup = sup.clone();
        tokio::spawn(async move { add_child(&sup, slow).await })
    };
    // The supervisor now waits inside the slow child's start; a reader still gets an answer,
    // and sees the child starting.
    let seen = tokio::time::timeout(HANG_GUARD, async {
        loop {
            let now = children(&sup).await.expect("children");
            if now.iter().any(|child| child.name == "slow") {
                return now;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("children answered while the supervisor was starting a child");
    let states: Vec<(String, ChildState)> = seen
        .iter()
        .map(|child| (child.name.clone(), child.state))
        .collect();
    assert_eq!(
        states,
        [
            ("a".to_owned(), ChildState::Running),
            ("slow".to_owned(), ChildState::Starting)
        ]
    );
    gate.notify_one();
    adding.await.expect("join").expect("slow started");
    let after = children(&sup).await.expect("children");
    assert_eq!(after[1].state, ChildState::Running);
    shutdown(&sup, HANG_GUARD).await.expect("shutdown");
    assert_eq!(
        children(&sup).await.err(),
        Some(SupervisorError::NotRunning)
    );
}

#[tokio::test]
async fn an_all_or_nothing_start_stops_what_started_at_the_first_failure_and_retries_nothing() {
    let kit = Kit::default();
    kit.refuse_starts("b", 1);
    let mut all_or_nothing = spec(Strategy::OneForOne, GiveUp::Escalate);
    all_or_nothing.all_or_nothing = true;
    let kids = vec![kit.child("a"), kit.child("b"), kit.child("c")];
    let error = match Supervisor::start(all_or_nothing, kids, kit.listener(), None).await {
        Ok(_) => panic!("the start must fail"),
        Err(error) => error,
    };
    match &error {
        SupervisorError::StartFailed { child, reason } => {
            assert_eq!(child, "b");
            assert!(reason.contains("b refused to start"), "{reason}");
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "child 'b' failed to start: b refused to start"
    );
    // b was not retried (it would have started the second time: no `start:b`), c never
    // started, a was stopped again.
    assert_eq!(kit.log(), ["start:a", "stop:a"]);
}

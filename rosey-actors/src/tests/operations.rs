//! Operator requests (stop, start, restart, remove, add) and the supervisor's shutdown.

use std::time::Duration;

use ractor::ActorStatus;

use super::{eventually, info, names, settle, spec, wait_state, Kit, TestMsg};
use crate::{
    add_child, children, remove_child, restart_child, shutdown, start_child, stop_child, Backoff,
    ChildSpec, ChildState, GiveUp, Strategy, SupervisionEventKind, Supervisor, SupervisorError,
    SupervisorMsg,
};

async fn supervise(
    kit: &Kit,
    strategy: Strategy,
    kids: Vec<ChildSpec>,
) -> ractor::ActorRef<SupervisorMsg> {
    let (supervisor, _join) = Supervisor::start(
        spec(strategy, GiveUp::MarkCrashed),
        kids,
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    supervisor
}

#[tokio::test]
async fn stop_start_and_restart_a_child() {
    let kit = Kit::default();
    // rest_for_one: operator requests still touch only the named child.
    let kids = vec![kit.child("a"), kit.child("b"), kit.child("c")];
    let sup = supervise(&kit, Strategy::RestForOne, kids).await;

    stop_child(&sup, "b").await.expect("stop b");
    let b = info(&sup, "b").await;
    assert_eq!(b.state, ChildState::Stopped);
    assert!(b.actor.is_none() && b.started_at.is_none());
    assert_eq!(b.last_exit.as_deref(), Some("stopped by supervisor"));
    settle().await;
    // Its exit was the supervisor's doing: not a failure, not restarted.
    assert_eq!(kit.starts_of("b"), 1);
    assert_eq!(info(&sup, "b").await.restarts, 0);
    stop_child(&sup, "b")
        .await
        .expect("stopping a stopped child is fine");

    start_child(&sup, "b").await.expect("start b");
    assert_eq!(info(&sup, "b").await.state, ChildState::Running);
    let running = start_child(&sup, "b").await;
    assert!(matches!(
        running,
        Err(SupervisorError::AlreadyRunning { child }) if child == "b"
    ));

    let before = kit.log().len();
    restart_child(&sup, "b").await.expect("restart b");
    assert_eq!(kit.log_since(before), ["stop:b", "start:b"]);
    settle().await;
    assert_eq!(kit.log_since(before).len(), 2);
    let b = info(&sup, "b").await;
    assert_eq!((b.state, b.restarts), (ChildState::Running, 0));
    assert_eq!(kit.starts_of("a") + kit.starts_of("c"), 2);
    assert_eq!(
        kit.notices_of("b"),
        [
            SupervisionEventKind::Started,
            SupervisionEventKind::Stopped,
            SupervisionEventKind::Started,
            SupervisionEventKind::Stopped,
            SupervisionEventKind::Started,
        ]
    );
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn add_and_remove_children() {
    let kit = Kit::default();
    let sup = supervise(
        &kit,
        Strategy::OneForOne,
        vec![kit.child("a"), kit.child("b")],
    )
    .await;

    add_child(&sup, kit.child("c")).await.expect("add c");
    assert_eq!(names(&sup).await, ["a", "b", "c"]);
    assert_eq!(info(&sup, "c").await.state, ChildState::Running);

    let duplicate = add_child(&sup, kit.child("c")).await;
    assert!(duplicate.is_err_and(|e| e.to_string().contains("already has a child named 'c'")));
    assert_eq!(kit.starts_of("c"), 1);

    // A child that cannot start is refused and not kept.
    kit.refuse_starts("d", 1);
    let refused = add_child(&sup, kit.child("d")).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("d refused to start")));
    assert_eq!(names(&sup).await, ["a", "b", "c"]);

    let before = kit.log().len();
    remove_child(&sup, "b").await.expect("remove b");
    assert_eq!(kit.log_since(before), ["stop:b"]);
    assert_eq!(names(&sup).await, ["a", "c"]);
    settle().await;
    assert_eq!(kit.starts_of("b"), 1);
    assert_eq!(
        kit.notices_of("b").last(),
        Some(&SupervisionEventKind::Removed)
    );

    // An added child is supervised like the others.
    kit.tell("c", TestMsg::Fail("boom".into()));
    eventually("c restarted", || async { kit.starts_of("c") == 2 }).await;
    wait_state(&sup, "c", ChildState::Running).await;
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn requests_about_unknown_children_are_refused() {
    let kit = Kit::default();
    let sup = supervise(&kit, Strategy::OneForOne, vec![kit.child("a")]).await;
    for result in [
        stop_child(&sup, "nope").await,
        start_child(&sup, "nope").await,
        restart_child(&sup, "nope").await,
        remove_child(&sup, "nope").await,
    ] {
        assert!(result.is_err_and(|e| e.to_string().contains("no child named 'nope'")));
    }
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn stopping_a_child_during_its_backoff_cancels_the_restart() {
    let kit = Kit::default();
    let mut spec = spec(Strategy::OneForOne, GiveUp::MarkCrashed);
    let backoff = Duration::from_secs(2);
    spec.backoff = Backoff {
        initial: backoff,
        max: backoff,
        reset_after: Duration::from_secs(60),
    };
    let kids = vec![kit.child("a"), kit.child("b")];
    let (sup, _join) = Supervisor::start(spec, kids, kit.listener(), None)
        .await
        .expect("supervisor starts");

    kit.tell("a", TestMsg::Fail("boom".into()));
    wait_state(&sup, "a", ChildState::Restarting).await;
    // The supervisor keeps answering while a child waits out its backoff.
    assert_eq!(info(&sup, "b").await.state, ChildState::Running);
    stop_child(&sup, "a").await.expect("stop a");
    assert_eq!(info(&sup, "a").await.state, ChildState::Stopped);

    tokio::time::sleep(backoff + Duration::from_millis(500)).await;
    assert_eq!(kit.starts_of("a"), 1);
    assert_eq!(info(&sup, "a").await.state, ChildState::Stopped);

    // Starting it is immediate and possible again; so is cutting a backoff short.
    start_child(&sup, "a").await.expect("start a");
    kit.tell("a", TestMsg::Fail("boom".into()));
    wait_state(&sup, "a", ChildState::Restarting).await;
    start_child(&sup, "a")
        .await
        .expect("start a during backoff");
    assert_eq!(info(&sup, "a").await.state, ChildState::Running);
    assert_eq!(kit.starts_of("a"), 3);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn shutdown_stops_in_reverse_order_and_kills_a_child_that_hangs() {
    let kit = Kit::default();
    let hanging = kit
        .child_with("h", Duration::from_secs(120))
        .shutdown_timeout(Duration::from_millis(100));
    let kids = vec![kit.child("a"), hanging, kit.child("c")];
    let (sup, join) = Supervisor::start(
        spec(Strategy::OneForAll, GiveUp::Escalate),
        kids,
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    let h = kit.actor("h");

    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
    tokio::time::timeout(Duration::from_secs(5), join)
        .await
        .expect("supervisor task ends")
        .expect("join");
    // h began its stop, was killed before finishing it, and a was stopped after it.
    assert_eq!(
        kit.log(),
        [
            "start:a",
            "start:h",
            "start:c",
            "stop:c",
            "stopping:h",
            "stop:a"
        ]
    );
    assert_eq!(h.get_status(), ActorStatus::Stopped);
    assert_eq!(
        kit.notice_trail()[3..],
        ["c:stopped", "h:stopped", "a:stopped"]
    );
    assert!(children(&sup).await.is_err());
    // Shutting down twice is harmless.
    shutdown(&sup, Duration::from_secs(5))
        .await
        .expect("second shutdown");
}

//! Restart intensity (give up: mark crashed or escalate) and backoff (growth, cap, reset).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ractor::Actor;

use super::{eventually, info, parent_events, settle, spec, wait_state, Kit, Parent, TestMsg};
use crate::{
    restart_child, shutdown, Backoff, ChildState, GiveUp, Intensity, Strategy,
    SupervisionEventKind, Supervisor, SupervisorSpec,
};

fn limited(strategy: Strategy, give_up: GiveUp, max_restarts: u32) -> SupervisorSpec {
    let mut spec = spec(strategy, give_up);
    spec.intensity = Intensity {
        max_restarts,
        within: Duration::from_secs(60),
    };
    spec
}

#[tokio::test]
async fn exceeding_intensity_marks_the_child_crashed_and_spares_its_siblings() {
    let kit = Kit::default();
    kit.refuse_starts("b", 100);
    let kids = vec![kit.child("a"), kit.child("b"), kit.child("c")];
    // rest_for_one: giving up on b must not sweep c either.
    let (sup, _join) = Supervisor::start(
        limited(Strategy::RestForOne, GiveUp::MarkCrashed, 2),
        kids,
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    wait_state(&sup, "b", ChildState::Crashed).await;
    settle().await;

    // The first start and two restarts, then no more.
    assert_eq!(kit.attempts_of("b").len(), 3);
    let b = info(&sup, "b").await;
    assert_eq!(b.state, ChildState::Crashed);
    assert_eq!(b.restarts, 2);
    assert!(b
        .last_exit
        .unwrap_or_default()
        .contains("b refused to start"));
    let gave_up = kit.notices_of("b").into_iter().any(|kind| {
        matches!(kind, SupervisionEventKind::GaveUp { reason }
            if reason.contains("exceeded 2 restarts") && reason.contains("refused"))
    });
    assert!(gave_up, "{:?}", kit.notices_of("b"));
    for sibling in ["a", "c"] {
        assert_eq!(info(&sup, sibling).await.state, ChildState::Running);
        assert_eq!(kit.starts_of(sibling), 1);
    }

    // An operator can try again: a fresh history, and it runs.
    kit.refuse_starts("b", 0);
    crate::start_child(&sup, "b").await.expect("start b");
    assert_eq!(info(&sup, "b").await.state, ChildState::Running);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn a_child_with_a_budget_of_its_own_uses_it_instead_of_the_supervisors() {
    let kit = Kit::default();
    kit.refuse_starts("a", 100);
    kit.refuse_starts("b", 100);
    let generous = Intensity {
        max_restarts: 4,
        within: Duration::from_secs(60),
    };
    let kids = vec![kit.child("a"), kit.child("b").intensity(generous)];
    let (sup, _join) = Supervisor::start(
        limited(Strategy::OneForOne, GiveUp::MarkCrashed, 1),
        kids,
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    wait_state(&sup, "a", ChildState::Crashed).await;
    wait_state(&sup, "b", ChildState::Crashed).await;
    settle().await;
    // The first start plus the budget's restarts, each by its own budget.
    assert_eq!(kit.attempts_of("a").len(), 2);
    assert_eq!(kit.attempts_of("b").len(), 5);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn exceeding_intensity_escalates_after_stopping_children_in_reverse() {
    let kit = Kit::default();
    let events = Arc::new(Mutex::new(Vec::new()));
    let (parent, _) = Actor::spawn(None, Parent, events.clone())
        .await
        .expect("parent");
    let kids = vec![kit.child("a"), kit.child("b"), kit.child("c")];
    let (sup, join) = Supervisor::start(
        limited(Strategy::OneForOne, GiveUp::Escalate, 1),
        kids,
        kit.listener(),
        Some(parent.get_cell()),
    )
    .await
    .expect("supervisor starts");

    kit.tell("b", TestMsg::Fail("first".into()));
    eventually("b restarted", || async { kit.starts_of("b") == 2 }).await;
    wait_state(&sup, "b", ChildState::Running).await;
    let before = kit.log().len();
    kit.tell("b", TestMsg::Fail("second".into()));

    tokio::time::timeout(Duration::from_secs(30), join)
        .await
        .expect("supervisor ends")
        .expect("join");
    assert_eq!(kit.log_since(before), ["stop:c", "stop:a"]);
    eventually("parent saw the failure", || async {
        !parent_events(&events).is_empty()
    })
    .await;
    let seen = parent_events(&events);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("failed:"), "{seen:?}");
    assert!(seen[0].contains("child 'b'"), "{seen:?}");
    assert!(seen[0].contains("failed: second"), "{seen:?}");
    let trail = kit.notice_trail();
    let tail = &trail[trail.len() - 5..];
    assert_eq!(
        tail,
        [
            "b:exited",
            "b:gave_up",
            "c:stopped",
            "a:stopped",
            "b:escalated"
        ]
    );
    parent.stop(None);
}

#[tokio::test]
async fn escalating_during_the_first_start_fails_start_and_leaves_nothing_running() {
    let kit = Kit::default();
    kit.refuse_starts("b", 100);
    let kids = vec![kit.child("a"), kit.child("b"), kit.child("c")];
    let result = Supervisor::start(
        limited(Strategy::OneForOne, GiveUp::Escalate, 0),
        kids,
        kit.listener(),
        None,
    )
    .await;
    let error = match result {
        Ok(_) => panic!("start should fail"),
        Err(error) => error,
    };
    assert!(error.to_string().contains("child 'b'"), "{error}");
    assert!(error.to_string().contains("refused to start"), "{error}");
    // c was never started (escalation stops the sequence); a was stopped.
    assert_eq!(kit.log(), ["start:a", "stop:a"]);
}

#[tokio::test]
async fn a_concurrent_first_start_that_escalates_stops_every_child_that_did_start() {
    let kit = Kit::default();
    kit.refuse_starts("b", 100);
    let kids = vec![kit.child("a"), kit.child("b"), kit.child("c")];
    let mut spec = limited(Strategy::OneForOne, GiveUp::Escalate, 0);
    spec.concurrent_start = true;
    let result = Supervisor::start(spec, kids, kit.listener(), None).await;
    let error = match result {
        Ok(_) => panic!("start should fail"),
        Err(error) => error,
    };
    assert!(error.to_string().contains("child 'b'"), "{error}");
    // a and c started beside b; the escalation stops both, last started first.
    assert_eq!(kit.log(), ["start:a", "start:c", "stop:c", "stop:a"]);
}

#[tokio::test]
async fn operator_restarts_do_not_count_toward_intensity() {
    let kit = Kit::default();
    let (sup, _join) = Supervisor::start(
        limited(Strategy::OneForOne, GiveUp::Escalate, 0),
        vec![kit.child("a")],
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    for _ in 0..3 {
        restart_child(&sup, "a").await.expect("restart");
    }
    assert_eq!(kit.starts_of("a"), 4);
    let a = info(&sup, "a").await;
    assert_eq!((a.state, a.restarts), (ChildState::Running, 0));
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

fn backoff_spec(initial_ms: u64, max_ms: u64, reset_after: Duration) -> SupervisorSpec {
    let mut spec = spec(Strategy::OneForOne, GiveUp::MarkCrashed);
    spec.backoff = Backoff {
        initial: Duration::from_millis(initial_ms),
        max: Duration::from_millis(max_ms),
        reset_after,
    };
    spec
}

#[tokio::test]
async fn backoff_doubles_up_to_its_cap() {
    let kit = Kit::default();
    let (sup, _join) = Supervisor::start(
        backoff_spec(20, 80, Duration::from_secs(60)),
        vec![kit.child("a")],
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    kit.refuse_starts("a", 4);
    let failed_at = Instant::now();
    kit.tell("a", TestMsg::Fail("boom".into()));
    eventually("a back", || async { kit.starts_of("a") == 2 }).await;
    wait_state(&sup, "a", ChildState::Running).await;

    let ms = Duration::from_millis;
    let expected = [
        (1, ms(20)),
        (2, ms(40)),
        (3, ms(80)),
        (4, ms(80)),
        (5, ms(80)),
    ];
    assert_eq!(kit.restart_delays("a"), expected);
    // Each attempt came no sooner than its delay after the previous failure.
    let attempts = kit.attempts_of("a");
    assert_eq!(attempts.len(), 6);
    let mut previous = failed_at;
    for (at, (_, delay)) in attempts[1..].iter().zip(expected) {
        let waited = at.saturating_duration_since(previous);
        assert!(
            waited + ms(2) >= delay,
            "waited {waited:?}, delay {delay:?}"
        );
        previous = *at;
    }
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn backoff_starts_over_after_a_stable_run() {
    let kit = Kit::default();
    let reset_after = Duration::from_millis(500);
    let (sup, _join) = Supervisor::start(
        backoff_spec(20, 1000, reset_after),
        vec![kit.child("a")],
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    // A failure, then a failed start: a sequence of two.
    kit.refuse_starts("a", 1);
    kit.tell("a", TestMsg::Fail("boom".into()));
    eventually("a back", || async { kit.starts_of("a") == 2 }).await;
    wait_state(&sup, "a", ChildState::Running).await;
    let ms = Duration::from_millis;
    assert_eq!(kit.restart_delays("a"), [(1, ms(20)), (2, ms(40))]);

    // Up longer than reset_after: the next failure is the first of a new sequence.
    tokio::time::sleep(reset_after + ms(100)).await;
    kit.tell("a", TestMsg::Fail("again".into()));
    eventually("a back again", || async { kit.starts_of("a") == 3 }).await;
    assert_eq!(
        kit.restart_delays("a"),
        [(1, ms(20)), (2, ms(40)), (1, ms(20))]
    );
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn zero_backoff_restarts_at_once_and_intensity_still_gives_up() {
    let kit = Kit::default();
    let mut zero = backoff_spec(0, 0, Duration::from_secs(60));
    zero.intensity = Intensity {
        max_restarts: 3,
        within: Duration::from_secs(60),
    };
    let (sup, _join) = Supervisor::start(zero, vec![kit.child("a")], kit.listener(), None)
        .await
        .expect("supervisor starts");
    // Two failed starts after a failure: three restarts, each without delay, then running.
    kit.refuse_starts("a", 2);
    kit.tell("a", TestMsg::Fail("boom".into()));
    eventually("a back", || async { kit.starts_of("a") == 2 }).await;
    wait_state(&sup, "a", ChildState::Running).await;
    let none = Duration::ZERO;
    assert_eq!(kit.restart_delays("a"), [(1, none), (2, none), (3, none)]);

    // The budget of three is spent: the next failure is not restarted, delay or not.
    kit.tell("a", TestMsg::Fail("again".into()));
    wait_state(&sup, "a", ChildState::Crashed).await;
    settle().await;
    assert_eq!(kit.starts_of("a"), 2);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

//! Which children a failure takes down and brings back, and in what order, for each strategy;
//! the first start sequence; supervisors nested in supervisors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::Actor;

use super::{eventually, info, parent_events, settle, spec, wait_state, Kit, Parent, TestMsg};
use crate::{
    children, shutdown, ChildSpec, ChildState, GiveUp, Intensity, Restart, Strategy, Supervisor,
    SupervisorSpec,
};

/// Starts a supervisor over test children `names` and waits nothing more: `start` returns
/// once the first start sequence is done.
async fn supervise(
    kit: &Kit,
    strategy: Strategy,
    names: &[&str],
) -> ractor::ActorRef<crate::SupervisorMsg> {
    let kids = names.iter().map(|n| kit.child(n)).collect();
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

fn starts(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("start:{n}")).collect()
}

#[tokio::test]
async fn one_for_one_restarts_only_the_failed_child() {
    let kit = Kit::default();
    let sup = supervise(&kit, Strategy::OneForOne, &["a", "b", "c"]).await;
    assert_eq!(kit.log(), starts(&["a", "b", "c"]));

    kit.tell("b", TestMsg::Fail("boom".into()));
    eventually("b restarted", || async { kit.starts_of("b") == 2 }).await;
    wait_state(&sup, "b", ChildState::Running).await;
    settle().await;

    assert_eq!(kit.log(), starts(&["a", "b", "c", "b"]));
    let b = info(&sup, "b").await;
    assert_eq!(b.restarts, 1);
    assert_eq!(b.last_exit.as_deref(), Some("failed: boom"));
    assert_eq!(info(&sup, "a").await.restarts, 0);
    assert_eq!(
        kit.notice_trail(),
        [
            "a:started",
            "b:started",
            "c:started",
            "b:exited",
            "b:restarting",
            "b:started"
        ]
    );
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn one_for_all_stops_the_others_in_reverse_and_restarts_all_in_order() {
    let kit = Kit::default();
    let sup = supervise(&kit, Strategy::OneForAll, &["a", "b", "c"]).await;

    kit.tell("b", TestMsg::Fail("boom".into()));
    eventually("all restarted", || async { kit.starts_of("c") == 2 }).await;
    for name in ["a", "b", "c"] {
        wait_state(&sup, name, ChildState::Running).await;
    }
    settle().await;

    // b failed (no post_stop); c then a were stopped; all came back in start order.
    let mut expected = starts(&["a", "b", "c"]);
    expected.extend(["stop:c", "stop:a"].map(String::from));
    expected.extend(starts(&["a", "b", "c"]));
    assert_eq!(kit.log(), expected);
    // Only the failed child's restart counts.
    assert_eq!(info(&sup, "b").await.restarts, 1);
    assert_eq!(info(&sup, "a").await.restarts, 0);
    assert_eq!(info(&sup, "c").await.restarts, 0);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let kit = Kit::default();
    let sup = supervise(&kit, Strategy::RestForOne, &["a", "b", "c", "d"]).await;

    kit.tell("b", TestMsg::Fail("boom".into()));
    eventually("rest restarted", || async { kit.starts_of("d") == 2 }).await;
    for name in ["a", "b", "c", "d"] {
        wait_state(&sup, name, ChildState::Running).await;
    }
    settle().await;

    let mut expected = starts(&["a", "b", "c", "d"]);
    expected.extend(["stop:d", "stop:c"].map(String::from));
    expected.extend(starts(&["b", "c", "d"]));
    assert_eq!(kit.log(), expected);
    assert_eq!(kit.starts_of("a"), 1);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn one_for_all_leaves_a_swept_temporary_child_stopped() {
    let kit = Kit::default();
    let kids = vec![
        kit.child("a"),
        kit.child_of("t", Restart::Temporary),
        kit.child("c"),
    ];
    let (sup, _join) = Supervisor::start(
        spec(Strategy::OneForAll, GiveUp::MarkCrashed),
        kids,
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");

    kit.tell("a", TestMsg::Fail("boom".into()));
    eventually("c restarted", || async { kit.starts_of("c") == 2 }).await;
    wait_state(&sup, "c", ChildState::Running).await;
    settle().await;

    assert_eq!(kit.starts_of("a"), 2);
    assert_eq!(kit.starts_of("t"), 1);
    assert_eq!(info(&sup, "t").await.state, ChildState::Stopped);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn a_failed_first_start_is_retried_and_rest_for_one_waits_for_it() {
    let kit = Kit::default();
    kit.refuse_starts("b", 2);
    let sup = supervise(&kit, Strategy::RestForOne, &["a", "b", "c"]).await;
    for name in ["a", "b", "c"] {
        wait_state(&sup, name, ChildState::Running).await;
    }
    // c depends on b: it was not started before b could be.
    assert_eq!(kit.log(), starts(&["a", "b", "c"]));
    assert_eq!(kit.attempts_of("b").len(), 3);
    assert_eq!(info(&sup, "b").await.restarts, 2);
    assert_eq!(kit.restart_delays("b").len(), 2);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn one_for_one_boot_goes_on_past_a_failed_start() {
    let kit = Kit::default();
    kit.refuse_starts("b", 1);
    let sup = supervise(&kit, Strategy::OneForOne, &["a", "b", "c"]).await;
    wait_state(&sup, "b", ChildState::Running).await;
    assert_eq!(kit.log(), starts(&["a", "c", "b"]));
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

/// A child factory that starts a whole supervisor: how the daemon nests the plugin
/// supervisor under the services supervisor.
fn nested(kit: &Kit, name: &str, spec: SupervisorSpec, kids: &[&str]) -> ChildSpec {
    let kit = kit.clone();
    let kids: Vec<String> = kids.iter().map(|k| k.to_string()).collect();
    ChildSpec::new(name, move |parent: ractor::ActorCell| {
        let specs = kids.iter().map(|k| kit.child(k)).collect();
        let (spec, listener) = (spec.clone(), kit.listener());
        async move {
            let (sup, _join) = Supervisor::start(spec, specs, listener, Some(parent)).await?;
            Ok(sup.get_cell())
        }
    })
    .shutdown_timeout(Duration::from_secs(20))
}

#[tokio::test]
async fn nested_supervisors_escalate_upward_and_shut_down_depth_first() {
    let kit = Kit::default();
    let mut inner_spec = spec(Strategy::OneForOne, GiveUp::Escalate);
    inner_spec.name = "inner".into();
    inner_spec.intensity = Intensity {
        max_restarts: 0,
        within: Duration::from_secs(60),
    };
    let kids = vec![
        kit.child("a"),
        nested(&kit, "inner", inner_spec, &["x", "y"]),
    ];
    let events = Arc::new(Mutex::new(Vec::new()));
    let (parent, _) = Actor::spawn(None, Parent, events.clone())
        .await
        .expect("parent");
    let (root, _join) = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::Escalate),
        kids,
        kit.listener(),
        Some(parent.get_cell()),
    )
    .await
    .expect("root starts");
    assert_eq!(kit.log(), starts(&["a", "x", "y"]));

    // x's failure exceeds the inner budget: inner stops y then fails; root restarts inner.
    kit.tell("x", TestMsg::Fail("boom".into()));
    eventually("inner restarted", || async { kit.starts_of("y") == 2 }).await;
    wait_state(&root, "inner", ChildState::Running).await;
    let mut expected = starts(&["a", "x", "y"]);
    expected.push("stop:y".into());
    expected.extend(starts(&["x", "y"]));
    assert_eq!(kit.log(), expected);
    let inner = info(&root, "inner").await;
    assert_eq!(inner.restarts, 1);
    let last_exit = inner.last_exit.unwrap_or_default();
    assert!(last_exit.contains("child 'x'"), "{last_exit}");
    assert!(last_exit.contains("boom"), "{last_exit}");

    // Shutting the root down stops inner (which stops y, then x) and then a.
    let before = kit.log().len();
    shutdown(&root, Duration::from_secs(20))
        .await
        .expect("shutdown");
    assert_eq!(kit.log_since(before), ["stop:y", "stop:x", "stop:a"]);
    assert!(children(&root).await.is_err());
    // A graceful shutdown is a normal exit for whoever supervises the root.
    eventually("parent saw the root stop", || async {
        parent_events(&events) == ["terminated:"]
    })
    .await;
    parent.stop(None);
}

#[tokio::test]
async fn plugins_style_concurrent_start_runs_every_factory_at_once() {
    // Each factory waits until all three have begun: started one after the other, the first
    // would wait forever.
    let kit = Kit::default();
    let barrier = Arc::new(tokio::sync::Barrier::new(3));
    let kids: Vec<ChildSpec> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            let inner = kit.child(name);
            let barrier = barrier.clone();
            ChildSpec::new(*name, move |supervisor: ractor::ActorCell| {
                let barrier = barrier.clone();
                let start = inner.factory.start(supervisor);
                async move {
                    barrier.wait().await;
                    start.await
                }
            })
        })
        .collect();
    let mut spec = spec(Strategy::OneForOne, GiveUp::MarkCrashed);
    spec.concurrent_start = true;
    let started = tokio::time::timeout(
        Duration::from_secs(20),
        Supervisor::start(spec, kids, kit.listener(), None),
    )
    .await;
    let (sup, _join) = match started {
        Ok(result) => result.expect("start"),
        Err(_) => panic!("the children were not started together"),
    };
    assert_eq!(
        kit.starts_of("a") + kit.starts_of("b") + kit.starts_of("c"),
        3
    );
    for child in children(&sup).await.expect("children") {
        assert_eq!(child.state, ChildState::Running, "{}", child.name);
    }
    shutdown(&sup, Duration::from_secs(10))
        .await
        .expect("shutdown");
}

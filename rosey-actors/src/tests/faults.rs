//! How starts and requests fail: a name given twice, a factory that panics or spawns its
//! actor unlinked or under a taken name, an operator's start that fails, requests to a
//! supervisor that is gone or dies before answering, a shutdown past its timeout, a stop
//! during a backoff; and what a supervisor's arguments show of themselves.

use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorStatus};

use super::{eventually, info, lock, settle, spec, wait_state, Kit, TestArgs, TestChild, TestMsg};
use crate::{
    add_child, children, shutdown, spawn_child, start_child, stop_child, Backoff, ChildFactory,
    ChildSpec, ChildState, GiveUp, Strategy, SupervisionEventKind, Supervisor, SupervisorArgs,
    SupervisorError, SupervisorMsg,
};

/// A factory that panics: at once when called, or in the future it returns.
struct Panics {
    at_once: bool,
}

impl ChildFactory for Panics {
    fn start(
        &self,
        _supervisor: ActorCell,
    ) -> BoxFuture<'static, Result<ActorCell, ActorProcessingErr>> {
        if self.at_once {
            panic!("no start today");
        }
        let message = String::from("gave up halfway");
        Box::pin(async move {
            if !message.is_empty() {
                std::panic::panic_any(message);
            }
            Err("not reached".into())
        })
    }
}

/// A spec whose first failed start is the supervisor's start error.
fn all_or_nothing() -> crate::SupervisorSpec {
    crate::SupervisorSpec {
        all_or_nothing: true,
        ..spec(Strategy::OneForOne, GiveUp::MarkCrashed)
    }
}

#[tokio::test]
async fn two_initial_children_sharing_a_name_refuse_the_start_naming_it() {
    let kit = Kit::default();
    let started = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::MarkCrashed),
        vec![kit.child("twin"), kit.child("other"), kit.child("twin")],
        kit.listener(),
        None,
    )
    .await;
    let Err(err) = started else {
        panic!("a name given twice must refuse the start");
    };
    assert_eq!(
        err,
        SupervisorError::NameTaken {
            supervisor: "test".to_owned(),
            child: "twin".to_owned(),
        }
    );
    assert_eq!(kit.log(), Vec::<String>::new(), "nothing was started");
}

#[tokio::test]
async fn a_factory_that_panics_fails_its_start_with_the_panic_s_message() {
    for (at_once, message) in [(true, "no start today"), (false, "gave up halfway")] {
        let kit = Kit::default();
        let started = Supervisor::start(
            all_or_nothing(),
            vec![
                kit.child("first"),
                ChildSpec::new("panicky", Panics { at_once }),
            ],
            kit.listener(),
            None,
        )
        .await;
        let Err(err) = started else {
            panic!("a panicking factory must fail the start");
        };
        assert_eq!(
            err,
            SupervisorError::StartFailed {
                child: "panicky".to_owned(),
                reason: format!("factory panicked: {message}"),
            }
        );
        assert_eq!(kit.log(), ["start:first", "stop:first"]);
    }
}

#[tokio::test]
async fn a_child_its_factory_spawned_unlinked_is_supervised_all_the_same() {
    let kit = Kit::default();
    let loose = {
        let kit = kit.clone();
        ChildSpec::new("loose", move |_supervisor: ActorCell| {
            let kit = kit.clone();
            async move {
                let args = TestArgs {
                    name: "loose".to_owned(),
                    kit: kit.clone(),
                    stop_delay: Duration::ZERO,
                };
                let (actor, _) = Actor::spawn(None, TestChild, args).await?;
                lock(&kit.actors).insert("loose".to_owned(), actor.get_cell());
                Ok(actor.get_cell())
            }
        })
    };
    let (sup, _join) = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::MarkCrashed),
        vec![loose],
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    kit.tell("loose", TestMsg::Fail("boom".into()));
    eventually("loose restarted", || async { kit.starts_of("loose") == 2 }).await;
    wait_state(&sup, "loose", ChildState::Running).await;
    assert_eq!(info(&sup, "loose").await.restarts, 1);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
    assert_eq!(kit.log().last().map(String::as_str), Some("stop:loose"));
}

#[tokio::test]
async fn a_factory_spawning_under_a_taken_name_fails_the_start_naming_it() {
    const TAKEN: &str = "rosey-actors-tests-taken-name";
    let kit = Kit::default();
    let (holder, _) = Actor::spawn(
        Some(TAKEN.to_owned()),
        TestChild,
        TestArgs {
            name: "holder".to_owned(),
            kit: kit.clone(),
            stop_delay: Duration::ZERO,
        },
    )
    .await
    .expect("the name's holder");
    let (sup, _join) = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::MarkCrashed),
        Vec::new(),
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    let named = {
        let kit = kit.clone();
        ChildSpec::new("named", move |supervisor: ActorCell| {
            let args = TestArgs {
                name: "named".to_owned(),
                kit: kit.clone(),
                stop_delay: Duration::ZERO,
            };
            spawn_child(Some(TAKEN.to_owned()), TestChild, args, supervisor)
        })
    };
    let refused = add_child(&sup, named).await;
    assert!(
        refused.as_ref().is_err_and(|err| err
            .to_string()
            .contains(&format!("'{TAKEN}' is already registered"))),
        "{refused:?}"
    );
    assert!(children(&sup).await.expect("children").is_empty());
    holder.stop(None);
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn an_operator_s_start_that_fails_leaves_the_child_crashed_with_the_reason() {
    let kit = Kit::default();
    let (sup, _join) = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::MarkCrashed),
        vec![kit.child("a")],
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    stop_child(&sup, "a").await.expect("stop a");
    kit.refuse_starts("a", 1);
    let failed = start_child(&sup, "a").await;
    assert_eq!(
        failed,
        Err(SupervisorError::StartFailed {
            child: "a".to_owned(),
            reason: "a refused to start".to_owned(),
        })
    );
    settle().await;
    let a = info(&sup, "a").await;
    assert_eq!(a.state, ChildState::Crashed);
    assert!(
        a.last_exit
            .as_deref()
            .unwrap_or("")
            .contains("a refused to start"),
        "{a:?}"
    );
    assert_eq!(kit.attempts_of("a").len(), 2, "not retried on its own");
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn requests_to_a_supervisor_that_is_gone_say_it_is_not_running() {
    let kit = Kit::default();
    let (sup, _join) = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::MarkCrashed),
        vec![kit.child("a")],
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
    assert_eq!(
        add_child(&sup, kit.child("b")).await,
        Err(SupervisorError::NotRunning)
    );
    assert_eq!(
        stop_child(&sup, "a").await,
        Err(SupervisorError::NotRunning)
    );
    assert_eq!(
        children(&sup).await.err(),
        Some(SupervisorError::NotRunning)
    );
    assert_eq!(
        shutdown(&sup, Duration::from_secs(1)).await,
        Ok(()),
        "stopping a stopped supervisor is fine"
    );
}

#[tokio::test]
async fn a_request_the_supervisor_dies_on_says_it_stopped_before_answering() {
    let kit = Kit::default();
    let (sup, _join) = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::MarkCrashed),
        Vec::new(),
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    // A child whose start never ends: the supervisor is busy with it until it dies.
    let stuck = ChildSpec::new("stuck", |_supervisor: ActorCell| {
        std::future::pending::<Result<ActorCell, ActorProcessingErr>>()
    });
    let adding = tokio::spawn({
        let sup = sup.clone();
        async move { add_child(&sup, stuck).await }
    });
    eventually("stuck is starting", || async {
        children(&sup)
            .await
            .expect("children")
            .iter()
            .any(|child| child.name == "stuck" && child.state == ChildState::Starting)
    })
    .await;
    sup.kill();
    let answer = tokio::time::timeout(Duration::from_secs(30), adding)
        .await
        .expect("the request ends with the supervisor")
        .expect("the request's task");
    assert_eq!(answer, Err(SupervisorError::StoppedBeforeAnswering));
}

#[tokio::test]
async fn a_shutdown_past_its_timeout_kills_the_supervisor_and_says_so() {
    let kit = Kit::default();
    let (sup, _join) = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::MarkCrashed),
        vec![kit.child_with("slow", Duration::from_secs(20))],
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    let timeout = Duration::from_millis(200);
    assert_eq!(
        shutdown(&sup, timeout).await,
        Err(SupervisorError::KilledAfter(timeout))
    );
    assert_eq!(sup.get_status(), ActorStatus::Stopped);
    eventually("slow was asked to stop", || async {
        kit.log().contains(&"stopping:slow".to_owned())
    })
    .await;
}

#[tokio::test]
async fn stopping_a_supervisor_during_a_backoff_cancels_the_restart() {
    let kit = Kit::default();
    let slow_backoff = crate::SupervisorSpec {
        backoff: Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(60),
            reset_after: Duration::from_secs(60),
        },
        ..spec(Strategy::OneForOne, GiveUp::MarkCrashed)
    };
    let (sup, _join) = Supervisor::start(slow_backoff, vec![kit.child("a")], kit.listener(), None)
        .await
        .expect("supervisor starts");
    kit.tell("a", TestMsg::Fail("boom".into()));
    wait_state(&sup, "a", ChildState::Restarting).await;
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("a shutdown does not wait out the backoff");
    assert_eq!(kit.starts_of("a"), 1);
    assert_eq!(
        kit.notices_of("a").last(),
        Some(&SupervisionEventKind::Stopped),
        "the cancelled restart is news"
    );
}

#[tokio::test]
async fn the_children_request_answers_every_child_in_start_order() {
    let kit = Kit::default();
    let (sup, _join) = Supervisor::start(
        spec(Strategy::OneForOne, GiveUp::MarkCrashed),
        vec![kit.child("b"), kit.child("a")],
        kit.listener(),
        None,
    )
    .await
    .expect("supervisor starts");
    let listed = ractor::call!(sup, SupervisorMsg::Children).expect("the supervisor answers");
    let names: Vec<(String, ChildState)> = listed
        .into_iter()
        .map(|child| (child.name, child.state))
        .collect();
    assert_eq!(
        names,
        [
            ("b".to_owned(), ChildState::Running),
            ("a".to_owned(), ChildState::Running)
        ]
    );
    shutdown(&sup, Duration::from_secs(20))
        .await
        .expect("shutdown");
}

#[test]
fn a_supervisor_s_arguments_show_its_spec_and_children_but_no_factory() {
    let kit = Kit::default();
    let args = SupervisorArgs {
        spec: spec(Strategy::RestForOne, GiveUp::Escalate),
        children: vec![kit
            .child("worker")
            .restart(crate::Restart::Transient)
            .shutdown_timeout(Duration::from_millis(1500))],
        listener: kit.listener(),
    };
    let shown = format!("{args:?}");
    for part in [
        "SupervisorArgs",
        "strategy: RestForOne",
        "ChildSpec { name: \"worker\", restart: Transient, shutdown_timeout: 1.5s, .. }",
    ] {
        assert!(shown.contains(part), "{part:?} missing from {shown}");
    }
    assert!(!shown.contains("factory"), "{shown}");
}

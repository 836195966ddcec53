//! # The supervisor alone
//!
//! rosey-actors' OTP-style [`Supervisor`] with no NATS, no processes and no rosey home: any
//! ractor actor can be a child. This example starts a supervisor (`OneForOne`, give-up
//! `MarkCrashed`, a short backoff, a budget of two restarts) with two children:
//!
//! - `worker`, which just keeps running;
//! - `crasher`, which fails 100 ms after each start (its `handle` returns an error).
//!
//! The crasher is restarted twice (after 50 ms, then 100 ms: the backoff doubles); its third
//! failure exceeds the budget, so the supervisor gives up and marks it `Crashed`, while the
//! worker is untouched. Every supervision notice is printed as it comes; the children's
//! states are then queried, checked (exit code 1 with a message if they are not as said) and
//! printed, and the supervisor is shut down.
//!
//! Run it with `cargo run -p rosey-examples --example supervisor` (about half a second).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use rosey_actors::{
    children, shutdown, spawn_child, Backoff, ChildInfo, ChildSpec, ChildState, GiveUp, Intensity,
    Listener, Strategy, SupervisionNotice, Supervisor, SupervisorSpec,
};

/// A child that runs until it is stopped.
struct Worker;

impl Actor for Worker {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// A child that fails 100 ms after each start: it sends itself `Boom`, and `handle` turns
/// `Boom` into an error, which ractor reports to the supervisor as `ActorFailed`.
struct Crasher;

struct Boom;

impl Actor for Crasher {
    type Msg = Boom;
    /// Which start this instance is (1, 2, ...), for its error message.
    type State = u32;
    type Arguments = u32;

    async fn pre_start(&self, myself: ActorRef<Boom>, run: u32) -> Result<u32, ActorProcessingErr> {
        myself.send_after(Duration::from_millis(100), || Boom);
        Ok(run)
    }

    async fn handle(
        &self,
        _: ActorRef<Boom>,
        Boom: Boom,
        run: &mut u32,
    ) -> Result<(), ActorProcessingErr> {
        Err(format!("boom on run {run}").into())
    }
}

/// Prints each notice as it comes, with the time since `t0`. Called synchronously by the
/// supervisor: it must not block.
fn printing_listener(t0: Instant) -> Listener {
    Arc::new(move |notice: SupervisionNotice| {
        let what = &notice.kind;
        println!(
            "{:>6.3}s  [{}] {:<8} {what}  -> {}",
            t0.elapsed().as_secs_f64(),
            notice.supervisor,
            notice.child,
            notice.state
        );
    })
}

async fn run() -> Result<(), String> {
    let t0 = Instant::now();

    // Each call of a factory starts a fresh instance, linked to the supervisor.
    let worker = ChildSpec::new("worker", |sup: ActorCell| {
        spawn_child(None, Worker, (), sup)
    });
    let runs = Arc::new(AtomicU32::new(0));
    let crasher = ChildSpec::new("crasher", move |sup: ActorCell| {
        let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
        spawn_child(None, Crasher, run, sup)
    });

    let mut spec = SupervisorSpec::new("demo", Strategy::OneForOne, GiveUp::MarkCrashed);
    // Two restarts a minute per child; the third failure gives up.
    spec.intensity = Intensity {
        max_restarts: 2,
        within: Duration::from_secs(60),
    };
    spec.backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
        reset_after: Duration::from_secs(30),
    };

    let (supervisor, done) =
        Supervisor::start(spec, vec![worker, crasher], printing_listener(t0), None)
            .await
            .map_err(|err| err.to_string())?;

    // Wait (bounded) until the supervisor has given up on the crasher.
    let deadline = Instant::now() + Duration::from_secs(5);
    let snapshot = loop {
        let snapshot = children(&supervisor).await.map_err(|err| err.to_string())?;
        if state_of(&snapshot, "crasher")? == ChildState::Crashed {
            break snapshot;
        }
        if Instant::now() > deadline {
            return Err("the crasher was not marked crashed within 5 s".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    println!("children:");
    for child in &snapshot {
        println!(
            "  {:<8} {:<8} restarts: {}  last exit: {}",
            child.name,
            child.state.as_str(),
            child.restarts,
            child.last_exit.as_deref().unwrap_or("-")
        );
    }
    let check = |name: &str, want: ChildState| -> Result<(), String> {
        let got = state_of(&snapshot, name)?;
        if got == want {
            Ok(())
        } else {
            Err(format!("{name} is {got}, expected {want}"))
        }
    };
    check("crasher", ChildState::Crashed)?;
    check("worker", ChildState::Running)?;
    let worker = snapshot.iter().find(|c| c.name == "worker");
    if worker.is_some_and(|w| w.restarts != 0) {
        return Err("the worker was restarted: OneForOne should have left it alone".to_owned());
    }

    // Stops the children in reverse start order, then the supervisor.
    shutdown(&supervisor, Duration::from_secs(5))
        .await
        .map_err(|err| err.to_string())?;
    done.await
        .map_err(|err| format!("supervisor task: {err}"))?;
    println!(
        "ok: crasher crashed, worker untouched, shut down after {:.3}s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn state_of(snapshot: &[ChildInfo], name: &str) -> Result<ChildState, String> {
    snapshot
        .iter()
        .find(|child| child.name == name)
        .map(|child| child.state)
        .ok_or_else(|| format!("no child named {name}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("supervisor example failed: {err}");
            ExitCode::FAILURE
        }
    }
}

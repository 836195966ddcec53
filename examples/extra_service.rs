//! # An extra supervised service next to the bot
//!
//! How a program that embeds rosey adds a service of its own to the supervision tree, the
//! way the `rosey` daemon adds its web dashboard: an [`ExtraService`] (a name and a child
//! factory) given to the stack builder ([`Stack::builder`]), which the root supervisor starts after
//! `nats`, `bot` and `plugins` and supervises like them (settings: `services.<name>`, else
//! `supervision.services`: permanent, 5 restarts a minute, 100 ms backoff).
//!
//! The example builds the whole stack in a temporary home: a real nats-server (on a free
//! loopback port), the bot on the local connector (no CyTube), an empty plugin supervisor, and
//! a `heartbeat` service that prints a line every 200 ms. It lists the root supervisor's
//! children, crashes `heartbeat` once (a message that makes its `handle` fail) and waits until
//! the root has restarted it, then shuts the stack down and checks that the nats-server
//! process is gone. Exit code 0 on success, 1 with a message otherwise.
//!
//! It needs a nats-server binary, named by the environment variable `ROSEY_NATS_SERVER`
//! (`scripts/test` sets it; `scripts/install-nats` prints the path it installs to):
//!
//! ```text
//! ROSEY_NATS_SERVER=$PWD/.tools/nats/bin/nats-server cargo run -p rosey-examples --example extra_service
//! ```
//!
//! It runs in about a second (most of it the heartbeat beating before and after the crash).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, ActorStatus};
use rosey_actors::{
    children, spawn_child,
    stack::{ExtraService, Stack},
    ChildInfo, ChildState, SupervisionNotice,
};
use rosey_core::{config::Config, paths::Home, units};

/// The extra service's name under the root supervisor.
const HEARTBEAT: &str = "heartbeat";

/// The extra service: prints a line every 200 ms; fails when told to [`Pulse::Crash`].
struct Heartbeat;

enum Pulse {
    Beat,
    Crash,
}

struct HeartbeatState {
    /// Which start of the service this instance is (1, 2, ...).
    run: u32,
    beats: u32,
    t0: Instant,
}

impl Actor for Heartbeat {
    type Msg = Pulse;
    type State = HeartbeatState;
    type Arguments = (u32, Instant);

    async fn pre_start(
        &self,
        myself: ActorRef<Pulse>,
        (run, t0): (u32, Instant),
    ) -> Result<HeartbeatState, ActorProcessingErr> {
        // The ticker ends by itself once this instance stops.
        myself.send_interval(Duration::from_millis(200), || Pulse::Beat);
        Ok(HeartbeatState { run, beats: 0, t0 })
    }

    async fn handle(
        &self,
        _: ActorRef<Pulse>,
        pulse: Pulse,
        state: &mut HeartbeatState,
    ) -> Result<(), ActorProcessingErr> {
        match pulse {
            Pulse::Beat => {
                state.beats += 1;
                println!(
                    "{:>6.3}s  heartbeat run {}: beat {}",
                    state.t0.elapsed().as_secs_f64(),
                    state.run,
                    state.beats
                );
                Ok(())
            }
            Pulse::Crash => Err(format!("told to crash on run {}", state.run).into()),
        }
    }
}

async fn run(nats_binary: PathBuf) -> Result<(), String> {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().map_err(|err| format!("cannot make a temp home: {err}"))?;
    let home = Home::new(dir.path());

    // The configuration a `rosey.yaml` would give, built in code: a free NATS port, no warm
    // spare plugin hosts (there are no plugins here), the local chat (the default).
    let mut config = Config::default();
    config.nats.port = 0;
    config.plugin_host.spares = 0;

    let heartbeat = ExtraService::new(HEARTBEAT, {
        let runs = Arc::new(AtomicU32::new(0));
        move |supervisor: ActorCell| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            spawn_child(None, Heartbeat, (run, t0), supervisor)
        }
    });

    // Everything else (credentials, logs in the home, the chat, the spawner) is the
    // builder's default.
    let (stack, root_done) = Stack::builder(home)
        .config(config)
        .nats_binary(nats_binary)
        .extra_service(heartbeat)
        .listener(Arc::new(move |notice| print_notice(t0, &notice)))
        .start()
        .await
        .map_err(|err| err.to_string())?;
    println!(
        "stack up after {:.3}s; the root supervisor's children:",
        t0.elapsed().as_secs_f64()
    );
    print_children(
        &children(stack.root())
            .await
            .map_err(|err| err.to_string())?,
    );

    // Let it beat a little, then crash it once through its running instance.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let heartbeat = child(stack.root(), HEARTBEAT).await?;
    let actor = heartbeat.actor.ok_or("heartbeat is not running")?;
    println!("{:>6.3}s  crashing heartbeat", t0.elapsed().as_secs_f64());
    actor
        .send_message(Pulse::Crash)
        .map_err(|_| "cannot reach heartbeat".to_owned())?;

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = child(stack.root(), HEARTBEAT).await?;
        if now.state == ChildState::Running && now.restarts == 1 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("heartbeat was not restarted within 5 s: {now:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    println!("after the crash:");
    let after = children(stack.root())
        .await
        .map_err(|err| err.to_string())?;
    print_children(&after);
    for unit in &after {
        if unit.state != ChildState::Running {
            return Err(format!("{} is {}, expected running", unit.name, unit.state));
        }
        if unit.name != HEARTBEAT && unit.restarts != 0 {
            return Err(format!("{} was restarted too", unit.name));
        }
    }

    // Stop everything: the root stops its children in reverse start order (heartbeat first,
    // nats-server last), then the spare hosts (none here) and the chat connection.
    let nats_pid = stack.board().get(units::NATS).and_then(|report| report.pid);
    stack
        .shutdown(Duration::from_secs(30))
        .await
        .map_err(|err| err.to_string())?;
    root_done.await.map_err(|err| format!("root task: {err}"))?;
    if actor.get_status() != ActorStatus::Stopped {
        return Err("the old heartbeat instance is still alive".to_owned());
    }
    let nats_pid = nats_pid.ok_or("the board never showed the nats-server's pid")?;
    if std::path::Path::new(&format!("/proc/{nats_pid}")).exists() {
        return Err(format!("nats-server (pid {nats_pid}) outlived the stack"));
    }
    println!(
        "ok: heartbeat restarted once, stack stopped, nats-server (pid {nats_pid}) gone; {:.3}s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_notice(t0: Instant, notice: &SupervisionNotice) {
    let what = &notice.kind;
    println!(
        "{:>6.3}s  [{}] {:<9} {what}",
        t0.elapsed().as_secs_f64(),
        notice.supervisor,
        notice.child
    );
}

fn print_children(units: &[ChildInfo]) {
    for unit in units {
        println!(
            "  {:<9} {:<8} restarts: {}",
            unit.name,
            unit.state.as_str(),
            unit.restarts
        );
    }
}

async fn child(
    root: &ActorRef<rosey_actors::SupervisorMsg>,
    name: &str,
) -> Result<ChildInfo, String> {
    children(root)
        .await
        .map_err(|err| err.to_string())?
        .into_iter()
        .find(|child| child.name == name)
        .ok_or_else(|| format!("no unit {name} under the root"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let Some(nats_binary) = std::env::var_os("ROSEY_NATS_SERVER").map(PathBuf::from) else {
        eprintln!(
            "extra_service example: set ROSEY_NATS_SERVER to a nats-server binary \
             (scripts/install-nats installs one and prints its path; scripts/test sets it)"
        );
        return ExitCode::FAILURE;
    };
    if !nats_binary.is_file() {
        eprintln!(
            "extra_service example: ROSEY_NATS_SERVER={} is not a file",
            nats_binary.display()
        );
        return ExitCode::FAILURE;
    }
    match run(nats_binary).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("extra_service example failed: {err}");
            ExitCode::FAILURE
        }
    }
}

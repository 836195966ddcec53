//! A PluginActor owns one `rosey plugin-host` process: it starts it, waits for its `ready`,
//! watches its exit and its heartbeats, and fails (so its supervisor applies the restart
//! strategy) when the host exits or hangs. Stopping the actor stops the host gracefully: the
//! plugin finishes its message, unloads and hands its state over. The host's stdout and stderr
//! (its log lines and anything else it prints) are piped into the daemon's log hub, which writes
//! `logs/plugins/<name>.log`.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rosey_core::{
    exit_codes,
    logs::{LogHub, LogSource},
    messaging::{self, Heartbeat},
    paths::Home,
};

use super::{
    board::{Board, UnitReport},
    process::{ChildLog, ChildProcess, Exit, Spawner},
};

/// The program a plugin host runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProgram {
    /// The executable.
    pub exe: PathBuf,
    /// The subcommand that makes it a host (`plugin-host` for the full `rosey` binary; none for
    /// the slim `rosey-plugin-host`).
    pub subcommand: Option<String>,
}

impl HostProgram {
    /// The slim `rosey-plugin-host` beside `rosey_exe` when it is there (it starts faster and
    /// maps less: every plugin instance is one), else `rosey_exe plugin-host`.
    pub fn beside(rosey_exe: &std::path::Path) -> HostProgram {
        let slim = rosey_exe.with_file_name("rosey-plugin-host");
        if slim.is_file() {
            HostProgram {
                exe: slim,
                subcommand: None,
            }
        } else {
            HostProgram {
                exe: rosey_exe.to_path_buf(),
                subcommand: Some("plugin-host".to_owned()),
            }
        }
    }
}

/// How to start a plugin host.
#[derive(Clone)]
pub struct HostLaunch {
    /// The program hosts run as.
    pub host: HostProgram,
    /// The home.
    pub home: Home,
    /// NATS URL for the host.
    pub nats_url: String,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// How long the host may lose NATS before it gives up.
    pub nats_timeout: Duration,
    /// The host's log level (`debug` in dev mode).
    pub log_level: String,
    /// Deliveries of one message before it is dead-lettered.
    pub max_attempts: u32,
    /// Where the host's output goes.
    pub logs: LogHub,
}

/// Everything a PluginActor needs.
#[derive(Clone)]
pub struct PluginArgs {
    /// Plugin name.
    pub name: String,
    /// Version to run.
    pub version: String,
    /// How hosts are started.
    pub launch: HostLaunch,
    /// The daemon's spawner.
    pub spawner: Spawner,
    /// The daemon's NATS client (for ready notices and heartbeats).
    pub client: async_nats::Client,
    /// How long a host may take to say it is ready.
    pub ready_timeout: Duration,
    /// Silence after which a host counts as hung.
    pub heartbeat_timeout: Duration,
    /// How long one handler may run before the host counts as hung (from the manifest).
    pub handler_timeout: Duration,
    /// How long a graceful stop may take before the host is killed.
    pub shutdown_timeout: Duration,
    /// Where the actor reports its pid and version.
    pub board: Board,
}

/// Messages a PluginActor gets from its own watcher.
#[derive(Debug)]
pub enum PluginMsg {
    /// The host process exited.
    Exited(Exit),
    /// The host stopped beating, or a handler overran its deadline.
    Hung(String),
}

/// The actor.
pub struct PluginActor;

/// The running host.
pub struct PluginState {
    child: ChildProcess,
    args: PluginArgs,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for PluginState {
    fn drop(&mut self) {
        // If the actor was killed rather than stopped, its host must not outlive it.
        self.watcher.abort();
        self.child.signal_group(libc::SIGKILL);
    }
}

/// The unit name plugins appear under in status and logs.
pub fn unit_name(plugin: &str) -> String {
    format!("plugin:{plugin}")
}

/// Describes a host's exit for status and logs (`exit code 11 (plugin panicked)`).
pub fn describe_exit(exit: Exit) -> String {
    match exit {
        Exit::Code(code) => format!("{exit} ({})", exit_codes::describe(code)),
        Exit::Signal(_) => exit.to_string(),
    }
}

impl Actor for PluginActor {
    type Msg = PluginMsg;
    type State = PluginState;
    type Arguments = PluginArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PluginMsg>,
        args: PluginArgs,
    ) -> Result<PluginState, ActorProcessingErr> {
        let mut ready = args
            .client
            .subscribe(messaging::ready_subject(&args.name))
            .await?;
        let heartbeats = args
            .client
            .subscribe(messaging::heartbeat_subject(&args.name))
            .await?;
        let child = spawn_host(&args).await?;
        let started = tokio::select! {
            notice = ready.next() => match notice {
                Some(_) => Ok(()),
                None => Err("the NATS subscription for its ready notice closed".to_owned()),
            },
            exit = child.wait() => Err(format!(
                "host exited while starting: {}{}",
                describe_exit(exit),
                child
                    .last_line(LAST_WORDS_WAIT)
                    .await
                    .map(|line| format!(": {line}"))
                    .unwrap_or_default()
            )),
            _ = tokio::time::sleep(args.ready_timeout) => {
                child.kill().await;
                Err(format!("host not ready within {:?}", args.ready_timeout))
            }
        };
        if let Err(reason) = started {
            child.kill().await;
            return Err(reason.into());
        }
        args.board.set(
            &unit_name(&args.name),
            UnitReport {
                pid: Some(child.pid()),
                version: Some(args.version.clone()),
                detail: None,
            },
        );
        let watcher = tokio::spawn(watch(myself, child.clone(), heartbeats, args.clone()));
        Ok(PluginState {
            child,
            args,
            watcher,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<PluginMsg>,
        message: PluginMsg,
        state: &mut PluginState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PluginMsg::Exited(exit) => Err(describe_exit(exit).into()),
            PluginMsg::Hung(reason) => {
                state.child.kill().await;
                Err(format!("hung: {reason}; killed").into())
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<PluginMsg>,
        state: &mut PluginState,
    ) -> Result<(), ActorProcessingErr> {
        state.watcher.abort();
        if state.child.exited().is_none() {
            state.child.stop(state.args.shutdown_timeout).await;
        }
        state.args.board.clear(&unit_name(&state.args.name));
        Ok(())
    }
}

/// How long a host that died while starting may take to finish its output (its one-line
/// reason is printed last); more only if a process it started keeps the pipe open.
const LAST_WORDS_WAIT: Duration = Duration::from_secs(2);

async fn spawn_host(args: &PluginArgs) -> Result<ChildProcess, ActorProcessingErr> {
    let launch = &args.launch;
    let mut command = Command::new(&launch.host.exe);
    command.arg("--home").arg(launch.home.root());
    if let Some(subcommand) = &launch.host.subcommand {
        command.arg(subcommand);
    }
    command
        .args(["run", "--name", &args.name])
        .args(["--plugin-version", &args.version])
        .args(["--nats", &launch.nats_url])
        .args(["--heartbeat-ms", &launch.heartbeat.as_millis().to_string()])
        .args([
            "--nats-timeout-ms",
            &launch.nats_timeout.as_millis().to_string(),
        ])
        .args(["--log-level", &launch.log_level])
        .arg("--log-stderr")
        .args(["--max-attempts", &launch.max_attempts.to_string()])
        .stdin(Stdio::null());
    let output = ChildLog {
        hub: launch.logs.clone(),
        source: LogSource::Plugin(args.name.clone()),
        translate: None,
    };
    Ok(args.spawner.spawn_logged(command, output).await?)
}

/// Watches one host: its exit, and its heartbeats for signs of a hang.
async fn watch(
    actor: ActorRef<PluginMsg>,
    child: ChildProcess,
    mut heartbeats: async_nats::Subscriber,
    args: PluginArgs,
) {
    let mut last_beat = Instant::now();
    let mut busy: Option<(String, Instant)> = None;
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            exit = child.wait() => {
                let _ = actor.send_message(PluginMsg::Exited(exit));
                return;
            }
            beat = heartbeats.next() => {
                let Some(beat) = beat else { continue };
                let Ok(beat) = messaging::decode::<Heartbeat>(&beat.payload) else { continue };
                last_beat = Instant::now();
                busy = match (beat.busy, busy.take()) {
                    (None, _) => None,
                    // Same handler as before: keep when we first saw it busy.
                    (Some(now), Some((id, since))) if now.message_id == id => Some((id, since)),
                    (Some(now), _) => {
                        let elapsed = messaging::now_ms().saturating_sub(now.since_ms);
                        let since = Instant::now()
                            .checked_sub(Duration::from_millis(elapsed))
                            .unwrap_or_else(Instant::now);
                        Some((now.message_id, since))
                    }
                };
            }
            _ = ticks.tick() => {
                // Silence only counts while our own connection to NATS is up.
                if args.client.connection_state() != async_nats::connection::State::Connected {
                    last_beat = Instant::now();
                    continue;
                }
                let reason = if last_beat.elapsed() > args.heartbeat_timeout {
                    Some(format!("no heartbeat for {:?}", args.heartbeat_timeout))
                } else {
                    busy.as_ref()
                        .filter(|(_, since)| since.elapsed() > args.handler_timeout)
                        .map(|(id, _)| format!("handler for message {id} ran past {:?}", args.handler_timeout))
                };
                if let Some(reason) = reason {
                    let _ = actor.send_message(PluginMsg::Hung(reason));
                    return;
                }
            }
        }
    }
}

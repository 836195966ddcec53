//! A PluginActor is its plugin's only door: it reads the plugin's durable JetStream consumer
//! (through the plugin's [`door::Door`]), hands the plugin host one message at a time over a
//! private socketpair, and publishes what comes back. The host has no NATS connection and no
//! network.
//!
//! The actor starts a host (a warm spare when one is kept, see [`spares`]), opens the library,
//! starts the plugin with any handed-over state, and serves (`serve.rs`). It fails, so its
//! supervisor applies the restart strategy, when the host exits, hangs (no heartbeat, or a
//! handler past the manifest's deadline) or breaks the channel's rules; the message the host
//! held goes back to the door first, counted against the plugin. Stopping the actor stops the
//! host gracefully: it finishes its message, unloads and hands its state over. Reload and
//! update are make-before-break ([`swap`]).
//!
//! A plugin that has crashed or been reloaded keeps a *standby*: a host with its library
//! already open, so the next replacement only has to start the plugin in it.

mod between;
pub mod door;
mod doors;
mod early;
mod failures;
mod frames;
mod holds;
mod incoming;
mod link;
mod output;
mod poison;
mod questions;
mod serve;
pub(crate) mod shared_state;
pub mod spares;
mod start;
mod swap;
mod tell;
mod timers;

pub use holds::{HeldUser, HoldRules};
pub use serve::ConfigTaken;
pub use tell::FailureWording;

use std::{path::PathBuf, sync::Arc, time::Duration};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use rosey_core::{exit_codes, logs::LogHub, paths::Home};
use rosey_host::wire;
use tokio::sync::{mpsc, oneshot};

use self::{
    door::Door,
    output::Outputs,
    serve::{Control, Ended, Serving},
    spares::Spares,
    start::Plan,
};
use super::{board::Board, process::Exit};

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
    /// This very program, run with `subcommand` to be a plugin host: for an embedder whose
    /// `main` hands that subcommand's arguments to [`rosey_host::run`].
    pub fn this_program(subcommand: impl Into<String>) -> std::io::Result<HostProgram> {
        Ok(HostProgram {
            exe: std::env::current_exe()?,
            subcommand: Some(subcommand.into()),
        })
    }

    /// What a stack runs when told nothing: [`HostProgram::beside`] this program, or
    /// `rosey-plugin-host` from `PATH` when this program's path cannot be known.
    pub fn default_for_this_program() -> HostProgram {
        match std::env::current_exe() {
            Ok(exe) => HostProgram::beside(&exe),
            Err(_) => HostProgram {
                exe: PathBuf::from("rosey-plugin-host"),
                subcommand: None,
            },
        }
    }

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

/// Everything a PluginActor needs (the same for every instance of one plugin).
#[derive(Clone)]
pub struct PluginArgs {
    /// Plugin name.
    pub name: String,
    /// The home.
    pub home: Home,
    /// The plugin's door (consumer, held message, poison counts, version to run).
    pub door: Arc<Door>,
    /// Where hosts come from.
    pub spares: Spares,
    /// The door's NATS connection (chat, notices, heartbeats; the acks go on it too).
    pub client: async_nats::Client,
    /// Where the plugin's log lines go.
    pub logs: LogHub,
    /// Where the actor reports its host's pid and version.
    pub board: Board,
    /// The lowest level of the host's own lines worth logging (`debug` in dev mode).
    pub log_level: wire::Level,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// How long a host may take to open the library, and the plugin to load.
    pub ready_timeout: Duration,
    /// Silence after which a host counts as hung.
    pub heartbeat_timeout: Duration,
    /// How long a graceful stop may take before the host is killed.
    pub shutdown_timeout: Duration,
    /// Hosts that may die handling one message before it is dead-lettered.
    pub max_attempts: u32,
    /// Commands older than this are not handled (acked, counted, logged).
    pub max_command_age: Option<Duration>,
    /// Events older than this are not handled.
    pub max_event_age: Option<Duration>,
    /// What the bot tells a user whose command failed here.
    pub failure_wording: tell::FailureWording,
    /// When a user whose commands crash the plugin is held back from it.
    pub hold_rules: HoldRules,
    /// The consumer's ack wait.
    pub ack_wait: Duration,
    /// No warm hosts of any kind (`plugin_host.spares: 0`): no standby either.
    pub standby_off: bool,
    /// `plugin_host.sandbox: required`: a host whose sandbox is partial does not load the
    /// plugin.
    pub sandbox_required: bool,
    /// With `nats.cluster`, the message store's copies: every hand-over's state is also kept
    /// in the cluster (`shared_state.rs`) for a plugin that starts next on another machine.
    pub shared_state: Option<rosey_core::messaging::StoreBudget>,
}

/// The plugin's name and settings; leaves out the handles it shares (door, spares, NATS
/// client, logs, board).
impl std::fmt::Debug for PluginArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginArgs")
            .field("name", &self.name)
            .field("home", &self.home)
            .field("log_level", &self.log_level)
            .field("heartbeat", &self.heartbeat)
            .field("ready_timeout", &self.ready_timeout)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("max_command_age", &self.max_command_age)
            .field("max_event_age", &self.max_event_age)
            .field("failure_wording", &self.failure_wording)
            .field("hold_rules", &self.hold_rules)
            .field("ack_wait", &self.ack_wait)
            .field("standby_off", &self.standby_off)
            .field("sandbox_required", &self.sandbox_required)
            .finish_non_exhaustive()
    }
}

impl PluginArgs {
    fn outputs(&self) -> Outputs {
        Outputs::new(
            &self.name,
            self.client.clone(),
            self.door.jetstream().clone(),
            self.logs.clone(),
            self.board.clone(),
            self.door.meters().clone(),
        )
    }
}

/// Messages a PluginActor takes.
#[derive(Debug)]
pub enum PluginMsg {
    /// Serving ended with a failure (host died, hung, broke the rules).
    Failed(String),
    /// The same, on a message counted as poison: not counted toward the restart intensity.
    FailedOnMessage(String),
    /// Run `version` instead, make-before-break (reload: the same version).
    Swap {
        /// The version.
        version: String,
        /// The outcome.
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// The actor.
#[derive(Debug)]
pub struct PluginActor;

/// The running instance: its serving task and the way to talk to it.
#[derive(Debug)]
pub struct PluginState {
    args: PluginArgs,
    control: mpsc::UnboundedSender<Control>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for PluginState {
    fn drop(&mut self) {
        // Killed rather than stopped: the serving task (and with it the host) must not outlive
        // the actor, and a message it held goes back to the door.
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.args.door.return_held(false);
        self.args.door.quiet();
    }
}

/// What a plugin's unit name starts with (on the board, in notices and logs).
pub const UNIT_PREFIX: &str = "plugin:";

/// The unit name plugins appear under in status and logs.
pub fn unit_name(plugin: &str) -> String {
    format!("{UNIT_PREFIX}{plugin}")
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
        let version = args.door.version();
        let plan = Plan::load(&args, &version)?;
        let handoff = args.home.plugin_handoff_file(&args.name);
        let state = match std::fs::read(&handoff) {
            Ok(state) => Some(state),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(format!("cannot read {}: {err}", handoff.display()).into()),
        };
        let mut outputs = args.outputs();
        // Handed over on another machine (the plugin moved here, or its node was lost): the
        // cluster kept it.
        let state = match (state, &args.shared_state) {
            (None, Some(_)) => match shared_state::waiting_state(&args.client, &args.name).await {
                Ok(state) => state,
                Err(err) => {
                    outputs.host_line(
                        rosey_core::logs::Level::Warn,
                        &format!(
                            "the cluster's copy of the handed-over state cannot be read: {err}"
                        ),
                    );
                    None
                }
            },
            (state, _) => state,
        };
        if let Some(state) = &state {
            outputs.host_line(
                rosey_core::logs::Level::Info,
                &format!("starting with {} bytes of handed-over state", state.len()),
            );
        }
        let (host, config) = start::bring_up(&args, &plan, state, None, &mut outputs).await?;
        args.door.set_version(&version, plan.wants.clone());
        args.door
            .attach()
            .await
            .map_err(|err| format!("cannot set up the plugin's JetStream consumer: {err}"))?;
        swap::forget_state(&args, &outputs);
        swap::announce_ready(&args, &outputs).await;
        let (control, control_rx) = mpsc::unbounded_channel();
        args.door.set_serving(Some(control.clone()));
        let serving = Serving {
            args: args.clone(),
            door: args.door.clone(),
            host,
            plan,
            config,
            outputs,
            control: control_rx,
            last_beat: tokio::time::Instant::now(),
            busy: None,
            standby_due: args
                .door
                .churned()
                .then(|| tokio::time::Instant::now() + serve::STANDBY_DELAY),
            on_message: false,
            step_seq: 0,
            last_timer: tokio::time::Instant::now(),
            cluster_copies: Default::default(),
        };
        let door = args.door.clone();
        let task = tokio::spawn(async move {
            let failed = match serving.run().await {
                Ended::Stopped => None,
                Ended::Failed(reason) => Some(PluginMsg::Failed(reason)),
                Ended::FailedOnMessage(reason) => Some(PluginMsg::FailedOnMessage(reason)),
            };
            if let Some(failed) = failed {
                door.mark_churned();
                let _ = myself.send_message(failed);
            }
        });
        Ok(PluginState {
            args,
            control,
            task: Some(task),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<PluginMsg>,
        message: PluginMsg,
        state: &mut PluginState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PluginMsg::Failed(reason) => Err(reason.into()),
            PluginMsg::FailedOnMessage(reason) => Err(Box::new(crate::Uncounted(reason))),
            PluginMsg::Swap { version, reply } => {
                if let Err(mpsc::error::SendError(Control::Swap { reply, .. })) =
                    state.control.send(Control::Swap { version, reply })
                {
                    let _ = reply.send(Err("the plugin is stopping".to_owned()));
                }
                Ok(())
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<PluginMsg>,
        state: &mut PluginState,
    ) -> Result<(), ActorProcessingErr> {
        state.args.door.set_serving(None);
        let _ = state.control.send(Control::Stop);
        if let Some(mut task) = state.task.take() {
            // The stop finishes the message in hand and the unload, each within the shutdown
            // timeout; past both, the host is killed (dropping the task drops it).
            let limit = state.args.shutdown_timeout * 2 + Duration::from_secs(1);
            if tokio::time::timeout(limit, &mut task).await.is_err() {
                task.abort();
            }
        }
        state.args.door.drop_standby();
        state.args.board.clear(&unit_name(&state.args.name));
        Ok(())
    }
}

/// Asks the running instance behind `door` to run `version` (make-before-break), straight to
/// its serving loop; `None` when no instance serves (ask through the supervisor then).
pub async fn swap_at_door(door: &door::Door, version: &str) -> Option<Result<(), String>> {
    let serving = door.serving()?;
    let (reply, answer) = oneshot::channel();
    serving
        .send(Control::Swap {
            version: version.to_owned(),
            reply,
        })
        .ok()?;
    Some(
        answer
            .await
            .unwrap_or_else(|_| Err("the plugin stopped before the reload finished".to_owned())),
    )
}

/// Hands the running instance behind `door` its new configuration (from its config file);
/// `None` when no instance serves (it reads the file when it starts).
pub async fn configure_at_door(door: &door::Door) -> Option<Result<ConfigTaken, String>> {
    let serving = door.serving()?;
    let (reply, answer) = oneshot::channel();
    serving.send(Control::Configure { reply }).ok()?;
    Some(answer.await.unwrap_or_else(|_| {
        Err("the plugin stopped before it took the new configuration".to_owned())
    }))
}

/// Asks the running instance `actor` of a plugin to run `version` (make-before-break).
pub async fn swap(actor: &ractor::ActorCell, version: &str) -> Result<(), String> {
    let (reply, answer) = oneshot::channel();
    actor
        .send_message(PluginMsg::Swap {
            version: version.to_owned(),
            reply,
        })
        .map_err(|err| format!("cannot reach the plugin's actor: {err}"))?;
    answer
        .await
        .map_err(|_| "the plugin's actor stopped before the reload finished".to_owned())?
}

#[cfg(test)]
mod tests {
    use rosey_core::config::LogsConfig;

    use super::*;
    use crate::services::process::Spawner;

    #[tokio::test]
    async fn an_actor_s_arguments_print_its_settings_and_leave_out_the_handles_it_shares() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        let logs = LogHub::open(&home, LogsConfig::default()).expect("logs");
        let program = HostProgram {
            exe: dir.path().join("rosey-plugin-host"),
            subcommand: None,
        };
        let args = PluginArgs {
            name: "dice".to_owned(),
            home,
            door: door::tests::door_at(&dir.path().join("attempts.json")).await,
            spares: Spares::new(0, program, Spawner::new().expect("spawner"), logs.clone()),
            client: door::tests::unconnected_client().await,
            logs,
            board: Board::default(),
            log_level: wire::Level::Info,
            heartbeat: Duration::from_millis(200),
            ready_timeout: Duration::from_secs(20),
            heartbeat_timeout: Duration::from_secs(3),
            shutdown_timeout: Duration::from_secs(5),
            max_attempts: 2,
            max_command_age: None,
            max_event_age: Some(Duration::from_secs(60)),
            failure_wording: FailureWording::default(),
            hold_rules: HoldRules {
                strikes: 3,
                within: Duration::from_secs(600),
                hold_for: Duration::from_secs(900),
            },
            ack_wait: Duration::from_secs(30),
            standby_off: false,
            sandbox_required: true,
            shared_state: None,
        };
        let shown = format!("{args:?}");
        for part in [
            r#"name: "dice""#,
            "heartbeat_timeout: 3s",
            "max_attempts: 2",
            "max_event_age: Some(60s)",
            "strikes: 3",
            "sandbox_required: true",
        ] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
        for handle in ["door", "spares", "client", "board"] {
            assert!(
                !shown.contains(&format!("{handle}:")),
                "{handle} in {shown}"
            );
        }
    }

    #[test]
    fn an_embedder_s_host_program_is_this_very_program_with_its_subcommand() {
        let program = HostProgram::this_program("plugin-host").expect("this program");
        assert_eq!(program.exe, std::env::current_exe().expect("current exe"));
        assert_eq!(program.subcommand.as_deref(), Some("plugin-host"));
    }
}

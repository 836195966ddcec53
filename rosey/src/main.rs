//! The `rosey` command: the operator's CLI, the daemon (`rosey start`), and (as the hidden
//! `plugin-host` subcommand) the process that runs one plugin.

mod control;
mod daemon;
mod deadletter_cmd;
mod dev;
mod init_cmd;
mod logs_cmd;
mod plugin_cmd;
mod service_cmd;
mod unit_cmd;
mod web;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{CommandFactory, Parser, Subcommand};
use rosey_core::paths::Home;

/// rosey: a CyTube bot runtime with hot-reloadable, process-isolated plugins.
#[derive(Debug, Parser)]
#[command(name = "rosey", version, about, propagate_version = true)]
struct Cli {
    /// The rosey home folder (config, data, logs). Defaults to the current directory.
    #[arg(long, global = true, env = "ROSEY_HOME", value_name = "DIR")]
    home: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented rosey.yaml into a new home: every setting at its default, with what
    /// it means (on a terminal, asks for the chat, channel and bot name first).
    Init(init_cmd::InitArgs),
    /// Start the stack in the background (or one stopped service or plugin of a running stack).
    Start {
        /// A service (nats, bot) or plugin to start in the running stack.
        target: Option<String>,
        /// Run in this terminal instead: progress and chat here, Ctrl+C stops.
        #[arg(long)]
        foreground: bool,
    },
    /// Stop the whole stack (or one service or plugin, which stays stopped).
    Stop {
        /// A service (nats, bot) or plugin to stop.
        target: Option<String>,
    },
    /// Stop and start one service or plugin.
    Restart {
        /// A service (nats, bot) or plugin.
        target: String,
    },
    /// Show the state of every service and plugin.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Say something in the local chat and print the bot's replies, and what else it says in
    /// the channel while waiting for them, marked "(meanwhile)".
    Say {
        /// The chat line, e.g. "!roll 2d6".
        text: String,
        /// Who says it.
        #[arg(long = "as", default_value = "you", value_name = "USER")]
        user: String,
        /// Their rank in the channel: guest, registered, moderator, admin, owner (or a number).
        #[arg(long, default_value = "registered", value_name = "RANK")]
        rank: rosey_core::rank::Rank,
        /// Seconds to wait for replies.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
    },
    /// Run the stack in this terminal for plugin development: debug logging, the dashboard,
    /// and every watched plugin crate rebuilt and hot-reloaded when its sources change.
    Dev,
    /// Print the last lines of a log (all, a service or a plugin), or follow it with -f.
    Logs(logs_cmd::LogsArgs),
    /// Create, pack, install, inspect, reload and remove plugins.
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),

    /// List, show and purge the messages plugins kept crashing on (parked as dead letters).
    #[command(subcommand)]
    Deadletter(deadletter_cmd::DeadLetterCommand),
    /// Start this home's bot at boot through systemd, restarted when it dies: write or remove
    /// its unit.
    #[command(subcommand)]
    Service(unit_cmd::UnitCommand),
    /// Run this home as a plugin node: its nats-server joins the cluster `nats.cluster`
    /// names and the main daemon can run plugins here (stop it with `rosey stop`).
    #[command(subcommand)]
    Node(NodeCommand),
    /// Print the shell completion script for bash, zsh or fish (see the README to install it).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },

    /// Run the daemon (started by `rosey start`, not by operators).
    #[command(hide = true)]
    Daemon(daemon::DaemonArgs),

    /// Run one plugin (started by rosey itself, not by operators).
    #[command(name = "plugin-host", hide = true)]
    PluginHost(PluginHostArgs),
}

/// `rosey node …`.
#[derive(Debug, clap::Subcommand)]
enum NodeCommand {
    /// Start this home's node daemon in the background (or in this terminal).
    Start {
        /// Run in this terminal instead: progress here, Ctrl+C stops.
        #[arg(long)]
        foreground: bool,
    },
    /// Make the cluster's route password (data/nats-auth/cluster-secret) on one machine, to
    /// copy to every other machine of the cluster; keeps one that exists.
    Secret,
}

impl Command {
    /// The daemon (in any of its forms) and the plugin host: processes that outlive a reader.
    fn is_long_running(&self) -> bool {
        matches!(
            self,
            Command::Start {
                target: None,
                foreground: true
            } | Command::Dev
                | Command::Node(NodeCommand::Start { foreground: true })
                | Command::Daemon(_)
                | Command::PluginHost(_)
        )
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let home = Home::new(cli.home.unwrap_or_else(|| PathBuf::from(".")));
    if !cli.command.is_long_running() {
        // Like any Unix tool, end quietly when the reader of our output goes away
        // (`rosey logs | head`) instead of panicking on the failed write. Only for commands
        // that print and exit: the daemon and plugin hosts must see EPIPE as an error on the
        // one socket or pipe it concerns, not die of it.
        // SAFETY: setting a signal's disposition to its default, before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli.command {
        Command::Start {
            target: None,
            foreground: true,
        } => daemon::main(
            &home,
            daemon::DaemonArgs {
                foreground: true,
                ..Default::default()
            },
        ),
        Command::Start { target, .. } => service_cmd::start(&home, target),
        Command::Node(NodeCommand::Start { foreground: true }) => daemon::main(
            &home,
            daemon::DaemonArgs {
                foreground: true,
                node: true,
                ..Default::default()
            },
        ),
        Command::Node(NodeCommand::Start { foreground: false }) => service_cmd::start_node(&home),
        Command::Node(NodeCommand::Secret) => service_cmd::node_secret(&home),
        Command::Stop { target } => service_cmd::stop(&home, target),
        Command::Restart { target } => service_cmd::restart(&home, target),
        Command::Status { json } => service_cmd::status(&home, json),
        Command::Say {
            text,
            user,
            rank,
            timeout,
        } => service_cmd::say(
            &home,
            text,
            user,
            rank,
            Duration::from_secs_f64(timeout.clamp(0.1, 600.0)),
        ),
        Command::Init(args) => init_cmd::run(&home, args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "rosey", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Service(command) => unit_cmd::run(&home, command),
        Command::Deadletter(command) => deadletter_cmd::run(&home, command),
        Command::Dev => dev::run(&home),
        Command::Logs(args) => logs_cmd::run(&home, args),
        Command::Plugin(command) => plugin_cmd::run(&home, command),
        Command::Daemon(args) => daemon::main(&home, args),
        Command::PluginHost(host) => {
            let code = rosey_host::run(&host.args);
            #[cfg(tarpaulin)]
            end_without_coverage_counts(code);
            #[cfg(not(tarpaulin))]
            rosey_host::exit_codes::exit_code(code)
        }
    }
}

/// In a coverage build (cargo-tarpaulin builds with `--cfg tarpaulin`) a process writes its
/// counts as it exits, which a host's sandbox forbids, and the LLVM runtime would add its
/// failed write to what the host says on stderr: a host ends here without them.
#[cfg(tarpaulin)]
fn end_without_coverage_counts(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: ends the process at once; nothing of it runs after.
    unsafe { libc::_exit(code) }
}

/// `rosey plugin-host`: the plugin host inside the full binary (the daemon uses the slim
/// `rosey-plugin-host` when it sits beside `rosey`; both are [`rosey_host::run`]).
#[derive(Debug, clap::Args)]
struct PluginHostArgs {
    /// `serve` (the channel the daemon passed at fd 3) or `check --library <absolute path>`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

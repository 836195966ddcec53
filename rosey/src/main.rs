//! The `rosey` command: the operator's CLI, and (as the hidden `plugin-host` subcommand) the
//! process that runs one plugin.

mod host;
mod plugin_cmd;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
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
    /// Install, inspect and remove plugins.
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),

    /// Run one plugin (started by rosey itself, not by operators).
    #[command(name = "plugin-host", hide = true)]
    PluginHost(host::HostArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let home = Home::new(cli.home.unwrap_or_else(|| PathBuf::from(".")));
    match cli.command {
        Command::Plugin(command) => plugin_cmd::run(&home, command),
        Command::PluginHost(args) => host::main(&home, args),
    }
}

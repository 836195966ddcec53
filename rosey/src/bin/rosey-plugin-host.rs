//! `rosey-plugin-host`: the plugin host on its own, the program each plugin runs in.
//!
//! The same code as `rosey plugin-host` (the `host` module is shared), linked without the CLI,
//! the daemon, the supervision tree or the dashboard. A host is started for every plugin
//! instance, so its start-up is part of every reload, and its binary's pages are part of every
//! plugin's memory: DESIGN.md asks for a slim binary once the full one is measured too big. The
//! daemon runs this binary when it sits beside `rosey`, and `rosey plugin-host` otherwise.

#[path = "../host/mod.rs"]
mod host;

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use rosey_core::paths::Home;

/// Runs one plugin (started by the rosey daemon, not by operators).
#[derive(Debug, Parser)]
#[command(name = "rosey-plugin-host", version)]
struct Cli {
    /// The rosey home folder.
    #[arg(long, env = "ROSEY_HOME", value_name = "DIR")]
    home: Option<PathBuf>,

    #[command(flatten)]
    host: host::HostArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let home = Home::new(cli.home.unwrap_or_else(|| PathBuf::from(".")));
    host::main(&home, cli.host)
}

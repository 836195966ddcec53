//! `rosey plugin …`: pack, install, list, info and remove.

use std::process::ExitCode;

use clap::Subcommand;
use rosey_core::paths::Home;

/// The `rosey plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {}

/// Runs one `rosey plugin` subcommand.
pub fn run(_home: &Home, command: PluginCommand) -> ExitCode {
    match command {}
}

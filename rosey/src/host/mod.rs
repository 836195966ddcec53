//! `rosey plugin-host`: the process that runs one plugin.

use std::process::ExitCode;

/// Arguments of `rosey plugin-host`.
#[derive(Debug, clap::Args)]
pub struct HostArgs {}

/// Runs the host.
pub fn main(_args: HostArgs) -> ExitCode {
    ExitCode::SUCCESS
}

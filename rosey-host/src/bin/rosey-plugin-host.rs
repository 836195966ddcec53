//! `rosey-plugin-host`: the program each plugin instance runs in, started by the rosey daemon
//! (not by operators).
//!
//! `rosey-plugin-host serve` serves the channel the daemon passed at fd 3;
//! `rosey-plugin-host check --library <abs path>` loads a library, checks its ABI and exits.
//! No argument parser: this binary is every plugin's memory and start-up, so it links only
//! what a host needs.

use std::{path::Path, process::ExitCode};

const USAGE: &str = "usage: rosey-plugin-host serve | check --library <absolute path>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve"] => rosey_host::serve(),
        ["check", "--library", library] => rosey_host::check(Path::new(library)),
        ["--version"] => {
            println!("rosey-plugin-host {}", env!("CARGO_PKG_VERSION"));
            0
        }
        _ => {
            eprintln!("{USAGE}");
            rosey_host::exit_codes::USAGE
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

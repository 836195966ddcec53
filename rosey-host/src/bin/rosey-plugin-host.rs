//! `rosey-plugin-host`: the program each plugin instance runs in, started by the rosey daemon
//! (not by operators). All of it is [`rosey_host::run`]; no argument parser, because this
//! binary is every plugin's memory and start-up, so it links only what a host needs.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    rosey_host::exit_codes::exit_code(rosey_host::run(&args))
}

//! # rosey-e2e
//!
//! Harness for the end-to-end tests in `tests/tests/`: they run the real `rosey` binary, real
//! plugin libraries and a real nats-server, all on loopback, in temp dirs, and every child
//! process is killed with its process group when the test ends, passing or failing.

pub mod host;
pub mod nats;
pub mod process;

use std::path::PathBuf;

/// The workspace root (the folder holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}
pub mod cli;

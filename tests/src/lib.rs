//! # rosey-e2e
//!
//! Harness for the end-to-end tests in `tests/tests/e2e/`: they run the real `rosey` binary, real
//! plugin libraries and a real nats-server, all on loopback, in temp dirs, and every child
//! process is killed with its process group when the test ends, passing or failing.

pub mod browser;
pub mod cli;
pub mod cluster;
pub mod connector;
pub mod cytube;
pub mod disk;
pub mod host;
pub mod http;
pub mod nats;
pub mod process;
pub mod stack;

pub use cli::workspace_root;

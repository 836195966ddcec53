//! # rosey-examples
//!
//! Runnable examples of embedding rosey's crates in another program; `scripts/test` runs each
//! one, so an example that no longer builds or no longer does what it says fails CI.
//!
//! - `supervisor.rs`: the OTP-style supervisor of `rosey-actors` alone (no NATS, no
//!   processes, no home): a child that keeps crashing is restarted, then given up on and
//!   marked crashed while its sibling runs on.
//!   `cargo run -p rosey-examples --example supervisor`
//! - `extra_service.rs`: a whole stack (nats-server, the bot on the local connector, the
//!   plugin supervisor) in a temporary home, with one extra supervised service of the
//!   embedding program's own, crashed once and restarted.
//!   `ROSEY_NATS_SERVER=/path/to/nats-server cargo run -p rosey-examples --example extra_service`
//! - `line_chat.rs`: a bot with a chat of its own (a line protocol on TCP, a `Connector` of
//!   a few lines) embedding the stack with plugins, and running as its own plugin host:
//!   installs the archives it is given, asks `!roll 1d1`, prints the answer.
//!   `cargo run -p rosey-examples --example line_chat -- dice-roller-0.1.0.roseyplug`
//!
//! This library itself is empty: Cargo wants a library or binary target in every package.

//! The end-to-end tests, one module per subject, built as one test binary: they run the real
//! `rosey` binary, real nats-servers, plugin hosts and sockets (the harness is the `rosey_e2e`
//! library in `tests/src/`). One binary links once instead of forty times, and a coverage run
//! (which runs test binaries one after the other) keeps all its test threads busy.
//!
//! Run one subject with a filter on its module, e.g. `cargo nextest run -p rosey-e2e
//! cluster::` (build the workspace first: the tests run `target/debug/rosey`).

mod archives;
mod boot;
mod bus;
mod channel;
mod cluster;
mod cluster_dashboard;
mod cluster_placement;
mod commands;
mod compat;
mod cytube;
mod cytube_action_edges;
mod cytube_edges;
mod dashboard;
mod dashboard_ops;
mod dead_letters;
mod dev;
mod disk;
mod door;
mod embed;
mod emulator;
mod examples;
mod examples_channel;
mod host;
mod hostile;
mod init;
mod loader;
mod logs;
mod metrics;
mod one_place;
mod plugin_commands;
mod plugin_edges;
mod reload;
mod reload_edges;
mod router;
mod sandbox;
mod sdk;
mod security;
mod stack;
mod start;
mod status;

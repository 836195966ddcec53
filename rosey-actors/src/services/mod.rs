//! The units of a rosey stack, as actors a supervisor can own: the `nats` service (a
//! nats-server child), the `bot` service (connector ⇄ NATS through the command router), and one
//! plugin actor per plugin (a `rosey plugin-host` child). Child processes are forked through
//! [`process::Spawner`], so none outlives the process that runs the stack.

pub mod board;
pub mod bot;
pub(crate) mod cluster_store;
pub mod keeper;
pub mod nats;
pub mod node;
pub mod plugin;
pub mod process;
pub mod remote;

//! The `node` service of a plugin node (`rosey node start`): it tells the main daemon, over
//! the cluster, that this node is alive, what it runs and how much memory that takes.
//!
//! It publishes a [`NodeHeartbeat`] on `rosey.nodes.<node>.heartbeat` at its start (so a
//! started node is seen at once) and every `node.heartbeat_ms` after. The main daemon's
//! [`crate::stack::Nodes`] counts a node lost when they stop. Losing the connection to NATS
//! is not this actor's failure: the client reconnects, and heartbeats resume with it.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use rosey_core::{
    bus::{BusUser, Credentials},
    messaging::{self, NodeHeartbeat},
    units,
};

use super::{
    board::Board,
    plugin::UNIT_PREFIX,
    process::{available_memory_bytes, resident_bytes},
};

/// The unit name of the node service.
pub const UNIT: &str = units::NODE;

/// Everything the node service needs.
#[derive(Clone, Debug)]
pub struct NodeArgs {
    /// This node's name (`node.name`).
    pub name: String,
    /// Its nats-server's name in the cluster.
    pub server_name: String,
    /// Where it runs, as the operator will read it: host name and route address.
    pub address: String,
    /// The node's own nats-server.
    pub nats_url: String,
    /// The cluster's passwords.
    pub credentials: Credentials,
    /// What the node's units report (its plugins and their pids).
    pub board: Board,
    /// How often to say it is alive.
    pub every: Duration,
    /// When the node daemon started, ms since the Unix epoch.
    pub started_ms: u64,
    /// `node.keep_free_mb`, bytes: memory not offered to plugins placed where there is room.
    pub keep_free: u64,
}

/// The actor.
#[derive(Debug)]
pub struct NodeActor;

/// The running service: its heartbeat task, ended with it.
#[derive(Debug)]
pub struct NodeState {
    beating: tokio::task::JoinHandle<()>,
}

impl Drop for NodeState {
    fn drop(&mut self) {
        self.beating.abort();
    }
}

impl Actor for NodeActor {
    type Msg = ();
    type State = NodeState;
    type Arguments = NodeArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        args: NodeArgs,
    ) -> Result<NodeState, ActorProcessingErr> {
        let client = args
            .credentials
            .connect(
                &args.nats_url,
                BusUser::Daemon,
                &format!("rosey-node-{}", args.name),
            )
            .await?;
        let subject = messaging::node_heartbeat_subject(&args.name);
        // The first one out before the start counts, so the main daemon sees the node now.
        beat(&client, &subject, &args).await?;
        args.board.set(
            UNIT,
            super::board::UnitReport {
                // In-process, like the bot: the daemon's pid for status.
                pid: Some(std::process::id()),
                version: None,
                detail: Some(format!("node {} on server {}", args.name, args.server_name)),
                ..Default::default()
            },
        );
        let beating = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(args.every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(err) = beat(&client, &subject, &args).await {
                    tracing::warn!(unit = UNIT, "heartbeat not sent: {err}");
                }
            }
        });
        Ok(NodeState { beating })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<()>,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        state.beating.abort();
        Ok(())
    }
}

/// Publishes one heartbeat, flushed (so a failed one is an error, not a silent loss).
async fn beat(
    client: &async_nats::Client,
    subject: &str,
    args: &NodeArgs,
) -> Result<(), ActorProcessingErr> {
    let heartbeat = heartbeat(args);
    let payload = serde_json::to_vec(&heartbeat)?;
    client.publish(subject.to_owned(), payload.into()).await?;
    client.flush().await?;
    Ok(())
}

/// What the node says of itself now.
fn heartbeat(args: &NodeArgs) -> NodeHeartbeat {
    let hosts = args.board.pids(UNIT_PREFIX);
    let nats_pid = args.board.get(units::NATS).and_then(|report| report.pid);
    let memory_bytes = std::iter::once(std::process::id())
        .chain(nats_pid)
        .chain(hosts.iter().map(|(_, pid)| *pid))
        .filter_map(resident_bytes)
        .sum();
    NodeHeartbeat {
        v: messaging::SCHEMA_VERSION,
        node: args.name.clone(),
        server_name: args.server_name.clone(),
        address: args.address.clone(),
        pid: std::process::id(),
        plugins: hosts
            .into_iter()
            .map(|(unit, _)| unit.trim_start_matches(UNIT_PREFIX).to_owned())
            .collect(),
        memory_bytes,
        room_bytes: room_bytes(args.keep_free),
        started_ms: args.started_ms,
        time_ms: messaging::now_ms(),
    }
}

/// The memory this machine offers a plugin placed where there is room: what it has available
/// beyond `keep_free` bytes (0 when the kernel does not say).
pub(crate) fn room_bytes(keep_free: u64) -> u64 {
    available_memory_bytes()
        .unwrap_or(0)
        .saturating_sub(keep_free)
}

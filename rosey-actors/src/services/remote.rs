//! A plugin the main daemon runs on a plugin node: its child in the main daemon's plugin
//! supervisor, standing for the plugin actor that runs on the node.
//!
//! Starting it places the plugin: the installed version goes into the cluster's object store,
//! the placement into the main daemon's heartbeat (so the node runs it and no other node
//! does), and a `start` request to the node, which answers once the plugin is ready there. It
//! fails, as a local plugin actor fails when its host dies, when the node says the plugin
//! stopped running there (its own supervisor gave it up) or when the node is lost: the
//! supervisor then restarts it, and the start places the plugin again, on the main daemon
//! when the node is not up. A lost node's plugin starts again with its last handed-over
//! state (marked as waiting for it in the cluster). Stopping it asks the node to stop the
//! plugin gracefully.

use std::time::Duration;

use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rosey_core::{
    messaging::{self, NodeReply, NodeRequest, StoreBudget},
    paths::Home,
};

use super::{
    board::{Board, UnitReport},
    plugin::{door::Door, shared_state, unit_name},
};
use crate::stack::{Nodes, Placements};

/// Everything a remote plugin needs.
#[derive(Clone, Debug)]
pub struct RemoteArgs {
    /// The plugin.
    pub name: String,
    /// The node it runs on.
    pub node: String,
    /// The plugin's door in the main daemon, closed while the node reads the consumer.
    pub door: std::sync::Arc<Door>,
    /// The main daemon's home (the installed version, the plugin's settings).
    pub home: Home,
    /// The message store's copies and room (the object store's bucket is made with them).
    pub store: StoreBudget,
    /// The main daemon's connection.
    pub client: async_nats::Client,
    /// The nodes heard from (a lost node fails this actor).
    pub nodes: Nodes,
    /// Where each plugin runs, for the main daemon's heartbeat.
    pub placements: Placements,
    /// Where status reads the plugin's line.
    pub board: Board,
    /// How long the node may take to fetch, open and start the plugin.
    pub ready_timeout: Duration,
}

/// The actor.
#[derive(Debug)]
pub struct RemotePluginActor;

/// Why the plugin stopped running on its node.
#[derive(Debug)]
pub struct Gone {
    /// What the node said, or that it was lost.
    pub reason: String,
    /// The node was lost (not heard from): the plugin's last handed-over state waits for the
    /// instance that starts in its place.
    pub node_lost: bool,
}

/// The placed plugin: what watches it.
#[derive(Debug)]
pub struct RemoteState {
    args: RemoteArgs,
    watch: tokio::task::JoinHandle<()>,
}

impl Actor for RemotePluginActor {
    type Msg = Gone;
    type State = RemoteState;
    type Arguments = RemoteArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Gone>,
        args: RemoteArgs,
    ) -> Result<RemoteState, ActorProcessingErr> {
        let version = args.door.version();
        args.door.detach().await;
        args.placements.place(&args.name, &args.node);
        let placed = place(&args, &version).await;
        if let Err(reason) = placed {
            args.placements.remove(&args.name);
            return Err(reason.into());
        }
        args.board.set(
            &unit_name(&args.name),
            UnitReport {
                pid: None,
                version: Some(version),
                detail: Some(format!("on node {}", args.node)),
                ..Default::default()
            },
        );
        let watch = tokio::spawn(watch(args.clone(), myself));
        Ok(RemoteState { args, watch })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Gone>,
        gone: Gone,
        state: &mut RemoteState,
    ) -> Result<(), ActorProcessingErr> {
        if gone.node_lost {
            let args = &state.args;
            let marked = shared_state::mark_waiting(&args.client, &args.store, &args.name).await;
            if let Err(err) = marked {
                tracing::warn!(
                    plugin = %args.name,
                    "its next instance starts without its last handed-over state: {err}"
                );
            }
        }
        Err(gone.reason.into())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Gone>,
        state: &mut RemoteState,
    ) -> Result<(), ActorProcessingErr> {
        state.watch.abort();
        let args = &state.args;
        args.placements.remove(&args.name);
        args.board.clear(&unit_name(&args.name));
        // Graceful where the node still answers; a lost node stops its plugins by itself
        // (it stops hearing this daemon, or hears the plugin placed elsewhere), so a restart
        // elsewhere never waits for it.
        if args.nodes.is_up(&args.node) {
            let stop = NodeRequest::Stop {
                plugin: args.name.clone(),
            };
            if let Err(reason) = ask(args, &stop, Duration::from_secs(10)).await {
                tracing::debug!(plugin = %args.name, "stop on node {}: {reason}", args.node);
            }
        }
        Ok(())
    }
}

/// Puts the archive in the object store and asks the node to start the plugin.
async fn place(args: &RemoteArgs, version: &str) -> Result<(), String> {
    let js = async_nats::jetstream::new(args.client.clone());
    let sha256 =
        crate::stack::archives::publish(&js, &args.store, &args.home, &args.name, version).await?;
    let config = crate::stack::archives::operator_config(&args.home, &args.name)?;
    let start = NodeRequest::Start {
        plugin: args.name.clone(),
        version: version.to_owned(),
        sha256,
        config,
    };
    ask(args, &start, args.ready_timeout + Duration::from_secs(10))
        .await
        .map_err(|reason| format!("node {} did not start it: {reason}", args.node))
}

/// One request to the node, answered within `timeout`.
async fn ask(args: &RemoteArgs, request: &NodeRequest, timeout: Duration) -> Result<(), String> {
    let payload = serde_json::to_vec(request).map_err(|err| err.to_string())?;
    let subject = messaging::node_requests_subject(&args.node);
    let answer = tokio::time::timeout(timeout, args.client.request(subject, payload.into()))
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
        .map_err(|err| err.to_string())?;
    let reply: NodeReply = serde_json::from_slice(&answer.payload)
        .map_err(|err| format!("a malformed answer: {err}"))?;
    match reply.error {
        None => Ok(()),
        Some(error) => Err(error),
    }
}

/// Fails the actor when the node says the plugin stopped there, or the node is lost.
async fn watch(args: RemoteArgs, myself: ActorRef<Gone>) {
    let subject = messaging::node_plugin_exit_subject(&args.node, &args.name);
    let mut exits = match args.client.subscribe(subject).await {
        Ok(exits) => exits,
        Err(err) => {
            let _ = myself.send_message(Gone {
                reason: format!("cannot follow it on node {}: {err}", args.node),
                node_lost: false,
            });
            return;
        }
    };
    let mut checks = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            exit = exits.next() => {
                let reason = exit
                    .and_then(|exit| serde_json::from_slice::<messaging::NodePluginExit>(&exit.payload).ok())
                    .map_or_else(|| "no word".to_owned(), |exit| exit.reason);
                let _ = myself.send_message(Gone {
                    reason: format!("stopped on node {}: {reason}", args.node),
                    node_lost: false,
                });
                return;
            }
            _ = checks.tick() => {
                if !args.nodes.is_up(&args.node) {
                    let _ = myself.send_message(Gone {
                        reason: format!("node {} lost", args.node),
                        node_lost: true,
                    });
                    return;
                }
            }
        }
    }
}

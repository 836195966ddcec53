//! The plugin nodes the main daemon hears from: each node's last heartbeat, and whether it
//! is lost (silent for `node.lost_after_ms`).
//!
//! A task of the stack's (started with it when `nats.cluster` is set, ended with it) reads
//! `rosey.nodes.*.heartbeat` on a connection of its own and logs each node that joins, is
//! lost, or comes back. Status reads [`Nodes::list`] without waiting for anything.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use rosey_core::{
    bus::{BusUser, Credentials},
    messaging::{self, NodeHeartbeat},
};

/// One node as the main daemon knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// Its last heartbeat.
    pub heartbeat: NodeHeartbeat,
    /// How long ago that heartbeat arrived.
    pub since: Duration,
    /// Whether it has been silent for longer than `node.lost_after_ms`.
    pub lost: bool,
}

#[derive(Debug)]
struct Seen {
    heartbeat: NodeHeartbeat,
    at: Instant,
    lost: bool,
}

/// The nodes heard from (cheap to clone; every clone sees the same nodes).
#[derive(Debug, Clone)]
pub struct Nodes {
    seen: Arc<Mutex<BTreeMap<String, Seen>>>,
    lost_after: Duration,
}

impl Nodes {
    /// No node heard from yet; a node silent for `lost_after` is lost.
    pub(crate) fn new(lost_after: Duration) -> Nodes {
        Nodes {
            seen: Arc::default(),
            lost_after,
        }
    }

    /// Every node heard from since the daemon started, by name.
    pub fn list(&self) -> Vec<NodeView> {
        self.lock()
            .values()
            .map(|seen| NodeView {
                heartbeat: seen.heartbeat.clone(),
                since: seen.at.elapsed(),
                lost: seen.lost,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Seen>> {
        match self.seen.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Takes in a heartbeat: a new node joins, a lost one is back.
    fn heard(&self, heartbeat: NodeHeartbeat) {
        let mut seen = self.lock();
        let name = heartbeat.node.clone();
        match seen.get_mut(&name) {
            Some(known) => {
                if known.lost {
                    tracing::info!(
                        "node {name} is back (server {}, {})",
                        heartbeat.server_name,
                        heartbeat.address
                    );
                }
                known.heartbeat = heartbeat;
                known.at = Instant::now();
                known.lost = false;
            }
            None => {
                tracing::info!(
                    "node {name} joined (server {}, {})",
                    heartbeat.server_name,
                    heartbeat.address
                );
                seen.insert(
                    name,
                    Seen {
                        heartbeat,
                        at: Instant::now(),
                        lost: false,
                    },
                );
            }
        }
    }

    /// Marks the nodes silent for too long as lost; returns their names.
    fn sweep(&self) -> Vec<String> {
        let mut lost = Vec::new();
        for (name, seen) in self.lock().iter_mut() {
            if !seen.lost && seen.at.elapsed() > self.lost_after {
                seen.lost = true;
                tracing::warn!(
                    "node {name} lost: no heartbeat for {} ms (node.lost_after_ms: {})",
                    seen.at.elapsed().as_millis(),
                    self.lost_after.as_millis()
                );
                lost.push(name.clone());
            }
        }
        lost
    }

    /// Follows the nodes' heartbeats on the stack's NATS until aborted: connects (again
    /// and again while NATS is not up), then reads and sweeps.
    pub(crate) fn follow(
        &self,
        credentials: Credentials,
        url: String,
    ) -> tokio::task::JoinHandle<()> {
        let nodes = self.clone();
        tokio::spawn(async move {
            let client = loop {
                match credentials
                    .connect(&url, BusUser::Daemon, "rosey-nodes")
                    .await
                {
                    Ok(client) => break client,
                    Err(err) => {
                        tracing::debug!("nodes: {err}; trying again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            };
            let mut heartbeats = match client.subscribe(messaging::NODE_HEARTBEATS_ALL).await {
                Ok(subscription) => subscription,
                Err(err) => {
                    tracing::error!("the nodes' heartbeats cannot be followed: {err}");
                    return;
                }
            };
            let mut sweeps =
                tokio::time::interval((nodes.lost_after / 5).max(Duration::from_millis(50)));
            loop {
                tokio::select! {
                    message = heartbeats.next() => {
                        let Some(message) = message else { return };
                        let from = messaging::heartbeat_node(&message.subject).map(str::to_owned);
                        match serde_json::from_slice::<NodeHeartbeat>(&message.payload) {
                            // A node speaks only for itself: the subject names who sent it.
                            Ok(heartbeat) if from.as_deref() == Some(heartbeat.node.as_str()) => {
                                nodes.heard(heartbeat)
                            }
                            Ok(_) | Err(_) => tracing::warn!(
                                "ignored a malformed node heartbeat on {}",
                                message.subject
                            ),
                        }
                    }
                    _ = sweeps.tick() => {
                        nodes.sweep();
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(node: &str) -> NodeHeartbeat {
        NodeHeartbeat {
            v: messaging::SCHEMA_VERSION,
            node: node.into(),
            server_name: node.into(),
            address: "box".into(),
            pid: 1,
            plugins: vec!["dice-roller".into()],
            memory_bytes: 1,
            started_ms: 0,
            time_ms: 0,
        }
    }

    #[test]
    fn a_silent_node_is_lost_once_and_back_with_its_next_heartbeat() {
        let nodes = Nodes::new(Duration::from_millis(20));
        nodes.heard(heartbeat("b"));
        assert!(nodes.sweep().is_empty());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(nodes.sweep(), vec!["b".to_owned()]);
        assert!(nodes.sweep().is_empty(), "lost once");
        assert!(nodes.list()[0].lost);
        nodes.heard(heartbeat("b"));
        let listed = nodes.list();
        assert_eq!(listed.len(), 1);
        assert!(!listed[0].lost);
        assert_eq!(listed[0].heartbeat.plugins, vec!["dice-roller".to_owned()]);
    }
}

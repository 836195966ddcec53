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

    /// Whether node `name` has been heard from and is not lost.
    pub fn is_up(&self, name: &str) -> bool {
        self.lock().get(name).is_some_and(|seen| !seen.lost)
    }

    /// Whether node `name` is up, waiting up to `wait` for a node never heard from (at a
    /// cold start its first heartbeat may be on its way); a node known lost is not waited for.
    pub(crate) async fn wait_up(&self, name: &str, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            match self.lock().get(name) {
                Some(seen) => return !seen.lost,
                None if Instant::now() >= deadline => return false,
                None => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to `wait` until some node has been heard from (at a cold start the nodes'
    /// first heartbeats may be on their way).
    pub(crate) async fn wait_any(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while self.lock().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// For `plugins.<name>.node: any`: the up node running fewest plugins among those with
    /// room for `need` bytes, or among all up nodes when none has.
    pub(crate) fn least_loaded(&self, placements: &Placements, need: u64) -> Option<String> {
        self.candidates(placements, need)
            .into_iter()
            .min_by_key(|node| (node.room < need, node.plugins, node.name.clone()))
            .map(|node| node.name)
    }

    /// For a plugin placed where there is room: the up node with most room, if it has room
    /// for `need` bytes.
    pub(crate) fn roomiest(&self, placements: &Placements, need: u64) -> Option<String> {
        self.candidates(placements, need)
            .into_iter()
            .filter(|node| node.room >= need)
            .max_by(|a, b| a.room.cmp(&b.room).then_with(|| b.name.cmp(&a.name)))
            .map(|node| node.name)
    }

    /// The up nodes, each with its plugins and room as its last heartbeat said them, less
    /// what was placed on it since (each such plugin counted at `need`: its heartbeat cannot
    /// say yet what it takes).
    fn candidates(&self, placements: &Placements, need: u64) -> Vec<Candidate> {
        let placed = placements.all();
        self.lock()
            .values()
            .filter(|seen| !seen.lost)
            .map(|seen| {
                let name = &seen.heartbeat.node;
                let since = placed
                    .iter()
                    .filter(|(plugin, node)| {
                        *node == name && !seen.heartbeat.plugins.contains(plugin)
                    })
                    .count();
                Candidate {
                    name: name.clone(),
                    plugins: seen.heartbeat.plugins.len() + since,
                    room: seen
                        .heartbeat
                        .room_bytes
                        .saturating_sub(need.saturating_mul(since as u64)),
                }
            })
            .collect()
    }

    /// How long a node may be silent before it is lost.
    pub(crate) fn lost_after(&self) -> Duration {
        self.lost_after
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
                        tokio::time::sleep(Duration::from_millis(100)).await;
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

/// An up node as placement weighs it.
#[derive(Debug)]
struct Candidate {
    name: String,
    plugins: usize,
    room: u64,
}

/// Which plugins run on which node now (plugin → node), as the main daemon's heartbeat says
/// it to the nodes. Cheap to clone; every clone is the same map.
#[derive(Debug, Clone, Default)]
pub struct Placements {
    placed: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Placements {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        match self.placed.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Plugin `plugin` runs on node `node` from now on.
    pub(crate) fn place(&self, plugin: &str, node: &str) {
        self.lock().insert(plugin.to_owned(), node.to_owned());
    }

    /// Plugin `plugin` runs on no node.
    pub(crate) fn remove(&self, plugin: &str) {
        self.lock().remove(plugin);
    }

    /// The node plugin `plugin` runs on, if it runs on one.
    pub fn node_of(&self, plugin: &str) -> Option<String> {
        self.lock().get(plugin).cloned()
    }

    /// Every placement.
    pub fn all(&self) -> BTreeMap<String, String> {
        self.lock().clone()
    }

    /// Says the placements to the nodes every `every` on `client`, until aborted: a node runs
    /// only what this places on it, and stops everything when it stops hearing it.
    pub(crate) fn announce(
        &self,
        client: async_nats::Client,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let placements = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                let beat = messaging::MainHeartbeat {
                    v: messaging::SCHEMA_VERSION,
                    placed: placements.all(),
                };
                if let Ok(payload) = serde_json::to_vec(&beat) {
                    let _ = client
                        .publish(messaging::MAIN_HEARTBEAT_SUBJECT, payload.into())
                        .await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn heartbeat(node: &str) -> NodeHeartbeat {
        with_room(node, 1, 0)
    }

    /// A heartbeat of `node` running `plugins` plugins with `room_mb` MiB of room.
    fn with_room(node: &str, plugins: usize, room_mb: u64) -> NodeHeartbeat {
        NodeHeartbeat {
            v: messaging::SCHEMA_VERSION,
            node: node.into(),
            server_name: node.into(),
            address: "box".into(),
            pid: 1,
            plugins: (0..plugins).map(|n| format!("plugin-{node}-{n}")).collect(),
            memory_bytes: 1,
            room_bytes: room_mb * MIB,
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
        assert_eq!(listed[0].heartbeat.plugins, vec!["plugin-b-0".to_owned()]);
    }

    #[test]
    fn any_prefers_a_node_with_room_then_the_fewest_plugins_and_never_a_lost_one() {
        let nodes = Nodes::new(Duration::from_millis(20));
        let placements = Placements::default();
        nodes.heard(with_room("lost", 0, 100_000));
        std::thread::sleep(Duration::from_millis(30));
        nodes.sweep();
        nodes.heard(with_room("big", 3, 2048));
        nodes.heard(with_room("small", 1, 64));
        assert_eq!(
            nodes.least_loaded(&placements, 512 * MIB).as_deref(),
            Some("big"),
            "only big has room for 512 MiB"
        );
        assert_eq!(
            nodes.least_loaded(&placements, 32 * MIB).as_deref(),
            Some("small"),
            "both have room for 32 MiB: fewest plugins"
        );
        assert_eq!(
            nodes.least_loaded(&placements, 4096 * MIB).as_deref(),
            Some("small"),
            "none has room: fewest plugins"
        );
        // Plugins placed since small's heartbeat count as its plugins.
        for plugin in ["x1", "x2", "x3"] {
            placements.place(plugin, "small");
        }
        assert_eq!(
            nodes.least_loaded(&placements, 4096 * MIB).as_deref(),
            Some("big"),
            "3 plugins against 4"
        );
    }

    #[test]
    fn room_goes_to_the_node_with_most_less_what_was_placed_on_it_since_its_heartbeat() {
        let nodes = Nodes::new(Duration::from_secs(5));
        let placements = Placements::default();
        assert_eq!(nodes.roomiest(&placements, 0), None, "no node heard from");
        nodes.heard(with_room("b", 0, 1024));
        nodes.heard(with_room("c", 5, 1536));
        assert_eq!(nodes.roomiest(&placements, 512 * MIB).as_deref(), Some("c"));
        assert_eq!(
            nodes.roomiest(&placements, 2048 * MIB),
            None,
            "none has room"
        );
        placements.place("p1", "c");
        assert_eq!(
            nodes.roomiest(&placements, 768 * MIB).as_deref(),
            Some("b"),
            "c has 1536 - 768 MiB left for a second plugin"
        );
        placements.place("p2", "b");
        assert_eq!(
            nodes.roomiest(&placements, 800 * MIB),
            None,
            "b has 1024 - 800 MiB left, c 1536 - 800"
        );
    }

    #[tokio::test]
    async fn waiting_for_a_first_node_ends_when_one_is_heard_or_the_time_is_up() {
        let nodes = Nodes::new(Duration::from_secs(5));
        let started = Instant::now();
        nodes.wait_any(Duration::from_millis(100)).await;
        assert!(started.elapsed() >= Duration::from_millis(100));
        nodes.heard(heartbeat("b"));
        let started = Instant::now();
        nodes.wait_any(Duration::from_secs(30)).await;
        assert!(started.elapsed() < Duration::from_secs(30), "heard already");
    }
}

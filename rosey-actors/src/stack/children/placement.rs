//! Where a plugin runs at each start of its child, on the main daemon of a cluster: here, on
//! the node `plugins.<name>.node` names, on a node with room running fewest plugins (`any`),
//! or, unset, where there is room: here while this machine has more than `node.keep_free_mb`
//! plus the plugin's memory limit available, else the node with most room.
//!
//! A node's room is what its last heartbeat said, less the memory limit of each plugin
//! placed on it since (its heartbeat cannot say yet what they take). This machine's room is
//! read at the moment of the start.

use std::time::Duration;

use crate::services::{plugin::PluginArgs, remote::RemoteArgs};

use super::{Nodes, Placements};

/// Where a plugin is asked to run (`plugins.<name>.node`), on the main daemon of a cluster.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Asked {
    /// Here: no cluster, a node's own stack, or `node: main`.
    Here,
    /// `node: <name>`: that node while it is up.
    Node(String),
    /// `node: any`: a node with room running fewest plugins.
    AnyNode,
    /// Unset: here while this machine has room for it, else the node with most room.
    Room,
}

impl Asked {
    /// What `plugins.<name>.node` (`node`) asks, where plugins may be placed at all
    /// (`placing`: the main daemon of a cluster).
    pub(super) fn from_config(node: Option<&str>, placing: bool) -> Asked {
        match node {
            _ if !placing => Asked::Here,
            None => Asked::Room,
            Some(rosey_core::config::MAIN_NODE) => Asked::Here,
            Some(rosey_core::config::ANY_NODE) => Asked::AnyNode,
            Some(node) => Asked::Node(node.to_owned()),
        }
    }
}

/// Where a plugin runs at each start.
#[derive(Clone)]
pub(super) struct Placement {
    pub(super) asked: Asked,
    pub(super) nodes: Nodes,
    pub(super) placements: Placements,
    pub(super) client: async_nats::Client,
    pub(super) store: rosey_core::messaging::StoreBudget,
    pub(super) ready_timeout: Duration,
    /// `node.keep_free_mb` of this machine, bytes.
    pub(super) keep_free: u64,
}

impl Placement {
    /// The node to run on now, `None` for here. A node named but not up yet is waited for as
    /// long as a node may be silent (at a cold start its first heartbeat may be on its way),
    /// and so is a first node for `any`, or when this machine has no room for the plugin.
    pub(super) async fn choose(&self, args: &PluginArgs) -> Option<String> {
        let plugin = args.name.as_str();
        match &self.asked {
            Asked::Here => None,
            Asked::Node(asked) => {
                if self.nodes.wait_up(asked, self.nodes.lost_after()).await {
                    return Some(asked.clone());
                }
                tracing::warn!(
                    plugin,
                    "node {asked} (plugins.{plugin}.node) is not up: the plugin runs on the main daemon until it restarts"
                );
                None
            }
            Asked::AnyNode => {
                self.nodes.wait_any(self.nodes.lost_after()).await;
                let node = self.nodes.least_loaded(&self.placements, memory_need(args));
                if node.is_none() {
                    tracing::warn!(
                        plugin,
                        "no plugin node is up: the plugin runs on the main daemon"
                    );
                }
                node
            }
            Asked::Room => {
                let need = memory_need(args);
                if crate::services::node::room_bytes(self.keep_free) >= need {
                    return None;
                }
                self.nodes.wait_any(self.nodes.lost_after()).await;
                let node = self.nodes.roomiest(&self.placements, need);
                if node.is_none() {
                    tracing::warn!(
                        plugin,
                        "no machine has room for the plugin ({} MiB, its memory limit, beyond node.keep_free_mb): it runs on the main daemon",
                        need / (1024 * 1024)
                    );
                }
                node
            }
        }
    }

    pub(super) fn remote(&self, args: &PluginArgs, node: String) -> RemoteArgs {
        RemoteArgs {
            name: args.name.clone(),
            node,
            door: args.door.clone(),
            home: args.home.clone(),
            store: self.store,
            client: self.client.clone(),
            nodes: self.nodes.clone(),
            placements: self.placements.clone(),
            board: args.board.clone(),
            ready_timeout: self.ready_timeout,
        }
    }
}

/// The memory the plugin's installed version may take (its manifest's `limits.memory_mb`),
/// bytes; 0 when it sets no limit or its manifest cannot be read (its start then says why).
fn memory_need(args: &PluginArgs) -> u64 {
    let version = args.door.version();
    rosey_core::manifest::Manifest::load(&args.home.plugin_version_manifest(&args.name, &version))
        .map_or(0, |manifest| {
            manifest.limits.memory_mb.saturating_mul(1024 * 1024)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_key_reads_as_where_to_place_and_only_a_clustered_main_daemon_places() {
        assert_eq!(Asked::from_config(None, true), Asked::Room);
        assert_eq!(Asked::from_config(Some("main"), true), Asked::Here);
        assert_eq!(Asked::from_config(Some("any"), true), Asked::AnyNode);
        assert_eq!(
            Asked::from_config(Some("box2"), true),
            Asked::Node("box2".to_owned())
        );
        assert_eq!(Asked::from_config(Some("box2"), false), Asked::Here);
        assert_eq!(Asked::from_config(None, false), Asked::Here);
    }
}

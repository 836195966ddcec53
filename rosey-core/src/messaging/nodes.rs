//! What plugin nodes (`rosey node start` on other machines) and the main daemon say to each
//! other over the cluster: `rosey.nodes.<node>.<what>`.
//!
//! A node publishes a [`NodeHeartbeat`] on [`node_heartbeat_subject`] every `node.heartbeat_ms`;
//! the main daemon counts a node whose heartbeats stop for `node.lost_after_ms` as lost.

use serde::{Deserialize, Serialize};

/// `rosey.nodes.<node>.<what>`.
fn node_subject(node: &str, what: &str) -> String {
    format!("rosey.nodes.{node}.{what}")
}

/// Where node `node` says it is alive.
pub fn node_heartbeat_subject(node: &str) -> String {
    node_subject(node, "heartbeat")
}

/// Every node's heartbeats (what the main daemon subscribes to).
pub const NODE_HEARTBEATS_ALL: &str = "rosey.nodes.*.heartbeat";

/// The node a heartbeat subject names (`None` for any other subject).
pub fn heartbeat_node(subject: &str) -> Option<&str> {
    subject
        .strip_prefix("rosey.nodes.")?
        .strip_suffix(".heartbeat")
        .filter(|node| !node.is_empty() && !node.contains('.'))
}

/// A node's sign of life, with what the operator sees of it in `rosey status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeHeartbeat {
    /// Schema version ([`super::SCHEMA_VERSION`]).
    pub v: u32,
    /// The node's name (`node.name`).
    pub node: String,
    /// Its nats-server's name in the cluster.
    pub server_name: String,
    /// Where it runs: its host name and the route address its server listens on.
    pub address: String,
    /// The node daemon's process id.
    pub pid: u32,
    /// The plugins it runs now.
    pub plugins: Vec<String>,
    /// Resident memory of the node daemon and its plugin hosts, bytes.
    pub memory_bytes: u64,
    /// When the node daemon started, ms since the Unix epoch.
    pub started_ms: u64,
    /// When this heartbeat was sent, ms since the Unix epoch.
    pub time_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_subject_names_its_node() {
        let subject = node_heartbeat_subject("box-2");
        assert_eq!(subject, "rosey.nodes.box-2.heartbeat");
        assert_eq!(heartbeat_node(&subject), Some("box-2"));
        assert_eq!(heartbeat_node("rosey.nodes.a.b.heartbeat"), None);
        assert_eq!(heartbeat_node("rosey.plugins.x.heartbeat"), None);
    }
}

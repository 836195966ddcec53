//! `nats.cluster:` and `node:`: a bot spread over several machines.
//!
//! ```yaml
//! nats:
//!   cluster:
//!     name: rosey                       # the same on every machine
//!     listen: 0.0.0.0:6222              # where this server takes the other servers' routes
//!     routes: [10.0.0.2:6222, 10.0.0.3:6222]   # the other servers
//! node:
//!   name: box2          # this machine, when it runs `rosey node start`
//!   lost_after_ms: 5000 # a node silent this long is lost (the main daemon's setting)
//! ```
//!
//! With `nats.cluster` the managed nats-server joins the others over authenticated routes
//! (and TLS when `nats.cluster.tls` is set), and the streams keep a copy on up to three of
//! them, so losing one server loses no command. Every machine shares one credentials file
//! (`data/nats-auth/credentials`, made by the main daemon): its route password lets the
//! servers in, and its client passwords let a daemon use any of them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::validate::{invalid, Invalid};

/// `nats.cluster`: how this machine's nats-server joins the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The cluster's name, the same on every machine.
    pub name: String,
    /// This server's name, unique in the cluster (JetStream places copies by it). Unset: the
    /// node's name (`node.name`), or `main` for the main daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Where this server listens for the other servers' routes, `host:port`.
    pub listen: String,
    /// The other servers' route addresses, `host:port` (this one's own may be listed too).
    #[serde(default)]
    pub routes: Vec<String>,
    /// How many servers keep a copy of each stream. Unset: as many as the cluster has, up
    /// to three (one more than [`ClusterConfig::routes`] lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<usize>,
    /// TLS on the routes (each server proves itself with its certificate and checks the
    /// others' against `ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClusterTls>,
}

/// `nats.cluster.tls`: PEM files (relative paths are relative to the home).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTls {
    /// This server's certificate.
    pub cert: std::path::PathBuf,
    /// Its private key.
    pub key: std::path::PathBuf,
    /// The authority the other servers' certificates must be signed by.
    pub ca: std::path::PathBuf,
}

/// The most copies a stream keeps: three survive the loss of one server with a quorum left.
pub const MAX_REPLICAS: usize = 3;

impl ClusterConfig {
    /// How many servers keep a copy of each stream.
    pub fn replicas(&self) -> usize {
        self.replicas
            .unwrap_or_else(|| (self.routes.len() + 1).min(MAX_REPLICAS))
    }

    /// This server's name in the cluster, for a node called `node` (`None`: the main daemon).
    pub fn server_name(&self, node: Option<&str>) -> String {
        self.server_name
            .clone()
            .or_else(|| node.map(str::to_owned))
            .unwrap_or_else(|| MAIN_SERVER_NAME.to_owned())
    }

    /// The route listen address, split.
    pub fn listen_addr(&self) -> (String, u16) {
        split_addr(&self.listen).unwrap_or_default()
    }

    /// The other servers' route addresses, split.
    pub fn route_addrs(&self) -> Vec<(String, u16)> {
        self.routes
            .iter()
            .filter_map(|route| split_addr(route))
            .collect()
    }
}

/// The main daemon's server name unless `nats.cluster.server_name` says otherwise.
pub const MAIN_SERVER_NAME: &str = "main";

/// `node:`: this machine's name when it runs `rosey node start`, and how nodes are watched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's name, unique among the nodes. Unset: the machine's host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How often a node says it is alive.
    pub heartbeat_ms: u64,
    /// How long the main daemon waits for a silent node before it counts it lost.
    pub lost_after_ms: u64,
    /// Memory this machine keeps free of plugins placed where there is room (a plugin
    /// without `plugins.<name>.node`), in MiB: such a plugin is placed here only while more
    /// than this plus its memory limit is available.
    pub keep_free_mb: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: None,
            heartbeat_ms: 1000,
            lost_after_ms: 5000,
            keep_free_mb: 256,
        }
    }
}

impl NodeConfig {
    /// This node's name: `node.name`, else the machine's host name.
    pub fn resolved_name(&self) -> String {
        self.name.clone().unwrap_or_else(host_name)
    }

    /// [`NodeConfig::heartbeat_ms`].
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// [`NodeConfig::lost_after_ms`].
    pub fn lost_after(&self) -> Duration {
        Duration::from_millis(self.lost_after_ms)
    }

    /// [`NodeConfig::keep_free_mb`] in bytes.
    pub fn keep_free_bytes(&self) -> u64 {
        self.keep_free_mb.saturating_mul(1024 * 1024)
    }
}

/// The machine's host name (`node` when the kernel does not say).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| is_valid_name(name))
        .unwrap_or_else(|| "node".to_owned())
}

/// A cluster, server or node name: 1 to 64 of `A-Z a-z 0-9 - _` (what NATS and a NATS subject
/// token both accept).
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// `host:port` (`[v6]:port` too) with a port that is not 0.
fn split_addr(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().ok()?;
    (!host.is_empty() && port != 0).then(|| (host.to_owned(), port))
}

pub(super) fn check_cluster(cluster: &ClusterConfig) -> Result<(), Invalid> {
    let name_rule = "1 to 64 letters, digits, - or _";
    if !is_valid_name(&cluster.name) {
        return Err(invalid(
            "nats.cluster.name",
            format!(
                "{:?} is not a cluster name: use {name_rule}, the same on every machine",
                cluster.name
            ),
        ));
    }
    if let Some(server) = cluster.server_name.as_deref().filter(|s| !is_valid_name(s)) {
        return Err(invalid(
            "nats.cluster.server_name",
            format!("{server:?} is not a server name: use {name_rule}, unique in the cluster"),
        ));
    }
    if split_addr(&cluster.listen).is_none() {
        return Err(invalid(
            "nats.cluster.listen",
            format!(
                "{:?} is not host:port with a fixed port (the other servers' routes name it): e.g. 0.0.0.0:6222",
                cluster.listen
            ),
        ));
    }
    for (index, route) in cluster.routes.iter().enumerate() {
        if split_addr(route).is_none() {
            return Err(invalid(
                format!("nats.cluster.routes[{index}]"),
                format!("{route:?} is not host:port: name another server's nats.cluster.listen, e.g. 10.0.0.2:6222"),
            ));
        }
    }
    if let Some(replicas) = cluster.replicas {
        let servers = cluster.routes.len() + 1;
        if replicas == 0 || replicas > servers.min(5) {
            return Err(invalid(
                "nats.cluster.replicas",
                format!(
                    "{replicas} copies cannot be kept by a cluster of {servers} servers (this one and {} routes): use 1 to {}, or leave it out for {}",
                    cluster.routes.len(),
                    servers.min(5),
                    cluster.replicas()
                ),
            ));
        }
    }
    Ok(())
}

pub(super) fn check_node(node: &NodeConfig) -> Result<(), Invalid> {
    if let Some(name) = node.name.as_deref().filter(|name| !is_valid_name(name)) {
        return Err(invalid(
            "node.name",
            format!(
                "{name:?} is not a node name: use 1 to 64 letters, digits, - or _, unique among the nodes"
            ),
        ));
    }
    if let Some(name) = node
        .name
        .as_deref()
        .filter(|name| [super::ANY_NODE, super::MAIN_NODE].contains(name))
    {
        return Err(invalid(
            "node.name",
            format!(
                "{name:?} means something else in plugins.<name>.node ({} or {}): name the node otherwise, e.g. box2",
                super::ANY_NODE,
                super::MAIN_NODE
            ),
        ));
    }
    if node.heartbeat_ms == 0 {
        return Err(invalid(
            "node.heartbeat_ms",
            "must be at least 1: e.g. 1000",
        ));
    }
    if node.lost_after_ms <= node.heartbeat_ms {
        return Err(invalid(
            "node.lost_after_ms",
            format!(
                "{} ms is not longer than node.heartbeat_ms ({} ms), so every node would be lost between two heartbeats: use a few heartbeats, e.g. {}",
                node.lost_after_ms,
                node.heartbeat_ms,
                node.heartbeat_ms * 5
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(routes: &[&str]) -> ClusterConfig {
        ClusterConfig {
            name: "rosey".into(),
            server_name: None,
            listen: "127.0.0.1:6222".into(),
            routes: routes.iter().map(|route| route.to_string()).collect(),
            replicas: None,
            tls: None,
        }
    }

    #[test]
    fn replicas_follow_the_cluster_up_to_three() {
        assert_eq!(cluster(&[]).replicas(), 1);
        assert_eq!(cluster(&["a:1"]).replicas(), 2);
        assert_eq!(cluster(&["a:1", "b:1"]).replicas(), 3);
        assert_eq!(cluster(&["a:1", "b:1", "c:1", "d:1"]).replicas(), 3);
        let mut asked = cluster(&["a:1", "b:1"]);
        asked.replicas = Some(1);
        assert_eq!(asked.replicas(), 1);
    }

    #[test]
    fn addresses_split_and_bad_ones_name_the_key() {
        let mut config = cluster(&["10.0.0.2:6222", "[::1]:7000"]);
        assert_eq!(config.listen_addr(), ("127.0.0.1".to_owned(), 6222));
        assert_eq!(
            config.route_addrs(),
            vec![("10.0.0.2".to_owned(), 6222), ("::1".to_owned(), 7000)]
        );
        config.routes.push("nowhere".into());
        let (key, problem) = check_cluster(&config).unwrap_err();
        assert_eq!(key, "nats.cluster.routes[2]");
        assert!(problem.contains("host:port"), "{problem}");
        config.routes.pop();
        config.listen = "0.0.0.0:0".into();
        assert_eq!(check_cluster(&config).unwrap_err().0, "nats.cluster.listen");
    }

    #[test]
    fn names_and_replicas_are_checked() {
        let mut config = cluster(&["a:1"]);
        config.name = "two words".into();
        assert_eq!(check_cluster(&config).unwrap_err().0, "nats.cluster.name");
        config.name = "rosey".into();
        config.replicas = Some(3);
        let (key, problem) = check_cluster(&config).unwrap_err();
        assert_eq!(key, "nats.cluster.replicas");
        assert!(problem.contains("cluster of 2 servers"), "{problem}");
        assert_eq!(config.server_name(None), "main");
        assert_eq!(config.server_name(Some("box2")), "box2");
    }

    #[test]
    fn a_node_is_lost_only_after_more_than_a_heartbeat() {
        let mut node = NodeConfig::default();
        assert!(check_node(&node).is_ok());
        node.lost_after_ms = node.heartbeat_ms;
        assert_eq!(check_node(&node).unwrap_err().0, "node.lost_after_ms");
        node.lost_after_ms = 5000;
        node.name = Some("box 2".into());
        assert_eq!(check_node(&node).unwrap_err().0, "node.name");
        assert!(is_valid_name(&NodeConfig::default().resolved_name()));
    }

    #[test]
    fn a_node_may_not_take_a_name_that_placement_reads_otherwise() {
        for name in [super::super::ANY_NODE, super::super::MAIN_NODE] {
            let node = NodeConfig {
                name: Some(name.into()),
                ..NodeConfig::default()
            };
            let refused = check_node(&node).unwrap_err();
            assert_eq!(refused.0, "node.name");
            assert!(
                refused.1.contains("name the node otherwise"),
                "{}",
                refused.1
            );
        }
        assert_eq!(NodeConfig::default().keep_free_bytes(), 256 * 1024 * 1024);
    }
}

//! What plugin nodes (`rosey node start` on other machines) and the main daemon say to each
//! other over the cluster: `rosey.nodes.<node>.<what>`.
//!
//! A node publishes a [`NodeHeartbeat`] on [`node_heartbeat_subject`] every `node.heartbeat_ms`;
//! the main daemon counts a node whose heartbeats stop for `node.lost_after_ms` as lost.
//!
//! The main daemon runs a plugin on a node with a [`NodeRequest`] on [`node_requests_subject`]
//! (answered by a [`NodeReply`]); the node fetches the plugin's archive from the object store
//! bucket [`PLUGIN_ARCHIVES_BUCKET`] (key [`archive_object`]) and checks it, and tells the main
//! daemon on [`node_plugin_exit_subject`] when the plugin stops running there
//! ([`NodePluginExit`]). The main daemon's [`MainHeartbeat`] says which plugins each node should
//! run: a node stops any other (it was moved while the node was cut off), and one that stops
//! hearing the main daemon stops them all, so a plugin never runs twice.

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

/// Where the main daemon asks node `node` to run, stop or reload a plugin.
pub fn node_requests_subject(node: &str) -> String {
    node_subject(node, "plugins")
}

/// Where node `node` says plugin `plugin` stopped running there.
pub fn node_plugin_exit_subject(node: &str, plugin: &str) -> String {
    format!("rosey.nodes.{node}.exited.{plugin}")
}

/// Where the main daemon says it is alive, and which plugins each node runs.
pub const MAIN_HEARTBEAT_SUBJECT: &str = "rosey.main.heartbeat";

/// The JetStream object store bucket of plugin archives, which nodes install from.
pub const PLUGIN_ARCHIVES_BUCKET: &str = "ROSEY_PLUGINS";

/// The key-value bucket of handed-over plugin state, so the state a plugin handed over on one
/// machine starts it on another (key: the plugin's name).
pub const HANDOFF_STATE_BUCKET: &str = "ROSEY_STATE";

/// The object holding plugin `name`'s archive at `version`.
pub fn archive_object(name: &str, version: &str) -> String {
    format!("{name}/{version}.roseyplug")
}

/// What the main daemon asks of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NodeRequest {
    /// Run plugin `plugin` at `version` (its archive in [`PLUGIN_ARCHIVES_BUCKET`], its SHA-256
    /// `sha256`), with the operator's settings `config` (the text of its `config.yaml`).
    Start {
        /// The plugin.
        plugin: String,
        /// Its version.
        version: String,
        /// The archive's SHA-256, hex.
        sha256: String,
        /// The plugin's `config.yaml`, when the operator has one.
        config: Option<String>,
    },
    /// Stop plugin `plugin` gracefully (it finishes its message and hands its state over).
    Stop {
        /// The plugin.
        plugin: String,
    },
    /// Reload plugin `plugin` make-before-break.
    Reload {
        /// The plugin.
        plugin: String,
    },
    /// Replace running plugin `plugin` by `version` make-before-break, its state carried over
    /// (the old version comes back if the new one fails to start); fields as in `Start`.
    Update {
        /// The plugin.
        plugin: String,
        /// The new version.
        version: String,
        /// The new archive's SHA-256, hex.
        sha256: String,
        /// The plugin's `config.yaml`, when the operator has one.
        config: Option<String>,
    },
    /// Hand running plugin `plugin` the operator's settings now in its `config.yaml`.
    Configure {
        /// The plugin.
        plugin: String,
        /// The file's text (`None`: the operator has none).
        config: Option<String>,
    },
}

/// A node's answer: done, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReply {
    /// `None`: done.
    pub error: Option<String>,
    /// For `configure`, how the plugin took the settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<SettingsTaken>,
}

/// How a plugin on a node took new settings (a `configure` request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingsTaken {
    /// Its `on_config` took them, without a restart.
    Live,
    /// It has no `on_config`: it was reloaded with its state.
    Reloaded,
    /// It is not running: it reads them when it starts.
    NotRunning,
}

/// A node's word that a plugin stopped running there (crashed past its restarts, stopped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePluginExit {
    /// The node.
    pub node: String,
    /// The plugin.
    pub plugin: String,
    /// What happened, as the node's supervisor said it.
    pub reason: String,
}

/// The main daemon's sign of life, and where it placed each plugin that runs on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MainHeartbeat {
    /// Schema version ([`super::SCHEMA_VERSION`]).
    pub v: u32,
    /// Plugin name → the node it runs on.
    pub placed: std::collections::BTreeMap<String, String>,
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
    /// Memory its machine has available beyond `node.keep_free_mb`, bytes: what a plugin
    /// placed where there is room may take there (0 from a node that does not say).
    #[serde(default)]
    pub room_bytes: u64,
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

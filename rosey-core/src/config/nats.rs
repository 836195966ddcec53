//! `nats:`: the daemon's NATS server, where it listens and who may reach it, its message
//! store's size, and the cluster it joins (`nats.cluster`, see [`super::ClusterConfig`]).

use serde::{Deserialize, Serialize};

use super::{de::port, logs, ClusterConfig};

/// `nats:`: where the daemon's NATS server listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Listen address. Loopback unless [`NatsConfig::allow_remote`]: every client must log in
    /// (see [`crate::bus`]), and without [`NatsConfig::tls`] a password sent from another host
    /// crosses the network in clear text.
    pub host: String,
    /// Listen port; 0 picks a free port at start (what tests use).
    #[serde(deserialize_with = "port")]
    pub port: u16,
    /// Whether a non-loopback [`NatsConfig::host`] is allowed (authentication stays on; set
    /// [`NatsConfig::tls`] too, or passwords cross the network in clear text).
    pub allow_remote: bool,
    /// TLS for every client of the bus (the daemon's own included, which accept exactly this
    /// certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<NatsTls>,
    /// How much disk the message store (commands waiting for plugins, dead letters) may use,
    /// in bytes (`"512MiB"` reads too). Unset: 320 MiB, or three quarters of the room the disk
    /// has when that is less; set, a start on a disk without that much room fails naming this
    /// key.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "logs::optional_byte_size"
    )]
    pub max_storage: Option<u64>,
    /// Join the nats-servers of other machines (see [`ClusterConfig`]); unset: this server
    /// stands alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
}

/// `nats.tls`: the server's certificate and key, PEM files (relative paths are relative to
/// the home).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsTls {
    /// The certificate (its first one is the server's).
    pub cert: std::path::PathBuf,
    /// Its private key.
    pub key: std::path::PathBuf,
}

impl NatsTls {
    /// The certificate's path, resolved against `home`.
    pub fn cert_path(&self, home: &crate::paths::Home) -> std::path::PathBuf {
        home.root().join(&self.cert)
    }

    /// The key's path, resolved against `home`.
    pub fn key_path(&self, home: &crate::paths::Home) -> std::path::PathBuf {
        home.root().join(&self.key)
    }
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            host: "127.0.0.1".to_owned(),
            port: 4222,
            allow_remote: false,
            tls: None,
            max_storage: None,
            cluster: None,
        }
    }
}

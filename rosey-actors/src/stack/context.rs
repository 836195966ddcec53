//! What the supervision tree is built from: the stack's context (configuration, home, bus
//! passwords, the shared spawner, board and logs), which every unit's arguments are cut from,
//! and the services an embedding program adds beside the built-in ones.

use std::{path::PathBuf, sync::Arc};

use rosey_core::{
    bus::{BusError, BusUser, Credentials},
    config::Config,
    connector::Connector,
    logs::LogHub,
    paths::Home,
};

use crate::services::{board::Board, bot::ReplyWaiters, plugin::HostProgram, process::Spawner};
use crate::Listener;

/// Everything the tree is built from ([`super::StackBuilder`] makes it).
#[derive(Clone)]
pub(crate) struct StackContext {
    /// The home.
    pub(crate) home: Home,
    /// Its configuration.
    pub(crate) config: Config,
    /// The nats-server executable.
    pub(crate) nats_binary: PathBuf,
    /// The NATS port (resolved once, so restarts keep it).
    pub(crate) nats_port: u16,
    /// The message store's size (see [`rosey_core::messaging::StoreBudget::fit`]).
    pub(crate) store: rosey_core::messaging::StoreBudget,
    /// The bus's passwords (`data/nats-auth/credentials`, made at the first start).
    pub(crate) nats_credentials: Credentials,
    /// The program plugin hosts run as.
    pub(crate) host_program: HostProgram,
    /// Forks all children.
    pub(crate) spawner: Spawner,
    /// What units report about themselves.
    pub(crate) board: Board,
    /// The chat connection (the configured connector; it outlives bot restarts).
    pub(crate) connector: Arc<dyn Connector>,
    /// Who is waiting for replies to `rosey say`.
    pub(crate) waiters: ReplyWaiters,
    /// Log level for plugin hosts.
    pub(crate) host_log_level: String,
    /// Receives every supervision event.
    pub(crate) listener: Listener,
    /// Called right before each unit starts, for start-up progress.
    pub(crate) on_starting: Arc<dyn Fn(&str) + Send + Sync>,
    /// Writes the logs; every child's output goes through it.
    pub(crate) logs: LogHub,
    /// Services of the embedding program, supervised by the root after the built-in ones.
    pub(crate) extra_services: Vec<ExtraService>,
    /// `Some(name)` when this stack is plugin node `name` (no bot), not a bot.
    pub(crate) node: Option<String>,
}

/// Leaves out the configuration (it holds passwords and the dashboard's token) and the
/// callbacks.
impl std::fmt::Debug for StackContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackContext")
            .field("home", &self.home)
            .field("nats_binary", &self.nats_binary)
            .field("nats_port", &self.nats_port)
            .field("store", &self.store)
            .field("nats_credentials", &self.nats_credentials)
            .field("host_program", &self.host_program)
            .field("connector", &self.connector.name())
            .field("host_log_level", &self.host_log_level)
            .field("extra_services", &self.extra_services)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// A service the embedding program supervises beside the built-in ones (the daemon's web
/// dashboard): this crate only needs its name and how to spawn its actor, so it stays free of
/// the service's own dependencies. Its supervision settings are `services.<name>`.
#[derive(Clone)]
pub struct ExtraService {
    /// The child's name under the root (`web`).
    pub name: String,
    /// Spawns the service's actor linked to the root.
    pub factory: Arc<dyn crate::ChildFactory>,
}

impl ExtraService {
    /// A service named `name` whose instances `factory` starts (each start a fresh one,
    /// linked to the root: see [`crate::ChildFactory`]).
    pub fn new(name: impl Into<String>, factory: impl crate::ChildFactory) -> ExtraService {
        ExtraService {
            name: name.into(),
            factory: Arc::new(factory),
        }
    }
}

impl std::fmt::Debug for ExtraService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraService")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl StackContext {
    /// `nats://host:port` (never with credentials).
    pub(crate) fn nats_url(&self) -> String {
        format!("nats://{}:{}", self.config.nats.host, self.nats_port)
    }

    /// How the home's nats-server joins its cluster (`nats.cluster`), resolved.
    pub(crate) fn cluster_settings(&self) -> Option<rosey_core::bus::ClusterSettings> {
        let cluster = self.config.nats.cluster.as_ref()?;
        Some(rosey_core::bus::ClusterSettings {
            name: cluster.name.clone(),
            server_name: cluster.server_name(self.node.as_deref()),
            listen: cluster.listen_addr(),
            routes: cluster.route_addrs(),
            tls: cluster.tls.as_ref().map(|tls| {
                let root = self.home.root();
                (
                    root.join(&tls.cert),
                    root.join(&tls.key),
                    root.join(&tls.ca),
                )
            }),
        })
    }

    /// A new connection to the stack's NATS as the daemon's user, named `name`.
    pub(crate) async fn connect_nats(&self, name: &str) -> Result<async_nats::Client, BusError> {
        self.nats_credentials
            .connect(&self.nats_url(), BusUser::Daemon, name)
            .await
    }
}

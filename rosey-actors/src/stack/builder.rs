//! Building a stack the way the daemon does, with its defaults: an embedder supplies only
//! what differs (the home, a connector of its own, extra services, where notices go).
//!
//! The assembly is two named steps an embedder can also take apart: [`StackBuilder::prepare`]
//! resolves everything that can fail before anything runs (the configuration, the NATS port,
//! the message store's size, the bus's passwords, the programs to run) into a
//! [`PreparedStack`], whose settings a caller may read (to bind a dashboard, say) and add
//! services to; [`PreparedStack::start`] then starts the supervision tree.

use std::{path::PathBuf, sync::Arc};

use rosey_core::{
    bus::{BusError, Credentials},
    config::{Config, ConfigError},
    connector::{self, Connector, LocalConnector},
    logs::LogHub,
    messaging::{StoreBudget, StoreTooSmall},
    paths::Home,
};

use super::{ExtraService, Stack, StackContext, StackError};
use crate::{
    services::{bot::ReplyWaiters, nats, plugin::HostProgram, process::Spawner},
    Listener,
};

/// Why a stack could not be prepared or started. Each names what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `rosey.yaml` cannot be read or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No nats-server to run.
    #[error("{0}")]
    NatsNotFound(String),
    /// `nats.port: 0` and no free port could be found.
    #[error("cannot find a free port on {host}: {source}")]
    NoFreePort {
        /// The listen address asked for.
        host: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The message store does not fit the disk (names `nats.max_storage`).
    #[error(transparent)]
    Store(#[from] StoreTooSmall),
    /// The bus's passwords (or its TLS files) cannot be read or made.
    #[error(transparent)]
    Credentials(#[from] BusError),
    /// The configured connector cannot be made.
    #[error(transparent)]
    Connector(#[from] connector::ConfiguredError),
    /// The log folder cannot be written.
    #[error("cannot write logs in {}: {source}; check the folder's permissions", folder.display())]
    Logs {
        /// The folder.
        folder: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A node was asked for where `rosey.yaml` sets no cluster to join.
    #[error("a plugin node needs nats.cluster in {}: the cluster's name, this server's route address (listen) and the other servers' (routes); see OPERATORS.md, \"Running across machines\"", .0.display())]
    NotClustered(PathBuf),
    /// The thread that forks every child could not start.
    #[error("cannot start the process spawner: {0}")]
    Spawner(#[source] std::io::Error),
    /// The tree did not start (a service failed its first start; nothing is left running).
    #[error(transparent)]
    Start(#[from] StackError),
}

/// A stack to be built: [`Stack::builder`]. Everything not set takes the daemon's default.
#[must_use = "a builder does nothing until `start` (or `prepare`) is called"]
pub struct StackBuilder {
    home: Home,
    config: Option<Config>,
    connector: Option<Arc<dyn Connector>>,
    extra_services: Vec<ExtraService>,
    listener: Listener,
    on_starting: Arc<dyn Fn(&str) + Send + Sync>,
    logs: Option<LogHub>,
    host_program: Option<HostProgram>,
    nats_binary: Option<PathBuf>,
    host_log_level: Option<String>,
    board: Option<crate::services::board::Board>,
    node: bool,
}

impl std::fmt::Debug for StackBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackBuilder")
            .field("home", &self.home)
            .field("connector", &self.connector.as_ref().map(|c| c.name()))
            .field("extra_services", &self.extra_services)
            .field("host_program", &self.host_program)
            .field("nats_binary", &self.nats_binary)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// A stack for `home` with the daemon's defaults; see [`StackBuilder`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), rosey_actors::stack::BuildError> {
    /// use rosey_actors::stack::Stack;
    /// use rosey_core::paths::Home;
    ///
    /// // rosey.yaml, the installed plugins and the configured chat of /srv/bot.
    /// let (stack, done) = Stack::builder(Home::new("/srv/bot")).start().await?;
    /// // … until the program should stop:
    /// stack.shutdown(std::time::Duration::from_secs(60)).await?;
    /// # drop(done);
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(home: Home) -> StackBuilder {
        StackBuilder {
            home,
            config: None,
            connector: None,
            extra_services: Vec::new(),
            listener: crate::ignore_notices(),
            on_starting: Arc::new(|_: &str| {}),
            logs: None,
            host_program: None,
            nats_binary: None,
            host_log_level: None,
            board: None,
            node: false,
        }
    }
}

impl StackBuilder {
    /// The configuration to run with (default: the home's `rosey.yaml`, or every default
    /// when it has none).
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The chat to talk to (default: the one `bot.connector` names, the CyTube password
    /// from `ROSEY_CYTUBE_PASSWORD` when set).
    pub fn connector(mut self, connector: Arc<dyn Connector>) -> Self {
        self.connector = Some(connector);
        self
    }

    /// A service of the embedder's, supervised by the root after the built-in ones, with
    /// the supervision settings of `services.<name>`.
    pub fn extra_service(mut self, service: ExtraService) -> Self {
        self.extra_services.push(service);
        self
    }

    /// Where every supervision notice goes (default: nowhere).
    pub fn listener(mut self, listener: Listener) -> Self {
        self.listener = listener;
        self
    }

    /// Called with each unit's name right before it starts, for start-up progress.
    pub fn on_starting(mut self, on_starting: Arc<dyn Fn(&str) + Send + Sync>) -> Self {
        self.on_starting = on_starting;
        self
    }

    /// The log hub every child's output goes through (default: the home's `logs/`, with the
    /// configured limits).
    pub fn logs(mut self, logs: LogHub) -> Self {
        self.logs = Some(logs);
        self
    }

    /// The program plugin hosts run as (default: `rosey-plugin-host` beside this program,
    /// else this program's `plugin-host` subcommand; see [`HostProgram`]).
    pub fn host_program(mut self, program: HostProgram) -> Self {
        self.host_program = Some(program);
        self
    }

    /// The nats-server to run (default: `ROSEY_NATS_SERVER`, the home's or the checkout's
    /// `.tools`, then `PATH`).
    pub fn nats_binary(mut self, binary: PathBuf) -> Self {
        self.nats_binary = Some(binary);
        self
    }

    /// The log level plugin hosts start with (default: `logs.plugins`).
    pub fn host_log_level(mut self, level: impl Into<String>) -> Self {
        self.host_log_level = Some(level.into());
        self
    }

    /// The board units report on themselves to, when the embedder reads it elsewhere too (a
    /// dashboard); default: a new one, read through [`Stack::board`].
    pub fn board(mut self, board: crate::services::board::Board) -> Self {
        self.board = Some(board);
        self
    }

    /// Builds a plugin node instead of a bot (`rosey node start`): the home's nats-server
    /// joins the cluster `nats.cluster` names, and the `node` service says the node is alive
    /// to the main daemon; no chat, no bot. The node's name is `node.name` (else the host
    /// name). Its route password is the cluster's secret, copied into its home.
    pub fn node(mut self) -> Self {
        self.node = true;
        self
    }

    /// Resolves everything that can fail before anything runs; nothing is started.
    pub fn prepare(self) -> Result<PreparedStack, BuildError> {
        let home = self.home;
        let config = match self.config {
            Some(config) => config,
            None => Config::load(&home)?,
        };
        let nats_binary = match self.nats_binary {
            Some(binary) => binary,
            None => nats::find_binary(&home).map_err(BuildError::NatsNotFound)?,
        };
        let nats_port = free_port(&config)?;
        let store = nats::fit_store(&home, config.nats.max_storage)?;
        if config.nats.max_storage.is_none() && store.total() < StoreBudget::DEFAULT {
            tracing::warn!(
                "the message store is limited to {} so that it fits the disk holding {}; set nats.max_storage in rosey.yaml to choose its size",
                store.describe(),
                home.nats_store_dir().display()
            );
        }
        let node = match (self.node, &config.nats.cluster) {
            (false, _) => None,
            (true, Some(_)) => Some(config.node.resolved_name()),
            (true, None) => return Err(BuildError::NotClustered(home.config_file())),
        };
        let store = match &config.nats.cluster {
            Some(cluster) => store.in_cluster(cluster.replicas()),
            None => store,
        };
        let mut nats_credentials =
            Credentials::load_or_create(&home)?.with_tls(&home, config.nats.tls.as_ref())?;
        if config.nats.cluster.is_some() {
            nats_credentials = nats_credentials.with_cluster_secret(&home)?;
        }
        let (connector, local) = match self.connector {
            Some(connector) => (connector, None),
            // A node has no chat: its stack runs no bot to read this one.
            None if node.is_some() => (Arc::new(LocalConnector::new()) as Arc<dyn Connector>, None),
            None => {
                let password = std::env::var(connector::CYTUBE_PASSWORD_ENV).ok();
                let made = connector::from_config(&config.bot, password)?;
                if config.bot.connector == rosey_core::config::ConnectorKind::Cytube {
                    let cytube = &config.bot.cytube;
                    tracing::info!(
                        "connecting to CyTube channel {} on {} as {}",
                        config.bot.channel,
                        cytube.server.as_deref().unwrap_or("?"),
                        config.bot.name
                    );
                }
                (made.connector, made.local)
            }
        };
        let logs = match self.logs {
            Some(logs) => logs,
            None => LogHub::open(&home, config.logs).map_err(|source| BuildError::Logs {
                folder: home.logs_dir(),
                source,
            })?,
        };
        let host_program = match self.host_program {
            Some(program) => program,
            None => HostProgram::default_for_this_program(),
        };
        let host_log_level = self
            .host_log_level
            .unwrap_or_else(|| config.logs.plugins.as_str().to_owned());
        let ctx = StackContext {
            home,
            nats_binary,
            nats_port,
            store,
            nats_credentials,
            host_program,
            spawner: Spawner::new().map_err(BuildError::Spawner)?,
            board: self.board.unwrap_or_default(),
            connector,
            waiters: ReplyWaiters::default(),
            host_log_level,
            listener: self.listener,
            on_starting: self.on_starting,
            logs,
            extra_services: self.extra_services,
            config,
            node,
        };
        Ok(PreparedStack { ctx, local })
    }

    /// [`StackBuilder::prepare`], then [`PreparedStack::start`].
    pub async fn start(self) -> Result<(Stack, tokio::task::JoinHandle<()>), BuildError> {
        self.prepare()?.start().await
    }
}

/// A stack with everything resolved and nothing running yet.
#[derive(Debug)]
pub struct PreparedStack {
    ctx: StackContext,
    local: Option<Arc<LocalConnector>>,
}

impl PreparedStack {
    /// The configuration it will run with.
    pub fn config(&self) -> &Config {
        &self.ctx.config
    }

    /// Where its NATS will listen (`nats://host:port`, the port resolved).
    pub fn nats_url(&self) -> String {
        self.ctx.nats_url()
    }

    /// The message store's size, fitted to the disk or as `nats.max_storage` says.
    pub fn store(&self) -> StoreBudget {
        self.ctx.store
    }

    /// The board its units will report to (give it to a dashboard before starting).
    pub fn board(&self) -> crate::services::board::Board {
        self.ctx.board.clone()
    }

    /// The chat it will talk to.
    pub fn connector(&self) -> Arc<dyn Connector> {
        self.ctx.connector.clone()
    }

    /// The local connector as itself, when the configured chat is the local one.
    pub fn local(&self) -> Option<Arc<LocalConnector>> {
        self.local.clone()
    }

    /// Adds a service of the embedder's (see [`StackBuilder::extra_service`]).
    pub fn extra_service(mut self, service: ExtraService) -> Self {
        self.ctx.extra_services.push(service);
        self
    }

    /// Starts the tree: returns once every service runs (or, on the first that fails its
    /// first start, with nothing left running), with a handle that ends when the root
    /// supervisor stops or fails.
    pub async fn start(self) -> Result<(Stack, tokio::task::JoinHandle<()>), BuildError> {
        let connector = self.ctx.connector.clone();
        let known: Vec<&str> = rosey_core::units::SERVICES
            .iter()
            .copied()
            .chain(
                self.ctx
                    .extra_services
                    .iter()
                    .map(|service| service.name.as_str()),
            )
            .collect();
        if let Err(err) =
            (self.ctx.config).check_service_names(&known, &self.ctx.home.config_file())
        {
            let _ = connector.close().await;
            return Err(err.into());
        }
        match Stack::start(self.ctx, self.local).await {
            Ok(started) => Ok(started),
            Err(err) => {
                let _ = connector.close().await;
                Err(err.into())
            }
        }
    }
}

/// The NATS port: the configured one, or a free one picked now when the config says 0 (kept
/// for the stack's life, so restarts of nats-server reuse it).
fn free_port(config: &Config) -> Result<u16, BuildError> {
    if config.nats.port != 0 {
        return Ok(config.nats.port);
    }
    std::net::TcpListener::bind((config.nats.host.as_str(), 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| BuildError::NoFreePort {
            host: config.nats.host.clone(),
            source,
        })
}

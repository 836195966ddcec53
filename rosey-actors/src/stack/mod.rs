//! The supervision tree of a running stack:
//!
//! ```text
//! root (services; escalates)
//!  ├─ nats      NatsActor ─▶ nats-server
//!  ├─ bot       BotActor: connector ⇄ NATS, command router
//!  ├─ plugins   Supervisor (plugins; marks crashed)
//!  │    ├─ <name> PluginActor ─▶ rosey plugin-host
//!  │    └─ …
//!  └─ <extra>   services the embedding program adds ([`ExtraService`]: the daemon's `web`)
//! ```
//!
//! Built from `rosey.yaml`, the registry and the home; started in order, stopped in reverse.
//! How each unit is specified (its supervision settings, its actor's arguments) is in
//! `children.rs`.

pub(crate) mod archives;
mod builder;
mod children;
mod context;
mod dead_letters;
mod error;
mod node_agent;
mod nodes;
mod plugins;
mod started;
pub use builder::{BuildError, PreparedStack, StackBuilder};
use children::{
    bot_child, extra_child, nats_child, node_child, plugin_spec, plugins_child, plugins_to_start,
    supervisor_spec,
};
pub use context::ExtraService;
pub(crate) use context::StackContext;
pub use dead_letters::DeadLettersError;
pub use error::StackError;
pub use nodes::{NodeView, Nodes, Placements};
pub use started::StartCheck;

/// What a running stack's units are seen by from outside: their reports (`Board`), the
/// plugin hosts' program, and who waits for replies to an injected message.
pub use crate::services::{
    board::{Board, UnitReport},
    bot::ReplyWaiters,
    plugin::{door::Handled, unit_name, HeldUser, HostProgram, UNIT_PREFIX},
};

use std::{
    sync::{Arc, Mutex, TryLockError},
    time::Duration,
};

use crate::{
    services::{
        bot::{BotActor, BotArgs, BotMsg},
        keeper::Keeper,
        nats::{NatsActor, NatsArgs},
        node::{NodeActor, NodeArgs},
        plugin::{
            door::{Doors, Wants},
            spares::Spares,
            ConfigTaken, PluginActor, PluginArgs,
        },
        remote::RemotePluginActor,
    },
    spawn_child, Backoff, ChildSpec, ChildState, GiveUp, Intensity, Listener, Restart, Strategy,
    SupervisionEventKind, SupervisionNotice, Supervisor, SupervisorMsg, SupervisorSpec,
};
use ractor::{ActorCell, ActorRef};
use rosey_core::{
    bus::BusError,
    config::{self, Config, SupervisionSettings},
    connector::Connector,
    manifest::Manifest,
    paths::Home,
    registry::Registry,
    router::PluginsDown,
    units,
};

/// Handles on the running tree's supervisors (cheap to clone), and the plugin operations a
/// running bot supports: load, unload, reload, update with rollback.
#[derive(Clone)]
pub struct Stack {
    /// The root supervisor (services).
    root: ActorRef<SupervisorMsg>,
    /// The plugin supervisor of the moment (replaced when the root restarts it, emptied when
    /// it stops).
    plugins: Arc<Mutex<Option<ActorRef<SupervisorMsg>>>>,
    /// The chat as the local connector, when it is that one.
    local: Option<Arc<rosey_core::connector::LocalConnector>>,
    ctx: StackContext,
    runtime: PluginRuntime,
    client: Arc<tokio::sync::OnceCell<async_nats::Client>>,
    keeper: Keeper,
}

/// Never waits for the plugin supervisor's lock: `<locked>` while someone holds it.
impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Stack");
        debug.field("root", &self.root);
        match self.plugins.try_lock() {
            Ok(plugins) => debug.field("plugins", &*plugins),
            Err(TryLockError::Poisoned(poisoned)) => {
                debug.field("plugins", &*poisoned.into_inner())
            }
            Err(TryLockError::WouldBlock) => debug.field("plugins", &format_args!("<locked>")),
        };
        debug
            .field("home", &self.ctx.home)
            .field("runtime", &self.runtime)
            .field("keeper", &self.keeper)
            .finish_non_exhaustive()
    }
}

/// What plugin actors share across restarts: their doors, the warm spare hosts, and (with
/// `nats.cluster`) the nodes heard from and which plugins run on them.
#[derive(Clone, Debug)]
pub(crate) struct PluginRuntime {
    /// Every plugin's door.
    pub(crate) doors: Doors,
    /// The warm spare hosts.
    pub(crate) spares: Spares,
    /// The plugin nodes heard from.
    pub(crate) nodes: Nodes,
    /// Which plugins run on which node.
    pub(crate) placements: Placements,
}

impl Stack {
    /// Starts the whole tree; returns once every unit has started (or, for plugins, failed),
    /// with a handle that ends when the root supervisor stops or fails.
    pub(crate) async fn start(
        mut ctx: StackContext,
        local: Option<Arc<rosey_core::connector::LocalConnector>>,
    ) -> Result<(Stack, tokio::task::JoinHandle<()>), StackError> {
        let down = PluginsDown::new();
        ctx.listener = follow_crashes(ctx.listener.clone(), down.clone());
        let plugins_slot: Arc<Mutex<Option<ActorRef<SupervisorMsg>>>> = Arc::default();
        let nodes = Nodes::new(ctx.config.node.lost_after());
        // Followed before the tree starts: a plugin placed on a node waits for its heartbeat.
        let following = (ctx.node.is_none() && ctx.config.nats.cluster.is_some())
            .then(|| nodes.follow(ctx.nats_credentials.clone(), ctx.nats_url()));
        let (exits_tx, exits_rx) = tokio::sync::mpsc::unbounded_channel();
        if let Some(name) = &ctx.node {
            ctx.listener = node_agent::report_exits(ctx.listener.clone(), name.clone(), exits_tx);
        }
        let runtime = PluginRuntime {
            nodes: nodes.clone(),
            placements: Placements::default(),
            doors: Doors::new(ctx.store),
            spares: Spares::new(
                ctx.config.plugin_host.spares as usize,
                ctx.host_program.clone(),
                ctx.spawner.clone(),
                ctx.logs.clone(),
            ),
        };
        // The plugins' hosts start once nats-server's process exists, while it comes up.
        let nats_spawned = Arc::new(tokio::sync::Notify::new());
        runtime
            .spares
            .prewarm(plugins_to_start(&ctx), nats_spawned.clone());
        let keeper = if ctx.node.is_some() {
            Keeper::consumers_only(
                ctx.nats_credentials.clone(),
                ctx.nats_url(),
                runtime.doors.clone(),
            )
        } else {
            Keeper::new(
                ctx.nats_credentials.clone(),
                ctx.nats_url(),
                runtime.doors.clone(),
            )
        };
        let mut children = vec![
            nats_child(&ctx, nats_spawned),
            match &ctx.node {
                None => bot_child(&ctx, &keeper, &down),
                Some(name) => node_child(&ctx, name),
            },
            plugins_child(&ctx, &runtime, plugins_slot.clone()),
        ];
        children.extend(
            ctx.extra_services
                .iter()
                .map(|extra| extra_child(&ctx, extra)),
        );
        let root_settings = ctx.config.supervision.services.clone();
        let mut spec = supervisor_spec("root", &root_settings, GiveUp::Escalate);
        // The services need each other: one that cannot start fails the whole start at once
        // (what started is stopped again) instead of being retried behind a claimed start.
        spec.all_or_nothing = true;
        let (root, root_done) =
            match Supervisor::start(spec, children, ctx.listener.clone(), None).await {
                Ok(started) => started,
                Err(err) => {
                    // The plugin supervisor may have filled spares before a later service
                    // failed: nothing of a failed start stays running.
                    runtime.spares.close();
                    runtime.doors.drop_standbys();
                    if let Some(following) = following {
                        following.abort();
                    }
                    return Err(err.into());
                }
            };
        runtime.spares.settle();
        let keeping = keeper.spawn();
        let stack = Stack {
            root,
            plugins: plugins_slot,
            local,
            ctx,
            runtime,
            client: Arc::default(),
            keeper,
        };
        stack.forget_uninstalled_state();
        // A node answers the main daemon's requests and tells it of its plugins' exits.
        let agent = stack.ctx.node.clone().map(|name| {
            (
                node_agent::serve(stack.clone(), name),
                node_agent::publish_exits(stack.clone(), exits_rx),
            )
        });
        let root_done = tokio::spawn(async move {
            let _ = root_done.await;
            keeping.abort();
            if let Some(following) = following {
                following.abort();
            }
            if let Some((serving, publishing)) = agent {
                serving.abort();
                publishing.abort();
            }
        });
        Ok((stack, root_done))
    }

    /// The root supervisor: the services (`nats`, `bot`, `plugins`, then the extra ones), for
    /// [`crate::children`] and the operator's per-unit requests.
    pub fn root(&self) -> &ActorRef<SupervisorMsg> {
        &self.root
    }

    /// The home it runs in.
    pub fn home(&self) -> &Home {
        &self.ctx.home
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.ctx.config
    }

    /// Where its NATS listens (`nats://host:port`).
    pub fn nats_url(&self) -> String {
        self.ctx.nats_url()
    }

    /// The plugin nodes heard from over the cluster (none without `nats.cluster`).
    pub fn nodes(&self) -> &Nodes {
        &self.runtime.nodes
    }

    /// Which plugins run on which node now.
    pub fn placements(&self) -> &Placements {
        &self.runtime.placements
    }

    /// This stack's node name when it is a plugin node (`rosey node start`), not a bot.
    pub fn node_name(&self) -> Option<&str> {
        self.ctx.node.as_deref()
    }

    /// What its units report about themselves (pids, versions, details) for status.
    pub fn board(&self) -> &Board {
        &self.ctx.board
    }

    /// The chat it talks to.
    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.ctx.connector
    }

    /// The chat as the local connector, when the configured chat is the local one (to inject
    /// what users say, as `rosey say` does).
    pub fn local(&self) -> Option<&Arc<rosey_core::connector::LocalConnector>> {
        self.local.as_ref()
    }

    /// Who waits for replies to an injected message (`rosey say`).
    pub fn reply_waiters(&self) -> &ReplyWaiters {
        &self.ctx.waiters
    }

    /// Stops everything, in reverse start order (each unit given its shutdown timeout, the
    /// whole bounded by `timeout`), then the warm spare hosts, then closes the chat: nothing
    /// of the stack is left running.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), StackError> {
        let stopped = crate::shutdown(&self.root, timeout).await;
        self.end_spares();
        let _ = self.ctx.connector.close().await;
        Ok(stopped?)
    }

    /// Who is held back from plugin `name` now.
    pub fn held_users(&self, name: &str) -> Vec<crate::services::plugin::HeldUser> {
        self.runtime
            .doors
            .get(name)
            .map(|door| door.held_users())
            .unwrap_or_default()
    }

    /// What plugin `name`'s hosts handled since the daemon started (`None`: it has no door).
    pub fn handled(&self, name: &str) -> Option<crate::services::plugin::door::Handled> {
        self.runtime.doors.get(name).map(|door| door.handled())
    }

    /// The plugin supervisor, when it runs (`None` once it stopped, even before its slot is
    /// cleared).
    pub fn plugins(&self) -> Option<ActorRef<SupervisorMsg>> {
        let plugins = match self.plugins.lock() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }?;
        ractor::ACTIVE_STATES
            .contains(&plugins.get_status())
            .then_some(plugins)
    }

    fn running_plugins(&self) -> Result<ActorRef<SupervisorMsg>, StackError> {
        self.plugins().ok_or(StackError::PluginsNotRunning)
    }

    /// The stack's own NATS connection (made on first use, then shared), for whoever drives
    /// the stack: plugin operations, status queries, publishing supervision notices.
    pub async fn client(&self) -> Result<async_nats::Client, BusError> {
        self.client
            .get_or_try_init(|| self.ctx.connect_nats("rosey-daemon"))
            .await
            .cloned()
    }

    /// What the JetStream keeper repaired (`repaired 1 time (last: stream ROSEY deleted at
    /// …)`), for status; `None` while nothing had to be.
    pub fn jetstream_summary(&self) -> Option<String> {
        self.keeper.summary()
    }

    /// Ends the warm spare and standby hosts and keeps no more spares (the tree has stopped):
    /// so a stopping daemon leaves nothing running behind its last plugin.
    pub fn end_spares(&self) {
        self.runtime.spares.close();
        self.runtime.doors.drop_standbys();
    }

    /// Process ids of the idle warm spare hosts.
    pub fn spare_pids(&self) -> Vec<u32> {
        self.runtime.spares.pids()
    }

    /// Tells the bot to re-read its command routes from the registry (and, in a cluster, the
    /// state of plugins removed from it goes).
    pub async fn refresh_routes(&self) -> Result<(), StackError> {
        self.forget_uninstalled_state();
        let children = crate::children(&self.root).await?;
        let bot = children
            .into_iter()
            .find(|child| child.name == units::BOT)
            .and_then(|child| child.actor)
            .ok_or(StackError::BotNotRunning)?;
        bot.send_message(BotMsg::ReloadRoutes)
            .map_err(|err| StackError::BotUnreachable(err.to_string()))
    }
}

/// `listener`, also keeping `down` up to date: a plugin the supervisor left crashed is down
/// until it starts again or is removed.
fn follow_crashes(listener: Listener, down: PluginsDown) -> Listener {
    Arc::new(move |notice: SupervisionNotice| {
        if notice.supervisor == units::PLUGINS {
            match (&notice.kind, notice.state) {
                (SupervisionEventKind::Removed, _) | (_, ChildState::Running) => {
                    down.mark_up(&notice.child)
                }
                (_, ChildState::Crashed) => down.mark_crashed(&notice.child),
                _ => {}
            }
        }
        listener(notice)
    })
}

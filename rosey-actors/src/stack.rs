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

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{
    services::{
        board::Board,
        bot::{BotActor, BotArgs, BotMsg, ReplyWaiters},
        keeper::Keeper,
        nats::{NatsActor, NatsArgs},
        plugin::{
            door::{Doors, Wants},
            spares::Spares,
            HostProgram, PluginActor, PluginArgs,
        },
        process::Spawner,
    },
    spawn_child, Backoff, ChildSpec, GiveUp, Intensity, Listener, Restart, Strategy, Supervisor,
    SupervisorMsg, SupervisorSpec,
};
use ractor::{ActorCell, ActorRef};
use rosey_core::{
    bus::{BusUser, Credentials},
    config::{self, Config, SupervisionSettings},
    connector::Connector,
    logs::LogHub,
    manifest::Manifest,
    paths::Home,
    registry::Registry,
    units,
};

/// Everything the tree is built from.
#[derive(Clone)]
pub struct StackContext {
    /// The home.
    pub home: Home,
    /// Its configuration.
    pub config: Config,
    /// The nats-server executable.
    pub nats_binary: PathBuf,
    /// The NATS port (resolved once, so restarts keep it).
    pub nats_port: u16,
    /// The bus's passwords (`data/nats-auth/credentials`, made at the first start).
    pub nats_credentials: Credentials,
    /// The program plugin hosts run as.
    pub host_program: HostProgram,
    /// Forks all children.
    pub spawner: Spawner,
    /// What units report about themselves.
    pub board: Board,
    /// The chat connection (the configured connector; it outlives bot restarts).
    pub connector: Arc<dyn Connector>,
    /// Who is waiting for replies to `rosey say`.
    pub waiters: ReplyWaiters,
    /// Log level for plugin hosts.
    pub host_log_level: String,
    /// Receives every supervision event.
    pub listener: Listener,
    /// Called right before each unit starts, for start-up progress.
    pub on_starting: Arc<dyn Fn(&str) + Send + Sync>,
    /// Writes the logs; every child's output goes through it.
    pub logs: LogHub,
    /// Services of the embedding program, supervised by the root after the built-in ones.
    pub extra_services: Vec<ExtraService>,
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

impl StackContext {
    /// `nats://host:port` (never with credentials).
    pub fn nats_url(&self) -> String {
        format!("nats://{}:{}", self.config.nats.host, self.nats_port)
    }

    /// A new connection to the stack's NATS as the daemon's user, named `name`.
    pub async fn connect_nats(&self, name: &str) -> Result<async_nats::Client, String> {
        self.nats_credentials
            .connect(&self.nats_url(), BusUser::Daemon, name)
            .await
            .map_err(|err| err.to_string())
    }
}

/// Handles on the running tree's supervisors (cheap to clone), and the plugin operations a
/// running bot supports: load, unload, reload, update with rollback.
#[derive(Clone)]
pub struct Stack {
    /// The root supervisor (services).
    pub root: ActorRef<SupervisorMsg>,
    /// The plugin supervisor of the moment (replaced when the root restarts it).
    pub plugins: Arc<Mutex<Option<ActorRef<SupervisorMsg>>>>,
    ctx: StackContext,
    runtime: PluginRuntime,
    client: Arc<tokio::sync::OnceCell<async_nats::Client>>,
    keeper: Keeper,
}

/// What plugin actors share across restarts: their doors and the warm spare hosts.
#[derive(Clone)]
pub struct PluginRuntime {
    /// Every plugin's door.
    pub doors: Doors,
    /// The warm spare hosts.
    pub spares: Spares,
}

/// Converts configured supervision settings into a supervisor spec.
pub fn supervisor_spec(
    name: &str,
    settings: &SupervisionSettings,
    give_up: GiveUp,
) -> SupervisorSpec {
    SupervisorSpec {
        name: name.to_owned(),
        strategy: match settings.strategy {
            config::Strategy::OneForOne => Strategy::OneForOne,
            config::Strategy::OneForAll => Strategy::OneForAll,
            config::Strategy::RestForOne => Strategy::RestForOne,
        },
        intensity: Intensity {
            max_restarts: settings.max_restarts,
            within: Duration::from_secs(settings.within_secs),
        },
        backoff: Backoff {
            initial: Duration::from_millis(settings.backoff_initial_ms),
            max: Duration::from_millis(settings.backoff_max_ms),
            reset_after: Duration::from_secs(settings.backoff_reset_secs),
        },
        give_up,
        concurrent_start: false,
        retry_after: settings.retry_after(),
    }
}

fn restart_type(restart: config::RestartType) -> Restart {
    match restart {
        config::RestartType::Permanent => Restart::Permanent,
        config::RestartType::Transient => Restart::Transient,
        config::RestartType::Temporary => Restart::Temporary,
    }
}

fn child_spec(
    name: &str,
    settings: &SupervisionSettings,
    factory: impl crate::ChildFactory,
) -> ChildSpec {
    let spec = supervisor_spec(name, settings, GiveUp::MarkCrashed);
    ChildSpec::new(name, factory)
        .restart(restart_type(settings.restart))
        .shutdown_timeout(Duration::from_millis(settings.shutdown_timeout_ms))
        .intensity(spec.intensity)
        .backoff(spec.backoff)
        .retry_after(spec.retry_after)
}

impl Stack {
    /// Starts the whole tree; returns once every unit has started (or, for plugins, failed),
    /// with a handle that ends when the root supervisor stops or fails.
    pub async fn start(ctx: StackContext) -> Result<(Stack, tokio::task::JoinHandle<()>), String> {
        let plugins_slot: Arc<Mutex<Option<ActorRef<SupervisorMsg>>>> = Arc::default();
        let runtime = PluginRuntime {
            doors: Doors::default(),
            spares: Spares::new(
                ctx.config.plugin_host.spares as usize,
                ctx.host_program.clone(),
                ctx.spawner.clone(),
                ctx.logs.clone(),
            ),
        };
        let keeper = Keeper::new(
            ctx.nats_credentials.clone(),
            ctx.nats_url(),
            runtime.doors.clone(),
        );
        let mut children = vec![
            nats_child(&ctx),
            bot_child(&ctx, &keeper),
            plugins_child(&ctx, &runtime, plugins_slot.clone()),
        ];
        children.extend(
            ctx.extra_services
                .iter()
                .map(|extra| extra_child(&ctx, extra)),
        );
        let root_settings = ctx.config.supervision.services.clone();
        let spec = supervisor_spec("root", &root_settings, GiveUp::Escalate);
        let (root, root_done) =
            Supervisor::start(spec, children, ctx.listener.clone(), None).await?;
        let keeping = keeper.spawn();
        let root_done = tokio::spawn(async move {
            let _ = root_done.await;
            keeping.abort();
        });
        Ok((
            Stack {
                root,
                plugins: plugins_slot,
                ctx,
                runtime,
                client: Arc::default(),
                keeper,
            },
            root_done,
        ))
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

    /// The plugin supervisor, when it runs.
    pub fn plugins(&self) -> Option<ActorRef<SupervisorMsg>> {
        match self.plugins.lock() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn running_plugins(&self) -> Result<ActorRef<SupervisorMsg>, String> {
        self.plugins()
            .ok_or_else(|| "the plugin supervisor is not running".to_owned())
    }

    /// The stack's own NATS connection (made on first use, then shared), for whoever drives
    /// the stack: plugin operations, status queries, publishing supervision notices.
    pub async fn client(&self) -> Result<async_nats::Client, String> {
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

    /// Whether plugin `name` is a child of the plugin supervisor (in any state).
    pub async fn has_plugin(&self, name: &str) -> Result<bool, String> {
        let plugins = self.running_plugins()?;
        Ok(crate::children(&plugins)
            .await?
            .iter()
            .any(|child| child.name == name))
    }

    /// Starts installed plugin `name` at `version` in the running stack; `Err` (nothing left
    /// running) when it does not become ready.
    pub async fn load_plugin(&self, name: &str, version: &str) -> Result<(), String> {
        let plugins = self.running_plugins()?;
        let spec = plugin_spec(
            &self.ctx,
            &self.runtime,
            &self.client().await?,
            name,
            version,
        )?;
        crate::add_child(&plugins, spec).await
    }

    /// Stops plugin `name` gracefully (it finishes its message and unloads, handing its state
    /// over), removes it from the stack, and deletes its consumer so nothing queues for it.
    pub async fn unload_plugin(&self, name: &str) -> Result<(), String> {
        let plugins = self.running_plugins()?;
        crate::remove_child(&plugins, name).await?;
        self.runtime.doors.close(name);
        let js = async_nats::jetstream::new(self.client().await?);
        if let Ok(stream) = js.get_stream(rosey_core::messaging::STREAM_NAME).await {
            // Absent already is fine: it is created by the host, which may never have run.
            let _ = stream
                .delete_consumer(&rosey_core::messaging::consumer_name(name))
                .await;
        }
        Ok(())
    }

    /// Plugin `name`'s place in the stack: `None` when it is not there, else its actor when it
    /// runs (one query of the plugin supervisor).
    async fn plugin_child(&self, name: &str) -> Result<Option<Option<ActorCell>>, String> {
        let plugins = self.running_plugins()?;
        Ok(crate::children(&plugins)
            .await?
            .into_iter()
            .find(|child| child.name == name)
            .map(|child| child.actor))
    }

    /// The running actor of plugin `name`, if it runs.
    async fn plugin_actor(&self, name: &str) -> Result<Option<ActorCell>, String> {
        Ok(self.plugin_child(name).await?.flatten())
    }

    /// Reloads plugin `name` at the same version, make-before-break: a new host opens the
    /// library while the old one serves, then the old one finishes its message and hands its
    /// state over, and the new one starts with it. A plugin in the stack that is not running
    /// is started. `Ok(false)`: the plugin is not in the stack.
    pub async fn reload_plugin(&self, name: &str) -> Result<bool, String> {
        match self.plugin_child(name).await? {
            None => Ok(false),
            Some(Some(actor)) => {
                let version = self
                    .runtime
                    .doors
                    .get(name)
                    .map(|door| door.version())
                    .ok_or_else(|| format!("plugin {name} has no door"))?;
                crate::services::plugin::swap(&actor, &version).await?;
                Ok(true)
            }
            Some(None) => {
                crate::restart_child(&self.running_plugins()?, name).await?;
                Ok(true)
            }
        }
    }

    /// Replaces plugin `name`'s running `previous` version with `version`, state carried over,
    /// make-before-break (see [`Stack::reload_plugin`]). If the new version does not open, the
    /// old one never stopped; if it does not start, `previous` is brought back with the state;
    /// either way the error says so. A plugin that is not running is just started at `version`.
    pub async fn update_plugin(
        &self,
        name: &str,
        version: &str,
        previous: &str,
    ) -> Result<(), String> {
        if let Some(actor) = self.plugin_actor(name).await? {
            return crate::services::plugin::swap(&actor, version).await;
        }
        let plugins = self.running_plugins()?;
        crate::remove_child(&plugins, name).await?;
        match self.load_plugin(name, version).await {
            Ok(()) => Ok(()),
            Err(err) => match self.load_plugin(name, previous).await {
                Ok(()) => Err(format!(
                    "v{version} failed: {err}; rolled back: v{previous} runs again with its state"
                )),
                Err(again) => Err(format!(
                    "v{version} failed: {err}; and v{previous} did not come back either: {again}"
                )),
            },
        }
    }

    /// How many messages each plugin has in the dead-letter stream (plugins with none are
    /// absent). Empty when the stream cannot be read (NATS down): status must still answer.
    pub async fn dead_letters(&self) -> std::collections::BTreeMap<String, u64> {
        use futures::TryStreamExt;
        let mut counts = std::collections::BTreeMap::new();
        let Ok(client) = self.client().await else {
            return counts;
        };
        let js = async_nats::jetstream::new(client);
        let Ok(stream) = js
            .get_stream(rosey_core::messaging::DEAD_LETTER_STREAM)
            .await
        else {
            return counts;
        };
        let Ok(mut subjects) = stream.info_with_subjects("rosey.deadletter.>").await else {
            return counts;
        };
        while let Ok(Some((subject, count))) = subjects.try_next().await {
            if let Some(plugin) = subject.strip_prefix("rosey.deadletter.") {
                counts.insert(plugin.to_owned(), count as u64);
            }
        }
        counts
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

    /// Tells the bot to re-read its command routes from the registry.
    pub async fn refresh_routes(&self) -> Result<(), String> {
        let children = crate::children(&self.root).await?;
        let bot = children
            .into_iter()
            .find(|child| child.name == units::BOT)
            .and_then(|child| child.actor)
            .ok_or_else(|| "the bot is not running".to_owned())?;
        bot.send_message(BotMsg::ReloadRoutes)
            .map_err(|err| format!("cannot reach the bot: {err}"))
    }
}

fn nats_child(ctx: &StackContext) -> ChildSpec {
    let settings = ctx.config.service_settings(units::NATS);
    let args = NatsArgs {
        binary: ctx.nats_binary.clone(),
        home: ctx.home.clone(),
        credentials: ctx.nats_credentials.clone(),
        host: ctx.config.nats.host.clone(),
        port: ctx.nats_port,
        tls: ctx
            .config
            .nats
            .tls
            .as_ref()
            .map(|tls| (tls.cert_path(&ctx.home), tls.key_path(&ctx.home))),
        ready_timeout: Duration::from_secs(15),
        shutdown_timeout: Duration::from_millis(settings.shutdown_timeout_ms),
        spawner: ctx.spawner.clone(),
        board: ctx.board.clone(),
        logs: ctx.logs.clone(),
    };
    let on_starting = ctx.on_starting.clone();
    child_spec(units::NATS, &settings, move |supervisor: ActorCell| {
        let args = args.clone();
        on_starting(units::NATS);
        async move { spawn_child(None, NatsActor, args, supervisor).await }
    })
}

fn bot_child(ctx: &StackContext, keeper: &Keeper) -> ChildSpec {
    let settings = ctx.config.service_settings(units::BOT);
    let args = BotArgs {
        home: ctx.home.clone(),
        config: ctx.config.bot.clone(),
        nats_url: ctx.nats_url(),
        credentials: ctx.nats_credentials.clone(),
        stream_repair: {
            let keeper = keeper.clone();
            Arc::new(move |trigger: String| {
                let keeper = keeper.clone();
                Box::pin(async move { keeper.repair_now(&trigger).await })
                    as futures::future::BoxFuture<'static, ()>
            })
        },
        connector: ctx.connector.clone(),
        waiters: ctx.waiters.clone(),
        board: ctx.board.clone(),
    };
    let on_starting = ctx.on_starting.clone();
    child_spec(units::BOT, &settings, move |supervisor: ActorCell| {
        let args = args.clone();
        on_starting(units::BOT);
        async move { spawn_child(None, BotActor, args, supervisor).await }
    })
}

fn extra_child(ctx: &StackContext, extra: &ExtraService) -> ChildSpec {
    let settings = ctx.config.service_settings(&extra.name);
    let on_starting = ctx.on_starting.clone();
    let name = extra.name.clone();
    let factory = extra.factory.clone();
    child_spec(&extra.name, &settings, move |supervisor: ActorCell| {
        on_starting(&name);
        factory.start(supervisor)
    })
}

fn plugins_child(
    ctx: &StackContext,
    runtime: &PluginRuntime,
    slot: Arc<Mutex<Option<ActorRef<SupervisorMsg>>>>,
) -> ChildSpec {
    let settings = ctx.config.supervision.plugins.clone();
    let ctx = ctx.clone();
    let runtime = runtime.clone();
    let shutdown = Duration::from_millis(settings.shutdown_timeout_ms.saturating_mul(4));
    child_spec(
        units::PLUGINS,
        &ctx.config.supervision.services.clone(),
        move |supervisor: ActorCell| {
            let ctx = ctx.clone();
            let runtime = runtime.clone();
            let settings = settings.clone();
            let slot = slot.clone();
            (ctx.on_starting)(units::PLUGINS);
            async move {
                let client = ctx.connect_nats("rosey-plugins").await?;
                runtime.spares.fill();
                let registry = Registry::load(&ctx.home).map_err(|err| err.to_string())?;
                let children = registry
                    .plugins
                    .iter()
                    .filter(|(_, plugin)| plugin.enabled)
                    .map(|(name, plugin)| {
                        plugin_spec(&ctx, &runtime, &client, name, &plugin.version.to_string())
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                // Plugins do not depend on each other: they come up together.
                let mut spec = supervisor_spec(units::PLUGINS, &settings, GiveUp::MarkCrashed);
                spec.concurrent_start = true;
                let (plugins, _) =
                    Supervisor::start(spec, children, ctx.listener.clone(), Some(supervisor))
                        .await?;
                let cell = plugins.get_cell();
                match slot.lock() {
                    Ok(mut slot) => *slot = Some(plugins),
                    Err(poisoned) => *poisoned.into_inner() = Some(plugins),
                }
                Ok(cell)
            }
        },
    )
    .shutdown_timeout(shutdown)
}

/// The child spec of one plugin (also used to add a plugin to a running supervisor). Its door
/// is made for `version` (or told to run `version` when it exists); every start of the actor,
/// restarts included, runs the door's version of the moment, so a reload's new version is the
/// one a later crash restarts.
pub fn plugin_spec(
    ctx: &StackContext,
    runtime: &PluginRuntime,
    client: &async_nats::Client,
    name: &str,
    version: &str,
) -> Result<ChildSpec, String> {
    let manifest = Manifest::load(
        &ctx.home
            .plugin_version_dir(name, version)
            .join("manifest.yaml"),
    )
    .map_err(|err| format!("plugin {name}: {err}"))?;
    let settings = ctx.config.plugin_settings(name);
    let host = &settings.host;
    let wants = Wants {
        filter_subjects: rosey_core::messaging::consumer_filter_subjects(
            &manifest.commands,
            &manifest.events,
        ),
        ack_wait: host.ack_wait(),
    };
    let js = async_nats::jetstream::new(client.clone());
    let door = runtime.doors.open(
        name,
        version,
        wants.clone(),
        &js,
        ctx.home.plugin_attempts_file(name),
    );
    door.set_version(version, wants);
    let args = PluginArgs {
        name: name.to_owned(),
        home: ctx.home.clone(),
        // The door's own connection: replies and the acks after them must share one, or the
        // server could see an ack before its reply.
        client: door.jetstream().client(),
        door,
        spares: runtime.spares.clone(),
        logs: ctx.logs.clone(),
        board: ctx.board.clone(),
        log_level: match ctx.host_log_level.as_str() {
            "debug" => rosey_host::wire::Level::Debug,
            "warn" => rosey_host::wire::Level::Warn,
            "error" => rosey_host::wire::Level::Error,
            _ => rosey_host::wire::Level::Info,
        },
        heartbeat: host.heartbeat(),
        ready_timeout: host.ready_timeout(),
        heartbeat_timeout: host.heartbeat_timeout(),
        shutdown_timeout: Duration::from_millis(settings.supervision.shutdown_timeout_ms),
        max_attempts: host.max_attempts.max(1),
        max_command_age: host.max_command_age(),
        max_event_age: host.max_event_age(),
        hold_rules: crate::services::plugin::HoldRules {
            strikes: host.hold_strikes,
            within: Duration::from_secs(host.hold_window_secs),
            hold_for: Duration::from_secs(host.hold_secs),
        },
        failure_wording: crate::services::plugin::FailureWording {
            template: ctx.config.bot.replies.failed.clone(),
            prefix: ctx.config.bot.command_prefix.clone(),
        },
        ack_wait: host.ack_wait(),
        standby_off: ctx.config.plugin_host.spares == 0,
        sandbox_required: ctx.config.plugin_host.sandbox
            == rosey_core::config::SandboxMode::Required,
    };
    let on_starting = ctx.on_starting.clone();
    let unit = name.to_owned();
    Ok(child_spec(
        name,
        &settings.supervision,
        move |supervisor: ActorCell| {
            let args = args.clone();
            on_starting(&format!("plugin:{unit}"));
            async move { spawn_child(None, PluginActor, args, supervisor).await }
        },
    ))
}

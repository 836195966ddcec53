//! How each unit of the tree is specified: the supervisors' and children's settings from
//! `rosey.yaml`, and each actor's arguments (nats, bot, extra services, the plugins supervisor
//! and one plugin).

use super::*;

mod placement;

use placement::{Asked, Placement};

/// Converts configured supervision settings into a supervisor spec.
pub(crate) fn supervisor_spec(
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
        all_or_nothing: false,
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

/// The nats service; `spawned` is told once nats-server's process exists.
pub(super) fn nats_child(ctx: &StackContext, spawned: Arc<tokio::sync::Notify>) -> ChildSpec {
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
        store: ctx.store,
        cluster: ctx.cluster_settings(),
        makes_streams: ctx.node.is_none(),
        // A cluster's JetStream answers once its servers elected a leader, and three copies
        // of a stream need three servers up: the others may be starting too.
        ready_timeout: Duration::from_secs(if ctx.config.nats.cluster.is_some() {
            60
        } else {
            15
        }),
        shutdown_timeout: Duration::from_millis(settings.shutdown_timeout_ms),
        spawner: ctx.spawner.clone(),
        board: ctx.board.clone(),
        logs: ctx.logs.clone(),
        spawned: Some(spawned),
    };
    let on_starting = ctx.on_starting.clone();
    child_spec(units::NATS, &settings, move |supervisor: ActorCell| {
        let args = args.clone();
        on_starting(units::NATS);
        async move { spawn_child(None, NatsActor, args, supervisor).await }
    })
}

pub(super) fn bot_child(ctx: &StackContext, keeper: &Keeper, down: &PluginsDown) -> ChildSpec {
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
        plugins_down: down.clone(),
        store: ctx.store,
    };
    let on_starting = ctx.on_starting.clone();
    child_spec(units::BOT, &settings, move |supervisor: ActorCell| {
        let args = args.clone();
        on_starting(units::BOT);
        async move { spawn_child(None, BotActor, args, supervisor).await }
    })
}

pub(super) fn node_child(ctx: &StackContext, name: &str) -> ChildSpec {
    let settings = ctx.config.service_settings(units::NODE);
    let cluster = ctx.cluster_settings();
    let (route_host, route_port) = cluster
        .as_ref()
        .map(|cluster| cluster.listen.clone())
        .unwrap_or_default();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default();
    let args = NodeArgs {
        name: name.to_owned(),
        server_name: cluster
            .map(|cluster| cluster.server_name)
            .unwrap_or_default(),
        address: format!("{host} (routes {route_host}:{route_port})"),
        nats_url: ctx.nats_url(),
        credentials: ctx.nats_credentials.clone(),
        board: ctx.board.clone(),
        every: ctx.config.node.heartbeat(),
        started_ms: rosey_core::messaging::now_ms(),
        keep_free: ctx.config.node.keep_free_bytes(),
    };
    let on_starting = ctx.on_starting.clone();
    child_spec(units::NODE, &settings, move |supervisor: ActorCell| {
        let args = args.clone();
        on_starting(units::NODE);
        async move { spawn_child(None, NodeActor, args, supervisor).await }
    })
}

pub(super) fn extra_child(ctx: &StackContext, extra: &ExtraService) -> ChildSpec {
    let settings = ctx.config.service_settings(&extra.name);
    let on_starting = ctx.on_starting.clone();
    let name = extra.name.clone();
    let factory = extra.factory.clone();
    child_spec(&extra.name, &settings, move |supervisor: ActorCell| {
        on_starting(&name);
        factory.start(supervisor)
    })
}

/// How many plugin hosts this stack's start is about to need: its enabled plugins, on a
/// daemon that runs them here (a node runs what it is placed; a cluster's main daemon places
/// some elsewhere, so it asks for none ahead). Read again by the plugin supervisor; an
/// unreadable registry counts none and fails there.
pub(super) fn plugins_to_start(ctx: &StackContext) -> usize {
    if ctx.node.is_some() || ctx.config.nats.cluster.is_some() {
        return 0;
    }
    Registry::load(&ctx.home).map_or(0, |registry| {
        registry
            .plugins
            .values()
            .filter(|plugin| plugin.enabled)
            .count()
    })
}

pub(super) fn plugins_child(
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
                // The placements go out on the connection the start requests use, so a node
                // never sees a heartbeat older than a start it was asked for.
                let announcing =
                    (ctx.node.is_none() && ctx.config.nats.cluster.is_some()).then(|| {
                        runtime
                            .placements
                            .announce(client.clone(), ctx.config.node.heartbeat())
                    });
                runtime.spares.fill();
                let registry = Registry::load(&ctx.home).map_err(|err| err.to_string())?;
                let children = registry
                    .plugins
                    .iter()
                    .filter(|(_, plugin)| plugin.enabled)
                    // A node runs what the main daemon places on it, never plugins of its
                    // own home: two doors on one consumer would split its messages.
                    .filter(|_| ctx.node.is_none())
                    .map(|(name, plugin)| {
                        plugin_spec(&ctx, &runtime, &client, name, &plugin.version.to_string())
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                // Plugins do not depend on each other: they come up together.
                let mut spec = supervisor_spec(units::PLUGINS, &settings, GiveUp::MarkCrashed);
                spec.concurrent_start = true;
                let (plugins, done) =
                    Supervisor::start(spec, children, ctx.listener.clone(), Some(supervisor))
                        .await?;
                let cell = plugins.get_cell();
                let id = plugins.get_id();
                *lock_slot(&slot) = Some(plugins);
                // In-process, like the bot and the dashboard: the daemon's pid for status.
                ctx.board.set(
                    units::PLUGINS,
                    crate::services::board::UnitReport {
                        pid: Some(std::process::id()),
                        ..Default::default()
                    },
                );
                // Once this supervisor ends (an operator's stop, a restart, a failure), the
                // slot holds no stale handle; a newer instance's is left alone.
                tokio::spawn(async move {
                    let _ = done.await;
                    if let Some(announcing) = announcing {
                        announcing.abort();
                    }
                    let mut slot = lock_slot(&slot);
                    if slot.as_ref().is_some_and(|plugins| plugins.get_id() == id) {
                        *slot = None;
                    }
                });
                Ok(cell)
            }
        },
    )
    .shutdown_timeout(shutdown)
}

/// The plugin supervisor's slot, locked (a poisoned lock still holds a valid handle).
fn lock_slot(
    slot: &Mutex<Option<ActorRef<SupervisorMsg>>>,
) -> std::sync::MutexGuard<'_, Option<ActorRef<SupervisorMsg>>> {
    match slot.lock() {
        Ok(slot) => slot,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The child spec of one plugin (also used to add a plugin to a running supervisor). Its door
/// is made for `version` (or told to run `version` when it exists); every start of the actor,
/// restarts included, runs the door's version of the moment, so a reload's new version is the
/// one a later crash restarts.
pub(crate) fn plugin_spec(
    ctx: &StackContext,
    runtime: &PluginRuntime,
    client: &async_nats::Client,
    name: &str,
    version: &str,
) -> Result<ChildSpec, String> {
    let manifest = Manifest::load(&ctx.home.plugin_version_manifest(name, version))
        .map_err(|err| format!("plugin {name}: {err}"))?;
    let settings = ctx.config.plugin_settings(name);
    let host = &settings.host;
    let wants = Wants {
        filter_subjects: rosey_core::messaging::consumer_filter_subjects(
            name,
            &rosey_core::manifest::command_names(&manifest.commands),
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
        shared_state: ctx.store.clustered().then_some(ctx.store),
    };
    let on_starting = ctx.on_starting.clone();
    let unit = name.to_owned();
    let placement = Placement {
        asked: Asked::from_config(
            ctx.config.plugins.get(name).and_then(|o| o.node.as_deref()),
            ctx.node.is_none() && ctx.config.nats.cluster.is_some(),
        ),
        nodes: runtime.nodes.clone(),
        placements: runtime.placements.clone(),
        client: client.clone(),
        store: ctx.store,
        ready_timeout: host.ready_timeout(),
        keep_free: ctx.config.node.keep_free_bytes(),
    };
    Ok(child_spec(
        name,
        &settings.supervision,
        move |supervisor: ActorCell| {
            let args = args.clone();
            let placement = placement.clone();
            on_starting(&format!("plugin:{unit}"));
            async move {
                // Each start places the plugin anew: on its node while that node is up,
                // else here (where a lost node's plugins go).
                match placement.choose(&args).await {
                    Some(node) => {
                        let remote = placement.remote(&args, node);
                        spawn_child(None, RemotePluginActor, remote, supervisor).await
                    }
                    None => spawn_child(None, PluginActor, args, supervisor).await,
                }
            }
        },
    ))
}

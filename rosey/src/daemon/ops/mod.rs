//! What can be asked of a running stack, in one place for both front ends: the control socket
//! (`control_server.rs`, for the CLI) and the dashboard's JSON API (`crate::web`). Each
//! operation returns a typed [`OpError`] that each front end turns into its own answer.

use std::{sync::Arc, time::Instant};

use rosey_actors::{
    client as sup,
    stack::Stack,
    stack::{Board, ReplyWaiters},
};
use rosey_core::{
    config::Config, connector::local::LocalConnector, paths::Home, registry::Registry,
};
use tokio::sync::mpsc;

use super::notices::Notices;

/// What request handlers can reach.
pub struct Daemon {
    /// The home.
    pub home: Home,
    /// The tree.
    pub stack: Stack,
    /// Units' own reports.
    pub board: Board,
    /// The local chat, for `say` and the dashboard's chat box (`None` when the bot talks to
    /// CyTube).
    pub local: Option<Arc<LocalConnector>>,
    /// `say` waiters.
    pub waiters: ReplyWaiters,
    /// When the daemon started.
    pub started: Instant,
    /// Tells the main loop to shut down.
    pub shutdown: mpsc::UnboundedSender<String>,
    /// One lock per plugin: operations on one plugin run one at a time.
    pub plugin_ops:
        std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Where operation notices (`reloaded`) go: the log, NATS, the dashboard's feed.
    pub notices: Notices,
    /// The daemon's log writer, whose live lines the dashboard's log pane follows.
    pub logs: rosey_core::logs::LogHub,
}

impl Daemon {
    fn plugin_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.plugin_ops.lock() {
            Ok(locks) => locks,
            Err(poisoned) => poisoned.into_inner(),
        };
        locks.entry(name.to_owned()).or_default().clone()
    }
}

/// The services, in start order (operators name them).
pub use rosey_core::units::SERVICES;

/// Why an operation did not happen; the kind lets the web API pick a status code.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// No such service or plugin.
    #[error("{0}")]
    NotFound(String),
    /// The target is in no state for it (not running, already running, wrong connector).
    #[error("{0}")]
    Conflict(String),
    /// It was tried and failed.
    #[error("{0}")]
    Failed(String),
}

impl OpError {
    /// [`OpError::Failed`] with `err`'s message.
    pub(crate) fn failed(err: impl std::fmt::Display) -> OpError {
        OpError::Failed(err.to_string())
    }
}

/// Starts, stops or restarts one unit.
#[derive(Debug, Clone, Copy)]
pub enum UnitOp {
    /// Start a stopped unit.
    Start,
    /// Stop a unit (it stays stopped).
    Stop,
    /// Stop and start a unit.
    Restart,
}

/// Starts, stops or restarts service or plugin `target`.
pub async fn unit_op(daemon: &Daemon, target: &str, op: UnitOp) -> Result<(), OpError> {
    let supervisor = if SERVICES.contains(&target) || target == rosey_core::units::PLUGINS {
        daemon.stack.root().clone()
    } else {
        let plugins = daemon
            .stack
            .plugins()
            .ok_or_else(|| OpError::Conflict("the plugin supervisor is not running".to_owned()))?;
        let known = sup::children(&plugins)
            .await
            .map_err(OpError::failed)?
            .into_iter()
            .map(|child| child.name)
            .collect::<Vec<_>>();
        if !known.iter().any(|name| name == target) {
            let mut valid: Vec<String> = SERVICES.iter().map(|s| s.to_string()).collect();
            valid.push(rosey_core::units::PLUGINS.to_owned());
            valid.extend(known);
            return Err(OpError::NotFound(format!(
                "no service or plugin named {target:?}; valid names: {}",
                valid.join(", ")
            )));
        }
        plugins
    };
    match op {
        UnitOp::Start => sup::start_child(&supervisor, target).await,
        UnitOp::Stop => sup::stop_child(&supervisor, target).await,
        UnitOp::Restart => sup::restart_child(&supervisor, target).await,
    }
    .map_err(OpError::failed)
}

/// Runs one operation on plugin `name` under its lock; the time it took, in ms.
async fn plugin_op<F, Fut>(daemon: &Daemon, name: &str, what: &str, op: F) -> Result<f64, OpError>
where
    F: FnOnce(Stack) -> Fut,
    Fut: std::future::Future<Output = Result<(), OpError>>,
{
    let lock = daemon.plugin_lock(name);
    let _serialized = lock.lock().await;
    let started = Instant::now();
    let result = op(daemon.stack.clone()).await;
    rosey_core::metrics::plugin_operation(name, what, result.is_ok(), started.elapsed());
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(()) => tracing::info!("plugin {name}: {what} done in {ms:.1} ms"),
        Err(err) => tracing::error!("plugin {name}: {what} failed: {err}"),
    }
    result.map(|()| ms)
}

/// Whether plugin `name` is in the stack.
async fn has_plugin(stack: &Stack, name: &str) -> Result<bool, OpError> {
    stack
        .has_plugin(name)
        .await
        .map_err(|err| OpError::Conflict(err.to_string()))
}

/// Starts installed plugin `name` at `version` in the running stack.
pub async fn load_plugin(daemon: &Daemon, name: &str, version: &str) -> Result<f64, OpError> {
    plugin_op(daemon, name, "load", |stack| async move {
        if has_plugin(&stack, name).await? {
            return Err(OpError::Conflict(format!(
                "{name} is already running; use `rosey plugin reload {name}`"
            )));
        }
        stack
            .load_plugin(name, version)
            .await
            .map_err(OpError::failed)
    })
    .await
}

/// Swaps plugin `name` from `previous` to `version`, rolling back on failure; nothing to do
/// when it is installed but not running (the next start runs the new version).
pub async fn update_plugin(
    daemon: &Daemon,
    name: &str,
    version: &str,
    previous: &str,
) -> Result<f64, OpError> {
    plugin_op(daemon, name, "update", |stack| async move {
        if !has_plugin(&stack, name).await? {
            return Ok(());
        }
        stack
            .update_plugin(name, version, previous)
            .await
            .map_err(OpError::failed)
    })
    .await
}

/// Stops plugin `name` gracefully and takes it out of the stack (absent already is fine).
pub async fn unload_plugin(daemon: &Daemon, name: &str) -> Result<f64, OpError> {
    plugin_op(daemon, name, "unload", |stack| async move {
        if !has_plugin(&stack, name).await? {
            return Ok(());
        }
        stack.unload_plugin(name).await.map_err(OpError::failed)
    })
    .await
}

/// Restarts plugin `name` at the same version with its state, and announces it.
pub async fn reload_plugin(daemon: &Daemon, name: &str) -> Result<f64, OpError> {
    let ms = plugin_op(daemon, name, "reload", |stack| async move {
        match stack.reload_plugin(name).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(OpError::NotFound(format!(
                "{name} is not running in the stack (is it installed and enabled?)"
            ))),
            Err(err) => Err(OpError::failed(err)),
        }
    })
    .await?;
    daemon.notices.announce(
        "reloaded",
        rosey_core::units::PLUGINS,
        name,
        format!("plugin {name} reloaded in {ms:.0} ms"),
        false,
    );
    Ok(ms)
}

/// Hands running plugin `name` its changed config file: `{"ms", "taken"}` with `taken` one of
/// `live` (its `on_config` took it), `reloaded` (it has none: reloaded with its state) or
/// `not_running` (it reads the file when it starts).
pub async fn configure_plugin(daemon: &Daemon, name: &str) -> Result<serde_json::Value, OpError> {
    let mut taken = None;
    let ms = plugin_op(daemon, name, "config", |stack| {
        let taken = &mut taken;
        async move {
            *taken = stack
                .configure_plugin(name)
                .await
                .map_err(OpError::failed)?;
            Ok(())
        }
    })
    .await?;
    let taken = match taken {
        Some(rosey_actors::ConfigTaken::Live) => "live",
        Some(rosey_actors::ConfigTaken::Reloaded) => "reloaded",
        None => "not_running",
    };
    Ok(serde_json::json!({ "ms": ms, "taken": taken }))
}

/// Enables or disables installed plugin `name`: the registry first, then (with hot reload on)
/// the running stack and the bot's routes. What happened, in a sentence.
pub async fn set_enabled(daemon: &Daemon, name: &str, enable: bool) -> Result<String, OpError> {
    let home = daemon.home.clone();
    let owned = name.to_owned();
    let flipped = tokio::task::spawn_blocking(move || {
        let version = crate::plugin_cmd::set_enabled(&home, &owned, enable)?;
        let hot_reload = Config::load(&home).map(|config| config.hot_reload);
        Ok::<_, rosey_core::install::InstallError>((version, hot_reload))
    })
    .await
    .map_err(|err| OpError::Failed(format!("the registry update did not finish: {err}")))?;
    let (version, hot_reload) = flipped.map_err(|err| match err {
        rosey_core::install::InstallError::NotInstalled { .. } => {
            OpError::NotFound(err.to_string())
        }
        other => OpError::Failed(other.to_string()),
    })?;
    let word = if enable { "enabled" } else { "disabled" };
    match hot_reload {
        Ok(true) => {}
        Ok(false) => {
            return Ok(format!(
                "{name} {word}; hot reload is off (hot_reload: false in rosey.yaml): it takes effect after `rosey restart plugins`"
            ))
        }
        Err(err) => {
            return Err(OpError::Failed(format!(
                "{name} {word} in the registry, but rosey.yaml cannot be read, so the running bot was not changed: {err}"
            )))
        }
    }
    let result = if enable {
        match load_plugin(daemon, name, &version).await {
            Err(OpError::Conflict(_)) => Ok(0.0),
            other => other,
        }
    } else {
        unload_plugin(daemon, name).await
    };
    if let Err(err) = daemon.stack.refresh_routes().await {
        tracing::warn!("the bot did not pick up the new command routes: {err}");
    }
    match result {
        Ok(_) => Ok(format!(
            "{name} {word} and {}",
            if enable { "loaded" } else { "unloaded" }
        )),
        Err(err) => Err(OpError::Failed(format!(
            "{name} {word} in the registry, but the running bot could not follow: {err}"
        ))),
    }
}

/// Installed plugins (enabled or not) with their versions, from the registry.
pub async fn installed(daemon: &Daemon) -> Result<Vec<InstalledView>, OpError> {
    let home = daemon.home.clone();
    let registry = tokio::task::spawn_blocking(move || Registry::load(&home))
        .await
        .map_err(|err| OpError::Failed(format!("the registry read did not finish: {err}")))?
        .map_err(|err| OpError::Failed(err.to_string()))?;
    Ok(registry
        .plugins
        .iter()
        .map(|(name, plugin)| InstalledView {
            name: name.clone(),
            version: plugin.version.to_string(),
            enabled: plugin.enabled,
        })
        .collect())
}

/// One installed plugin, as the dashboard lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstalledView {
    /// Plugin name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Whether it runs when the stack starts.
    pub enabled: bool,
}

pub mod dead_letters;
pub mod plugin_files;
pub mod replay;
mod say;
mod status;

pub use say::say;
pub use status::status;

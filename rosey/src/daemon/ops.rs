//! What can be asked of a running stack, in one place for both front ends: the control socket
//! (`control_server.rs`, for the CLI) and the dashboard's JSON API (`crate::web`). Each
//! operation returns a typed [`OpError`] that each front end turns into its own answer.

use rosey_core::rank::Rank;
use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use rosey_actors::{
    client as sup,
    stack::Stack,
    stack::{unit_name, Board, ReplyWaiters},
    ChildInfo, ChildState,
};
use rosey_core::{
    config::Config,
    connector::{local::LocalConnector, Outgoing},
    messaging::Source,
    paths::Home,
    registry::Registry,
};
use tokio::sync::{broadcast, mpsc};

use super::notices::Notices;
use crate::control::{
    StatusReport, UnitStatus, Unknown, MEANWHILE, UNKNOWN_DEAD_LETTERS, UNKNOWN_PLUGINS,
};

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

/// Injects `text` from `user` through the local connector and collects what the bot says: its
/// replies to that line (the first within `timeout`, then any that follow it closely), and,
/// marked with [`MEANWHILE`], everything else it says in the channel while it waits (other
/// plugins, timers, answers to other users), so the caller sees the chat as it happened.
pub async fn say(
    daemon: &Daemon,
    user: &str,
    rank: Rank,
    text: &str,
    timeout: Duration,
) -> Result<Vec<String>, OpError> {
    let Some(local) = &daemon.local else {
        return Err(OpError::Conflict(
            "rosey say talks to the local chat, and this bot is connected to CyTube (bot.connector in rosey.yaml): say it in the CyTube channel instead".to_owned(),
        ));
    };
    // Subscribed before the line goes in, so nothing said in answer is missed.
    let channel = local.subscribe_outgoing();
    let (id, replies) = daemon
        .waiters
        .inject(|| local.inject_as(user, rank, text, Source::Chat))
        .map_err(|err| OpError::Failed(err.to_string()))?;
    let collected = collect_said(replies, channel, timeout).await;
    daemon.waiters.forget(&id);
    Ok(collected)
}

/// How long `say` keeps listening after the first reply, for the rest of a several-line answer.
const REPLY_GRACE: Duration = Duration::from_millis(150);

/// The lines `say` returns, in the order the bot said them: each reply to the injected line as
/// it is, and each other message in the channel (`channel`, which carries the replies too)
/// prefixed with [`MEANWHILE`]. Ends `REPLY_GRACE` after the first reply, or at `timeout`.
async fn collect_said(
    mut replies: mpsc::UnboundedReceiver<String>,
    mut channel: broadcast::Receiver<Outgoing>,
    timeout: Duration,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut said = Said::default();
    let mut until = deadline;
    let mut replies_open = true;
    let mut channel_open = true;
    loop {
        tokio::select! {
            biased;
            reply = replies.recv(), if replies_open => match reply {
                Some(text) => {
                    if said.reply(text) {
                        until = (tokio::time::Instant::now() + REPLY_GRACE).min(deadline);
                    }
                }
                None => replies_open = false,
            },
            out = channel.recv(), if channel_open => match out {
                Ok(out) => {
                    // The bot hands a reply to `replies` before it says it in the channel:
                    // take any such reply first, so that its copy is recognised as one.
                    while let Ok(text) = replies.try_recv() {
                        if said.reply(text) {
                            until = (tokio::time::Instant::now() + REPLY_GRACE).min(deadline);
                        }
                    }
                    said.in_channel(&out);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => said.missed(missed),
                Err(broadcast::error::RecvError::Closed) => channel_open = false,
            },
            _ = tokio::time::sleep_until(until) => break,
        }
    }
    said.lines
}

/// What `say` heard so far, replies and the rest told apart.
#[derive(Debug, Default)]
struct Said {
    lines: Vec<String>,
    /// Replies whose copy in the channel has not come yet: that copy is not another line.
    echoes: Vec<String>,
    replied: bool,
}

impl Said {
    /// A reply to the injected line; true when it is the first.
    fn reply(&mut self, text: String) -> bool {
        let first = !self.replied;
        self.replied = true;
        self.echoes.push(text.clone());
        self.lines.push(text);
        first
    }

    /// Something the bot said in the channel: a reply's copy, or a line of its own.
    fn in_channel(&mut self, out: &Outgoing) {
        if let Some(at) = self.echoes.iter().position(|echo| echo == out.text()) {
            self.echoes.remove(at);
            return;
        }
        self.lines.push(match out {
            Outgoing::Chat { text } => format!("{MEANWHILE}{text}"),
            Outgoing::Pm { to, text } => format!("{MEANWHILE}(PM to {to}) {text}"),
        });
    }

    /// The channel went on without `say` (more than the local connector buffers).
    fn missed(&mut self, missed: u64) {
        self.lines.push(format!(
            "{MEANWHILE}… {missed} messages not shown (said faster than read)"
        ));
    }
}

fn uptime(info: &ChildInfo) -> Option<u64> {
    if info.state != ChildState::Running {
        return None;
    }
    info.started_at
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .map(|elapsed| elapsed.as_secs())
}

/// The resident memory of process `pid` (`VmRSS` in `/proc/<pid>/status`), in bytes.
pub fn memory_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

fn unit(info: &ChildInfo, board: &Board, unit_key: &str) -> UnitStatus {
    let report = board.get(unit_key).unwrap_or_default();
    let pid = if info.state == ChildState::Running {
        report.pid
    } else {
        None
    };
    UnitStatus {
        name: info.name.clone(),
        state: info.state.as_str().to_owned(),
        pid,
        uptime_secs: uptime(info),
        restarts: info.restarts,
        last_exit: info.last_exit.clone(),
        version: report.version,
        detail: report.detail,
        sandbox: if info.state == ChildState::Running {
            report.sandbox
        } else {
            None
        },
        dead_letters: None,
        memory_bytes: pid.and_then(memory_bytes),
        refused: report.refused,
        handled: None,
        handled_early: None,
        stale: None,
        held_back: Vec::new(),
        retry_in_secs: info
            .retry_at
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .map(|left| left.as_secs().max(1)),
    }
}

/// The status report (`rosey status --json`, `GET /api/status`). What cannot be found out
/// (dead-letter counts with NATS down, the plugin list when the plugin supervisor does not
/// answer) is reported as unknown with the reason, never as zero or none.
pub async fn status(daemon: &Daemon) -> Result<StatusReport, OpError> {
    let root = sup::children(daemon.stack.root())
        .await
        .map_err(OpError::failed)?;
    let plugin_supervisor = root
        .iter()
        .find(|info| info.name == rosey_core::units::PLUGINS);
    // Every child of the root: the services in start order, then the plugin supervisor (last,
    // so the services keep the places they had before it was listed).
    let services = root
        .iter()
        .filter(|info| info.name != rosey_core::units::PLUGINS)
        .chain(plugin_supervisor)
        .map(|info| unit(info, &daemon.board, &info.name))
        .collect();
    let mut unknown = Vec::new();
    let mut plugin_supervisor_down = None;
    let plugins = match daemon.stack.plugins() {
        Some(plugins) => match sup::children(&plugins).await {
            Ok(children) => children,
            Err(err) => {
                unknown.push(Unknown {
                    what: UNKNOWN_PLUGINS.to_owned(),
                    why: format!("the plugin supervisor did not answer: {err}"),
                });
                Vec::new()
            }
        },
        None => {
            plugin_supervisor_down = Some(
                plugin_supervisor
                    .map(|info| info.state)
                    .filter(|state| *state != ChildState::Running)
                    .map_or("not running", ChildState::as_str)
                    .to_owned(),
            );
            Vec::new()
        }
    };
    let dead_letters = if plugins.is_empty() {
        None
    } else {
        match daemon.stack.dead_letters().await {
            Ok(counts) => Some(counts),
            Err(err) => {
                unknown.push(Unknown {
                    what: UNKNOWN_DEAD_LETTERS.to_owned(),
                    why: err.to_string(),
                });
                None
            }
        }
    };
    let plugins = plugins
        .iter()
        .map(|info| {
            let handled = daemon.stack.handled(&info.name);
            UnitStatus {
                dead_letters: dead_letters
                    .as_ref()
                    .map(|counts| counts.get(&info.name).copied().unwrap_or(0)),
                handled: handled.map(|handled| handled.total),
                handled_early: handled.map(|handled| handled.early),
                stale: handled.map(|handled| handled.stale),
                held_back: daemon
                    .stack
                    .held_users(&info.name)
                    .into_iter()
                    .map(|held| crate::control::HeldBack {
                        secs_left: held
                            .until
                            .duration_since(SystemTime::now())
                            .map_or(0, |left| left.as_secs()),
                        user: held.user,
                        why: held.why,
                        refused: held.refused,
                    })
                    .collect(),
                ..unit(info, &daemon.board, &unit_name(&info.name))
            }
        })
        .collect();
    Ok(StatusReport {
        pid: std::process::id(),
        home: daemon.home.root().display().to_string(),
        uptime_secs: daemon.started.elapsed().as_secs(),
        services,
        plugins,
        jetstream: daemon.stack.jetstream_summary(),
        plugin_supervisor: plugin_supervisor_down,
        unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(text: &str) -> Outgoing {
        Outgoing::Chat { text: text.into() }
    }

    #[tokio::test]
    async fn say_prints_replies_as_they_are_and_the_rest_of_the_chat_marked() {
        let (reply_tx, replies) = mpsc::unbounded_channel();
        let (channel_tx, channel) = broadcast::channel(16);
        // As the bot does it: a timer's line and a PM while the command runs; then the reply,
        // handed over before its copy goes to the channel; another line soon after; one more
        // once `say` has stopped listening.
        let bot = tokio::spawn(async move {
            channel_tx.send(chat("tick")).expect("send");
            channel_tx
                .send(Outgoing::Pm {
                    to: "bob".into(),
                    text: "psst".into(),
                })
                .expect("send");
            tokio::time::sleep(Duration::from_millis(50)).await;
            reply_tx.send("alice rolled 2".to_owned()).expect("send");
            channel_tx.send(chat("alice rolled 2")).expect("send");
            channel_tx.send(chat("bob rolled 5")).expect("send");
            drop(reply_tx);
            tokio::time::sleep(REPLY_GRACE * 10).await;
            let _ = channel_tx.send(chat("too late"));
        });
        let started = tokio::time::Instant::now();
        let lines = collect_said(replies, channel, Duration::from_secs(5)).await;
        assert_eq!(
            lines,
            [
                "(meanwhile) tick",
                "(meanwhile) (PM to bob) psst",
                "alice rolled 2",
                "(meanwhile) bob rolled 5",
            ],
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "ends shortly after the reply"
        );
        bot.abort();
    }

    #[tokio::test]
    async fn with_no_reply_the_chat_meanwhile_is_still_shown() {
        let (_reply_tx, replies) = mpsc::unbounded_channel::<String>();
        let (channel_tx, channel) = broadcast::channel(16);
        channel_tx.send(chat("the hour is up")).expect("send");
        let lines = collect_said(replies, channel, Duration::from_millis(200)).await;
        assert_eq!(lines, ["(meanwhile) the hour is up"]);
    }

    #[test]
    fn memory_of_this_process_is_read_from_proc() {
        let bytes = super::memory_bytes(std::process::id()).expect("VmRSS of this process");
        assert!(bytes > 100 * 1024, "{bytes}");
        assert_eq!(super::memory_bytes(u32::MAX), None);
    }
}

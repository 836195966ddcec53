//! The daemon's side of the control socket: one JSON request per connection, answered from the
//! supervision tree and the board.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use rosey_actors::{
    client as sup,
    services::{board::Board, bot::ReplyWaiters, plugin::unit_name},
    stack::Stack,
    ChildInfo, ChildState,
};
use rosey_core::{connector::local::LocalConnector, messaging::Source, paths::Home};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::mpsc,
};

use crate::control::{Request, Response, StatusReport, UnitStatus};

/// What request handlers can reach.
pub struct Daemon {
    /// The home.
    pub home: Home,
    /// The tree.
    pub stack: Stack,
    /// Units' own reports.
    pub board: Board,
    /// The local chat, for `say` (`None` when the bot talks to CyTube).
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
pub const SERVICES: &[&str] = &["nats", "bot"];

/// Accepts connections until the listener fails.
pub async fn serve(listener: UnixListener, daemon: Arc<Daemon>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let daemon = daemon.clone();
                tokio::spawn(async move {
                    if let Err(err) = answer(stream, &daemon).await {
                        tracing::warn!("control connection: {err}");
                    }
                });
            }
            Err(err) => {
                tracing::error!("control socket: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(stream: UnixStream, daemon: &Daemon) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            // Reads are routine (dashboards and scripts poll status); changes are worth a line.
            if matches!(request, Request::Status) {
                tracing::debug!("control: {}", line.trim());
            } else {
                tracing::info!("control: {}", line.trim());
            }
            handle(request, daemon).await
        }
        Err(err) => Response::error(format!("unreadable request: {err}")),
    };
    let mut text = serde_json::to_string(&response).unwrap_or_default();
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await
}

async fn handle(request: Request, daemon: &Daemon) -> Response {
    match request {
        Request::Status => match status(daemon).await {
            Ok(report) => Response::ok(report),
            Err(err) => Response::error(err),
        },
        Request::Start { target } => on_target(daemon, &target, Op::Start).await,
        Request::Stop { target } => on_target(daemon, &target, Op::Stop).await,
        Request::Restart { target } => on_target(daemon, &target, Op::Restart).await,
        Request::Say {
            text,
            user,
            timeout_ms,
        } => say(daemon, &text, &user, timeout_ms).await,
        Request::Shutdown => {
            let _ = daemon.shutdown.send("`rosey stop`".to_owned());
            Response::ok(())
        }
        Request::PluginLoad { name, version } => {
            plugin_op(daemon, &name.clone(), "load", |stack| async move {
                if stack.has_plugin(&name).await? {
                    return Err(format!(
                        "{name} is already running; use `rosey plugin reload {name}`"
                    ));
                }
                stack.load_plugin(&name, &version).await
            })
            .await
        }
        Request::PluginUpdate {
            name,
            version,
            previous,
        } => {
            plugin_op(daemon, &name.clone(), "update", |stack| async move {
                if stack.has_plugin(&name).await? {
                    stack.update_plugin(&name, &version, &previous).await
                } else {
                    // Installed but not running (disabled, or crashed and removed): nothing
                    // to swap; the next start runs the new version.
                    Ok(())
                }
            })
            .await
        }
        Request::PluginUnload { name } => {
            plugin_op(daemon, &name.clone(), "unload", |stack| async move {
                if stack.has_plugin(&name).await? {
                    stack.unload_plugin(&name).await
                } else {
                    Ok(())
                }
            })
            .await
        }
        Request::PluginReload { name } => {
            plugin_op(daemon, &name.clone(), "reload", |stack| async move {
                if !stack.has_plugin(&name).await? {
                    return Err(format!(
                        "{name} is not running in the stack (is it installed and enabled?)"
                    ));
                }
                stack.reload_plugin(&name).await
            })
            .await
        }
        Request::RoutesChanged => match daemon.stack.refresh_routes().await {
            Ok(()) => Response::ok(()),
            Err(err) => Response::error(err),
        },
    }
}

/// Runs one operation on plugin `name` under its lock, timing it.
async fn plugin_op<F, Fut>(daemon: &Daemon, name: &str, what: &str, op: F) -> Response
where
    F: FnOnce(Stack) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let lock = daemon.plugin_lock(name);
    let _serialized = lock.lock().await;
    let started = Instant::now();
    let result = op(daemon.stack.clone()).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(()) => {
            tracing::info!("plugin {name}: {what} done in {ms:.1} ms");
            Response::ok(serde_json::json!({ "ms": ms }))
        }
        Err(err) => {
            tracing::error!("plugin {name}: {what} failed: {err}");
            Response::error(err)
        }
    }
}

#[derive(Clone, Copy)]
enum Op {
    Start,
    Stop,
    Restart,
}

async fn on_target(daemon: &Daemon, target: &str, op: Op) -> Response {
    let (supervisor, name) = if SERVICES.contains(&target) || target == "plugins" {
        (Some(daemon.stack.root.clone()), target.to_owned())
    } else {
        let plugins = match daemon.stack.plugins() {
            Some(plugins) => plugins,
            None => return Response::error("the plugin supervisor is not running"),
        };
        let known = match sup::children(&plugins).await {
            Ok(children) => children
                .into_iter()
                .map(|child| child.name)
                .collect::<Vec<_>>(),
            Err(err) => return Response::error(err),
        };
        if !known.iter().any(|name| name == target) {
            let mut valid: Vec<String> = SERVICES.iter().map(|s| s.to_string()).collect();
            valid.push("plugins".to_owned());
            valid.extend(known);
            return Response::error(format!(
                "no service or plugin named {target:?}; valid names: {}",
                valid.join(", ")
            ));
        }
        (Some(plugins), target.to_owned())
    };
    let Some(supervisor) = supervisor else {
        return Response::error("not running");
    };
    let result = match op {
        Op::Start => sup::start_child(&supervisor, &name).await,
        Op::Stop => sup::stop_child(&supervisor, &name).await,
        Op::Restart => sup::restart_child(&supervisor, &name).await,
    };
    match result {
        Ok(()) => Response::ok(()),
        Err(err) => Response::error(err),
    }
}

async fn say(daemon: &Daemon, text: &str, user: &str, timeout_ms: u64) -> Response {
    let Some(local) = &daemon.local else {
        return Response::error(
            "rosey say talks to the local chat, and this bot is connected to CyTube (bot.connector in rosey.yaml): say it in the CyTube channel instead",
        );
    };
    let waiting = daemon
        .waiters
        .inject(|| local.inject(user, text, Source::Chat));
    let (id, mut replies) = match waiting {
        Ok(waiting) => waiting,
        Err(err) => return Response::error(err.to_string()),
    };
    let mut collected = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
    // Wait for the first reply, then a moment for any that follow it.
    if let Ok(Some(reply)) = tokio::time::timeout_at(deadline, replies.recv()).await {
        collected.push(reply);
        let grace = tokio::time::Instant::now() + Duration::from_millis(150);
        while let Ok(Some(more)) =
            tokio::time::timeout_at(grace.min(deadline), replies.recv()).await
        {
            collected.push(more);
        }
    }
    daemon.waiters.forget(&id);
    Response::ok(collected)
}

fn uptime(info: &ChildInfo) -> Option<u64> {
    if info.state != ChildState::Running {
        return None;
    }
    info.started_at
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .map(|elapsed| elapsed.as_secs())
}

fn unit(info: &ChildInfo, board: &Board, unit_key: &str) -> UnitStatus {
    let report = board.get(unit_key).unwrap_or_default();
    let running = info.state == ChildState::Running;
    UnitStatus {
        name: info.name.clone(),
        state: info.state.as_str().to_owned(),
        pid: if running { report.pid } else { None },
        uptime_secs: uptime(info),
        restarts: info.restarts,
        last_exit: info.last_exit.clone(),
        version: report.version,
        detail: report.detail,
        dead_letters: None,
    }
}

/// The status report (`rosey status --json`).
pub async fn status(daemon: &Daemon) -> Result<StatusReport, String> {
    let services = sup::children(&daemon.stack.root)
        .await?
        .iter()
        .filter(|info| SERVICES.contains(&info.name.as_str()))
        .map(|info| unit(info, &daemon.board, &info.name))
        .collect();
    let dead_letters = daemon.stack.dead_letters().await;
    let plugins = match daemon.stack.plugins() {
        Some(plugins) => sup::children(&plugins)
            .await
            .unwrap_or_default()
            .iter()
            .map(|info| UnitStatus {
                dead_letters: Some(dead_letters.get(&info.name).copied().unwrap_or(0)),
                ..unit(info, &daemon.board, &unit_name(&info.name))
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(StatusReport {
        pid: std::process::id(),
        home: daemon.home.root().display().to_string(),
        uptime_secs: daemon.started.elapsed().as_secs(),
        services,
        plugins,
    })
}

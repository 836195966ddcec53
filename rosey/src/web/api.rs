//! The dashboard's routes: the page, and the JSON API it runs on. Errors are JSON
//! (`{"error": "..."}`) with a status code that says what kind of problem it is.
//!
//! ```text
//! GET  /                                   the page (page.html), its scripts /page.js and
//!                                          /nodes.js (the Nodes table); the charts'
//!                                          /charts.js, /metrics and /api/history are in
//!                                          metrics.rs
//! GET  /api/status                         = rosey status --json
//! GET  /api/plugins                        installed plugins (name, version, enabled)
//! GET  /api/events                         SSE: `status` each second and after each `notice` (one per
//!                                          supervision event); `status_error` when status fails
//! GET  /api/events/recent                  the last 200 notices
//! GET  /api/plugins/{name}/log?lines=N     the last N lines of logs/plugins/<name>.log
//! GET  /api/plugins/{name}/log/follow?lines=N
//!                                          SSE: `lines` (the last N), then `line` per new line;
//!                                          `skipped` (a count) when this stream fell behind
//! POST /api/plugins/{name}/{reload|restart|enable|disable}
//! POST /api/plugins/{name}/remove {yes, keep_data}
//!                                          = rosey plugin remove; 409 + `confirm` unless yes or
//!                                          keep_data
//! POST /api/plugins/install?file=<name>[&update=true]
//!                                          body: the .roseyplug (application/octet-stream, at
//!                                          most 64 MiB) = rosey plugin install|update; a newer
//!                                          version of an installed plugin needs update=true
//!                                          (else 409 + `confirm`)
//! POST /api/services/{name}/restart
//! POST /api/chat {user, text}              local connector only; the bot's replies
//! GET  /api/deadletters[?plugin=]          = rosey deadletter list --json
//! GET  /api/deadletters/{id}               = rosey deadletter show --json
//! POST /api/deadletters/{id}/replay        {replayed, refused}; 409 with why when refused
//! POST /api/deadletters/replay?plugin=     {replayed, refused}: each refusal with why
//! POST /api/deadletters/{id}/purge {yes}   {purged, message}
//! POST /api/deadletters/purge[?plugin=][&older_than_secs=] {yes}
//! ```
//!
//! Installs, removes and purges run the CLI's own code; their refusals are its messages.

use rosey_core::rank::Rank;
use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        Path, Query, State,
    },
    http::{header, StatusCode},
    middleware,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{get, post},
    Json, Router,
};
use futures::Stream;
use rosey_core::messaging;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use super::{auth, WebState};

mod dead_letters;
mod follow;
mod plugin_files;
use crate::daemon::ops::{self, Daemon, OpError, UnitOp, SERVICES};

/// The page: its markup and style, and its script; no build step.
const PAGE: &str = include_str!("page.html");
/// The page's script.
const PAGE_SCRIPT: &str = include_str!("page.js");
/// The page's Nodes table (the plugin nodes of a cluster), drawn by page.js's render.
const NODES_SCRIPT: &str = include_str!("nodes.js");

/// A failed request: its status code and what to tell the caller.
pub(super) struct ApiError(StatusCode, String);

impl ApiError {
    /// An error with `status` saying `message`.
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError(status, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<OpError> for ApiError {
    fn from(err: OpError) -> ApiError {
        let status = match err {
            OpError::NotFound(_) => StatusCode::NOT_FOUND,
            OpError::Conflict(_) => StatusCode::CONFLICT,
            OpError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, err.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

impl WebState {
    fn daemon(&self) -> ApiResult<Arc<Daemon>> {
        self.daemon.get().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "rosey is still starting; try again in a moment",
            )
        })
    }
}

/// Every route, behind the auth guard.
pub(super) fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/page.js", get(page_script))
        .route("/nodes.js", get(nodes_script))
        .route("/api/status", get(status))
        .route("/api/plugins", get(plugins))
        .route("/api/events", get(events))
        .route("/api/events/recent", get(recent))
        .route("/api/plugins/install", post(plugin_files::install))
        .route("/api/plugins/{name}/log", get(plugin_log))
        .route("/api/plugins/{name}/log/follow", get(follow::follow))
        .route("/api/plugins/{name}/remove", post(plugin_files::remove))
        .route("/api/plugins/{name}/{action}", post(plugin_action))
        .route("/api/services/{name}/restart", post(service_restart))
        .route("/api/chat", post(chat))
        .route("/api/deadletters", get(dead_letters::list))
        .route("/api/deadletters/replay", post(dead_letters::replay_plugin))
        .route("/api/deadletters/purge", post(dead_letters::purge))
        .route("/api/deadletters/{id}", get(dead_letters::show))
        .route(
            "/api/deadletters/{id}/replay",
            post(dead_letters::replay_one),
        )
        .route("/api/deadletters/{id}/purge", post(dead_letters::purge_one))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .with_state(state)
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        PAGE,
    )
        .into_response()
}

async fn page_script() -> Response {
    script(PAGE_SCRIPT)
}

async fn nodes_script() -> Response {
    script(NODES_SCRIPT)
}

/// A script of the page's, never cached (a new daemon may bring a new one).
pub(super) fn script(text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such page or API endpoint; the API lives under /api (status, plugins, events, chat, deadletters)",
    )
}

async fn status(State(state): State<WebState>) -> ApiResult<Json<crate::control::StatusReport>> {
    Ok(Json(ops::status(&*state.daemon()?).await?))
}

async fn plugins(State(state): State<WebState>) -> ApiResult<Json<Vec<ops::InstalledView>>> {
    Ok(Json(ops::installed(&*state.daemon()?).await?))
}

async fn recent(State(state): State<WebState>) -> Json<Vec<messaging::SupervisionEvent>> {
    Json(state.feed.recent())
}

/// The live stream: a `status` event every second and right after each `notice` event.
async fn events(
    State(state): State<WebState>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let daemon = state.daemon()?;
    let (tx, rx) = mpsc::channel::<Event>(32);
    let mut notices = state.feed.subscribe();
    let mut stopping = state.stopping.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            let notice = tokio::select! {
                _ = ticks.tick() => None,
                notice = notices.recv() => match notice {
                    Ok(notice) => Some(notice),
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = stopping.wait_for(|stop| *stop) => break,
                _ = tx.closed() => break,
            };
            if let Some(notice) = notice {
                let event = Event::default()
                    .event("notice")
                    .data(String::from_utf8_lossy(&messaging::encode(&notice)));
                if tx.send(event).await.is_err() {
                    break;
                }
            }
            let event = match ops::status(&daemon).await {
                Ok(report) => Event::default()
                    .event("status")
                    .data(serde_json::to_string(&report).unwrap_or_default()),
                Err(err) => Event::default()
                    .event("status_error")
                    .data(json!({ "error": err.to_string() }).to_string()),
            };
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    Ok(event_stream(rx))
}

/// The events a task sends on `rx`, as a server-sent event stream kept alive while idle; it
/// ends when the task drops its sender.
pub(super) fn event_stream(
    rx: mpsc::Receiver<Event>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `?lines=N`.
#[derive(Deserialize)]
struct LogQuery {
    lines: Option<usize>,
}

/// Most lines one log request returns.
const MAX_LOG_LINES: usize = 2000;

/// Refuses what is not a plugin name (and so could not name a file under `logs/plugins/`).
fn check_plugin_name(name: &str) -> ApiResult<()> {
    if rosey_core::manifest::is_valid_plugin_name(name) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{name:?} is not a plugin name (3 to 50 characters of a-z, 0-9 and -)"),
        ))
    }
}

/// A plugin log request's plugin name checked and its `?lines=N` read (100 when absent,
/// bounded to 1..=[`MAX_LOG_LINES`]).
fn log_request(name: &str, query: Result<Query<LogQuery>, QueryRejection>) -> ApiResult<usize> {
    let Query(query) = query.map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{err}: lines must be a number (1 to {MAX_LOG_LINES})"),
        )
    })?;
    check_plugin_name(name)?;
    Ok(query.lines.unwrap_or(100).clamp(1, MAX_LOG_LINES))
}

async fn plugin_log(
    State(state): State<WebState>,
    Path(name): Path<String>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let lines = log_request(&name, query)?;
    let path = state.daemon()?.home.plugin_log(&name);
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || rosey_core::logs::tail(&path, lines)).await
    };
    match read {
        Ok(Ok(lines)) => Ok(Json(json!({ "plugin": name, "lines": lines }))),
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("plugin {name} has no log yet ({})", path.display()),
        )),
        Ok(Err(err)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read {}: {err}", path.display()),
        )),
        Err(err) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading {} did not finish: {err}", path.display()),
        )),
    }
}

fn is_service(name: &str) -> bool {
    SERVICES.contains(&name) || name == rosey_core::units::PLUGINS
}

async fn plugin_action(
    State(state): State<WebState>,
    Path((name, action)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    if is_service(&name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{name} is a service, not a plugin: POST /api/services/{name}/restart"),
        ));
    }
    let daemon = state.daemon()?;
    let message = match action.as_str() {
        "reload" => {
            let ms = ops::reload_plugin(&daemon, &name).await?;
            format!("plugin {name} reloaded in {ms:.0} ms")
        }
        "restart" => {
            ops::unit_op(&daemon, &name, UnitOp::Restart).await?;
            format!("plugin {name} restarted")
        }
        "enable" => ops::set_enabled(&daemon, &name, true).await?,
        "disable" => ops::set_enabled(&daemon, &name, false).await?,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no plugin action {other:?}: use reload, restart, enable or disable"),
            ))
        }
    };
    tracing::info!("{message} (from the dashboard)");
    Ok(Json(json!({ "ok": true, "message": message })))
}

async fn service_restart(
    State(state): State<WebState>,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    if !is_service(&name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no service named {name:?}; the services are {}, plugins",
                SERVICES.join(", ")
            ),
        ));
    }
    ops::unit_op(&*state.daemon()?, &name, UnitOp::Restart).await?;
    tracing::info!("service {name} restarted (from the dashboard)");
    Ok(Json(
        json!({ "ok": true, "message": format!("{name} restarted") }),
    ))
}

#[derive(Deserialize)]
struct ChatRequest {
    user: String,
    text: String,
}

async fn chat(
    State(state): State<WebState>,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    if !state.local_chat {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the chat box talks through the local connector, and this bot is connected elsewhere (bot.connector in rosey.yaml); say it in the real chat instead",
        ));
    }
    let Json(request) = body.map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{}: send {{\"user\": \"name\", \"text\": \"!roll 2d6\"}}",
                err.body_text()
            ),
        )
    })?;
    let user = request.user.trim();
    let text = request.text.trim();
    if user.is_empty() || user.contains(char::is_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{user:?} is not a user name: use a name without spaces"),
        ));
    }
    if text.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the message is empty: type something, e.g. !roll 2d6",
        ));
    }
    let replies = ops::say(
        &*state.daemon()?,
        user,
        Rank::REGISTERED,
        text,
        state.say_timeout,
    )
    .await?;
    Ok(Json(json!({ "replies": replies })))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, OnceLock};

    use super::*;

    #[test]
    fn every_route_has_its_own_path() {
        // axum refuses overlapping routes when the router is built: at the service's start.
        let state = WebState {
            daemon: Arc::new(OnceLock::new()),
            feed: crate::web::Feed::default(),
            token: None,
            local_chat: false,
            say_timeout: Duration::from_secs(1),
            stopping: tokio::sync::watch::channel(false).1,
        };
        let _ = router(state);
    }
}

//! The `web` service: the dashboard (one embedded page) and the JSON API behind it, served with
//! axum on `web.host:web.port` (127.0.0.1:8080 by default).
//!
//! It is a supervised child of the root supervisor like `nats` and `bot`, added through the
//! stack's generic [`ExtraService`] hook so that rosey-actors needs no web dependencies. The
//! port is bound once, when the daemon starts (a taken port fails the start and names the
//! key); each instance of the actor serves that socket until it stops, so a restart of `web`
//! keeps its URL. Every answer comes from the daemon's own operations (`daemon::ops`), the
//! same ones the control socket uses: `/api/status` is `rosey status --json`.

mod api;
mod auth;
pub mod feed;
mod metrics;
pub mod token;

use std::{
    net::TcpListener,
    sync::{Arc, OnceLock},
    time::Duration,
};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use rosey_actors::{
    spawn_child,
    stack::ExtraService,
    stack::{Board, UnitReport},
};
use rosey_core::config::{Config, ConnectorKind};
use tokio::sync::watch;

use crate::daemon::ops::Daemon;
pub use feed::Feed;

/// The service's name under the root supervisor (and its board key).
pub const UNIT: &str = rosey_core::units::WEB;

/// The running daemon, filled in once the stack is up: the dashboard starts before that (it
/// is part of the stack) and answers 503 until then.
pub type DaemonSlot = Arc<OnceLock<Arc<Daemon>>>;

/// What every request handler can reach.
#[derive(Clone)]
struct WebState {
    daemon: DaemonSlot,
    feed: Feed,
    token: Option<Arc<str>>,
    local_chat: bool,
    say_timeout: Duration,
    /// Becomes `true` when this instance of the service stops: open event streams end.
    stopping: watch::Receiver<bool>,
}

/// The dashboard's socket, bound at daemon start, and the URL it answers on.
pub struct Bound {
    listener: Arc<TcpListener>,
    /// `http://host:port/`.
    pub url: String,
}

/// Binds `web.host:web.port` (0: a free port, which then stays for the daemon's life).
pub fn bind(config: &Config) -> Result<Bound, String> {
    let web = &config.web;
    let listener = TcpListener::bind((web.host.as_str(), web.port)).map_err(|err| {
        format!(
            "the dashboard cannot listen on {}:{}: {err}; set web.port in rosey.yaml to a free port (0 picks one), or web.enabled: false",
            web.host, web.port
        )
    })?;
    let port = listener
        .local_addr()
        .map_err(|err| format!("the dashboard's socket has no address: {err}"))?
        .port();
    let host = if web.host.contains(':') && !web.host.starts_with('[') {
        format!("[{}]", web.host)
    } else {
        web.host.clone()
    };
    Ok(Bound {
        listener: Arc::new(listener),
        url: format!("http://{host}:{port}/"),
    })
}

/// The `web` service for the stack: serves `bound` with answers from the daemon in `daemon`;
/// every request must carry `token` (`None`: `web.token: none`, loopback only).
pub fn service(
    bound: Bound,
    config: &Config,
    token: Option<String>,
    daemon: DaemonSlot,
    feed: Feed,
    board: Board,
) -> ExtraService {
    let args = WebArgs {
        listener: bound.listener,
        url: bound.url,
        daemon,
        feed,
        token: token.map(Arc::from),
        local_chat: matches!(config.bot.connector, ConnectorKind::Local),
        say_timeout: config.bot.say_timeout(),
        board,
    };
    ExtraService {
        name: UNIT.to_owned(),
        factory: Arc::new(move |supervisor: ActorCell| {
            let args = args.clone();
            async move { spawn_child(None, WebActor, args, supervisor).await }
        }),
    }
}

/// Serves the dashboard until stopped; fails (and is restarted) if the server ends by itself.
struct WebActor;

#[derive(Clone)]
struct WebArgs {
    listener: Arc<TcpListener>,
    url: String,
    daemon: DaemonSlot,
    feed: Feed,
    token: Option<Arc<str>>,
    local_chat: bool,
    say_timeout: Duration,
    board: Board,
}

/// The server of one instance.
struct WebRunning {
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    board: Board,
}

/// Messages to the web actor.
enum WebMsg {
    /// The server task ended on its own.
    ServerEnded(String),
}

impl Actor for WebActor {
    type Msg = WebMsg;
    type State = WebRunning;
    type Arguments = WebArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WebMsg>,
        args: WebArgs,
    ) -> Result<WebRunning, ActorProcessingErr> {
        let socket = args
            .listener
            .try_clone()
            .map_err(|err| format!("cannot share the dashboard's socket: {err}"))?;
        socket.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(socket)?;
        let (stop, stopping) = watch::channel(false);
        let state = WebState {
            daemon: args.daemon.clone(),
            feed: args.feed.clone(),
            token: args.token.clone(),
            local_chat: args.local_chat,
            say_timeout: args.say_timeout,
            stopping: stopping.clone(),
        };
        let app = api::router(state.clone()).merge(metrics::router(state));
        let server = tokio::spawn(async move {
            let mut until = stopping.clone();
            let shutdown = async move {
                let _ = until.wait_for(|stop| *stop).await;
            };
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
            if !*stopping.borrow() {
                let reason = match result {
                    Ok(()) => "the dashboard's server stopped".to_owned(),
                    Err(err) => format!("the dashboard's server failed: {err}"),
                };
                let _ = myself.send_message(WebMsg::ServerEnded(reason));
            }
        });
        args.board.set(
            UNIT,
            UnitReport {
                pid: Some(std::process::id()),
                version: None,
                detail: Some(args.url.clone()),
                ..UnitReport::default()
            },
        );
        tracing::info!("dashboard on {}", args.url);
        Ok(WebRunning {
            stop,
            server,
            board: args.board,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<WebMsg>,
        message: WebMsg,
        _state: &mut WebRunning,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WebMsg::ServerEnded(reason) => Err(reason.into()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WebMsg>,
        state: &mut WebRunning,
    ) -> Result<(), ActorProcessingErr> {
        // The server stops accepting at once; requests in flight (maybe the very request that
        // restarts this service, so waiting for them here would wait for ourselves) get a few
        // seconds to finish in the background, then the rest is cut off.
        let _ = state.stop.send(true);
        let server = std::mem::replace(&mut state.server, tokio::spawn(async {}));
        tokio::spawn(async move {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        });
        state.board.clear(UNIT);
        Ok(())
    }
}

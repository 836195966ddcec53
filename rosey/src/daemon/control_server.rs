//! The daemon's side of the control socket: one JSON request per connection, answered by the
//! operations in [`super::ops`] (which the web API calls too). Each peer's credentials are
//! checked first ([`super::peer`]): only the operator, never a plugin host or its children.

use rosey_core::rank::Rank;
use std::{collections::HashSet, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
};

use super::{
    ops::{self, Daemon, OpError, UnitOp},
    peer::{self, Own, Peer, Refusal},
};
use crate::control::{Request, Response};

/// How much of a refused peer's request is read (and dropped) before the refusal is sent.
const REFUSED_READ_LIMIT: u64 = 64 * 1024;

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

/// The pids of the daemon's plugin hosts: those serving (the board) and the warm spares.
fn host_pids(daemon: &Daemon) -> HashSet<u32> {
    daemon
        .board
        .pids(rosey_actors::stack::UNIT_PREFIX)
        .into_iter()
        .map(|(_, pid)| pid)
        .chain(daemon.stack.spare_pids())
        .collect()
}

/// The daemon as the peer check sees it, read once.
fn own() -> Own {
    static OWN: std::sync::OnceLock<Own> = std::sync::OnceLock::new();
    *OWN.get_or_init(|| {
        let pid = std::process::id();
        Own {
            // SAFETY: geteuid cannot fail.
            uid: unsafe { libc::geteuid() },
            pid,
            start: peer::proc_links(pid).map_or(0, |links| links.start),
        }
    })
}

/// Checks the peer's credentials; `Err` is the refusal to send it.
fn admit(stream: &UnixStream, daemon: &Daemon) -> Result<(), Refusal> {
    let cred = match stream.peer_cred() {
        Ok(cred) => cred,
        Err(err) => {
            tracing::warn!("control socket: a peer without credentials was refused: {err}");
            return Err(Refusal::NoPid);
        }
    };
    let peer = Peer {
        uid: cred.uid(),
        pid: cred.pid().and_then(|pid| u32::try_from(pid).ok()),
    };
    let verdict = peer::decide(peer, own(), &host_pids(daemon), peer::proc_links);
    if let Err(refusal) = &verdict {
        tracing::warn!(
            "control socket: refused process {} (uid {}): {refusal}",
            peer.pid
                .map_or_else(|| "?".to_owned(), |pid| pid.to_string()),
            peer.uid
        );
    }
    verdict
}

async fn answer(stream: UnixStream, daemon: &Daemon) -> std::io::Result<()> {
    if let Err(refusal) = admit(&stream, daemon) {
        let mut text =
            serde_json::to_string(&Response::error(refusal.to_string())).unwrap_or_default();
        text.push('\n');
        let (read, mut write) = stream.into_split();
        // The request is read (a little of it, briefly) and dropped unanswered, so the peer's
        // write does not fail before it can read why it was refused.
        let mut ignored = String::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            BufReader::new(read.take(REFUSED_READ_LIMIT)).read_line(&mut ignored),
        )
        .await;
        write.write_all(text.as_bytes()).await?;
        return write.shutdown().await;
    }
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            tracing::info!("control: {}", line.trim());
            handle(request, daemon).await
        }
        Err(err) => Response::error(format!("unreadable request: {err}")),
    };
    let mut text = serde_json::to_string(&response).unwrap_or_default();
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await
}

/// An operation's outcome as a control response.
fn reply<T: serde::Serialize>(result: Result<T, OpError>) -> Response {
    match result {
        Ok(data) => Response::ok(data),
        Err(err) => Response::error(err.to_string()),
    }
}

/// A plugin operation's time as the CLI expects it (`{"ms": …}`).
fn timed(result: Result<f64, OpError>) -> Response {
    reply(result.map(|ms| serde_json::json!({ "ms": ms })))
}

async fn handle(request: Request, daemon: &Daemon) -> Response {
    match request {
        Request::Status => reply(ops::status(daemon).await),
        Request::Start { target } => reply(ops::unit_op(daemon, &target, UnitOp::Start).await),
        Request::Stop { target } => reply(ops::unit_op(daemon, &target, UnitOp::Stop).await),
        Request::Restart { target } => reply(ops::unit_op(daemon, &target, UnitOp::Restart).await),
        Request::Say {
            text,
            user,
            rank,
            timeout_ms,
        } => reply(
            ops::say(
                daemon,
                &user,
                rank.unwrap_or(Rank::REGISTERED),
                &text,
                Duration::from_millis(timeout_ms),
            )
            .await,
        ),
        Request::Shutdown => {
            let _ = daemon.shutdown.send("`rosey stop`".to_owned());
            Response::ok(())
        }
        Request::PluginLoad { name, version } => {
            timed(ops::load_plugin(daemon, &name, &version).await)
        }
        Request::PluginUpdate {
            name,
            version,
            previous,
        } => timed(ops::update_plugin(daemon, &name, &version, &previous).await),
        Request::PluginUnload { name } => timed(ops::unload_plugin(daemon, &name).await),
        Request::PluginReload { name } => timed(ops::reload_plugin(daemon, &name).await),
        Request::PluginConfig { name } => reply(ops::configure_plugin(daemon, &name).await),
        Request::RoutesChanged => {
            reply(daemon.stack.refresh_routes().await.map_err(OpError::failed))
        }
        Request::DeadLetters { plugin } => {
            reply(ops::dead_letters::list(daemon, plugin.as_deref()).await)
        }
        Request::DeadLetter { id } => reply(ops::dead_letters::show(daemon, id).await),
        Request::PurgeDeadLetters {
            id,
            plugin,
            older_than_secs,
        } => reply(
            ops::dead_letters::purge(
                daemon,
                id,
                plugin.as_deref(),
                older_than_secs.map(Duration::from_secs),
            )
            .await
            .map(|purged| serde_json::json!({ "purged": purged })),
        ),
        Request::ReplayDeadLetters { id, plugin } => {
            reply(ops::replay::replay(daemon, id, plugin.as_deref()).await)
        }
    }
}

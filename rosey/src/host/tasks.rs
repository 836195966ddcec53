//! The host's background tasks and waits: heartbeats, the NATS outage watch, progress acks
//! while a handler runs, and handing back what a stopping host already received.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use async_nats::jetstream::{self, AckKind};
use rosey_core::messaging::{self, Heartbeat, SCHEMA_VERSION};
use tokio::sync::{oneshot, watch};

use super::{
    plugin_thread::{HookOutcome, Shared},
    pull::PullRequest,
};

/// How long a stopping host waits for the server to confirm its pull request is over.
const HAND_BACK_WITHIN: Duration = Duration::from_secs(2);

/// Resolves once the connection has been down for longer than `limit` without a break.
pub(super) async fn outage_exceeds(mut connected: watch::Receiver<bool>, limit: Duration) {
    loop {
        while *connected.borrow_and_update() {
            if connected.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
        let back = async {
            while !*connected.borrow_and_update() {
                if connected.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        if tokio::time::timeout(limit, back).await.is_err() {
            return;
        }
    }
}

/// Waits for a hook to finish, telling JetStream the message is still being worked on so a
/// slow handler is not mistaken for a lost one.
pub(super) async fn await_with_progress(
    message: &jetstream::Message,
    mut done: oneshot::Receiver<HookOutcome<()>>,
) -> HookOutcome<()> {
    // The first tick lies one period ahead: awaiting an immediate first tick would wait for
    // tokio's next timer tick (up to 1 ms) on every message.
    let every = messaging::ACK_WAIT / 2;
    let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            outcome = &mut done => {
                return outcome.unwrap_or_else(|_| HookOutcome::Panicked("the plugin thread ended mid-message".to_owned()));
            }
            _ = progress.tick() => {
                let _ = message.ack_with(AckKind::Progress).await;
            }
        }
    }
}

/// Gives back (nak) what the last pull request delivered to this host and it did not handle,
/// so the next instance gets it at once instead of after the ack timeout. The request is ended
/// first ([`PullRequest::end`]): a message nak'd while it is still open would go straight back to
/// it.
pub(super) async fn hand_back(request: PullRequest) {
    for message in request.end(HAND_BACK_WITHIN).await {
        let _ = message.ack_with(AckKind::Nak(None)).await;
    }
}

pub(super) async fn heartbeats(
    client: async_nats::Client,
    plugin: String,
    version: String,
    every: Duration,
    shared: Shared,
    handled: Arc<AtomicU64>,
) {
    let mut ticks = tokio::time::interval(every);
    let subject = messaging::heartbeat_subject(&plugin);
    loop {
        ticks.tick().await;
        let busy = match shared.busy.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let beat = Heartbeat {
            v: SCHEMA_VERSION,
            plugin: plugin.clone(),
            version: version.clone(),
            pid: std::process::id(),
            busy,
            handled: handled.load(Ordering::Relaxed),
            time_ms: messaging::now_ms(),
        };
        let _ = client
            .publish(subject.clone(), messaging::encode(&beat).into())
            .await;
    }
}

//! The dead letters for the operator (`rosey deadletter`): listed, shown and purged through
//! the daemon's own bus connection, each described by what it was (`command "chaos exit" from
//! gina`) as well as by its id.

use std::time::{Duration, UNIX_EPOCH};

use rosey_core::{
    dead_letters::{self, DeadLetter, DeadLetterError},
    messaging,
};
use serde::Serialize;

use super::{Daemon, OpError};

/// A dead letter as the CLI and the dashboard show it.
#[derive(Debug, Serialize)]
pub struct DeadLetterView {
    /// Its id (its sequence in the dead-letter stream).
    pub id: u64,
    /// The plugin whose hosts died on it.
    pub plugin: String,
    /// The subject it was first published on.
    pub subject: String,
    /// How many hosts died handling it, when known.
    pub attempts: Option<u32>,
    /// When it was parked, in ms since the Unix epoch.
    pub parked_at_ms: u64,
    /// What it was, in a few words: `command "roll 2d6" from alice`, `event chat.message`.
    pub summary: String,
    /// The message as published (JSON), for `show`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

impl DeadLetterView {
    fn of(letter: &DeadLetter, with_payload: bool) -> DeadLetterView {
        let summary = messaging::describe(&letter.subject, &letter.payload);
        let payload = with_payload.then(|| {
            serde_json::from_slice(&letter.payload).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&letter.payload).into_owned())
            })
        });
        DeadLetterView {
            id: letter.id,
            plugin: letter.plugin.clone(),
            subject: letter.subject.clone(),
            attempts: letter.attempts,
            parked_at_ms: letter
                .parked_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64),
            summary,
            payload,
        }
    }
}

/// The daemon's JetStream context.
pub(super) async fn jetstream(daemon: &Daemon) -> Result<async_nats::jetstream::Context, OpError> {
    let client = daemon
        .stack
        .client()
        .await
        .map_err(|err| OpError::Failed(format!("the message bus cannot be reached: {err}")))?;
    Ok(async_nats::jetstream::new(client))
}

/// A dead-letter error as an operation's: a missing letter is not found, the rest failed.
pub(super) fn op_error(err: DeadLetterError) -> OpError {
    match err {
        DeadLetterError::NotFound(_) => OpError::NotFound(err.to_string()),
        other => OpError::failed(other),
    }
}

/// Every dead letter, or `plugin`'s, oldest first.
pub async fn list(daemon: &Daemon, plugin: Option<&str>) -> Result<Vec<DeadLetterView>, OpError> {
    let letters = dead_letters::list(&jetstream(daemon).await?, plugin)
        .await
        .map_err(op_error)?;
    Ok(letters
        .iter()
        .map(|l| DeadLetterView::of(l, false))
        .collect())
}

/// Dead letter `id`, with its message.
pub async fn show(daemon: &Daemon, id: u64) -> Result<DeadLetterView, OpError> {
    let letter = dead_letters::get(&jetstream(daemon).await?, id)
        .await
        .map_err(op_error)?;
    Ok(DeadLetterView::of(&letter, true))
}

/// Removes dead letter `id`, or those of `plugin` (all plugins when `None`) parked longer than
/// `older_than` ago (all when `None`); returns how many went.
pub async fn purge(
    daemon: &Daemon,
    id: Option<u64>,
    plugin: Option<&str>,
    older_than: Option<Duration>,
) -> Result<usize, OpError> {
    let js = jetstream(daemon).await?;
    match id {
        Some(id) => dead_letters::remove(&js, id)
            .await
            .map(|()| 1)
            .map_err(op_error),
        None => dead_letters::purge(&js, plugin, older_than)
            .await
            .map_err(op_error),
    }
}

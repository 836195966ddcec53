//! The dead letters, read and pruned for the operator: the messages a plugin's hosts kept dying
//! on, parked in the `ROSEY_DEADLETTER` stream (subject `rosey.deadletter.<plugin>`, see
//! [`crate::messaging`]) with the subject they were first published on and how many hosts died
//! handling them. Each is known by its sequence in that stream (its id), and it stays there,
//! for up to a week, until the operator removes it.
//!
//! This module reads, removes and replays them; the plugin actor writes them.

use std::time::{Duration, SystemTime};

use async_nats::jetstream::{
    self,
    stream::{DeleteMessageErrorKind, LastRawMessageErrorKind},
    ErrorCode,
};

use crate::messaging::{
    dead_letter_plugin, dead_letter_subject, replay_msg_id, replay_subject, DEAD_LETTER_STREAM,
    DEAD_LETTER_SUBJECTS, FAILED_ATTEMPTS_HEADER, ORIGINAL_SUBJECT_HEADER, REPLAYED_FROM_HEADER,
};

/// One parked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its sequence in the dead-letter stream: what `show`, `replay` and `purge` name.
    pub id: u64,
    /// The plugin whose hosts died on it.
    pub plugin: String,
    /// The subject it was first published on (`rosey.commands.roll`, `rosey.events.…`).
    pub subject: String,
    /// How many hosts died handling it (`None` when the header is missing or unreadable).
    pub attempts: Option<u32>,
    /// When it was parked.
    pub parked_at: SystemTime,
    /// The message as it was published (JSON).
    pub payload: Vec<u8>,
}

/// Why the dead letters could not be read or removed.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The dead-letter stream cannot be reached (NATS down, or the stream missing).
    #[error("cannot reach the dead-letter stream {DEAD_LETTER_STREAM}: {0}")]
    Stream(String),
    /// No dead letter has that id (never was one, or removed since).
    #[error("there is no dead letter {0} (never parked, or removed since)")]
    NotFound(u64),
    /// Reading or removing one failed.
    #[error("dead letter {id}: {reason}")]
    Failed {
        /// The dead letter.
        id: u64,
        /// What went wrong.
        reason: String,
    },
}

/// The dead-letter stream of the bus `js` talks to.
async fn stream(js: &jetstream::Context) -> Result<jetstream::stream::Stream<()>, DeadLetterError> {
    js.get_stream_no_info(DEAD_LETTER_STREAM)
        .await
        .map_err(|err| DeadLetterError::Stream(err.to_string()))
}

/// The subject filter for `plugin`'s dead letters, or every plugin's.
fn filter(plugin: Option<&str>) -> String {
    plugin.map_or_else(|| DEAD_LETTER_SUBJECTS.to_owned(), dead_letter_subject)
}

/// A stored message read as a dead letter.
fn read(message: jetstream::message::StreamMessage) -> DeadLetter {
    let header = |name: &str| {
        message
            .headers
            .get(name)
            .map(|value| value.as_str().to_owned())
    };
    let plugin = dead_letter_plugin(message.subject.as_str())
        .unwrap_or_default()
        .to_owned();
    let parked_at = SystemTime::UNIX_EPOCH
        + Duration::from_nanos(
            u64::try_from(message.time.unix_timestamp_nanos()).unwrap_or_default(),
        );
    DeadLetter {
        id: message.sequence,
        plugin,
        subject: header(ORIGINAL_SUBJECT_HEADER).unwrap_or_default(),
        attempts: header(FAILED_ATTEMPTS_HEADER).and_then(|n| n.trim().parse().ok()),
        parked_at,
        payload: message.payload.to_vec(),
    }
}

/// Every dead letter of `plugin` (or of every plugin), oldest first.
pub async fn list(
    js: &jetstream::Context,
    plugin: Option<&str>,
) -> Result<Vec<DeadLetter>, DeadLetterError> {
    let stream = stream(js).await?;
    let filter = filter(plugin);
    let mut letters = Vec::new();
    let mut from = 1;
    loop {
        match stream.get_first_raw_message_by_subject(&filter, from).await {
            Ok(message) => {
                from = message.sequence + 1;
                letters.push(read(message));
            }
            Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => {
                return Ok(letters)
            }
            Err(err) => return Err(DeadLetterError::Stream(err.to_string())),
        }
    }
}

/// Dead letter `id`.
pub async fn get(js: &jetstream::Context, id: u64) -> Result<DeadLetter, DeadLetterError> {
    let stream = stream(js).await?;
    match stream.get_raw_message(id).await {
        Ok(message) => Ok(read(message)),
        Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => {
            Err(DeadLetterError::NotFound(id))
        }
        Err(err) => Err(DeadLetterError::Failed {
            id,
            reason: err.to_string(),
        }),
    }
}

/// Removes dead letter `id`.
pub async fn remove(js: &jetstream::Context, id: u64) -> Result<(), DeadLetterError> {
    let stream = stream(js).await?;
    match stream.delete_message(id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(DeadLetterError::NotFound(id)),
        Err(err)
            if matches!(err.kind(), DeleteMessageErrorKind::JetStream(js_err)
                if [ErrorCode::NO_MESSAGE_FOUND, ErrorCode::SEQUENCE_NOT_FOUND]
                    .contains(&js_err.error_code())) =>
        {
            Err(DeadLetterError::NotFound(id))
        }
        Err(err) => Err(DeadLetterError::Failed {
            id,
            reason: err.to_string(),
        }),
    }
}

/// Removes the dead letters of `plugin` (or of every plugin) parked before `older_than` ago
/// (all of them when `None`); returns how many went.
pub async fn purge(
    js: &jetstream::Context,
    plugin: Option<&str>,
    older_than: Option<Duration>,
) -> Result<usize, DeadLetterError> {
    let cutoff = older_than.map(|age| SystemTime::now() - age);
    let mut removed = 0;
    for letter in list(js, plugin).await? {
        if cutoff.is_some_and(|cutoff| letter.parked_at > cutoff) {
            continue;
        }
        match remove(js, letter.id).await {
            Ok(()) => removed += 1,
            // Gone meanwhile (another purge, the stream's own age limit): not ours to count.
            Err(DeadLetterError::NotFound(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(removed)
}

/// Sends dead letter `letter` again to its plugin, once: published on its replay subject (only
/// that plugin's consumer reads it, as if it came on its first subject) and, once the stream
/// has stored it, removed from the dead letters. A second replay of the same letter within the
/// stream's duplicate window is stored once. Whether the plugin can take it (running, still
/// handling that command) is the caller's to check.
pub async fn replay(js: &jetstream::Context, letter: &DeadLetter) -> Result<(), DeadLetterError> {
    if letter.subject.is_empty() {
        return Err(DeadLetterError::Failed {
            id: letter.id,
            reason: format!(
                "its {ORIGINAL_SUBJECT_HEADER} header is missing, so where it goes is unknown; \
                 it can only be purged"
            ),
        });
    }
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        async_nats::header::NATS_MESSAGE_ID,
        replay_msg_id(letter.id).as_str(),
    );
    headers.insert(REPLAYED_FROM_HEADER, letter.id.to_string().as_str());
    let failed = |err: String| DeadLetterError::Failed {
        id: letter.id,
        reason: format!("could not be replayed (it stays parked): {err}"),
    };
    js.publish_with_headers(
        replay_subject(&letter.plugin, &letter.subject),
        headers,
        letter.payload.clone().into(),
    )
    .await
    .map_err(|err| failed(err.to_string()))?
    .await
    .map_err(|err| failed(err.to_string()))?;
    match remove(js, letter.id).await {
        // Replayed by someone else meanwhile: the message id kept it to one copy.
        Ok(()) | Err(DeadLetterError::NotFound(_)) => Ok(()),
        Err(err) => Err(DeadLetterError::Failed {
            id: letter.id,
            reason: format!(
                "replayed, but it could not be removed from the dead letters ({err}): purge it \
                 (`rosey deadletter purge {}`) so it is not replayed twice",
                letter.id
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_one_plugins_subject_or_every_plugins() {
        assert_eq!(filter(Some("dice-roller")), "rosey.deadletter.dice-roller");
        assert_eq!(filter(None), DEAD_LETTER_SUBJECTS);
    }

    #[test]
    fn errors_name_the_stream_or_the_id() {
        assert_eq!(
            DeadLetterError::NotFound(7).to_string(),
            "there is no dead letter 7 (never parked, or removed since)"
        );
        assert!(DeadLetterError::Stream("timed out".into())
            .to_string()
            .contains(DEAD_LETTER_STREAM));
    }
}

//! The dead letters as status counts them: per plugin, within a second, or why not (status
//! shows "unknown" with the reason then, never 0).

use std::time::Duration;

use super::Stack;

/// Why [`Stack::dead_letters`] could not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadLettersError {
    /// No connection to NATS (it is stopped, restarting, or refuses the daemon).
    #[error("NATS unreachable: {0}")]
    Unreachable(String),
    /// NATS did not answer in time (busy, or its disk slow): status does not wait longer.
    #[error("NATS did not answer within {0:?}")]
    NoAnswer(Duration),
    /// NATS answers, but the dead-letter stream cannot be read.
    #[error("the dead-letter stream {stream} cannot be read: {reason}")]
    Unreadable {
        /// The stream's name.
        stream: &'static str,
        /// What NATS said.
        reason: String,
    },
}

impl Stack {
    /// How many messages each plugin has in the dead-letter stream (plugins with none are
    /// absent), or why they cannot be counted now (NATS down, the stream unreadable): status
    /// says "unknown" then, never 0.
    pub async fn dead_letters(
        &self,
    ) -> Result<std::collections::BTreeMap<String, u64>, DeadLettersError> {
        /// Status waits no longer than this for the counts.
        const WAIT: Duration = Duration::from_secs(1);
        tokio::time::timeout(WAIT, self.count_dead_letters())
            .await
            .unwrap_or(Err(DeadLettersError::NoAnswer(WAIT)))
    }

    async fn count_dead_letters(
        &self,
    ) -> Result<std::collections::BTreeMap<String, u64>, DeadLettersError> {
        use futures::TryStreamExt;
        use rosey_core::messaging::{dead_letter_plugin, DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECTS};
        let client = self
            .client()
            .await
            .map_err(|err| DeadLettersError::Unreachable(err.to_string()))?;
        // Disconnected, a request would wait out its timeout: say so at once instead.
        if client.connection_state() != async_nats::connection::State::Connected {
            return Err(DeadLettersError::Unreachable(format!(
                "not connected to {}",
                self.ctx.nats_url()
            )));
        }
        let unreadable = |err: &dyn std::fmt::Display| DeadLettersError::Unreadable {
            stream: DEAD_LETTER_STREAM,
            reason: err.to_string(),
        };
        let js = async_nats::jetstream::new(client);
        let stream = js
            .get_stream(DEAD_LETTER_STREAM)
            .await
            .map_err(|err| unreadable(&err))?;
        let mut subjects = stream
            .info_with_subjects(DEAD_LETTER_SUBJECTS)
            .await
            .map_err(|err| unreadable(&err))?;
        let mut counts = std::collections::BTreeMap::new();
        while let Some((subject, count)) =
            subjects.try_next().await.map_err(|err| unreadable(&err))?
        {
            if let Some(plugin) = dead_letter_plugin(&subject) {
                counts.insert(plugin.to_owned(), count as u64);
            }
        }
        Ok(counts)
    }
}

//! The stream's ballast: one message no plugin reads, kept in `ROSEY` so the stream never runs
//! empty.
//!
//! Why: nats-server's file store deletes a message block's file when the block's last message
//! is removed, and makes a new file for the next message. A bot's stream is empty most of the
//! time (each command is stored, handled, acked and, under interest retention, removed before
//! the next arrives), so without ballast every command cost the server a file made, a
//! tombstone written and a file deleted, on its one thread and in the way of the next reply.
//! On ext4 each new file also searches past the inodes deleted in the last minutes, so the
//! cost grew with the load: in the benchmark's steady measure, 40,000 commands one after the
//! other took 1.06 ms each at the median without ballast, 0.26 ms with it. With the ballast
//! in the block, removing a command appends a tombstone to the open file instead.
//!
//! The ballast only holds the *last* block open, and the store starts a new block every 8 MiB
//! (about 30,000 small commands). So the keeper lays a new ballast whenever the stream has
//! moved on [`SPAN`] messages past the last one, when the ballast is an hour old (the stream's
//! one-day age limit must never take it), and when it is gone (the stream or the consumer was
//! deleted, or someone purged it); then it purges the older ones. The consumer
//! ([`messaging::BALLAST_CONSUMER`]) never pulls: interest retention keeps what it has not
//! acked.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, consumer::PullConsumer, context::ConsumerInfoErrorKind};
use rosey_core::messaging;

/// How many messages the stream may move on past the ballast before a new one is laid: small
/// enough that each 8 MiB block gets one unless messages average over 8 KiB.
pub const SPAN: u64 = 1000;

/// How old a ballast may get before a new one is laid (well within the stream's max age).
pub const REFRESH: Duration = Duration::from_secs(60 * 60);

/// The ballast last laid by this keeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Laid {
    /// Its stream sequence.
    pub seq: u64,
    /// When.
    pub at: Instant,
}

/// What the keeper knows of the ballast. Cheap: one lock, taken only by the keeper's check.
#[derive(Debug, Default)]
pub struct Ballast {
    laid: Mutex<Option<Laid>>,
}

/// Whether a new ballast is due: none laid yet by this keeper, none left in the stream
/// (`in_stream` is the ballast consumer's pending count), the stream moved on [`SPAN`]
/// messages past it, or it is [`REFRESH`] old.
pub fn due(laid: Option<Laid>, in_stream: u64, last_seq: u64, now: Instant) -> bool {
    match laid {
        None => true,
        Some(laid) => {
            in_stream == 0
                || last_seq >= laid.seq.saturating_add(SPAN)
                || now.saturating_duration_since(laid.at) >= REFRESH
        }
    }
}

impl Ballast {
    /// The ballast last laid by this keeper.
    pub fn laid(&self) -> Option<Laid> {
        *self.slot()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Laid>> {
        self.laid
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the ballast consumer if it is missing and lays a new ballast when one is due.
    /// `stream` is `ROSEY`, its info just read.
    pub async fn keep(
        &self,
        js: &jetstream::Context,
        stream: &jetstream::stream::Stream,
    ) -> Result<(), String> {
        let name = messaging::BALLAST_CONSUMER;
        let in_stream = match stream.consumer_info(name).await {
            Ok(info) => info.num_pending,
            Err(err) if err.kind() == ConsumerInfoErrorKind::NotFound => {
                let _: PullConsumer = stream
                    .create_consumer(messaging::ballast_consumer_config())
                    .await
                    .map_err(|err| format!("cannot make consumer {name}: {err}"))?;
                0
            }
            Err(err) => return Err(format!("consumer {name}: {err}")),
        };
        let last_seq = stream.cached_info().state.last_sequence;
        if !due(self.laid(), in_stream, last_seq, Instant::now()) {
            return Ok(());
        }
        let stored = js
            .publish(messaging::BALLAST_SUBJECT, bytes::Bytes::new())
            .await
            .map_err(|err| format!("cannot lay the stream's ballast: {err}"))?
            .await
            .map_err(|err| format!("the stream did not store its ballast: {err}"))?;
        *self.slot() = Some(Laid {
            seq: stored.sequence,
            at: Instant::now(),
        });
        // The older ones go: one is enough, and each holds its block's file on disk.
        stream
            .purge()
            .filter(messaging::BALLAST_SUBJECT)
            .keep(1)
            .await
            .map_err(|err| format!("cannot purge the stream's older ballast: {err}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ballast_is_due_at_first_when_gone_when_passed_by_a_span_or_when_old() {
        let now = Instant::now();
        let laid = Laid { seq: 10, at: now };
        assert!(due(None, 1, 10, now), "none laid by this keeper yet");
        assert!(
            !due(Some(laid), 1, 10 + SPAN - 1, now),
            "still in the last block"
        );
        assert!(due(Some(laid), 1, 10 + SPAN, now), "the stream moved on");
        assert!(due(Some(laid), 0, 11, now), "purged or deleted by someone");
        assert!(due(Some(laid), 1, 11, now + REFRESH), "an hour old");
        assert!(!due(Some(laid), 1, 11, now + REFRESH / 2));
    }
}

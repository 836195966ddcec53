//! A door's feed: the pull subscription on the plugin's durable consumer, and the plain
//! subscriptions to the same subjects beside it (for early copies). Both are opened together,
//! plain first, so nothing stored after the consumer's counts are read can slip past the
//! plain ones; the plain ones are dropped while no actor reads the door.

use std::time::Duration;

use async_nats::{
    jetstream::{self, consumer::pull},
    Subscriber,
};
use futures::{stream::SelectAll, StreamExt};
use rosey_core::messaging;

use super::{Door, Wants, BATCH};

/// How long a door no actor reads keeps its plain subscriptions.
const QUIET_AFTER: Duration = Duration::from_secs(1);

/// How long one JetStream API request of the door's set-up may go unanswered before it is sent
/// again. In a cluster, a request about a stream or consumer whose leader just died (its
/// server killed with a plugin node) goes unanswered until NATS elects another leader, 4 to
/// 9 s later; asked again every second, the door is set up within a second of the election,
/// rather than failing at the client's 5 s timeout and waiting for a supervisor restart.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(1);

/// How long the set-up keeps asking before it fails (as a start that fails, for the plugin's
/// supervisor to restart).
const SET_UP_WITHIN: Duration = Duration::from_secs(15);

/// Runs `ask` (one idempotent JetStream API request) until it is answered, sending it again
/// each time it goes unanswered for [`ASK_AGAIN_AFTER`], until `deadline`. An answer, error or
/// not, ends it.
async fn until_answered<T, E: std::fmt::Display, F>(
    what: &str,
    deadline: tokio::time::Instant,
    mut ask: impl FnMut() -> F,
) -> Result<T, String>
where
    F: std::future::Future<Output = Result<T, E>>,
{
    loop {
        let wait =
            ASK_AGAIN_AFTER.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        match tokio::time::timeout(wait, ask()).await {
            Ok(answer) => return answer.map_err(|err| format!("{what}: {err}")),
            Err(_) if tokio::time::Instant::now() >= deadline => {
                return Err(format!(
                    "{what}: JetStream did not answer within {SET_UP_WITHIN:?}"
                ))
            }
            Err(_) => tracing::debug!("{what}: no answer within {ASK_AGAIN_AFTER:?}, asking again"),
        }
    }
}

/// What a door reads from.
#[derive(Default)]
pub(super) struct Feed {
    pub(super) stream: Option<pull::Stream>,
    /// Plain subscriptions to the same subjects, for early copies.
    pub(super) plain: Option<SelectAll<Subscriber>>,
    /// The wants the stream was made for (remade when they change).
    pub(super) made_for: Option<Wants>,
}

impl Door {
    /// Creates (or brings in line) the plugin's durable consumer and its pull subscription now,
    /// before the plugin is announced ready: the stream keeps a message only for consumers
    /// that exist when it is published, so a command sent right after `ready` must find one.
    pub async fn attach(&self) -> Result<(), String> {
        let mut feed = self.feed.lock().await;
        let wants = self.lock().wants.clone();
        if wants.filter_subjects.is_empty() {
            return Ok(());
        }
        self.bring_in_line(&mut feed, wants).await
    }

    /// Opens the pull subscription for `wants` (and the plain subscriptions beside it) unless
    /// `feed` already has them made for these wants.
    pub(super) async fn bring_in_line(&self, feed: &mut Feed, wants: Wants) -> Result<(), String> {
        if feed.made_for.as_ref() == Some(&wants) && feed.stream.is_some() {
            if feed.plain.is_none() {
                // Back after a quiet spell: durable copies delivered before this subscription
                // may still be in the pull buffer, and their pending counts predate it.
                let plain = self.subscribe_plain(&wants).await?;
                let stored = self
                    .js
                    .get_stream(messaging::STREAM_NAME)
                    .await
                    .map_err(|err| err.to_string())?
                    .cached_info()
                    .state
                    .last_sequence;
                self.lock().early.rearm(stored + 1);
                feed.plain = Some(plain);
            }
            return Ok(());
        }
        self.lock().early.reset();
        // Subscribed before the consumer's counts are read: whatever is stored after them
        // reaches the subscription too, so nothing slips between the two.
        let plain = self.subscribe_plain(&wants).await?;
        let (stream, caught_up) = self.open_stream(&wants).await?;
        self.lock().early.set_caught_up(caught_up);
        feed.stream = Some(stream);
        feed.plain = Some(plain);
        feed.made_for = Some(wants);
        Ok(())
    }

    /// Plain subscriptions to the plugin's subjects, for early copies.
    async fn subscribe_plain(&self, wants: &Wants) -> Result<SelectAll<Subscriber>, String> {
        let mut plain = SelectAll::new();
        for subject in &wants.filter_subjects {
            let subscriber = self
                .js
                .client()
                .subscribe(subject.clone())
                .await
                .map_err(|err| err.to_string())?;
            plain.push(subscriber);
        }
        Ok(plain)
    }

    /// No actor reads the door any more (its instance stopped or failed): the plain
    /// subscriptions end after `QUIET_AFTER`, unless a new instance has begun reading by
    /// then. A crash's replacement is reading again within milliseconds and keeps them, with
    /// the early copies that came meanwhile; a plugin that stays down stops collecting them.
    pub fn quiet(self: &std::sync::Arc<Self>) {
        self.lock().quiet = true;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let door = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(QUIET_AFTER).await;
            if !door.lock().quiet {
                return;
            }
            let mut feed = door.feed.lock().await;
            if door.lock().quiet {
                feed.plain = None;
            }
        });
    }

    /// Makes sure the stream, the dead-letter stream and the plugin's durable consumer exist
    /// as `wants` says, and opens a pull subscription on it; also says whether the consumer
    /// had nothing pending or unacked when it was looked up.
    async fn open_stream(&self, wants: &Wants) -> Result<(pull::Stream, bool), String> {
        let deadline = tokio::time::Instant::now() + SET_UP_WITHIN;
        let stream = until_answered("the streams", deadline, || {
            ensure_streams(&self.js, &self.store)
        })
        .await?;
        let config = messaging::plugin_consumer_config(
            &self.name,
            wants.filter_subjects.clone(),
            wants.ack_wait,
        );
        let consumer: jetstream::consumer::PullConsumer =
            until_answered("the consumer", deadline, || {
                stream.create_consumer(config.clone())
            })
            .await?;
        let caught_up = {
            let state = self.lock();
            state.returned.is_empty() && state.held.is_none()
        } && {
            let info = consumer.cached_info();
            info.num_pending == 0 && info.num_ack_pending == 0
        };
        let messages = until_answered("the pull subscription", deadline, || {
            consumer
                .stream()
                .max_messages_per_batch(BATCH)
                // Two missed heartbeats make the stream pull again: in a cluster, a consumer
                // whose leader died (its server killed) is read again two seconds after a new
                // leader is elected, not ten.
                .heartbeat(Duration::from_secs(1))
                .expires(Duration::from_secs(30))
                .messages()
        })
        .await?;
        Ok((messages, caught_up))
    }
}

/// Creates (or finds) the `ROSEY` stream and the dead-letter stream, sized for `store`.
pub async fn ensure_streams(
    js: &jetstream::Context,
    store: &messaging::StoreBudget,
) -> Result<jetstream::stream::Stream, String> {
    let stream = js
        .get_or_create_stream(messaging::stream_config(store))
        .await
        .map_err(|err| err.to_string())?;
    js.get_or_create_stream(messaging::dead_letter_stream_config(store))
        .await
        .map_err(|err| err.to_string())?;
    Ok(stream)
}

/// The next plain copy; never when there are no plain subscriptions.
pub(super) async fn next_plain(
    plain: &mut Option<SelectAll<Subscriber>>,
) -> Option<async_nats::Message> {
    match plain {
        Some(plain) if !plain.is_empty() => plain.next().await,
        _ => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_request_left_unanswered_is_sent_again_each_second_until_one_is_answered() {
        let sent = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let deadline = started + SET_UP_WITHIN;
        let answer = until_answered("the consumer", deadline, || {
            let nth = sent.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if nth < 4 {
                    // A consumer whose leader died: nothing answers.
                    std::future::pending::<()>().await;
                }
                Ok::<u32, String>(nth)
            }
        })
        .await;
        assert_eq!(answer, Ok(4));
        assert_eq!(started.elapsed(), ASK_AGAIN_AFTER * 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_answer_ends_the_asking_at_once_and_names_what_was_asked() {
        let sent = AtomicU32::new(0);
        let deadline = tokio::time::Instant::now() + SET_UP_WITHIN;
        let answer: Result<(), String> = until_answered("the streams", deadline, || {
            sent.fetch_add(1, Ordering::SeqCst);
            async { Err("insufficient resources") }
        })
        .await;
        assert_eq!(
            answer,
            Err("the streams: insufficient resources".to_owned())
        );
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn asking_stops_at_the_deadline_with_an_error_saying_jetstream_did_not_answer() {
        let started = tokio::time::Instant::now();
        let answer: Result<(), String> =
            until_answered("the consumer", started + SET_UP_WITHIN, || {
                std::future::pending::<Result<(), String>>()
            })
            .await;
        let error = answer.expect_err("nothing answered");
        assert!(
            error.starts_with("the consumer: JetStream did not answer within"),
            "{error}"
        );
        assert_eq!(started.elapsed(), SET_UP_WITHIN);
    }
}

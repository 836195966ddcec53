//! One JetStream pull request whose reply inbox the host owns.
//!
//! async-nats's own `Batch` hides its subscription, so the only way to end a request early is to
//! drop it, and whatever the server sends between the drop and its seeing the unsubscribe is
//! lost to the host (it then waits out the ack timeout). A stopping host must end its request
//! before it hands messages back, or a handed-back message goes straight back to that request.
//! Owning the subscription lets [`PullRequest::end`] drain it: unsubscribe, then read on until
//! the server confirms, so every message the request ever delivered is in hand.

use std::time::Duration;

use async_nats::{
    jetstream::{
        self,
        consumer::{pull::BatchConfig, PullConsumer},
    },
    StatusCode, Subscriber,
};
use futures::StreamExt;

/// An open pull request.
pub(super) struct PullRequest {
    subscriber: Subscriber,
    context: jetstream::Context,
    /// Messages still owed by the server.
    pending: usize,
    /// The server ended the request (expired, or a status that ends it).
    ended: bool,
}

impl PullRequest {
    /// Asks `consumer` for up to `batch` messages, waiting at most `expires` for them.
    pub(super) async fn send(
        client: &async_nats::Client,
        js: &jetstream::Context,
        consumer: &PullConsumer,
        batch: usize,
        expires: Duration,
    ) -> Result<PullRequest, String> {
        let inbox = client.new_inbox();
        let subscriber = client
            .subscribe(inbox.clone())
            .await
            .map_err(|err| err.to_string())?;
        let config = BatchConfig {
            batch,
            expires: Some(expires),
            ..BatchConfig::default()
        };
        consumer
            .request_batch(config, inbox.into())
            .await
            .map_err(|err| err.to_string())?;
        Ok(PullRequest {
            subscriber,
            context: js.clone(),
            pending: batch,
            ended: false,
        })
    }

    /// The next message; `None` once the request is over (filled, expired, or ended by the
    /// server), `Err` for a status that ends it with an error.
    pub(super) async fn next(&mut self) -> Option<Result<jetstream::Message, String>> {
        while !self.ended && self.pending > 0 {
            let message = self.subscriber.next().await?;
            if let Some(message) = self.take(message) {
                return Some(message);
            }
        }
        None
    }

    /// Ends the request and returns every message it delivered that was not read yet,
    /// including those the server sent before it saw the unsubscribe.
    pub(super) async fn end(mut self, within: Duration) -> Vec<jetstream::Message> {
        let mut left = Vec::new();
        if self.subscriber.drain().await.is_err() {
            return left;
        }
        let _ = tokio::time::timeout(within, async {
            while let Some(message) = self.subscriber.next().await {
                if let Some(Ok(message)) = self.take(message) {
                    left.push(message);
                }
            }
        })
        .await;
        left
    }

    /// Sorts one delivery: a message, a status that ends the request (`None`, request over), a
    /// heartbeat (`None`, not over), or an error.
    fn take(&mut self, message: async_nats::Message) -> Option<Result<jetstream::Message, String>> {
        match message.status.unwrap_or(StatusCode::OK) {
            StatusCode::OK => {
                self.pending = self.pending.saturating_sub(1);
                Some(Ok(jetstream::Message {
                    message,
                    context: self.context.clone(),
                }))
            }
            StatusCode::IDLE_HEARTBEAT => None,
            StatusCode::TIMEOUT | StatusCode::NOT_FOUND => {
                self.ended = true;
                None
            }
            status => {
                self.ended = true;
                Some(Err(format!(
                    "the server ended the pull request: {status} {}",
                    message.description.unwrap_or_default()
                )))
            }
        }
    }
}

//! The local connector: a chat that lives inside the process, for running and trying a bot
//! without a CyTube server. The daemon feeds it from the terminal (`--foreground`) and from
//! `rosey say`; everything the bot says is broadcast to whoever subscribed, so the daemon can
//! print it and `rosey say` can collect the replies.

use crate::rank::Rank;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::future::BoxFuture;
use tokio::sync::broadcast;

use super::{Connector, ConnectorError, Incoming, IncomingQueue, IncomingReceiver, Outgoing};
use crate::messaging::{now_ms, Source};

/// How many outgoing messages a slow subscriber may fall behind before it misses some.
pub const OUTGOING_BUFFER: usize = 1024;

/// The in-process chat. Share it as `Arc<LocalConnector>`: the bot drives it as a
/// [`Connector`], the daemon injects into it and subscribes to what the bot says.
#[derive(Debug)]
pub struct LocalConnector {
    incoming: IncomingQueue,
    outgoing: broadcast::Sender<Outgoing>,
    /// Makes ids unique across daemon restarts: a new message must never reuse the id of one
    /// still in NATS's dedupe window, or it would be dropped as a duplicate.
    id_prefix: String,
    next_id: AtomicU64,
    closed: AtomicBool,
}

impl Default for LocalConnector {
    fn default() -> Self {
        LocalConnector::new()
    }
}

impl LocalConnector {
    /// A new, open local chat.
    pub fn new() -> LocalConnector {
        let (outgoing, _) = broadcast::channel(OUTGOING_BUFFER);
        LocalConnector {
            incoming: IncomingQueue::new("local"),
            outgoing,
            id_prefix: format!("local-{:x}-{:x}", now_ms(), std::process::id()),
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
        }
    }

    /// Makes `user` say `text` in chat ([`Source::Chat`]) or by PM to the bot ([`Source::Pm`]),
    /// as if a chat server had delivered it, as a registered user; returns the message's id.
    /// Fails once closed.
    pub fn inject(&self, user: &str, text: &str, source: Source) -> Result<String, ConnectorError> {
        self.inject_as(user, Rank::REGISTERED, text, source)
    }

    /// [`LocalConnector::inject`] by a user of channel rank `rank` (`rosey say --rank`).
    pub fn inject_as(
        &self,
        user: &str,
        rank: Rank,
        text: &str,
        source: Source,
    ) -> Result<String, ConnectorError> {
        let id = format!(
            "{}-{}",
            self.id_prefix,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        self.incoming.push(
            Incoming::new(
                source,
                user.to_owned(),
                text.to_owned(),
                now_ms(),
                id.clone(),
            )
            .with_rank(rank),
        )?;
        Ok(id)
    }

    /// Everything the bot says from now on. A subscriber that falls more than
    /// [`OUTGOING_BUFFER`] messages behind gets `Lagged` and misses the oldest.
    pub fn subscribe_outgoing(&self) -> broadcast::Receiver<Outgoing> {
        self.outgoing.subscribe()
    }

    fn closed_error(&self) -> ConnectorError {
        ConnectorError::Closed {
            connector: self.name().to_owned(),
        }
    }
}

impl Connector for LocalConnector {
    fn name(&self) -> &str {
        "local"
    }

    fn incoming(&self) -> Result<IncomingReceiver, ConnectorError> {
        self.incoming.take()
    }

    fn send(&self, out: Outgoing) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let result = if self.closed.load(Ordering::Acquire) {
            Err(self.closed_error())
        } else {
            // Nobody listening is not an error: a chat with no readers still took the message.
            let _ = self.outgoing.send(out);
            Ok(())
        };
        Box::pin(async move { result })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        self.closed.store(true, Ordering::Release);
        self.incoming.close();
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn injected_messages_reach_the_reader_in_order_with_unique_ids() {
        let local = LocalConnector::new();
        let first = local
            .inject("alice", "hello", Source::Chat)
            .expect("inject");
        let second = local.inject("bob", "!roll", Source::Pm).expect("inject");
        assert_ne!(first, second);
        let mut incoming = local.incoming().expect("incoming");
        let heard = incoming.recv().await.expect("first");
        assert_eq!(
            (heard.user(), heard.text(), heard.id()),
            ("alice", "hello", first.as_str())
        );
        assert_eq!(heard.source(), Source::Chat);
        let heard = incoming.recv().await.expect("second");
        assert_eq!((heard.source(), heard.id()), (Source::Pm, second.as_str()));
    }

    #[tokio::test]
    async fn what_the_bot_says_is_broadcast() {
        let local = LocalConnector::new();
        let mut one = local.subscribe_outgoing();
        let mut two = local.subscribe_outgoing();
        let bot: Box<dyn Connector> = Box::new(std::sync::Arc::new(local));
        bot.send(Outgoing::Chat { text: "hi".into() })
            .await
            .expect("send");
        assert_eq!(one.recv().await.expect("one").text(), "hi");
        assert_eq!(two.recv().await.expect("two").text(), "hi");
    }

    #[tokio::test]
    async fn a_closed_connector_refuses_everything() {
        let local = LocalConnector::new();
        let mut incoming = local.incoming().expect("incoming");
        local.close().await.expect("close");
        local.close().await.expect("close twice");
        assert!(local.inject("alice", "x", Source::Chat).is_err());
        let err = local
            .send(Outgoing::Chat { text: "x".into() })
            .await
            .expect_err("closed")
            .to_string();
        assert!(err.contains("local connector is closed"), "{err}");
        assert_eq!(incoming.recv().await, None);
    }
}

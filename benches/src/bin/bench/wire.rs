//! The harness's own NATS connection to a running stack: it publishes commands the way the bot
//! does (JetStream, with a `Nats-Msg-Id`), and one subscription to `rosey.>` records, in the
//! order the server delivered them, every reply (`ChatAction` with `in_reply_to`) and every
//! plugin lifecycle notice (`ready`, `stopped`). One subscription keeps one order: a reply
//! recorded after a plugin's `ready` was published after it. Once asked ([`Wire::hear_said`]),
//! it also hands over every chat action with its text, replies or not (what a plugin says on
//! its own, such as a timer's firing).
//!
//! Run it on a current-thread runtime and keep blocking calls out of timed sections: arrival
//! times are taken when the collector task reads each message.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use anyhow::{Context, Result};
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use futures::StreamExt;
use rosey_core::messaging::{self, ChatAction, CommandMessage, Lifecycle, Source};
use tokio::sync::{mpsc, oneshot};

/// When something arrived: its place in the subscription's order and the time it was read.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// Position in the order of arrival.
    pub seq: u64,
    /// When the collector read it.
    pub at: Instant,
}

/// A plugin lifecycle notice.
#[derive(Debug, Clone)]
pub struct Notice {
    /// `ready` or `stopped`.
    pub what: String,
    /// The plugin.
    pub plugin: String,
    /// The host's pid.
    pub pid: u32,
    /// When it arrived.
    pub stamp: Stamp,
}

/// A chat action with its text, as it arrived.
#[derive(Debug, Clone)]
pub struct Said {
    /// The plugin that said it.
    pub plugin: String,
    /// What it said.
    pub text: String,
    /// The command it answers; `None` for what the plugin said on its own.
    pub in_reply_to: Option<String>,
    /// When it arrived.
    pub stamp: Stamp,
}

/// Replies recorded per command id, and who waits for which.
#[derive(Default)]
struct Book {
    /// Replies recorded since the connection was made (never reset).
    received: u64,
    replies: HashMap<String, Vec<Stamp>>,
    waiters: HashMap<String, oneshot::Sender<Stamp>>,
    /// Where every chat action goes with its text, once someone listens.
    said: Option<mpsc::UnboundedSender<Said>>,
}

/// A connection to a stack's NATS.
pub struct Wire {
    js: jetstream::Context,
    book: Arc<Mutex<Book>>,
    notices: mpsc::UnboundedReceiver<Notice>,
    collector: tokio::task::JoinHandle<()>,
}

impl Wire {
    /// Starts recording on `client` (a connection to the stack's NATS:
    /// `BenchHome::nats_client`).
    pub async fn connect(client: async_nats::Client) -> Result<Wire> {
        let mut subscription = client
            .subscribe("rosey.>")
            .await
            .context("cannot subscribe to rosey.>")?;
        // The subscription must be registered on the server before anything is timed.
        client.flush().await.context("cannot flush to NATS")?;
        let book = Arc::new(Mutex::new(Book::default()));
        let (notice_tx, notices) = mpsc::unbounded_channel();
        let collector = tokio::spawn({
            let book = book.clone();
            async move {
                let mut seq = 0;
                while let Some(message) = subscription.next().await {
                    let stamp = Stamp {
                        seq,
                        at: Instant::now(),
                    };
                    seq += 1;
                    let subject = message.subject.as_str();
                    if subject == messaging::CHAT_ACTION_SUBJECT {
                        if let Ok(action) = messaging::decode::<ChatAction>(&message.payload) {
                            record(&book, action, stamp);
                        }
                    } else if let Some(rest) = subject.strip_prefix("rosey.plugins.") {
                        let what = rest.rsplit('.').next().unwrap_or_default();
                        if what == "ready" || what == "stopped" {
                            if let Ok(notice) = messaging::decode::<Lifecycle>(&message.payload) {
                                let _ = notice_tx.send(Notice {
                                    what: what.to_owned(),
                                    plugin: notice.plugin,
                                    pid: notice.pid,
                                    stamp,
                                });
                            }
                        }
                    }
                }
            }
        });
        Ok(Wire {
            js: jetstream::new(client),
            book,
            notices,
            collector,
        })
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        lock(&self.book)
    }

    /// Publishes command `command` with `args` and the unique `id` through JetStream (the
    /// stream's dedupe id is `command:<id>`, as the bot's); returns the ack to await.
    pub async fn publish(&self, id: &str, command: &str, args: &str) -> Result<PublishAckFuture> {
        self.js
            .send_publish(
                messaging::command_subject(command),
                command_message(id, command, args),
            )
            .await
            .with_context(|| format!("cannot publish command {id}"))
    }

    /// Publishes command `id` the way the bot's router does when the stream may be without a
    /// leader (its server just died): the same message again, same dedupe id, after a failed
    /// publish or ack, `retry_initial` apart and doubling up to `retry_max`, each try given
    /// `publish_timeout` (the router's own settings); resolves once the stream has stored it,
    /// with the number of tries, or fails after `give_up`. Spawn it: a publish that waits
    /// for the stream must not hold up the reply being waited for.
    pub fn publish_until_stored(
        &self,
        id: &str,
        command: &str,
        args: &str,
        give_up: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<u32>> + Send + 'static {
        let js = self.js.clone();
        let subject = messaging::command_subject(command);
        let message = command_message(id, command, args);
        let id = id.to_owned();
        let router = rosey_core::router::RouterSettings::default();
        async move {
            let deadline = tokio::time::Instant::now() + give_up;
            let mut delay = router.retry_initial;
            let mut tries = 0;
            loop {
                tries += 1;
                let stored = tokio::time::timeout(router.publish_timeout, async {
                    js.send_publish(subject.clone(), message.clone())
                        .await
                        .map_err(anyhow::Error::from)?
                        .await
                        .map_err(anyhow::Error::from)
                })
                .await;
                match stored {
                    Ok(Ok(_)) => return Ok(tries),
                    _ if tokio::time::Instant::now() + delay > deadline => {
                        anyhow::bail!("command {id} not stored after {tries} tries in {give_up:?}")
                    }
                    _ => {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(router.retry_max);
                    }
                }
            }
        }
    }

    /// From now on, every chat action (reply or not) with its text, in the order of arrival;
    /// a second call replaces the first receiver.
    pub fn hear_said(&self) -> mpsc::UnboundedReceiver<Said> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.book().said = Some(tx);
        rx
    }

    /// Stops handing chat actions over (the receiver ends).
    pub fn stop_hearing(&self) {
        self.book().said = None;
    }

    /// A receiver of the first reply to `id` (register before publishing).
    pub fn watch_reply(&self, id: &str) -> oneshot::Receiver<Stamp> {
        let (tx, rx) = oneshot::channel();
        let mut book = self.book();
        match book.replies.get(id).and_then(|stamps| stamps.first()) {
            Some(stamp) => {
                let _ = tx.send(*stamp);
            }
            None => {
                book.waiters.insert(id.to_owned(), tx);
            }
        }
        rx
    }

    /// The harness's NATS connection as the client sees it (state, messages in and out,
    /// connects), for a report of a step nothing answered: it tells the harness's own
    /// connection failing from the stack going quiet.
    pub fn connection_note(&self) -> String {
        let client = self.js.client();
        let stats = client.statistics();
        format!(
            "{:?}, {} messages in, {} out, {} connects",
            client.connection_state(),
            stats.in_messages.load(std::sync::atomic::Ordering::Relaxed),
            stats
                .out_messages
                .load(std::sync::atomic::Ordering::Relaxed),
            stats.connects.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// How many replies arrived since the connection was made, to any command.
    pub fn replies_received(&self) -> u64 {
        self.book().received
    }

    /// How many replies to `id` arrived so far.
    pub fn reply_count(&self, id: &str) -> usize {
        self.book().replies.get(id).map_or(0, Vec::len)
    }

    /// The arrival of the first reply to `id`, if any.
    pub fn first_reply(&self, id: &str) -> Option<Stamp> {
        self.book()
            .replies
            .get(id)
            .and_then(|stamps| stamps.first().copied())
    }

    /// Forgets every recorded reply and waiter (between measures).
    pub fn forget_replies(&self) {
        let mut book = self.book();
        book.replies.clear();
        book.waiters.clear();
    }

    /// The next lifecycle notice, waiting for it.
    pub async fn next_notice(&mut self) -> Option<Notice> {
        self.notices.recv().await
    }

    /// Drops lifecycle notices already received.
    pub fn drain_notices(&mut self) {
        while self.notices.try_recv().is_ok() {}
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.collector.abort();
    }
}

fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records a reply, and hands the action to a listener if there is one.
fn record(book: &Mutex<Book>, action: ChatAction, stamp: Stamp) {
    let mut book = lock(book);
    if let Some(said) = &book.said {
        let _ = said.send(Said {
            plugin: action.plugin,
            text: action.text,
            in_reply_to: action.in_reply_to.clone(),
            stamp,
        });
    }
    let Some(id) = action.in_reply_to else {
        return;
    };
    book.received += 1;
    if let Some(waiter) = book.waiters.remove(&id) {
        let _ = waiter.send(stamp);
    }
    book.replies.entry(id).or_default().push(stamp);
}

/// Command `id` as the bot publishes it (dedupe id `command:<id>`).
fn command_message(id: &str, command: &str, args: &str) -> PublishMessage {
    let payload = messaging::encode(&CommandMessage {
        v: messaging::SCHEMA_VERSION,
        id: id.to_owned(),
        command: command.to_owned(),
        args: args.to_owned(),
        user: "bench".to_owned(),
        channel: "bench".to_owned(),
        source: Source::Chat,
        time_ms: messaging::now_ms(),
        rank: None,
    });
    PublishMessage::build()
        .payload(payload.into())
        .message_id(messaging::command_msg_id(id))
}

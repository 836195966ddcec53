//! A plugin's door: its JetStream consumer, read by the daemon on the plugin's behalf, and
//! what must outlive any one plugin actor instance: the message a dead host held, how many
//! hosts each message has killed (also kept in `data/plugins/<name>/attempts.json`, so a
//! daemon restart does not hand a poison message to the plugin afresh), the messages acked
//! lately, and the version to run.
//!
//! Besides the consumer, the door subscribes to the plugin's subjects, so a message can reach
//! the host as soon as NATS routes it, before the stream has delivered its durable copy (see
//! `early.rs` for the rules that keep that from losing, repeating or reordering).
//!
//! The door belongs to the stack (one per plugin, kept in [`Doors`]), not to an actor: when a
//! host dies, its actor fails and the supervisor starts another, and the message the dead host
//! held is handed to the new one at once from [`Door::next`], never left to JetStream's ack
//! wait. The pull subscription lives on the daemon's own NATS connection, which a host's death
//! does not touch, so nothing is ever delivered into a connection that is already dead.
//!
//! Invariants: at most one actor reads a door at a time (the supervisor runs one instance per
//! plugin); a message is in exactly one place: the consumer's buffer, the early queue,
//! `returned`, or `held`; a message whose sequence was acked lately is acked again and
//! dropped, never handled twice (JetStream may offer a message again once its ack wait ran
//! out while it sat in a buffer).

use std::{
    collections::{HashMap, VecDeque},
    path::PathBuf,
    sync::{Mutex, MutexGuard, TryLockError},
    time::Duration,
};

use async_nats::jetstream::{self, consumer::pull, AckKind, Message};
use futures::{FutureExt, StreamExt};

mod feed;
mod keeps;
use feed::{next_plain, Feed};

pub use super::doors::Doors;
use super::early::{message_id, DurableFate, EarlyCopies, EarlyCopy};
pub use super::early::{Copy, Taken};
use super::holds::Holds;

/// Messages the pull subscription may hold ahead of the plugin.
const BATCH: usize = 32;

/// Acked sequences remembered for dropping a late second delivery.
const RECENT: usize = 4096;

/// What a door knows of the plugin it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wants {
    /// Subjects its consumer reads (empty: none; the plugin handles nothing).
    pub filter_subjects: Vec<String>,
    /// The consumer's ack wait.
    pub ack_wait: Duration,
}

/// One plugin's door. Cheap to share.
pub struct Door {
    name: String,
    js: jetstream::Context,
    /// The message store's size (the streams are made with it if missing).
    store: rosey_core::messaging::StoreBudget,
    /// Where the poison counts are kept across daemon restarts.
    attempts_file: PathBuf,
    state: Mutex<State>,
    feed: tokio::sync::Mutex<Feed>,
    /// Wakes a read waiting on the consumer when a message is put back from elsewhere (a
    /// poison message whose dead-letter copy could not be stored).
    put_back: tokio::sync::Notify,
    /// The plugin's per-message meters, registered once for the stack's life (not at every
    /// host start, which a reload waits for).
    meters: rosey_core::metrics::PluginMeters,
}

/// Never waits for the door's lock: `<locked>` while someone holds it.
impl std::fmt::Debug for Door {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Door");
        debug
            .field("name", &self.name)
            .field("attempts_file", &self.attempts_file);
        let state = match self.state.try_lock() {
            Ok(state) => Some(state),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        match state {
            Some(state) => debug
                .field("version", &state.version)
                .field(
                    "standby",
                    &state.standby.as_ref().map(|(version, _)| version),
                )
                .field("churned", &state.churned)
                .field("serving", &state.serving.is_some())
                .field("quiet", &state.quiet)
                .field("held", &state.held.is_some())
                .field("returned", &state.returned.len())
                .field("attempts", &state.attempts),
            None => debug.field("state", &format_args!("<locked>")),
        };
        debug.finish_non_exhaustive()
    }
}

struct State {
    version: String,
    /// A host with this version's library already open, kept for the next start once the
    /// plugin has crashed or been reloaded (a plugin that churns once tends to again).
    standby: Option<(String, super::link::Host)>,
    /// The plugin has crashed or been reloaded since the daemon started.
    churned: bool,
    /// The serving loop of the running instance, for reloads asked without a round trip
    /// through the supervisor and the actor's mailbox.
    serving: Option<tokio::sync::mpsc::UnboundedSender<super::serve::Control>>,
    /// The consumer was recreated behind the door's back: the next read opens a new pull
    /// subscription.
    reopen: bool,
    /// No actor reads the door: its plain subscriptions are dropped, so plain copies do not
    /// pile up for nobody.
    quiet: bool,
    wants: Wants,
    held: Option<Taken>,
    returned: VecDeque<Message>,
    early: EarlyCopies,
    attempts: HashMap<u64, u32>,
    /// The last messages done with, oldest first, and each one's `Nats-Msg-Id`: a later copy
    /// of one is dropped.
    recent: VecDeque<u64>,
    recent_ids: HashMap<u64, Option<String>>,
    handled: Handled,
    holds: Holds,
}

/// Messages a plugin's hosts handled since the daemon started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Handled {
    /// Handled to the end (`Done`, whether the handler succeeded or failed).
    pub total: u64,
    /// Of those, how many were early copies (taken before the stream delivered them).
    pub early: u64,
    /// Not handled: older than the plugin's age limit when it got them (acked).
    pub stale: u64,
}

/// The sequence of a JetStream message (0 when it has none: never for a consumer's).
pub fn sequence(message: &Message) -> u64 {
    message.info().map(|info| info.stream_sequence).unwrap_or(0)
}

impl Door {
    pub(super) fn new(
        name: &str,
        version: &str,
        wants: Wants,
        js: jetstream::Context,
        store: rosey_core::messaging::StoreBudget,
        attempts_file: PathBuf,
    ) -> Door {
        let attempts = std::fs::read(&attempts_file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Door {
            name: name.to_owned(),
            meters: rosey_core::metrics::PluginMeters::new(name),
            js,
            store,
            attempts_file,
            state: Mutex::new(State {
                standby: None,
                churned: false,
                serving: None,
                reopen: false,
                quiet: false,
                version: version.to_owned(),
                wants,
                held: None,
                returned: VecDeque::new(),
                early: EarlyCopies::default(),
                attempts,
                recent: VecDeque::new(),
                recent_ids: HashMap::new(),
                handled: Handled::default(),
                holds: Holds::default(),
            }),
            feed: tokio::sync::Mutex::new(Feed::default()),
            put_back: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The JetStream context the door publishes through.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The plugin's per-message meters.
    pub fn meters(&self) -> &rosey_core::metrics::PluginMeters {
        &self.meters
    }

    /// The version new instances run.
    pub fn version(&self) -> String {
        self.lock().version.clone()
    }

    /// What the current version wants of its consumer.
    pub fn wants(&self) -> Wants {
        self.lock().wants.clone()
    }

    /// Drops the pull subscription before the next read (the consumer was deleted and made
    /// again): the door opens a new one on the consumer as it is now.
    pub fn reopen(&self) {
        self.lock().reopen = true;
        self.put_back.notify_one();
    }

    /// Drops the door's subscriptions (the plugin now runs on a plugin node, whose own door
    /// reads the consumer): an idle pull request here would take messages from it. A local
    /// instance opens them again when it starts.
    pub async fn detach(&self) {
        *self.feed.lock().await = Feed::default();
        self.lock().early.reset();
    }

    /// Makes `version` (with what it wants) the one new instances run; the consumer is
    /// brought in line on the next read.
    pub fn set_version(&self, version: &str, wants: Wants) {
        let mut state = self.lock();
        state.version = version.to_owned();
        state.wants = wants;
    }

    /// The next message for the plugin: one a dead host held first, then early copies, then
    /// the consumer's. Cancel-safe: a message is only taken when this returns. Never returns
    /// while the plugin reads nothing (no subjects): it waits forever then.
    pub async fn next(&self) -> Taken {
        let mut feed = self.feed.lock().await;
        self.lock().quiet = false;
        loop {
            if std::mem::take(&mut self.lock().reopen) {
                feed.stream = None;
                feed.plain = None;
            }
            {
                let mut state = self.lock();
                if let Some(message) = state.returned.pop_front() {
                    return Taken::durable(message);
                }
                if let Some(copy) = state.early.take() {
                    return Taken::early(copy);
                }
            }
            let wants = self.lock().wants.clone();
            if wants.filter_subjects.is_empty() {
                *feed = Feed::default();
                drop(feed);
                return std::future::pending().await;
            }
            if let Err(err) = self.bring_in_line(&mut feed, wants).await {
                tracing::warn!(plugin = %self.name, "cannot read the plugin's consumer: {err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let Feed { stream, plain, .. } = &mut *feed;
            let Some(stream) = stream.as_mut() else {
                continue;
            };
            // Plain copies first: one the server routed before a durable copy that counts
            // it as pending must be in the book when that durable copy is read.
            let next = tokio::select! {
                biased;
                () = self.put_back.notified() => continue,
                Some(first) = next_plain(plain) => {
                    // Everything the client has received so far, from every subscription: one
                    // subscription keeps the server's order, several together do not.
                    let mut batch = vec![first];
                    if let Some(plain) = plain.as_mut() {
                        while let Some(Some(more)) = plain.next().now_or_never() {
                            batch.push(more);
                        }
                    }
                    self.offer_plain(batch);
                    continue;
                }
                next = stream.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    if let Some(message) = self.arrived(message) {
                        return Taken::durable(message);
                    }
                }
                Some(Err(err)) => {
                    tracing::debug!(plugin = %self.name, "consumer: {err}");
                    if !matches!(err.kind(), pull::MessagesErrorKind::MissingHeartbeat) {
                        feed.stream = None;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                None => {
                    feed.stream = None;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Offers plain copies received together. Copies from one subscription are in the order
    /// the server routed them; copies from several are not (each has its own channel), and
    /// whatever was received earlier was read by an earlier call (it takes all there is). So
    /// a batch of more than one subject is not taken early: the door waits for the stream to
    /// order those messages, until it catches up again.
    fn offer_plain(&self, batch: Vec<async_nats::Message>) {
        let mut state = self.lock();
        let one_subject = batch.iter().all(|copy| copy.subject == batch[0].subject);
        if !one_subject {
            let ids = batch
                .iter()
                .filter_map(|copy| message_id(copy.headers.as_ref()))
                .collect();
            state.early.lose_order(ids);
            return;
        }
        for copy in batch {
            if let Some(id) = message_id(copy.headers.as_ref()) {
                state.early.offer(EarlyCopy {
                    id,
                    subject: copy.subject.to_string(),
                    payload: copy.payload,
                    arrived_ms: rosey_core::messaging::now_ms(),
                });
            }
        }
    }

    /// A durable copy arrived: the message to hand on, or `None` when it was handled already
    /// (then it is acked here).
    fn arrived(&self, message: Message) -> Option<Message> {
        let seq = sequence(&message);
        let (again, pending) = message
            .info()
            .map(|info| (info.delivered > 1, info.pending))
            .unwrap_or((false, 0));
        let id = message_id(message.headers.as_ref());
        let mut state = self.lock();
        let handled = state.recent_ids.get(&seq).is_some_and(|done| {
            // Offered again after its ack wait, or as a first delivery by a server that lost
            // the ack (a store that failed to write, say): the same message if its id is the
            // one done with (a stream made anew counts from 1 again, with other messages).
            again || (id.is_some() && done.as_deref() == id.as_deref())
        });
        if handled {
            drop(state);
            tokio::spawn(async move { message.ack().await });
            return None;
        }
        match state.early.on_durable(id.as_deref(), seq, pending) {
            DurableFate::Ack => {
                drop(state);
                // Its early copy was handled and its reply published; the ack is queued on
                // the same connection after them, whatever becomes of this call.
                tokio::spawn(async move { message.ack().await });
                self.done(seq, id);
                None
            }
            DurableFate::Deliver { crashed } => {
                if crashed > 0 {
                    *state.attempts.entry(seq).or_default() += crashed;
                    self.save_attempts(&state.attempts);
                }
                Some(message)
            }
        }
    }

    /// Early copy `id` was handled: its durable copy is acked when it arrives.
    pub fn settle(&self, id: String) {
        self.lock().early.settle(id);
    }

    /// The host holding a message died (or was killed): the message goes first to the next
    /// instance, counted against the plugin when `counts` (the host died mid-handler). An
    /// early copy that counts is not retried itself: its durable copy carries the count.
    /// Whether a message was in hand.
    pub fn return_held(&self, counts: bool) -> bool {
        let mut state = self.lock();
        let Some(taken) = state.held.take() else {
            return false;
        };
        match taken.copy {
            Copy::Durable(message) => {
                if counts {
                    *state.attempts.entry(sequence(&message)).or_default() += 1;
                    self.save_attempts(&state.attempts);
                }
                state.returned.push_front(*message);
            }
            Copy::Early(id) if counts => state.early.crashed(id),
            Copy::Early(id) => state.early.put_back(EarlyCopy {
                id,
                subject: taken.subject,
                payload: taken.payload,
                arrived_ms: taken.waiting_since_ms,
            }),
        }
        true
    }

    /// Writes the poison counts (only when one changes: a host died, or a counted message was
    /// finally handled). A failure is logged; the counts still hold in memory.
    fn save_attempts(&self, attempts: &HashMap<u64, u32>) {
        let written = serde_json::to_vec(attempts)
            .map_err(std::io::Error::other)
            .and_then(|bytes| rosey_core::fsutil::write_replace(&self.attempts_file, &bytes));
        if let Err(err) = written {
            tracing::warn!(plugin = %self.name, "cannot write {}: {err}", self.attempts_file.display());
        }
    }

    /// Puts back a durable copy that was taken but never handed to a host; it is next in
    /// line.
    pub fn put_back(&self, message: Message) {
        self.lock().returned.push_front(message);
        self.put_back.notify_one();
    }

    /// How many hosts died handling message `seq`.
    pub fn attempts(&self, seq: u64) -> u32 {
        self.lock().attempts.get(&seq).copied().unwrap_or(0)
    }

    /// Message `seq` (of `Nats-Msg-Id` `id`) is done (acked or dead-lettered): forget its
    /// count and drop any later copy of it.
    pub fn done(&self, seq: u64, id: Option<String>) {
        let mut state = self.lock();
        if state.attempts.remove(&seq).is_some() {
            self.save_attempts(&state.attempts);
        }
        if state.recent_ids.insert(seq, id).is_none() {
            state.recent.push_back(seq);
            if state.recent.len() > RECENT {
                if let Some(old) = state.recent.pop_front() {
                    state.recent_ids.remove(&old);
                }
            }
        }
    }

    /// Sends a progress ack for the message in hand, so a long handler is not taken for a
    /// lost one.
    pub async fn progress(&self) {
        let held = match &self.lock().held {
            Some(Taken {
                copy: Copy::Durable(message),
                ..
            }) => Some(message.clone()),
            _ => None,
        };
        if let Some(message) = held {
            let _ = message.ack_with(AckKind::Progress).await;
        }
    }
}

#[cfg(test)]
pub(super) mod tests;

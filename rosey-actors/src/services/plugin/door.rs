//! A plugin's door: its JetStream consumer, read by the daemon on the plugin's behalf, and
//! what must outlive any one plugin actor instance: the message a dead host held, how many
//! hosts each message has killed (also kept in `data/plugins/<name>/attempts.json`, so a
//! daemon restart does not hand a poison message to the plugin afresh), the messages acked
//! lately, and the version to run.
//!
//! The door belongs to the stack (one per plugin, kept in [`Doors`]), not to an actor: when a
//! host dies, its actor fails and the supervisor starts another, and the message the dead host
//! held is handed to the new one at once from [`Door::next`], never left to JetStream's ack
//! wait. The pull subscription lives on the daemon's own NATS connection, which a host's death
//! does not touch, so nothing is ever delivered into a connection that is already dead.
//!
//! Invariants: at most one actor reads a door at a time (the supervisor runs one instance per
//! plugin); a message is in exactly one place: the consumer's buffer, `returned`, or `held`;
//! a message whose sequence was acked lately is acked again and dropped, never handled twice
//! (JetStream may offer a message again once its ack wait ran out while it sat in a buffer).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_nats::jetstream::{self, consumer::pull, AckKind, Message};
use futures::StreamExt;
use rosey_core::messaging;

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
    /// Where the poison counts are kept across daemon restarts.
    attempts_file: PathBuf,
    state: Mutex<State>,
    feed: tokio::sync::Mutex<Feed>,
    /// Wakes a read waiting on the consumer when a message is put back from elsewhere (a
    /// poison message whose dead-letter copy could not be stored).
    put_back: tokio::sync::Notify,
}

struct State {
    version: String,
    /// A host with this version's library already open, kept for the next start once the
    /// plugin has crashed or been reloaded (a plugin that churns once tends to again).
    standby: Option<(String, super::link::Host)>,
    /// The plugin has crashed or been reloaded since the daemon started.
    churned: bool,
    /// The consumer was recreated behind the door's back: the next read opens a new pull
    /// subscription.
    reopen: bool,
    wants: Wants,
    held: Option<Message>,
    returned: VecDeque<Message>,
    attempts: HashMap<u64, u32>,
    recent: VecDeque<u64>,
    recent_set: HashSet<u64>,
}

#[derive(Default)]
struct Feed {
    stream: Option<pull::Stream>,
    /// The wants the stream was made for (remade when they change).
    made_for: Option<Wants>,
}

/// The sequence of a JetStream message (0 when it has none: never for a consumer's).
pub fn sequence(message: &Message) -> u64 {
    message.info().map(|info| info.stream_sequence).unwrap_or(0)
}

impl Door {
    fn new(
        name: &str,
        version: &str,
        wants: Wants,
        js: jetstream::Context,
        attempts_file: PathBuf,
    ) -> Door {
        let attempts = std::fs::read(&attempts_file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Door {
            name: name.to_owned(),
            js,
            attempts_file,
            state: Mutex::new(State {
                standby: None,
                churned: false,
                reopen: false,
                version: version.to_owned(),
                wants,
                held: None,
                returned: VecDeque::new(),
                attempts,
                recent: VecDeque::new(),
                recent_set: HashSet::new(),
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

    /// Makes `version` (with what it wants) the one new instances run; the consumer is
    /// brought in line on the next read.
    pub fn set_version(&self, version: &str, wants: Wants) {
        let mut state = self.lock();
        state.version = version.to_owned();
        state.wants = wants;
    }

    /// The next message for the plugin: one a dead host held first, then the consumer's.
    /// Cancel-safe: a message is only taken when this returns. Never returns while the plugin
    /// reads nothing (no subjects): it waits forever then.
    pub async fn next(&self) -> Message {
        let mut feed = self.feed.lock().await;
        loop {
            if std::mem::take(&mut self.lock().reopen) {
                feed.stream = None;
            }
            if let Some(message) = self.lock().returned.pop_front() {
                return message;
            }
            let wants = self.lock().wants.clone();
            if wants.filter_subjects.is_empty() {
                feed.stream = None;
                feed.made_for = None;
                drop(feed);
                return std::future::pending().await;
            }
            if let Err(err) = self.bring_in_line(&mut feed, wants).await {
                tracing::warn!(plugin = %self.name, "cannot read the plugin's consumer: {err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let Some(stream) = feed.stream.as_mut() else {
                continue;
            };
            let next = tokio::select! {
                next = stream.next() => next,
                () = self.put_back.notified() => continue,
            };
            match next {
                Some(Ok(message)) => {
                    let seq = sequence(&message);
                    let again = message
                        .info()
                        .map(|info| info.delivered > 1)
                        .unwrap_or(false);
                    if again && self.lock().recent_set.contains(&seq) {
                        // Offered again after its ack wait, though already handled (a first
                        // delivery never is: a stream made anew counts from 1 again).
                        let _ = message.ack().await;
                        continue;
                    }
                    return message;
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

    /// Opens the pull subscription for `wants` unless `feed` already has one made for them.
    async fn bring_in_line(&self, feed: &mut Feed, wants: Wants) -> Result<(), String> {
        if feed.made_for.as_ref() == Some(&wants) && feed.stream.is_some() {
            return Ok(());
        }
        let stream = self.open_stream(&wants).await?;
        feed.stream = Some(stream);
        feed.made_for = Some(wants);
        Ok(())
    }

    /// Makes sure the stream, the dead-letter stream and the plugin's durable consumer exist
    /// as `wants` says, and opens a pull subscription on it.
    async fn open_stream(&self, wants: &Wants) -> Result<pull::Stream, String> {
        let stream = ensure_streams(&self.js).await?;
        let consumer: jetstream::consumer::PullConsumer = stream
            .create_consumer(messaging::plugin_consumer_config(
                &self.name,
                wants.filter_subjects.clone(),
                wants.ack_wait,
            ))
            .await
            .map_err(|err| err.to_string())?;
        consumer
            .stream()
            .max_messages_per_batch(BATCH)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|err| err.to_string())
    }

    /// Keeps `host` (its library for `version` open) for the next start.
    pub fn keep_standby(&self, version: &str, host: super::link::Host) {
        self.lock().standby = Some((version.to_owned(), host));
    }

    /// The standby host, if it is for `version` and alive (any other is dropped: killed).
    pub fn take_standby(&self, version: &str) -> Option<super::link::Host> {
        let standby = self.lock().standby.take()?;
        match standby {
            (kept, host) if kept == version && host.child.exited().is_none() => Some(host),
            _ => None,
        }
    }

    /// Notes that the plugin crashed, hung or was reloaded: from now on it keeps a standby.
    pub fn mark_churned(&self) {
        self.lock().churned = true;
    }

    /// Whether the plugin has crashed or been reloaded since the daemon started.
    pub fn churned(&self) -> bool {
        self.lock().churned
    }

    /// Whether a standby is kept (so none needs opening).
    pub fn has_standby(&self) -> bool {
        self.lock().standby.is_some()
    }

    /// Ends the standby host, if any (the plugin stops, or is removed).
    pub fn drop_standby(&self) {
        let standby = self.lock().standby.take();
        drop(standby);
    }

    /// The stream was made anew (deleted behind the stack's back): its sequences start from 1
    /// again, so what the door knows by sequence (acked lately, poison counts) is forgotten.
    pub fn forget_sequences(&self) {
        let mut state = self.lock();
        state.recent.clear();
        state.recent_set.clear();
        if !state.attempts.is_empty() {
            state.attempts.clear();
            self.save_attempts(&state.attempts);
        }
    }

    /// Records that `message` is now in a host's hands.
    pub fn hold(&self, message: Message) {
        self.lock().held = Some(message);
    }

    /// The message in hand, if any.
    pub fn with_held<T>(&self, f: impl FnOnce(Option<&Message>) -> T) -> T {
        f(self.lock().held.as_ref())
    }

    /// Takes the message in hand back (its handler finished).
    pub fn release(&self) -> Option<Message> {
        self.lock().held.take()
    }

    /// The host holding a message died (or was killed): the message goes first to the next
    /// instance, counted against the plugin when `counts` (the host died mid-handler).
    pub fn return_held(&self, counts: bool) {
        let mut state = self.lock();
        if let Some(message) = state.held.take() {
            if counts {
                *state.attempts.entry(sequence(&message)).or_default() += 1;
                self.save_attempts(&state.attempts);
            }
            state.returned.push_front(message);
        }
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

    /// Puts back a message that was taken but never handed to a host; it is next in line.
    pub fn put_back(&self, message: Message) {
        self.lock().returned.push_front(message);
        self.put_back.notify_one();
    }

    /// How many hosts died handling message `seq`.
    pub fn attempts(&self, seq: u64) -> u32 {
        self.lock().attempts.get(&seq).copied().unwrap_or(0)
    }

    /// Message `seq` is done (acked or dead-lettered): forget its count and drop any later
    /// copy of it.
    pub fn done(&self, seq: u64) {
        let mut state = self.lock();
        if state.attempts.remove(&seq).is_some() {
            self.save_attempts(&state.attempts);
        }
        if state.recent_set.insert(seq) {
            state.recent.push_back(seq);
            if state.recent.len() > RECENT {
                if let Some(old) = state.recent.pop_front() {
                    state.recent_set.remove(&old);
                }
            }
        }
    }

    /// Sends a progress ack for the message in hand, so a long handler is not taken for a
    /// lost one.
    pub async fn progress(&self) {
        let held = self.lock().held.clone();
        if let Some(message) = held {
            let _ = message.ack_with(AckKind::Progress).await;
        }
    }
}

/// Creates (or finds) the `ROSEY` stream and the dead-letter stream.
pub async fn ensure_streams(js: &jetstream::Context) -> Result<jetstream::stream::Stream, String> {
    let stream = js
        .get_or_create_stream(messaging::stream_config())
        .await
        .map_err(|err| err.to_string())?;
    js.get_or_create_stream(messaging::dead_letter_stream_config())
        .await
        .map_err(|err| err.to_string())?;
    Ok(stream)
}

/// Every plugin's door, kept by the stack so doors outlive actor restarts.
#[derive(Clone, Default)]
pub struct Doors {
    doors: Arc<Mutex<HashMap<String, Arc<Door>>>>,
}

impl Doors {
    /// Plugin `name`'s door, made for `version` if it has none yet.
    pub fn open(
        &self,
        name: &str,
        version: &str,
        wants: Wants,
        js: &jetstream::Context,
        attempts_file: PathBuf,
    ) -> Arc<Door> {
        let mut doors = match self.doors.lock() {
            Ok(doors) => doors,
            Err(poisoned) => poisoned.into_inner(),
        };
        doors
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Door::new(name, version, wants, js.clone(), attempts_file)))
            .clone()
    }

    /// Plugin `name`'s door, if it has one.
    pub fn get(&self, name: &str) -> Option<Arc<Door>> {
        match self.doors.lock() {
            Ok(doors) => doors.get(name).cloned(),
            Err(poisoned) => poisoned.into_inner().get(name).cloned(),
        }
    }

    /// Closes plugin `name`'s door (removed or disabled): its subscription ends and its
    /// standby host, if any, is killed.
    pub fn close(&self, name: &str) {
        let door = match self.doors.lock() {
            Ok(mut doors) => doors.remove(name),
            Err(poisoned) => poisoned.into_inner().remove(name),
        };
        if let Some(door) = door {
            door.drop_standby();
        }
    }

    /// Every open door.
    pub fn all(&self) -> Vec<Arc<Door>> {
        match self.doors.lock() {
            Ok(doors) => doors.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        }
    }

    /// Kills every standby host (the stack is stopping).
    pub fn drop_standbys(&self) {
        let doors: Vec<Arc<Door>> = match self.doors.lock() {
            Ok(doors) => doors.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        };
        for door in doors {
            door.drop_standby();
        }
    }
}

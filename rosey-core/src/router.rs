//! The command router: turns what a chat says into NATS messages for plugins.
//!
//! Every chat message becomes an [`EventMessage`] (`chat.message`, or `chat.pm` for a PM) on
//! `rosey.events.<kind>`; a message that is a command (`!roll 2d6`) claimed by a plugin also
//! becomes a [`CommandMessage`] on `rosey.commands.<command>`. The bot's own messages are never
//! routed, so it cannot answer itself. What else a connector hears in the channel (joins,
//! leaves, media changes: [`Incoming::Event`]) is published as an event of its own kind.
//!
//! **Nothing is lost while NATS is down.** [`Router::route`] only appends to an in-memory FIFO
//! queue and returns, so the connector is never blocked. A background task publishes the queue's
//! head to JetStream and removes it only once the stream has acknowledged storing it; a failure
//! (no responders, timeout, disconnected) keeps it at the head and retries with backoff, so
//! messages are stored in the order they were heard. Each message carries a `Nats-Msg-Id`
//! (`event:<id>` or `command:<id>`, the incoming message's id) so a retry of a publish whose ack
//! was lost is dropped by the stream as a duplicate (within the stream's duplicate window). The
//! queue is bounded: when it is full, new messages are refused with an error, and the oldest
//! are kept.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::Duration,
};

use async_nats::jetstream::{self, message::PublishMessage as Publish};
use tokio::{sync::Notify, task::JoinHandle};

use crate::{
    config::{BotConfig, RateLimitConfig, RepliesConfig},
    connector::Incoming,
    manifest::is_valid_command,
    messaging::{self, CommandMessage, EventMessage, SCHEMA_VERSION},
    rank::Rank,
};

pub use outages::{PluginsDown, TELL_AGAIN_AFTER};
pub use replies::unknown_command_text;
pub use table::RouteTable;

/// The event kind of a chat message.
pub const CHAT_MESSAGE_KIND: &str = "chat.message";

/// The event kind of a private message to the bot.
pub const CHAT_PM_KIND: &str = "chat.pm";

/// Splits `text` into a command word and its arguments when it starts with `prefix`:
/// `!roll 2d6` → `("roll", "2d6")`. The word is lowercased and must be a valid command
/// ([`is_valid_command`]), so `!`, `! roll` and `!!!` are not commands; the arguments are
/// trimmed.
pub fn parse_command(text: &str, prefix: &str) -> Option<(String, String)> {
    if prefix.is_empty() {
        return None;
    }
    let rest = text.trim_start().strip_prefix(prefix)?;
    let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let word = word.to_lowercase();
    is_valid_command(&word).then(|| (word, args.trim().to_owned()))
}

/// How the router reads commands and retries NATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterSettings {
    /// The bot's own user name: its messages are ignored (compared without ASCII case).
    pub bot_name: String,
    /// The channel, carried in every command.
    pub channel: String,
    /// What starts a command.
    pub command_prefix: String,
    /// Whether [`Router::reply_to`] answers unknown commands.
    pub unknown_command_reply: bool,
    /// How many messages may wait for NATS before new ones are refused.
    pub queue_capacity: usize,
    /// The first delay after a failed publish; it doubles with each failure.
    pub retry_initial: Duration,
    /// The longest delay between retries.
    pub retry_max: Duration,
    /// How long one publish may take, ack included, before it counts as failed.
    pub publish_timeout: Duration,
    /// How many commands one user may send.
    pub rate_limit: RateLimitConfig,
    /// What the bot says to a user about their command.
    pub replies: RepliesConfig,
    /// The message store's size (the stream is made with its share if it is missing).
    pub store: messaging::StoreBudget,
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings::from_config(&BotConfig::default())
    }
}

impl RouterSettings {
    /// The settings `bot:` of `rosey.yaml` gives, with the default queue and retry timings.
    pub fn from_config(bot: &BotConfig) -> RouterSettings {
        RouterSettings {
            bot_name: bot.name.clone(),
            channel: bot.channel.clone(),
            command_prefix: bot.command_prefix.clone(),
            unknown_command_reply: bot.unknown_command_reply,
            queue_capacity: 10_000,
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(2),
            publish_timeout: Duration::from_secs(5),
            rate_limit: bot.rate_limit.clone(),
            replies: bot.replies.clone(),
            store: messaging::StoreBudget::default(),
        }
    }
}

/// What [`Router::route`] did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// The bot's own message: nothing published.
    Ignored,
    /// Queued as an event only: not a command.
    Event,
    /// Queued as an event and as a command for `plugin`.
    Command {
        /// The command word.
        command: String,
        /// The plugin that handles it.
        plugin: String,
    },
    /// A command no plugin claims; the event was still queued. The bot may answer with
    /// [`Router::reply_to`].
    Unknown {
        /// The command word.
        command: String,
        /// Every routed command, sorted.
        known: Vec<String>,
    },
    /// A command whose plugin is down for a while: crashed (the command is still queued, in
    /// case it comes back soon) or disabled (not queued). The user is told once
    /// ([`Router::reply_to`]) when `tell` is set.
    Unavailable {
        /// The command word.
        command: String,
        /// The plugin that handles it.
        plugin: String,
        /// Why it is down.
        why: Unavailable,
        /// Whether this user is to be told now (once per user and plugin, see
        /// [`TELL_AGAIN_AFTER`]).
        tell: bool,
    },
    /// A command whose manifest asks for a higher rank than the sender's: not queued (the
    /// event still was); answered with `bot.replies.not_allowed`.
    NotAllowed {
        /// The command word.
        command: String,
        /// The plugin that handles it.
        plugin: String,
        /// The least rank it takes.
        needs: Rank,
    },
    /// `!help`, answered by the bot itself (no plugin claims `help`).
    Help {
        /// The answer.
        text: String,
    },
    /// A command past its user's rate limit: not queued (the event still was). The first
    /// refusal of a flood is answered ([`Router::reply_to`]), the rest are not.
    Limited {
        /// The command word.
        command: String,
        /// The plugin that would have handled it.
        plugin: String,
        /// The first refusal since the user was last let through.
        first: bool,
    },
}

/// The bot's own command word for help (unless a plugin claims it).
pub const HELP_COMMAND: &str = "help";

/// Why a command's plugin cannot answer it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The supervisor gave up on it after repeated crashes (until its retry, an update or a
    /// restart): the command is queued and answered if it comes back before the command is
    /// too old.
    Crashed,
    /// The operator disabled it: the command is not queued.
    Disabled,
}

/// Why a message could not be routed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Too many messages are already waiting for NATS.
    #[error("{capacity} messages are already waiting for NATS, so message {id} was refused (last NATS error: {last_error}); check that the NATS server is running and reachable")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
        /// The refused message's id.
        id: String,
        /// Why the head of the queue is not being stored.
        last_error: String,
    },
}

/// One message waiting to be stored.
#[derive(Debug, Clone)]
struct Queued {
    subject: String,
    publish: Publish,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Queued>>,
    routes: RwLock<Arc<RouteTable>>,
    /// Wakes the publisher when something is queued.
    queued: Notify,
    /// Wakes [`Router::flush`] when something was stored.
    stored: Notify,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_error(&self, error: Option<String>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }

    fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Called when a publish finds the stream gone (deleted behind the stack's back); the router
/// waits for the future (at most its publish timeout) before it publishes again, so the stream
/// and the plugins' consumers are made again before the next message is stored. The argument
/// says what failed.
pub type StreamRepair =
    Arc<dyn Fn(String) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// Routes chat messages to NATS; see the module documentation. Dropping it stops the
/// background publisher and discards what is still queued: [`Router::flush`] first.
pub struct Router {
    shared: Arc<Shared>,
    settings: RouterSettings,
    limiter: Mutex<limits::RateLimiter>,
    roster: Mutex<roster::Roster>,
    told: Mutex<outages::Told>,
    down: PluginsDown,
    publisher: JoinHandle<()>,
}

impl Router {
    /// A router publishing through `js` and starting its background publisher, which also
    /// creates the `ROSEY` stream when it is missing.
    ///
    /// # Panics
    /// Outside a Tokio runtime, like `tokio::spawn`.
    pub fn new(js: jetstream::Context, routes: RouteTable, settings: RouterSettings) -> Router {
        Router::with_stream_repair(js, routes, settings, None)
    }

    /// [`Router::new`], calling `repair` when a publish finds the stream gone (instead of
    /// only making the stream again itself).
    ///
    /// # Panics
    /// Outside a Tokio runtime, like `tokio::spawn`.
    pub fn with_stream_repair(
        js: jetstream::Context,
        routes: RouteTable,
        settings: RouterSettings,
        repair: Option<StreamRepair>,
    ) -> Router {
        let shared = Arc::new(Shared::default());
        *shared
            .routes
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(routes);
        let publisher = tokio::spawn(publisher::publish_queue(
            js,
            shared.clone(),
            settings.clone(),
            repair,
        ));
        Router {
            shared,
            limiter: Mutex::new(limits::RateLimiter::new(&settings.rate_limit)),
            roster: Mutex::default(),
            told: Mutex::default(),
            down: PluginsDown::new(),
            settings,
            publisher,
        }
    }

    /// Takes which plugins are crashed from `down` (which the supervisor's listener keeps),
    /// so their commands are answered as unavailable.
    pub fn with_plugins_down(mut self, down: PluginsDown) -> Router {
        self.down = down;
        self
    }

    /// Replaces the route table (after an install, a removal, an enable or a disable).
    pub fn set_routes(&self, routes: RouteTable) {
        *self
            .shared
            .routes
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(routes);
    }

    /// The route table in use.
    pub fn routes(&self) -> Arc<RouteTable> {
        self.shared
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The settings in use.
    pub fn settings(&self) -> &RouterSettings {
        &self.settings
    }

    /// Queues what `incoming` becomes on NATS and returns at once (see the module
    /// documentation). Fails, queuing nothing, when the queue has no room for it.
    pub fn route(&self, incoming: &Incoming) -> Result<RouteOutcome, RouteError> {
        let (kind, html) = match incoming {
            Incoming::Chat { html, .. } => (CHAT_MESSAGE_KIND, html),
            Incoming::Pm { html, .. } => (CHAT_PM_KIND, html),
            Incoming::Event(event) => return self.route_event(event),
        };
        if incoming
            .user()
            .eq_ignore_ascii_case(&self.settings.bot_name)
        {
            return Ok(RouteOutcome::Ignored);
        }
        let mut data = serde_json::json!({ "channel": self.settings.channel });
        if let Some(html) = html {
            data["html"] = serde_json::Value::String(html.clone());
        }
        let parsed = parse_command(incoming.text(), &self.settings.command_prefix);
        if let Some((command, _)) = &parsed {
            // A plugin reading chat can tell a command line from talk without knowing the
            // operator's prefix.
            data["command"] = serde_json::Value::String(command.clone());
        }
        let rank = self.rank_of(incoming);
        let event = EventMessage {
            v: SCHEMA_VERSION,
            id: incoming.id().to_owned(),
            kind: kind.to_owned(),
            user: Some(incoming.user().to_owned()),
            text: Some(incoming.text().to_owned()),
            time_ms: incoming.time_ms(),
            data,
            rank,
        };
        let mut batch = vec![queued(
            messaging::event_subject(kind),
            messaging::event_msg_id(incoming.id()),
            messaging::encode(&event),
        )];
        let mut outcome = RouteOutcome::Event;
        if let Some((command, args)) = parsed {
            let routes = self.routes();
            outcome = match routes.owner(&command) {
                Some(plugin) => {
                    let outcome = self.decide(incoming, &routes, command.clone(), plugin, rank);
                    let queue = match &outcome {
                        RouteOutcome::Command { .. } => true,
                        RouteOutcome::Unavailable { why, .. } => *why == Unavailable::Crashed,
                        _ => false,
                    };
                    if queue {
                        let message = CommandMessage {
                            v: SCHEMA_VERSION,
                            id: incoming.id().to_owned(),
                            command: command.clone(),
                            args,
                            user: incoming.user().to_owned(),
                            channel: self.settings.channel.clone(),
                            source: incoming.source(),
                            time_ms: incoming.time_ms(),
                            rank,
                        };
                        batch.push(queued(
                            messaging::command_subject(&command),
                            messaging::command_msg_id(incoming.id()),
                            messaging::encode(&message),
                        ));
                    }
                    outcome
                }
                None if command == HELP_COMMAND => self.help(incoming, &routes, rank, &args),
                None => self.unknown(incoming, &routes, rank, command),
            };
        }
        self.enqueue(batch, incoming.id())?;
        count(&outcome);
        Ok(outcome)
    }

    /// How many NATS messages are waiting to be stored (an event and a command count as two).
    pub fn pending(&self) -> usize {
        self.shared.queue().len()
    }

    /// Why the oldest waiting message is not stored yet; `None` while publishing works.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error()
    }

    /// Waits until everything queued is stored, or `timeout` passes; returns how many messages
    /// are still waiting (0 when all were stored). For a graceful shutdown.
    pub async fn flush(&self, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let stored = self.shared.stored.notified();
            let pending = self.pending();
            if pending == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, stored).await.is_err() {
                return self.pending();
            }
        }
    }
}

/// A summary: the queue may hold thousands of payloads.
impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("settings", &self.settings)
            .field("routes", &self.routes().len())
            .field("pending", &self.pending())
            .field("last_error", &self.last_error())
            .finish()
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.publisher.abort();
    }
}

fn queued(subject: String, msg_id: String, payload: Vec<u8>) -> Queued {
    Queued {
        subject,
        publish: Publish::build().payload(payload.into()).message_id(msg_id),
    }
}

/// Counts a command's fate for the operator's metrics.
fn count(outcome: &RouteOutcome) {
    use crate::metrics::{command_refused, command_routed};
    match outcome {
        RouteOutcome::Command { plugin, .. }
        | RouteOutcome::Unavailable {
            plugin,
            why: Unavailable::Crashed,
            ..
        } => command_routed(plugin),
        RouteOutcome::Unavailable { plugin, .. } => command_refused(plugin, "disabled"),
        RouteOutcome::NotAllowed { plugin, .. } => command_refused(plugin, "rank"),
        RouteOutcome::Limited { plugin, .. } => command_refused(plugin, "rate_limited"),
        RouteOutcome::Ignored
        | RouteOutcome::Event
        | RouteOutcome::Unknown { .. }
        | RouteOutcome::Help { .. } => {}
    }
}

mod events;
mod help;
mod limits;
mod outages;
mod publisher;
mod replies;
mod roster;
mod table;
#[cfg(test)]
mod tests;

//! Everything rosey says on NATS: subject names, the JetStream stream and consumer definitions,
//! and the typed payloads. Nothing else in the workspace spells a subject.
//!
//! Chat events (`rosey.events.<kind>`) and routed commands (`rosey.commands.<command>`) go
//! through one JetStream stream; each plugin reads them from a durable pull consumer of its own
//! and acks after handling, so what arrives while a plugin is down waits for it. A dead letter
//! the operator replays goes through the same stream to one plugin (`rosey.replay.<plugin>.…`,
//! see `replay.rs`). Outgoing chat
//! (`rosey.actions.*`), heartbeats and lifecycle notices are plain core-NATS messages: they are
//! only useful live.

use std::time::Duration;

use async_nats::jetstream::consumer;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

mod channel;
mod describe;
mod nodes;
mod replay;
mod streams;
pub use channel::{
    ActionReply, ActionRequest, ChannelMedia, ChannelState, ChannelUser, PlaylistEntry,
    PlaylistState, PollState, StatePart, StateRefused, StateReply,
};
pub use describe::describe;
pub use nodes::{
    archive_object, heartbeat_node, node_heartbeat_subject, node_plugin_exit_subject,
    node_requests_subject, MainHeartbeat, NodeHeartbeat, NodePluginExit, NodeReply, NodeRequest,
    SettingsTaken, HANDOFF_STATE_BUCKET, MAIN_HEARTBEAT_SUBJECT, NODE_HEARTBEATS_ALL,
    PLUGIN_ARCHIVES_BUCKET,
};
pub use replay::{
    is_replay_subject, original_subject, replay_msg_id, replay_subject, replays_to,
    REPLAYED_FROM_HEADER, REPLAYS_ALL,
};
pub use streams::{
    ballast_consumer_config, dead_letter_stream_config, stream_config, stream_is_as_wanted,
    StoreBudget, StoreTooSmall, BALLAST_CONSUMER, BALLAST_SUBJECT,
};

/// Version of every payload's schema. Readers refuse payloads from a newer schema.
pub const SCHEMA_VERSION: u32 = 1;

/// The JetStream stream that carries events and commands.
pub const STREAM_NAME: &str = "ROSEY";

/// Subject of events of `kind` (`chat.message` → `rosey.events.chat.message`).
pub fn event_subject(kind: &str) -> String {
    format!("rosey.events.{kind}")
}

/// Every event's subject (half of what the stream holds).
pub const EVENTS_ALL: &str = "rosey.events.>";

/// Event kind: a user joined the channel (`data`: CyTube's user object).
pub const EVENT_USER_JOIN: &str = "user.join";
/// Event kind: a user left the channel.
pub const EVENT_USER_LEAVE: &str = "user.leave";
/// Event kind: the whole user list, sent on every (re)join (`data.users`).
pub const EVENT_USER_LIST: &str = "user.list";
/// Event kind: how many are in the channel (`data.count`).
pub const EVENT_USER_COUNT: &str = "user.count";
/// Event kind: a user's rank changed (`data.rank`).
pub const EVENT_USER_RANK: &str = "user.rank";
/// Event kind: a user went away or came back (`data.name`, `data.afk`).
pub const EVENT_USER_AFK: &str = "user.afk";
/// Event kind: the bot's own rank in the channel (`data.rank`: -1 anonymous, 0 guest, 1
/// registered, 2 moderator, 3 admin, …).
pub const EVENT_BOT_RANK: &str = "bot.rank";
/// Event kind: the playing media changed (`data`: CyTube's media object with `title`, `id`,
/// `type`, `seconds`).
pub const EVENT_MEDIA_CHANGE: &str = "media.change";
/// Event kind: the chat server refused something the bot said (`data.error`, and
/// `data.refused` with the message when one was refused).
pub const EVENT_BOT_ERROR: &str = "bot.error";
/// Event kind: a notice from the chat server itself (`data.from`: `[server]`, `[voteskip]`…;
/// `data.text`), never taken as a user's chat or command.
pub const EVENT_CHAT_NOTICE: &str = "chat.notice";
/// Event kind: the whole playlist, sent on every (re)join (`data.items`: [`PlaylistEntry`]s;
/// `data.current`: the playing uid or null).
pub const EVENT_PLAYLIST_SET: &str = "playlist.set";
/// Event kind: an item was queued (`data.item`: a [`PlaylistEntry`]; `data.after`: the uid it
/// follows, or null at the top).
pub const EVENT_PLAYLIST_ADD: &str = "playlist.add";
/// Event kind: an item left the playlist (`data.uid`).
pub const EVENT_PLAYLIST_DELETE: &str = "playlist.delete";
/// Event kind: an item moved (`data.from`: its uid; `data.after`: the uid it now follows,
/// `"prepend"` at the top or `"append"` at the bottom).
pub const EVENT_PLAYLIST_MOVE: &str = "playlist.move";
/// Event kind: the playlist was locked or unlocked (`data.locked`).
pub const EVENT_PLAYLIST_LOCK: &str = "playlist.lock";
/// Event kind: how far the media has played (`data.time`: seconds; `data.paused`; `data.uid`:
/// the playing item); at most one every 10 s, and at every pause or resume.
pub const EVENT_MEDIA_PROGRESS: &str = "media.progress";
/// Event kind: a poll opened (`data`: a [`PollState`]).
pub const EVENT_POLL_OPEN: &str = "poll.open";
/// Event kind: a poll's votes changed (`data`: a [`PollState`]).
pub const EVENT_POLL_UPDATE: &str = "poll.update";
/// Event kind: the poll closed (`data`: the last [`PollState`] when known).
pub const EVENT_POLL_CLOSE: &str = "poll.close";
/// Event kind: a user was muted, shadow-muted or unmuted (`data.name`, `data.muted`,
/// `data.smuted`).
pub const EVENT_USER_MUTE: &str = "user.mute";
/// Event kind: a user was kicked, by the bot or a moderator (`data.name`, `data.by`), from the
/// chat server's notices to moderators.
pub const EVENT_USER_KICK: &str = "user.kick";
/// Event kind: a name was banned from the channel (`data.name`, `data.by`), from the same
/// notices.
pub const EVENT_USER_BAN: &str = "user.ban";

/// Subject of routed command `command` (`roll` → `rosey.commands.roll`).
pub fn command_subject(command: &str) -> String {
    format!("rosey.commands.{command}")
}

/// Every routed command's subject (the other half of what the stream holds).
pub const COMMANDS_ALL: &str = "rosey.commands.>";

/// Whether `subject` is a routed command's (`rosey.commands.<command>`), not an event's.
pub fn is_command_subject(subject: &str) -> bool {
    subject.starts_with("rosey.commands.")
}

/// The `Nats-Msg-Id` of command `id` as stored: the stream drops a second copy within its
/// duplicate window, and a plugin's door matches the early and the durable copy of one message
/// by it.
pub fn command_msg_id(id: &str) -> String {
    format!("command:{id}")
}

/// The `Nats-Msg-Id` of event `id` as stored (see [`command_msg_id`]).
pub fn event_msg_id(id: &str) -> String {
    format!("event:{id}")
}

/// Where plugins' outgoing chat messages go, for the connector to send.
pub const CHAT_ACTION_SUBJECT: &str = "rosey.actions.chat";

/// Where plugins' outgoing private messages go, for the connector to send.
pub const PM_ACTION_SUBJECT: &str = "rosey.actions.pm";

/// Every outgoing action (chat and PM), as the connector subscribes to them.
pub const ACTIONS_ALL: &str = "rosey.actions.>";

/// Where the bot answers requests for the channel's state: the request's payload names a
/// [`StatePart`], the answer is its JSON. The plugin actors ask it for their plugins.
pub const CHANNEL_STATE_SUBJECT: &str = "rosey.channel.state";

/// Where the bot takes a plugin's channel action ([`ActionRequest`]), performs it and answers
/// with an [`ActionReply`]. Only plugin actors send here, after checking the manifest.
pub const CHANNEL_ACT_SUBJECT: &str = "rosey.channel.act";

/// A plugin's lifecycle subject: `rosey.plugins.<name>.<what>`.
fn plugin_subject(name: &str, what: &str) -> String {
    format!("rosey.plugins.{name}.{what}")
}

/// Where a plugin host publishes its heartbeats.
pub fn heartbeat_subject(plugin: &str) -> String {
    plugin_subject(plugin, "heartbeat")
}

/// Where a plugin host announces it is loaded and reading its consumer.
pub fn ready_subject(plugin: &str) -> String {
    plugin_subject(plugin, "ready")
}

/// Where a plugin host announces it has unloaded and is about to exit.
pub fn stopped_subject(plugin: &str) -> String {
    plugin_subject(plugin, "stopped")
}

/// Supervision events (`started`, `exited`, `restarted`, `gave_up`, …).
pub fn supervision_subject(what: &str) -> String {
    format!("rosey.supervision.{what}")
}

/// Where messages that repeatedly crashed a plugin are parked.
pub fn dead_letter_subject(plugin: &str) -> String {
    format!("rosey.deadletter.{plugin}")
}

/// Every plugin's dead-letter subject (the dead-letter stream's, and what status counts by).
pub const DEAD_LETTER_SUBJECTS: &str = "rosey.deadletter.>";

/// The plugin whose dead-letter subject is `subject` (`rosey.deadletter.<name>` → `<name>`);
/// `None` for any other subject.
pub fn dead_letter_plugin(subject: &str) -> Option<&str> {
    subject
        .strip_prefix("rosey.deadletter.")
        .filter(|plugin| !plugin.is_empty())
}

/// JetStream's advisories that a stream was deleted (`…STREAM.DELETED.<stream>`): the stack
/// watches them to make its streams again.
pub const STREAM_DELETED_ADVISORIES: &str = "$JS.EVENT.ADVISORY.STREAM.DELETED.>";

/// JetStream's advisories that a stream's config changed (`…STREAM.UPDATED.<stream>`).
pub const STREAM_UPDATED_ADVISORIES: &str = "$JS.EVENT.ADVISORY.STREAM.UPDATED.>";

/// JetStream's advisories that a consumer was deleted (`…CONSUMER.DELETED.<stream>.<consumer>`).
pub const CONSUMER_DELETED_ADVISORIES: &str = "$JS.EVENT.ADVISORY.CONSUMER.DELETED.>";

/// Every subject of rosey's own (what the bus's read-only user may watch).
pub const ROSEY_ALL: &str = "rosey.>";

/// The reply inboxes of request-reply, JetStream's API answers included.
pub const INBOX_ALL: &str = "_INBOX.>";

/// Every JetStream event and advisory.
pub const JETSTREAM_EVENTS_ALL: &str = "$JS.EVENT.>";

/// JetStream's API requests that only read: account, stream and consumer info and stored
/// messages (what the bus's read-only user may publish).
pub const JETSTREAM_READ_ONLY_API: &[&str] = &[
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.INFO.>",
    "$JS.API.STREAM.MSG.GET.>",
    "$JS.API.CONSUMER.NAMES.>",
    "$JS.API.CONSUMER.LIST.>",
    "$JS.API.CONSUMER.INFO.>",
];

/// What a JetStream advisory subject says happened: (`stream deleted`, stream, consumer).
/// `None` for any other subject.
pub fn parse_advisory(subject: &str) -> Option<(&'static str, String, Option<String>)> {
    let rest = subject.strip_prefix("$JS.EVENT.ADVISORY.")?;
    let mut parts = rest.splitn(4, '.');
    let (kind, what, stream) = (parts.next()?, parts.next()?, parts.next()?.to_owned());
    let consumer = parts.next().map(str::to_owned);
    match (kind, what, consumer) {
        ("STREAM", "DELETED", None) => Some(("deleted", stream, None)),
        ("STREAM", "UPDATED", None) => Some(("changed", stream, None)),
        ("CONSUMER", "DELETED", Some(consumer)) => Some(("deleted", stream, Some(consumer))),
        _ => None,
    }
}

/// The durable consumer name of a plugin.
pub fn consumer_name(plugin: &str) -> String {
    format!("plugin-{plugin}")
}

/// The plugin whose durable consumer is named `consumer` (`plugin-<name>` → `<name>`).
pub fn consumer_plugin(consumer: &str) -> Option<&str> {
    consumer.strip_prefix("plugin-")
}

/// The subjects plugin `plugin`'s consumer reads, from its manifest's commands and event
/// patterns, and its dead letters replayed (only when it reads anything: a plugin that handles
/// nothing has no consumer, and nothing was ever parked for it).
pub fn consumer_filter_subjects(
    plugin: &str,
    commands: &[String],
    events: &[String],
) -> Vec<String> {
    let mut subjects: Vec<String> = commands
        .iter()
        .map(|command| command_subject(command))
        .chain(events.iter().map(|pattern| event_subject(pattern)))
        .collect();
    if !subjects.is_empty() {
        subjects.push(replays_to(plugin));
    }
    subjects
}

/// Deliveries are not capped by JetStream: the plugin actor counts the hosts that died on a
/// message and moves one that keeps crashing its plugin to the dead-letter stream itself, so
/// nothing is silently lost.
pub const MAX_DELIVER: i64 = -1;

/// The stream that keeps dead-lettered messages for the operator to inspect.
pub const DEAD_LETTER_STREAM: &str = "ROSEY_DEADLETTER";

/// Header naming the subject a dead-lettered message was first published on.
pub const ORIGINAL_SUBJECT_HEADER: &str = "Rosey-Original-Subject";

/// Header giving how many plugin hosts died handling a dead-lettered message.
pub const FAILED_ATTEMPTS_HEADER: &str = "Rosey-Failed-Attempts";

/// The durable pull consumer of plugin `plugin` reading `filter_subjects`.
pub fn plugin_consumer_config(
    plugin: &str,
    filter_subjects: Vec<String>,
    ack_wait: Duration,
) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(consumer_name(plugin)),
        description: Some(format!("commands and events for plugin {plugin}")),
        deliver_policy: consumer::DeliverPolicy::New,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait,
        max_deliver: MAX_DELIVER,
        max_ack_pending: 256,
        filter_subjects,
        ..Default::default()
    }
}

/// Where a command came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The channel's chat.
    Chat,
    /// A private message to the bot.
    Pm,
}

/// A command routed to the plugin that claims it (`!roll 2d6`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandMessage {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// Unique id of the message that carried the command (also the JetStream dedupe id).
    pub id: String,
    /// Command word without the prefix.
    pub command: String,
    /// The rest of the message, trimmed.
    pub args: String,
    /// Who sent it.
    pub user: String,
    /// The channel.
    pub channel: String,
    /// Chat or PM.
    pub source: Source,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The sender's rank in the channel, when known (the connector said it, or the chat
    /// server announced it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<crate::rank::Rank>,
}

/// An event from the channel (a chat message, a user joining, …) or from a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// Unique id.
    pub id: String,
    /// Kind, e.g. `chat.message`, `user.join`, `plugin.quote-db.added`.
    pub kind: String,
    /// The user it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Plain text of a chat message or PM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Anything else the event carries.
    #[serde(default)]
    pub data: serde_json::Value,
    /// The channel rank of the user it concerns, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<crate::rank::Rank>,
}

/// Something a plugin wants said: in chat, or by PM when `to` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatAction {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// The text to send.
    pub text: String,
    /// PM recipient; `None` for chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The plugin that sent it.
    pub plugin: String,
    /// Id of the command or event being answered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// The chat user whose command or message the plugin was handling when it said this (set
    /// by the daemon, never by the plugin): the connector shares the chat's flood budget
    /// fairly between users by it. `None` for what a plugin says on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_user: Option<String>,
}

/// What a plugin host is doing right now, for hang detection and status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Busy {
    /// `command roll` or `event chat.message`.
    pub what: String,
    /// Id of the message in hand.
    pub message_id: String,
    /// When the handler started, ms since the Unix epoch.
    pub since_ms: u64,
}

/// A plugin host's periodic sign of life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// Plugin name.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// Host process id.
    pub pid: u32,
    /// The handler running now, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy: Option<Busy>,
    /// Messages handled since the host started.
    pub handled: u64,
    /// When this heartbeat was sent, ms since the Unix epoch.
    pub time_ms: u64,
}

/// A plugin host's announcement that it is loaded and serving (or has stopped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// Plugin name.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// Host process id.
    pub pid: u32,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// A supervision notice (a unit started, exited, restarted, gave up, was reloaded …), as
/// published on `rosey.supervision.<event>` and shown in the dashboard's event feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisionEvent {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// The supervisor the unit runs under (`root` for services, `plugins` for plugins).
    pub supervisor: String,
    /// The unit (`nats`, `bot`, `web`, `plugins`, or a plugin's name).
    pub unit: String,
    /// What happened: `started`, `exited`, `restarting`, `gave_up`, `stopped`, `removed`,
    /// `escalated`, `reloaded` (also the last part of the subject).
    pub event: String,
    /// The notice as logged (`plugin chaos exited: exit code 11 (plugin panicked)`).
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

impl SupervisionEvent {
    /// A notice of `event` about `unit` under `supervisor`, stamped now.
    pub fn new(supervisor: &str, unit: &str, event: &str, text: String) -> SupervisionEvent {
        SupervisionEvent {
            v: SCHEMA_VERSION,
            supervisor: supervisor.to_owned(),
            unit: unit.to_owned(),
            event: event.to_owned(),
            text,
            time_ms: now_ms(),
        }
    }

    /// Where it is published.
    pub fn subject(&self) -> String {
        supervision_subject(&self.event)
    }
}

/// A payload that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Not the JSON of the expected type.
    #[error("malformed payload: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Written by a newer rosey.
    #[error("payload schema v{found} is newer than the v{SCHEMA_VERSION} this rosey reads")]
    NewerSchema {
        /// The version found.
        found: u32,
    },
}

/// Decodes a payload, refusing schemas newer than [`SCHEMA_VERSION`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PayloadError> {
    #[derive(Deserialize)]
    struct Versioned {
        v: u32,
    }
    let Versioned { v } = serde_json::from_slice(bytes)?;
    if v > SCHEMA_VERSION {
        return Err(PayloadError::NewerSchema { found: v });
    }
    Ok(serde_json::from_slice(bytes)?)
}

/// Encodes a payload as JSON.
pub fn encode<T: Serialize>(payload: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail: no maps with non-string keys, no I/O.
    serde_json::to_vec(payload).unwrap_or_default()
}

/// Milliseconds since the Unix epoch, for the `time_ms` fields.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;

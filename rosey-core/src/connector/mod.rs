//! Connections to a chat: what a connector hears ([`Incoming`]), what the bot says
//! ([`Outgoing`]), and the [`Connector`] trait the bot drives them through.
//!
//! The trait is object safe (the daemon holds a `Box<dyn Connector>` chosen by `rosey.yaml`), so
//! it has no `async fn`: sending returns a [`BoxFuture`]. What a connector hears is read from an
//! [`IncomingReceiver`], taken from [`Connector::incoming`] by one reader at a time. A dropped
//! receiver goes back to its connector with everything still unread in it, so a bot service that
//! is restarted by its supervisor takes the same receiver again and loses nothing in between.
//! Connectors build that behaviour from [`IncomingQueue`].

mod configured;
pub mod cytube;
mod incoming;
pub mod local;

use std::sync::Arc;

use futures::future::BoxFuture;
use rosey_abi::channel::{Action, ActionError, ActionErrorKind};
use tokio::sync::watch;

use crate::{
    messaging::{ChatAction, PlaylistState, PollState, Source},
    rank::Rank,
};

pub use configured::{from_config, Configured, ConfiguredError, CYTUBE_PASSWORD_ENV};
pub use cytube::{CytubeConnector, CytubeSettings, CytubeSettingsError};
pub use incoming::{IncomingQueue, IncomingReceiver};
pub use local::LocalConnector;

/// Something a connector heard: a chat message, a PM, or something that happened in the
/// channel (a join, a leave, the user list, a media change, a rank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A message in the channel's chat.
    Chat {
        /// Who said it.
        user: String,
        /// What they said, as plain text.
        text: String,
        /// When, in ms since the Unix epoch.
        time_ms: u64,
        /// Unique id (also the NATS dedupe id of what the router publishes for it).
        id: String,
        /// The chat server's own rendering (CyTube's sanitised HTML), when it has one.
        html: Option<String>,
        /// The sender's rank, when the connector knows it with the message (the local one
        /// does; CyTube announces ranks in its own events, which the router follows).
        rank: Option<Rank>,
    },
    /// A private message to the bot.
    Pm {
        /// Who sent it.
        user: String,
        /// What they said, as plain text.
        text: String,
        /// When, in ms since the Unix epoch.
        time_ms: u64,
        /// Unique id (also the NATS dedupe id of what the router publishes for it).
        id: String,
        /// The chat server's own rendering (CyTube's sanitised HTML), when it has one.
        html: Option<String>,
        /// The sender's rank, when the connector knows it with the message (the local one
        /// does; CyTube announces ranks in its own events, which the router follows).
        rank: Option<Rank>,
    },
    /// Something that happened in the channel; published as an event, never a command.
    Event(ChannelEvent),
}

/// Something that happened in the channel, published on `rosey.events.<kind>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEvent {
    /// The event kind (`user.join`, `media.change`, …: see [`crate::messaging`]).
    pub kind: String,
    /// The user it concerns, if any.
    pub user: Option<String>,
    /// When, in ms since the Unix epoch.
    pub time_ms: u64,
    /// Unique id (the NATS dedupe id).
    pub id: String,
    /// What the chat server said about it.
    pub data: serde_json::Value,
}

/// How a connector's link to its chat is doing, for the bot's status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorStatus {
    /// Connecting for the first time; nothing is known yet.
    Connecting,
    /// Connected and logged in.
    Connected,
    /// Not connected for now (the reason), reconnecting; what the bot says waits meanwhile.
    Degraded(String),
    /// Refused for good (the server's reason): the connector stopped trying.
    Failed(String),
}

impl Incoming {
    /// A message of `source` kind, for connectors that learn the kind at run time.
    pub fn new(source: Source, user: String, text: String, time_ms: u64, id: String) -> Incoming {
        match source {
            Source::Chat => Incoming::Chat {
                user,
                text,
                time_ms,
                id,
                html: None,
                rank: None,
            },
            Source::Pm => Incoming::Pm {
                user,
                text,
                time_ms,
                id,
                html: None,
                rank: None,
            },
        }
    }

    /// Who sent it (or whom an event concerns; empty when nobody).
    pub fn user(&self) -> &str {
        match self {
            Incoming::Chat { user, .. } | Incoming::Pm { user, .. } => user,
            Incoming::Event(event) => event.user.as_deref().unwrap_or(""),
        }
    }

    /// What they said (empty for an event).
    pub fn text(&self) -> &str {
        match self {
            Incoming::Chat { text, .. } | Incoming::Pm { text, .. } => text,
            Incoming::Event(_) => "",
        }
    }

    /// Its unique id.
    pub fn id(&self) -> &str {
        match self {
            Incoming::Chat { id, .. } | Incoming::Pm { id, .. } => id,
            Incoming::Event(event) => &event.id,
        }
    }

    /// When it was said, in ms since the Unix epoch.
    pub fn time_ms(&self) -> u64 {
        match self {
            Incoming::Chat { time_ms, .. } | Incoming::Pm { time_ms, .. } => *time_ms,
            Incoming::Event(event) => event.time_ms,
        }
    }

    /// The same message, sent by a user of `rank`.
    pub fn with_rank(mut self, rank: Rank) -> Incoming {
        if let Incoming::Chat { rank: known, .. } | Incoming::Pm { rank: known, .. } = &mut self {
            *known = Some(rank);
        }
        self
    }

    /// The sender's rank, if the connector said it with the message.
    pub fn rank(&self) -> Option<Rank> {
        match self {
            Incoming::Chat { rank, .. } | Incoming::Pm { rank, .. } => *rank,
            Incoming::Event(_) => None,
        }
    }

    /// Chat or PM: where an answer goes (chat for an event).
    pub fn source(&self) -> Source {
        match self {
            Incoming::Chat { .. } | Incoming::Event(_) => Source::Chat,
            Incoming::Pm { .. } => Source::Pm,
        }
    }
}

/// What the bot says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A message in the channel's chat.
    Chat {
        /// The text.
        text: String,
    },
    /// A private message.
    Pm {
        /// The recipient.
        to: String,
        /// The text.
        text: String,
    },
}

impl Outgoing {
    /// The text said.
    pub fn text(&self) -> &str {
        match self {
            Outgoing::Chat { text } | Outgoing::Pm { text, .. } => text,
        }
    }
}

impl From<ChatAction> for Outgoing {
    /// A plugin's reply as read from NATS: a PM when it names a recipient, chat otherwise.
    fn from(action: ChatAction) -> Outgoing {
        match action.to {
            Some(to) => Outgoing::Pm {
                to,
                text: action.text,
            },
            None => Outgoing::Chat { text: action.text },
        }
    }
}

/// Why a connector cannot do what was asked. Messages name the connector.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Another reader holds the incoming receiver.
    #[error("the {connector} connector's incoming messages are already being read; drop the other receiver first (one bot reads a connector)")]
    IncomingTaken {
        /// The connector's name.
        connector: String,
    },
    /// The connector was closed.
    #[error("the {connector} connector is closed; create a new one to talk to the chat again")]
    Closed {
        /// The connector's name.
        connector: String,
    },
    /// The chat refused the bot for good (wrong password, kicked): nothing can be sent.
    #[error("the {connector} connector stopped: {reason}")]
    Failed {
        /// The connector's name.
        connector: String,
        /// The server's reason, and what to do about it.
        reason: String,
    },
    /// The chat refused or lost a message.
    #[error("the {connector} connector could not send: {reason}")]
    Send {
        /// The connector's name.
        connector: String,
        /// What went wrong, and what to check.
        reason: String,
    },
}

/// A connection to a chat (CyTube, or the local one). Object safe: the daemon holds a
/// `Box<dyn Connector>` picked by `bot.connector` in `rosey.yaml`.
pub trait Connector: Send + Sync {
    /// Short name for logs and errors (`local`, `cytube`).
    fn name(&self) -> &str;

    /// Takes the receiver of what the connector hears. One reader at a time: while a receiver
    /// is held this fails with [`ConnectorError::IncomingTaken`]; once it is dropped the next
    /// call gets it back, with whatever arrived meanwhile still in it. It ends after
    /// [`Connector::close`].
    fn incoming(&self) -> Result<IncomingReceiver, ConnectorError>;

    /// Says `out` in the chat on nobody's behalf (the bot's own words, or a plugin speaking of
    /// its own accord); resolves once the chat has taken it.
    fn send(&self, out: Outgoing) -> BoxFuture<'_, Result<(), ConnectorError>>;

    /// Says `out` on behalf of chat user `user` (the one whose command or message it answers),
    /// like [`Connector::send`]. A connector whose chat limits how fast the bot may speak (the
    /// CyTube flood limit) shares that budget fairly between the users it answers, so one
    /// user's many commands cannot hold back everyone else's answers. One with no such limit,
    /// like the local one, just sends.
    fn send_for(&self, out: Outgoing, user: &str) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let _ = user;
        self.send(out)
    }

    /// Disconnects: nothing more is heard or sent. The incoming receiver yields what it still
    /// holds, then ends. Closing twice is harmless.
    fn close(&self) -> BoxFuture<'_, Result<(), ConnectorError>>;

    /// How the link to the chat is doing, and every change from now on. A connector that
    /// cannot lose its chat (the local one) is always [`ConnectorStatus::Connected`].
    fn status(&self) -> watch::Receiver<ConnectorStatus> {
        watch::channel(ConnectorStatus::Connected).1
    }

    /// Does `action` to the channel on a plugin's behalf and resolves once the chat server
    /// confirmed it (`Ok` with what it yields: for a queue, the new item's uid, a tab, its
    /// title) or refused it. Nothing is retried: a refusal or a missing confirmation is
    /// reported, never repeated. A chat without playlists, moderation or polls (the local one)
    /// answers [`ActionErrorKind::Unsupported`].
    fn act(&self, action: Action) -> BoxFuture<'_, Result<String, ActionError>> {
        Box::pin(async move { Err(unsupported(self.name(), &action)) })
    }

    /// The channel's playlist as the connector follows it; `None` for a chat without one.
    fn playlist(&self) -> Option<PlaylistState> {
        None
    }

    /// The channel's open poll (`Some(None)`: none open); `None` for a chat without polls.
    fn poll(&self) -> Option<Option<PollState>> {
        None
    }
}

/// The error of a connector whose chat cannot do `action`.
pub fn unsupported(connector: &str, action: &Action) -> ActionError {
    ActionError::new(
        ActionErrorKind::Unsupported,
        format!(
            "the {connector} connector has no playlist, moderation or polls, so it cannot {}: connect the bot to CyTube (bot.connector: cytube in rosey.yaml)",
            action.words()
        ),
    )
}

/// A shared connector is a connector, so the daemon can keep the concrete type (to feed a
/// [`LocalConnector`]) while the bot holds a `Box<dyn Connector>` of the same one.
impl<C: Connector + ?Sized> Connector for Arc<C> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn incoming(&self) -> Result<IncomingReceiver, ConnectorError> {
        (**self).incoming()
    }

    fn send(&self, out: Outgoing) -> BoxFuture<'_, Result<(), ConnectorError>> {
        (**self).send(out)
    }

    fn send_for(&self, out: Outgoing, user: &str) -> BoxFuture<'_, Result<(), ConnectorError>> {
        (**self).send_for(out, user)
    }

    fn close(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        (**self).close()
    }

    fn status(&self) -> watch::Receiver<ConnectorStatus> {
        (**self).status()
    }

    fn act(&self, action: Action) -> BoxFuture<'_, Result<String, ActionError>> {
        (**self).act(action)
    }

    fn playlist(&self) -> Option<PlaylistState> {
        (**self).playlist()
    }

    fn poll(&self) -> Option<Option<PollState>> {
        (**self).poll()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_and_replies() {
        let pm = Incoming::new(Source::Pm, "bob".into(), "!roll".into(), 7, "x".into());
        assert_eq!(
            (pm.user(), pm.text(), pm.time_ms(), pm.id(), pm.source()),
            ("bob", "!roll", 7, "x", Source::Pm)
        );
        let action = ChatAction {
            v: 1,
            text: "4".into(),
            to: Some("bob".into()),
            plugin: "dice-roller".into(),
            in_reply_to: None,
            for_user: None,
        };
        assert_eq!(
            Outgoing::from(action),
            Outgoing::Pm {
                to: "bob".into(),
                text: "4".into()
            }
        );
    }

    #[test]
    fn an_event_has_its_id_time_and_user_and_no_text_or_rank() {
        let event = Incoming::Event(ChannelEvent {
            kind: "user.join".into(),
            user: Some("carol".into()),
            time_ms: 42,
            id: "cytube-1".into(),
            data: serde_json::json!({"name": "carol"}),
        });
        assert_eq!(
            (event.user(), event.text(), event.id(), event.time_ms()),
            ("carol", "", "cytube-1", 42)
        );
        assert_eq!(event.rank(), None);
        assert_eq!(
            event.clone().with_rank(Rank::MODERATOR).rank(),
            None,
            "an event carries no sender's rank"
        );
        assert_eq!(event.source(), Source::Chat, "an event is answered in chat");
    }

    #[tokio::test]
    async fn a_chat_without_a_channel_refuses_actions_and_has_no_playlist_or_poll() {
        // The local connector keeps the trait's defaults; through an `Arc`, as the daemon holds it.
        let local: Arc<LocalConnector> = Arc::new(LocalConnector::default());
        let err = local
            .act(Action::ClearChat)
            .await
            .expect_err("no channel to act on");
        assert_eq!(err.kind, ActionErrorKind::Unsupported);
        assert_eq!(
            err.message,
            "the local connector has no playlist, moderation or polls, so it cannot clear chat: connect the bot to CyTube (bot.connector: cytube in rosey.yaml)"
        );
        assert_eq!(local.playlist(), None);
        assert_eq!(local.poll(), None);
    }

    #[tokio::test]
    async fn the_incoming_receiver_is_a_stream_that_ends_after_close() {
        use futures::StreamExt;
        let local = LocalConnector::new();
        let mut incoming = local.incoming().expect("the receiver");
        let id = local
            .inject("alice", "!roll", Source::Chat)
            .expect("injected");
        let heard = incoming.next().await.expect("one message");
        assert_eq!(
            (heard.user(), heard.text(), heard.id()),
            ("alice", "!roll", id.as_str())
        );
        local.close().await.expect("closed");
        assert_eq!(incoming.next().await, None, "the stream ends once closed");
    }

    #[test]
    fn the_configured_connector_prints_only_its_name() {
        let configured = from_config(&crate::config::BotConfig::default(), Some("hunter2".into()))
            .expect("the local connector");
        assert_eq!(
            format!("{configured:?}"),
            r#"Configured { connector: "local", .. }"#
        );
    }
}

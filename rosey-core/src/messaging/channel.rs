//! The chat channel as the bot follows it, asked for by plugins over
//! [`super::CHANNEL_STATE_SUBJECT`], and the channel actions they ask for over
//! [`super::CHANNEL_ACT_SUBJECT`].

use rosey_abi::channel::{Action, ActionError};
use serde::{Deserialize, Serialize};

/// Which part of the channel's state a request asks for (the request's payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatePart {
    /// Who is here and what plays: a [`ChannelState`]. Also an empty payload.
    Roster,
    /// The playlist: a [`PlaylistState`].
    Playlist,
    /// The open poll: a [`PollState`] or `null`.
    Poll,
    /// The bot itself: a [`ChannelUser`] or `null` before it joined.
    Bot,
}

impl StatePart {
    /// The request payload that asks for it.
    pub fn name(self) -> &'static str {
        match self {
            StatePart::Roster => "roster",
            StatePart::Playlist => "playlist",
            StatePart::Poll => "poll",
            StatePart::Bot => "bot",
        }
    }

    /// The part a request payload asks for; `None` for anything unknown.
    pub fn from_payload(payload: &[u8]) -> Option<StatePart> {
        match payload {
            b"" | b"roster" => Some(StatePart::Roster),
            b"playlist" => Some(StatePart::Playlist),
            b"poll" => Some(StatePart::Poll),
            b"bot" => Some(StatePart::Bot),
            _ => None,
        }
    }
}

/// Who is in the channel and what plays: the answer for [`StatePart::Roster`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelState {
    /// Who is in the channel, sorted by lowercased name.
    pub users: Vec<ChannelUser>,
    /// What plays, if anything.
    pub media: Option<ChannelMedia>,
}

/// A user in [`ChannelState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelUser {
    /// The name as the chat shows it.
    pub name: String,
    /// CyTube's rank number.
    pub rank: i64,
    /// Marked away.
    pub afk: bool,
}

/// The media in [`ChannelState`] (CyTube's field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMedia {
    /// Its title.
    pub title: String,
    /// The provider's code (`yt`, `vi`, `cu`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The provider's id.
    pub id: String,
    /// Its length in seconds (0: live or unknown).
    pub seconds: u64,
}

/// An item of the playlist (CyTube's `uid`, and its media's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaylistEntry {
    /// The chat server's id of this entry.
    pub uid: u64,
    /// The media's title.
    pub title: String,
    /// The provider's code (`yt`, `vi`, `cu`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The provider's id.
    pub id: String,
    /// Its length in seconds (0: live or unknown).
    pub seconds: u64,
    /// Removed once played.
    pub temp: bool,
    /// Who queued it.
    pub queued_by: String,
}

/// The playlist as the bot follows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaylistState {
    /// Every item, in playing order.
    pub items: Vec<PlaylistEntry>,
    /// The uid playing now.
    pub current: Option<u64>,
    /// How far into it playback is, in ms, as last reported.
    pub position_ms: u64,
    /// Paused.
    pub paused: bool,
    /// Locked: only those the channel's permissions allow may change it.
    pub locked: bool,
}

/// The open poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollState {
    /// The question.
    pub title: String,
    /// The answers.
    pub options: Vec<String>,
    /// Votes per option; `None` where the chat hides the count from the bot.
    pub counts: Vec<Option<u64>>,
    /// Votes are hidden until it closes.
    pub hidden: bool,
    /// Who opened it.
    pub opened_by: String,
    /// When, ms since the Unix epoch.
    pub opened_ms: u64,
}

/// The bot's answer to a question about the channel: the part's JSON, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateReply {
    /// Schema version ([`super::SCHEMA_VERSION`]).
    pub v: u32,
    /// The part, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<serde_json::Value>,
    /// Why it cannot be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The bot's reason for not telling a part of the channel's state. It crossed NATS as text, so
/// the text is all there is; the type keeps it apart from a transport failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct StateRefused {
    /// The bot's words (e.g. that its connector has no playlist).
    pub reason: String,
}

impl StateReply {
    /// The answer `part`.
    pub fn ok(part: &impl Serialize) -> StateReply {
        match serde_json::to_value(part) {
            Ok(value) => StateReply {
                v: super::SCHEMA_VERSION,
                ok: Some(value),
                error: None,
            },
            Err(err) => StateReply::error(format!("cannot write the channel's state: {err}")),
        }
    }

    /// No answer, because of `why`.
    pub fn error(why: impl Into<String>) -> StateReply {
        StateReply {
            v: super::SCHEMA_VERSION,
            ok: None,
            error: Some(why.into()),
        }
    }

    /// The part's JSON text, or why there is none.
    pub fn into_result(self) -> Result<String, StateRefused> {
        match (self.error, self.ok) {
            (Some(reason), _) => Err(StateRefused { reason }),
            (None, value) => Ok(value.unwrap_or(serde_json::Value::Null).to_string()),
        }
    }
}

/// A plugin's channel action, as its actor sends it to the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// Schema version ([`super::SCHEMA_VERSION`]).
    pub v: u32,
    /// The plugin that asks (for the log and the events it causes).
    pub plugin: String,
    /// What to do.
    pub action: Action,
}

/// The bot's answer to an [`ActionRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionReply {
    /// Schema version ([`super::SCHEMA_VERSION`]).
    pub v: u32,
    /// What the action yields when it happened (see `rosey_abi::services::ActFn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<String>,
    /// Why it did not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ActionError>,
}

impl ActionReply {
    /// The reply for `result`.
    pub fn new(result: Result<String, ActionError>) -> ActionReply {
        match result {
            Ok(ok) => ActionReply {
                v: super::SCHEMA_VERSION,
                ok: Some(ok),
                error: None,
            },
            Err(error) => ActionReply {
                v: super::SCHEMA_VERSION,
                ok: None,
                error: Some(error),
            },
        }
    }

    /// The reply as a result (a reply with neither is an empty success).
    pub fn into_result(self) -> Result<String, ActionError> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.ok.unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::{decode, encode};
    use rosey_abi::channel::ActionErrorKind;

    #[test]
    fn each_state_part_is_asked_for_by_its_name_and_unknown_names_ask_for_none() {
        for part in [
            StatePart::Roster,
            StatePart::Playlist,
            StatePart::Poll,
            StatePart::Bot,
        ] {
            assert_eq!(StatePart::from_payload(part.name().as_bytes()), Some(part));
        }
        assert_eq!(StatePart::from_payload(b""), Some(StatePart::Roster));
        assert_eq!(StatePart::from_payload(b"users"), None);
        assert_eq!(StatePart::from_payload(b"Roster"), None);
    }

    #[test]
    fn a_part_that_cannot_be_json_is_answered_with_why() {
        // JSON objects have text keys only.
        let part = std::collections::BTreeMap::from([((1, 2), "a")]);
        let reply = StateReply::ok(&part);
        assert_eq!(
            reply.into_result(),
            Err(StateRefused {
                reason: "cannot write the channel's state: key must be a string".to_owned()
            })
        );
    }

    #[test]
    fn replies_cross_nats_whole() {
        let state = StateReply::ok(&PlaylistState::default());
        let read: StateReply = decode(&encode(&state)).expect("a state reply");
        let text = read.into_result().expect("ok");
        let playlist: PlaylistState = serde_json::from_str(&text).expect("a playlist");
        assert_eq!(playlist, PlaylistState::default());
        let refused: StateReply = decode(&encode(&StateReply::error("no playlist"))).expect("read");
        assert_eq!(
            refused.into_result(),
            Err(StateRefused {
                reason: "no playlist".to_owned()
            })
        );
        let done = ActionReply::new(Ok("7\tA song".to_owned()));
        let read: ActionReply = decode(&encode(&done)).expect("an action reply");
        assert_eq!(read.into_result(), Ok("7\tA song".to_owned()));
        let error = ActionError::new(ActionErrorKind::BotRank, "not a moderator");
        let read: ActionReply =
            decode(&encode(&ActionReply::new(Err(error.clone())))).expect("read");
        assert_eq!(read.into_result(), Err(error));
        let request = ActionRequest {
            v: crate::messaging::SCHEMA_VERSION,
            plugin: "dj".to_owned(),
            action: Action::Skip,
        };
        assert_eq!(
            decode::<ActionRequest>(&encode(&request)).expect("read"),
            request
        );
    }
}

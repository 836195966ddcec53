//! How a channel action fails: whose doing it was ([`ActionErrorKind`]: the manifest, the bot's
//! rank, the chat server, the request) and a message that says what to change, one wording for
//! the plugin's actor and the testing kit alike.

use std::fmt;

use super::Action;

/// The refusal of `action` by a plugin whose manifest does not declare its permission: the
/// plugin's actor answers it, and the testing kit answers the same.
pub fn not_declared(action: &Action) -> ActionError {
    let permission = action.permission();
    ActionError::new(
        ActionErrorKind::NotDeclared,
        format!(
            "{} needs the channel permission {permission}, which the manifest does not declare: add `channel: [{permission}]` to the plugin's manifest",
            action.words()
        ),
    )
}

/// Whose doing a failed [`Action`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ActionErrorKind {
    /// The plugin's manifest does not declare the `channel:` permission the action needs.
    NotDeclared,
    /// The bot's rank in the channel is too low for it (the channel's permission table says
    /// which rank it needs), or the target outranks the bot.
    BotRank,
    /// The chat server refused it, in its own words (a link it cannot play, a playlist
    /// locked…).
    Refused,
    /// The request itself is wrong (no such item, not a link, a bad poll).
    Invalid,
    /// The chat the bot is connected to has no such thing (the local connector has no
    /// playlist).
    Unsupported,
    /// The bot is not connected to the chat right now; nothing was sent.
    Unavailable,
    /// The chat server did not confirm it in time; it may or may not have happened.
    NoAnswer,
}

impl ActionErrorKind {
    const ALL: [ActionErrorKind; 7] = [
        ActionErrorKind::NotDeclared,
        ActionErrorKind::BotRank,
        ActionErrorKind::Refused,
        ActionErrorKind::Invalid,
        ActionErrorKind::Unsupported,
        ActionErrorKind::Unavailable,
        ActionErrorKind::NoAnswer,
    ];

    /// Its short code on the wire.
    pub fn code(self) -> &'static str {
        match self {
            ActionErrorKind::NotDeclared => "not_declared",
            ActionErrorKind::BotRank => "bot_rank",
            ActionErrorKind::Refused => "refused",
            ActionErrorKind::Invalid => "invalid",
            ActionErrorKind::Unsupported => "unsupported",
            ActionErrorKind::Unavailable => "unavailable",
            ActionErrorKind::NoAnswer => "no_answer",
        }
    }
}

/// Why a channel action did not happen: whose doing it was, and a message naming the problem
/// and, where there is one, the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ActionError {
    /// Whose doing it was.
    pub kind: ActionErrorKind,
    /// What happened, in one line.
    pub message: String,
}

impl ActionError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ActionErrorKind, message: impl Into<String>) -> ActionError {
        ActionError {
            kind,
            message: message.into(),
        }
    }

    /// The error as one string for the wire: its code, a tab, its message.
    pub fn encode(&self) -> String {
        format!("{}\t{}", self.kind.code(), self.message)
    }

    /// Reads [`ActionError::encode`]'s form; anything else (an older host's plain message) is a
    /// refusal with that message.
    pub fn decode(text: &str) -> ActionError {
        if let Some((code, message)) = text.split_once('\t') {
            if let Some(kind) = ActionErrorKind::ALL.into_iter().find(|k| k.code() == code) {
                return ActionError::new(kind, message);
            }
        }
        ActionError::new(ActionErrorKind::Unavailable, text)
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActionError {}

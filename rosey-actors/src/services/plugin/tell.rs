//! What the bot itself tells a user about their command: that it failed (its handler returned
//! an error, or it crashed the plugin until it was dead-lettered). Said once per command, in
//! the way the command came (in chat, or by PM), unless the plugin's manifest turns it off
//! (`failure_reply: false`) or the operator's wording is empty (`bot.replies.failed`).

use rosey_core::messaging::{self, ChatAction, CommandMessage, Source, SCHEMA_VERSION};

/// Who asked what: enough to answer a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asker {
    /// The command's id (the reply is `in_reply_to` it).
    pub id: String,
    /// Who sent it.
    pub user: String,
    /// The command word.
    pub command: String,
    /// It came by PM: the answer goes back by PM.
    pub by_pm: bool,
}

impl Asker {
    /// The asker of `command`.
    pub fn of(command: &CommandMessage) -> Asker {
        Asker {
            id: command.id.clone(),
            user: command.user.clone(),
            command: command.command.clone(),
            by_pm: matches!(command.source, Source::Pm),
        }
    }
}

/// The operator's wording for a failed command, as the plugin actor needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailureWording {
    /// `bot.replies.failed`, with `{user}` and `{command}` to fill in; empty: say nothing.
    pub template: String,
    /// `bot.command_prefix`, put before the command word.
    pub prefix: String,
}

impl FailureWording {
    /// The text for `asker`, or `None` when nothing is to be said.
    pub fn text(&self, asker: &Asker) -> Option<String> {
        rosey_core::config::fill_reply(&self.template, &asker.user, &self.prefix, &asker.command)
    }
}

/// Tells `asker` that their command failed in plugin `plugin`, if `wording` says anything.
pub async fn failed(
    client: &async_nats::Client,
    plugin: &str,
    wording: &FailureWording,
    asker: &Asker,
) {
    let Some(text) = wording.text(asker) else {
        return;
    };
    let action = ChatAction {
        v: SCHEMA_VERSION,
        text,
        to: asker.by_pm.then(|| asker.user.clone()),
        plugin: plugin.to_owned(),
        in_reply_to: Some(asker.id.clone()),
        for_user: Some(asker.user.clone()),
    };
    let subject = if asker.by_pm {
        messaging::PM_ACTION_SUBJECT
    } else {
        messaging::CHAT_ACTION_SUBJECT
    };
    if let Err(err) = client
        .publish(subject, messaging::encode(&action).into())
        .await
    {
        tracing::warn!(
            plugin,
            "cannot tell {} that their command failed: {err}",
            asker.user
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asker() -> Asker {
        Asker {
            id: "m1".to_owned(),
            user: "bob".to_owned(),
            command: "karma".to_owned(),
            by_pm: false,
        }
    }

    #[test]
    fn the_wording_names_the_user_and_the_command_with_its_prefix() {
        let wording = FailureWording {
            template: "Sorry {user}, {command} failed.".to_owned(),
            prefix: "!".to_owned(),
        };
        assert_eq!(
            wording.text(&asker()).as_deref(),
            Some("Sorry bob, !karma failed.")
        );
    }

    #[test]
    fn an_empty_wording_says_nothing() {
        let wording = FailureWording {
            template: "  ".to_owned(),
            prefix: "!".to_owned(),
        };
        assert_eq!(wording.text(&asker()), None);
    }
}

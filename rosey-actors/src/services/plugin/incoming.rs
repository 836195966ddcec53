//! A message from the stream as the serving loop needs it: the frame for the host, what it is
//! for status (`command roll`), who sent what for the log (`command "karma crash" from bob`),
//! and how long it waited.

use std::time::Duration;

use rosey_core::messaging::{self, CommandMessage, EventMessage};
use rosey_host::wire::{self, ToHost};

use super::{output::PmReply, tell::Asker};

/// One message, read.
pub struct Incoming {
    /// The frame for the host.
    pub frame: ToHost,
    /// What it is, for the busy note in status (`command roll`, `event chat.message`).
    pub what: String,
    /// Its id.
    pub id: String,
    /// Where a PM command's replies go.
    pub pm_reply: Option<PmReply>,
    /// Who sent what, for the log: `command "roll 2d6" from alice`.
    pub cause: String,
    /// A command (not an event).
    pub is_command: bool,
    /// Who to tell if a command fails (`None` for an event).
    pub asker: Option<Asker>,
    /// The chat user who sent it (a command's sender, an event's user): what the plugin says
    /// while handling it is said on their behalf, in their turn of the chat's flood budget.
    pub user: Option<String>,
}

impl Incoming {
    /// Reads the payload of a message on `subject` (stream sequence `seq`, or 0 for an early
    /// copy).
    pub fn read(
        seq: u64,
        subject: &str,
        payload: &[u8],
    ) -> Result<Incoming, messaging::PayloadError> {
        if messaging::is_command_subject(subject) {
            let command: CommandMessage = messaging::decode(payload)?;
            let cause = command.describe();
            let asker = Some(Asker::of(&command));
            let pm_reply = matches!(command.source, messaging::Source::Pm).then(|| PmReply {
                user: command.user.clone(),
                id: command.id.clone(),
            });
            Ok(Incoming {
                what: format!("command {}", command.command),
                id: command.id.clone(),
                pm_reply,
                cause,
                is_command: true,
                asker,
                user: Some(command.user.clone()),
                frame: ToHost::Command(wire::Command {
                    seq,
                    id: command.id,
                    command: command.command,
                    args: command.args,
                    user: command.user,
                    channel: command.channel,
                    source: match command.source {
                        messaging::Source::Chat => wire::Source::Chat,
                        messaging::Source::Pm => wire::Source::Pm,
                    },
                    time_ms: command.time_ms,
                    rank: command.rank.map(|rank| rank.0),
                }),
            })
        } else {
            let event: EventMessage = messaging::decode(payload)?;
            let cause = event.describe();
            let payload_json = serde_json::to_string(&event).unwrap_or_default();
            Ok(Incoming {
                what: format!("event {}", event.kind),
                id: event.id.clone(),
                pm_reply: None,
                cause,
                is_command: false,
                asker: None,
                user: event.user.clone(),
                frame: ToHost::Event(wire::Event {
                    seq,
                    id: event.id,
                    kind: event.kind,
                    user: event.user,
                    text: event.text,
                    payload_json,
                    time_ms: event.time_ms,
                    rank: event.rank.map(|rank| rank.0),
                }),
            })
        }
    }

    /// How long it waited for the plugin since `waiting_since_ms` (when the stream stored
    /// it, or the door received its early copy), when that is past the limit for its kind
    /// (`None`: soon enough, or no limit). This machine's clock, not the chat server's
    /// timestamp: a chat server whose clock is off must not make every command stale.
    pub fn too_old(
        &self,
        waiting_since_ms: u64,
        max_command_age: Option<Duration>,
        max_event_age: Option<Duration>,
    ) -> Option<Duration> {
        let limit = if self.is_command {
            max_command_age
        } else {
            max_event_age
        }?;
        let waited = Duration::from_millis(messaging::now_ms().saturating_sub(waiting_since_ms));
        (waited > limit).then_some(waited)
    }

    /// The setting that limits its age, for the log.
    pub fn age_key(&self) -> &'static str {
        if self.is_command {
            "plugin_host.max_command_age_ms"
        } else {
            "plugin_host.max_event_age_ms"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(args: &str) -> Vec<u8> {
        messaging::encode(&CommandMessage {
            v: messaging::SCHEMA_VERSION,
            id: "m1".to_owned(),
            command: "karma".to_owned(),
            args: args.to_owned(),
            user: "bob".to_owned(),
            channel: "test".to_owned(),
            source: messaging::Source::Chat,
            time_ms: messaging::now_ms(),
            rank: None,
        })
    }

    #[test]
    fn a_command_that_waited_past_its_limit_is_too_old_and_an_event_has_its_own_limit() {
        let minute = Some(Duration::from_secs(60));
        let incoming =
            Incoming::read(3, "rosey.commands.karma", &command("alice")).expect("a command");
        let stored_long_ago = messaging::now_ms() - 90_000;
        assert!(incoming.too_old(stored_long_ago, minute, None).is_some());
        assert!(
            incoming.too_old(stored_long_ago, None, minute).is_none(),
            "no command limit set"
        );
        let stored_just_now = messaging::now_ms() - 1_000;
        assert!(incoming.too_old(stored_just_now, minute, None).is_none());
    }
}

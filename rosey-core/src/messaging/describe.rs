//! What a command or event is, in a few words, for a plugin's log and the dead-letter list:
//! `command "roll 2d6" from alice`, `event user.join from bob`. One wording for both, so an
//! operator who saw a line in the log finds the same words beside its dead letter.

use super::{decode, is_command_subject, original_subject, CommandMessage, EventMessage};

/// How much of a command's text a description carries (a chat line can be long, and is
/// anyone's).
const TEXT_SHOWN: usize = 120;

impl CommandMessage {
    /// `command "roll 2d6" from alice`, its text cut to a sane length.
    pub fn describe(&self) -> String {
        let text = if self.args.is_empty() {
            self.command.clone()
        } else {
            format!("{} {}", self.command, self.args)
        };
        format!("command {:?} from {}", cut(&text), self.user)
    }
}

impl EventMessage {
    /// `event user.join from bob`, or `event media.change` when it concerns no user.
    pub fn describe(&self) -> String {
        match &self.user {
            Some(user) => format!("event {} from {user}", self.kind),
            None => format!("event {}", self.kind),
        }
    }
}

/// What the message on `subject` with `payload` is (see [`CommandMessage::describe`]); a
/// payload that cannot be read is said as such.
pub fn describe(subject: &str, payload: &[u8]) -> String {
    let subject = original_subject(subject);
    if is_command_subject(subject) {
        decode::<CommandMessage>(payload).map_or_else(
            |_| format!("an unreadable command on {subject}"),
            |command| command.describe(),
        )
    } else {
        decode::<EventMessage>(payload).map_or_else(
            |_| format!("an unreadable message on {subject}"),
            |event| event.describe(),
        )
    }
}

/// `text` cut to [`TEXT_SHOWN`] characters, with `…` where it was cut.
fn cut(text: &str) -> String {
    match text.char_indices().nth(TEXT_SHOWN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{encode, now_ms, Source, SCHEMA_VERSION};
    use super::*;

    fn command(args: &str) -> CommandMessage {
        CommandMessage {
            v: SCHEMA_VERSION,
            id: "m1".to_owned(),
            command: "karma".to_owned(),
            args: args.to_owned(),
            user: "bob".to_owned(),
            channel: "test".to_owned(),
            source: Source::Chat,
            time_ms: now_ms(),
            rank: None,
        }
    }

    #[test]
    fn a_command_names_its_sender_and_text_cut_to_a_sane_length() {
        assert_eq!(
            command("crash").describe(),
            r#"command "karma crash" from bob"#
        );
        assert_eq!(command("").describe(), r#"command "karma" from bob"#);
        let long = command(&"x".repeat(500)).describe();
        assert!(long.chars().count() < 150, "{long}");
        assert!(long.contains('…'));
    }

    #[test]
    fn any_payload_is_described_replays_as_their_original_and_garbage_as_such() {
        let payload = encode(&command("crash"));
        assert_eq!(
            describe("rosey.commands.karma", &payload),
            r#"command "karma crash" from bob"#
        );
        assert_eq!(
            describe("rosey.replay.karma.rosey.commands.karma", &payload),
            r#"command "karma crash" from bob"#
        );
        let event = EventMessage {
            v: SCHEMA_VERSION,
            id: "e1".to_owned(),
            kind: "user.join".to_owned(),
            user: Some("ann".to_owned()),
            text: None,
            time_ms: now_ms(),
            data: serde_json::Value::Null,
            rank: None,
        };
        assert_eq!(
            describe("rosey.events.user.join", &encode(&event)),
            "event user.join from ann"
        );
        assert_eq!(
            describe("rosey.commands.roll", b"not json"),
            "an unreadable command on rosey.commands.roll"
        );
        assert_eq!(
            describe("rosey.events.x", b"{"),
            "an unreadable message on rosey.events.x"
        );
    }
}

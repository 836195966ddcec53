//! Replays: a dead letter sent again to the one plugin it was parked for, after the operator
//! fixed what made its hosts die (`rosey deadletter replay`).
//!
//! A replay is published on `rosey.replay.<plugin>.<original subject>`: the `ROSEY` stream
//! keeps it like any command or event, but only that plugin's consumer reads it (an event
//! published again on its own subject would reach every plugin that wants the kind, and they
//! handled it already). The plugin's door reads it as if it had come on the original subject.
//! Its `Nats-Msg-Id` is made of the dead letter's id, so the stream takes one replay of a
//! letter within its duplicate window however often it is asked.

/// Every replay's subject (part of what the `ROSEY` stream holds).
pub const REPLAYS_ALL: &str = "rosey.replay.>";

/// Header naming the dead letter a replayed message came from.
pub const REPLAYED_FROM_HEADER: &str = "Rosey-Replayed-From";

const PREFIX: &str = "rosey.replay.";

/// Where dead letter `original` (first published on `original`) goes when replayed to
/// `plugin`: `rosey.replay.dice-roller.rosey.commands.roll`.
pub fn replay_subject(plugin: &str, original: &str) -> String {
    format!("{PREFIX}{plugin}.{original}")
}

/// The subjects of every replay to `plugin` (what its consumer reads besides its commands and
/// events).
pub fn replays_to(plugin: &str) -> String {
    format!("{PREFIX}{plugin}.>")
}

/// The subject a message was first published on: `subject` itself, or for a replay the
/// original subject it carries (plugin names have no dots, so the first dot after the prefix
/// ends the plugin's name).
pub fn original_subject(subject: &str) -> &str {
    subject
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .map_or(subject, |(_, original)| original)
}

/// Whether `subject` is a replay's.
pub fn is_replay_subject(subject: &str) -> bool {
    subject.starts_with(PREFIX)
}

/// The `Nats-Msg-Id` of the replay of dead letter `id`.
pub fn replay_msg_id(id: u64) -> String {
    format!("replay:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_carries_its_plugin_and_original_subject_and_reads_back_as_the_original() {
        let subject = replay_subject("dice-roller", "rosey.commands.roll");
        assert_eq!(subject, "rosey.replay.dice-roller.rosey.commands.roll");
        assert_eq!(original_subject(&subject), "rosey.commands.roll");
        assert_eq!(
            original_subject("rosey.replay.quotes.rosey.events.chat.message"),
            "rosey.events.chat.message"
        );
        assert_eq!(
            original_subject("rosey.commands.roll"),
            "rosey.commands.roll"
        );
        assert_eq!(
            original_subject("rosey.replay.broken"),
            "rosey.replay.broken"
        );
        assert_eq!(replays_to("quotes"), "rosey.replay.quotes.>");
        assert!(is_replay_subject(&subject));
        assert!(!is_replay_subject("rosey.commands.replay"));
        assert_eq!(replay_msg_id(42), "replay:42");
    }
}

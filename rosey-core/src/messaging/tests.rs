//! Tests of the module `messaging`.

use super::*;

#[test]
fn commands_round_trip() {
    let command = CommandMessage {
        v: SCHEMA_VERSION,
        id: "m1".into(),
        command: "roll".into(),
        args: "2d6".into(),
        user: "alice".into(),
        channel: "test".into(),
        source: Source::Pm,
        time_ms: 5,
        rank: None,
    };
    let decoded: CommandMessage = decode(&encode(&command)).expect("decodes");
    assert_eq!(decoded, command);
}

#[test]
fn newer_schemas_are_refused() {
    let err = decode::<Lifecycle>(br#"{"v":99,"plugin":"a","version":"1","pid":1,"time_ms":1}"#)
        .expect_err("newer");
    assert!(matches!(err, PayloadError::NewerSchema { found: 99 }));
}

#[test]
fn advisories_name_what_happened() {
    assert_eq!(
        parse_advisory("$JS.EVENT.ADVISORY.STREAM.DELETED.ROSEY"),
        Some(("deleted", "ROSEY".to_owned(), None))
    );
    assert_eq!(
        parse_advisory("$JS.EVENT.ADVISORY.CONSUMER.DELETED.ROSEY.plugin-dice-roller"),
        Some((
            "deleted",
            "ROSEY".to_owned(),
            Some("plugin-dice-roller".to_owned())
        ))
    );
    assert_eq!(parse_advisory("$JS.EVENT.ADVISORY.API"), None);
}

#[test]
fn a_changed_stream_is_named_and_other_advisories_are_none() {
    assert_eq!(
        parse_advisory("$JS.EVENT.ADVISORY.STREAM.UPDATED.ROSEY"),
        Some(("changed", "ROSEY".to_owned(), None))
    );
    for subject in [
        "$JS.EVENT.ADVISORY.CONSUMER.CREATED.ROSEY.plugin-dice-roller",
        "$JS.EVENT.ADVISORY.STREAM.CREATED.ROSEY",
        "$JS.EVENT.ADVISORY.STREAM.DELETED.ROSEY.plugin-dice-roller",
        "$JS.EVENT.ADVISORY.CONSUMER.DELETED.ROSEY",
    ] {
        assert_eq!(parse_advisory(subject), None, "{subject}");
    }
}

#[test]
fn filters_cover_commands_and_events() {
    let filters = consumer_filter_subjects("dice", &["roll".into()], &["chat.message".into()]);
    assert_eq!(
        filters,
        [
            "rosey.commands.roll",
            "rosey.events.chat.message",
            "rosey.replay.dice.>"
        ]
    );
    assert!(consumer_filter_subjects("idle", &[], &[]).is_empty());
}

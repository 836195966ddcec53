use super::*;

fn round_trip(action: Action) {
    let (verb, args) = action.to_wire();
    assert_eq!(Action::from_wire(verb, &args), Ok(action));
}

#[test]
fn every_action_survives_the_wire() {
    round_trip(Action::Queue {
        link: "https://youtu.be/dQw4w9WgXcQ".into(),
        at: QueueAt::Next,
        temp: true,
    });
    round_trip(Action::Delete { uid: 7 });
    round_trip(Action::Move {
        uid: 7,
        to: MoveTo::After(3),
    });
    round_trip(Action::Move {
        uid: 7,
        to: MoveTo::Start,
    });
    round_trip(Action::Jump { uid: 2 });
    round_trip(Action::Skip);
    round_trip(Action::VoteSkip);
    round_trip(Action::Kick {
        user: "spammer".into(),
        reason: "flooding".into(),
    });
    round_trip(Action::Ban {
        user: "spammer".into(),
        reason: String::new(),
    });
    round_trip(Action::Mute { user: "a".into() });
    round_trip(Action::ShadowMute { user: "a".into() });
    round_trip(Action::Unmute { user: "a".into() });
    round_trip(Action::ClearChat);
    round_trip(Action::OpenPoll(NewPoll {
        title: "Next?".into(),
        options: vec!["this".into(), "that".into()],
        timeout_secs: Some(60),
        hidden: true,
    }));
    round_trip(Action::ClosePoll);
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let refuse = |verb: &str, args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Action::from_wire(verb, &args).expect_err("refused")
    };
    assert!(refuse("format_disk", &[]).contains("no channel action"));
    assert!(refuse("skip", &["now"]).contains("takes 0"));
    assert!(refuse("delete", &["first"]).contains("uid"));
    assert!(refuse("kick", &["bad name!", ""]).contains("user name"));
    assert!(refuse("queue", &["a b", "end", "false"]).contains("not a media link"));
    assert!(refuse("queue", &["x", "middle", "false"]).contains("neither end nor next"));
    assert!(refuse("open_poll", &["Q", "", "false"]).contains("at least one option"));
    assert!(refuse("open_poll", &["Q", "0", "false", "a"]).contains("timeout"));
    assert!(refuse("open_poll", &["Q", "", "false", ""]).contains("option"));
    let many: Vec<String> = ["Q", "", "false"]
        .iter()
        .map(|s| s.to_string())
        .chain((0..51).map(|i| i.to_string()))
        .collect();
    assert!(Action::from_wire("open_poll", &many)
        .expect_err("too many")
        .contains("1 to 50 options"));
    let long = "x".repeat(MAX_ARG_BYTES + 1);
    assert!(refuse("queue", &[&long, "end", "false"]).contains("bytes long"));
}

#[test]
fn a_reason_cannot_break_the_chat_line() {
    let action = Action::from_wire("kick", &["bob".into(), "go\naway".into()]).expect("kick");
    assert_eq!(
        action,
        Action::Kick {
            user: "bob".into(),
            reason: "go away".into()
        }
    );
}

#[test]
fn permissions_and_error_codes() {
    assert_eq!(Action::Skip.permission(), ChannelPermission::Skip);
    assert_eq!(Action::ClearChat.permission(), ChannelPermission::Moderate);
    assert_eq!(
        ChannelPermission::from_name("poll"),
        Some(ChannelPermission::Poll)
    );
    assert_eq!(ChannelPermission::from_name("nuke"), None);
    assert_eq!(ChannelPermission::names(), "playlist, skip, moderate, poll");
    let error = ActionError::new(ActionErrorKind::BotRank, "the bot is not a moderator");
    assert_eq!(ActionError::decode(&error.encode()), error);
    assert_eq!(
        ActionError::decode("plain").kind,
        ActionErrorKind::Unavailable
    );
}

//! Tests of command parsing, route tables and routing decisions; publishing to a real NATS
//! server is tested end to end in `tests/tests/e2e/router.rs`.

use super::*;
use crate::{
    connector::Outgoing,
    messaging::Source,
    rank::Rank,
    registry::{InstalledPlugin, Registry},
};

mod publishing;

#[test]
fn commands_are_parsed() {
    let parse = |text: &str| parse_command(text, "!");
    assert_eq!(parse("!roll 2d6"), Some(("roll".into(), "2d6".into())));
    assert_eq!(
        parse("!ROLL  2d6  +1 "),
        Some(("roll".into(), "2d6  +1".into()))
    );
    assert_eq!(parse("  !flip"), Some(("flip".into(), "".into())));
    assert_eq!(
        parse("!quote\tadd hi"),
        Some(("quote".into(), "add hi".into()))
    );
    for text in [
        "!",
        "! roll",
        "!!!",
        "hello !roll",
        "roll",
        "",
        "!a.b",
        "!é",
    ] {
        assert_eq!(parse(text), None, "{text:?}");
    }
    assert_eq!(
        parse_command(".roll 1d4", "."),
        Some(("roll".into(), "1d4".into()))
    );
    assert_eq!(
        parse_command("rosey:help me", "rosey:"),
        Some(("help".into(), "me".into()))
    );
    assert_eq!(parse_command("rosey: help", "rosey:"), None);
    assert_eq!(parse_command("!roll", ""), None);
}

fn plugin(enabled: bool, commands: &[&str]) -> InstalledPlugin {
    InstalledPlugin {
        version: semver::Version::new(1, 0, 0),
        enabled,
        installed_at_ms: 1,
        commands: commands.iter().map(|c| c.to_string().into()).collect(),
        events: vec![],
    }
}

#[test]
fn route_tables_route_enabled_plugins_and_mark_disabled_ones() {
    let mut registry = Registry::default();
    registry
        .plugins
        .insert("dice-roller".into(), plugin(true, &["roll", "flip"]));
    registry
        .plugins
        .insert("quote-db".into(), plugin(false, &["quote"]));
    registry
        .plugins
        .insert("zzz-dupe".into(), plugin(true, &["roll", "zz"]));
    let table = RouteTable::from_registry(&registry);
    assert_eq!(table.owner("roll"), Some("dice-roller"));
    assert_eq!(table.owner("zz"), Some("zzz-dupe"));
    assert_eq!(table.owner("quote"), Some("quote-db"));
    assert!(table.is_disabled("quote-db"), "disabled plugins are marked");
    assert!(!table.is_disabled("dice-roller"));
    assert_eq!(
        table.commands(),
        ["flip", "roll", "zz"],
        "a disabled plugin's commands are not listed"
    );
    assert_eq!(table.len(), 3);

    let mut table = RouteTable::new();
    assert!(table.is_empty());
    assert_eq!(table.insert("8ball", "8ball"), None);
    assert_eq!(table.insert("8ball", "other"), Some("8ball".into()));
}

#[test]
fn unknown_command_answers_list_what_is_known() {
    assert_eq!(
        unknown_command_text("!", "x", &["flip".into(), "roll".into()]),
        "Unknown command !x. Commands: !flip, !roll"
    );
    assert_eq!(
        unknown_command_text("!", "x", &[]),
        "Unknown command !x. No commands are installed."
    );
}

/// A JetStream context on a client that never reaches a server: everything routed stays
/// queued.
async fn offline() -> jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect("nats://127.0.0.1:1")
        .await
        .expect("client");
    jetstream::new(client)
}

fn chat(user: &str, text: &str, id: &str) -> Incoming {
    Incoming::new(Source::Chat, user.into(), text.into(), 1, id.into())
}

#[tokio::test]
async fn routing_decides_what_is_published_and_what_is_answered() {
    let mut routes = RouteTable::new();
    routes.insert("roll", "dice-roller");
    let router = Router::new(offline().await, routes, RouterSettings::default());

    assert_eq!(
        router
            .route(&chat("Rosey", "!roll 1d6", "m0"))
            .expect("route"),
        RouteOutcome::Ignored,
        "the bot's own messages are ignored, whatever their case"
    );
    assert_eq!(router.pending(), 0);

    assert_eq!(
        router.route(&chat("alice", "hello", "m1")).expect("route"),
        RouteOutcome::Event
    );
    assert_eq!(router.pending(), 1);

    let outcome = router
        .route(&chat("alice", "!Roll 2d6", "m2"))
        .expect("route");
    assert_eq!(
        outcome,
        RouteOutcome::Command {
            command: "roll".into(),
            plugin: "dice-roller".into()
        }
    );
    assert_eq!(router.pending(), 3, "an event and a command");
    assert_eq!(
        router.reply_to(&chat("alice", "!Roll", "m2"), &outcome),
        None
    );

    let pm = Incoming::new(Source::Pm, "bob".into(), "!nope".into(), 1, "m3".into());
    let outcome = router.route(&pm).expect("route");
    assert_eq!(
        outcome,
        RouteOutcome::Unknown {
            command: "nope".into(),
            known: vec!["roll".into()]
        }
    );
    assert_eq!(
        router.reply_to(&pm, &outcome),
        Some(Outgoing::Pm {
            to: "bob".into(),
            text: "Unknown command !nope. Commands: !roll".into()
        })
    );
    assert_eq!(router.pending(), 4);

    router.set_routes(RouteTable::new());
    assert!(matches!(
        router.route(&chat("alice", "!roll", "m4")).expect("route"),
        RouteOutcome::Unknown { known, .. } if known.is_empty()
    ));
    assert_eq!(router.flush(Duration::from_millis(50)).await, 5);
}

#[tokio::test]
async fn a_crashed_plugins_commands_are_queued_and_a_disabled_ones_are_not_each_told_once() {
    let mut routes = RouteTable::new();
    routes.insert("karma", "karma");
    routes.insert("quote", "quotes");
    routes.disable("quotes");
    let down = PluginsDown::new();
    down.mark_crashed("karma");
    let router = Router::new(offline().await, routes, RouterSettings::default())
        .with_plugins_down(down.clone());

    let ask = chat("alice", "!karma bob", "k1");
    let outcome = router.route(&ask).expect("route");
    assert_eq!(
        outcome,
        RouteOutcome::Unavailable {
            command: "karma".into(),
            plugin: "karma".into(),
            why: Unavailable::Crashed,
            tell: true
        }
    );
    assert_eq!(router.pending(), 2, "a crashed plugin's command is queued");
    assert_eq!(
        router.reply_to(&ask, &outcome),
        Some(Outgoing::Chat {
            text: "Sorry alice, !karma is unavailable right now.".into()
        })
    );
    let again = router.route(&chat("Alice", "!karma", "k2")).expect("route");
    assert!(
        matches!(again, RouteOutcome::Unavailable { tell: false, .. }),
        "{again:?}"
    );
    assert_eq!(
        router.reply_to(&chat("Alice", "!karma", "k2"), &again),
        None
    );
    assert!(matches!(
        router.route(&chat("bob", "!karma", "k3")).expect("route"),
        RouteOutcome::Unavailable { tell: true, .. }
    ));
    assert_eq!(router.pending(), 6);

    let pm = Incoming::new(Source::Pm, "carol".into(), "!quote".into(), 1, "q1".into());
    let outcome = router.route(&pm).expect("route");
    assert!(
        matches!(
            outcome,
            RouteOutcome::Unavailable {
                why: Unavailable::Disabled,
                tell: true,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        router.pending(),
        7,
        "only the event: a disabled plugin's command is not queued"
    );
    assert!(
        matches!(router.reply_to(&pm, &outcome), Some(Outgoing::Pm { to, .. }) if to == "carol")
    );

    down.mark_up("karma");
    assert!(matches!(
        router.route(&chat("alice", "!karma", "k4")).expect("route"),
        RouteOutcome::Command { .. }
    ));
}

#[tokio::test]
async fn a_flood_is_refused_past_the_limit_answered_once_and_moderators_are_spared() {
    let mut routes = RouteTable::new();
    routes.insert("roll", "dice-roller");
    let mut settings = RouterSettings::default();
    settings.rate_limit.commands = 3;
    settings.rate_limit.per_plugin = 0;
    let router = Router::new(offline().await, routes, settings);
    for n in 0..3 {
        let outcome = router
            .route(&chat("mallory", "!roll", &format!("m{n}")))
            .expect("route");
        assert!(
            matches!(outcome, RouteOutcome::Command { .. }),
            "{outcome:?}"
        );
    }
    let flood = chat("mallory", "!roll", "m3");
    let outcome = router.route(&flood).expect("route");
    assert!(
        matches!(outcome, RouteOutcome::Limited { first: true, .. }),
        "{outcome:?}"
    );
    assert_eq!(
        router.reply_to(&flood, &outcome),
        Some(Outgoing::Chat {
            text: "mallory, slow down: too many commands. Try again in a few seconds.".into()
        })
    );
    let outcome = router
        .route(&chat("mallory", "!roll", "m4"))
        .expect("route");
    assert!(matches!(
        outcome,
        RouteOutcome::Limited { first: false, .. }
    ));
    assert_eq!(
        router.reply_to(&flood, &outcome),
        None,
        "the rest of the flood is dropped quietly"
    );
    assert_eq!(
        router.pending(),
        3 * 2 + 2,
        "refused commands are not queued, their events are"
    );

    // The server ranks "Mod" a moderator: never limited.
    router
        .route(&Incoming::Event(crate::connector::ChannelEvent {
            kind: messaging::EVENT_USER_LIST.into(),
            user: None,
            time_ms: 1,
            id: "list".into(),
            data: serde_json::json!({ "users": [{ "name": "Mod", "rank": 2 }] }),
        }))
        .expect("route");
    for n in 0..10 {
        let outcome = router
            .route(&chat("mod", "!roll", &format!("d{n}")))
            .expect("route");
        assert!(
            matches!(outcome, RouteOutcome::Command { .. }),
            "{outcome:?}"
        );
    }
}

#[tokio::test]
async fn a_full_queue_refuses_new_messages_and_keeps_the_old() {
    let mut routes = RouteTable::new();
    routes.insert("roll", "dice-roller");
    let settings = RouterSettings {
        queue_capacity: 3,
        unknown_command_reply: false,
        ..RouterSettings::default()
    };
    let router = Router::new(offline().await, routes, settings);
    router.route(&chat("alice", "one", "m1")).expect("room");
    router.route(&chat("alice", "two", "m2")).expect("room");
    let err = router
        .route(&chat("alice", "!roll", "m3"))
        .expect_err("no room for an event and a command")
        .to_string();
    assert!(err.contains("3 messages are already waiting"), "{err}");
    assert!(err.contains("m3"), "{err}");
    assert!(
        err.contains("check that the NATS server is running"),
        "{err}"
    );
    assert_eq!(
        router.pending(),
        2,
        "nothing of the refused message was queued"
    );
    let outcome = router.route(&chat("alice", "!nope", "m4")).expect("room");
    assert_eq!(
        router.reply_to(&chat("alice", "!nope", "m4"), &outcome),
        None
    );
}

#[tokio::test]
async fn a_command_above_the_senders_rank_is_refused_by_the_router_and_help_is_its_own() {
    let mut routes = RouteTable::new();
    routes.insert("roll", "dice-roller");
    routes.insert_spec(
        crate::manifest::CommandSpec {
            name: "trivia".into(),
            help: Some("Trivia rounds".into()),
            usage: None,
            min_rank: Some(Rank::MODERATOR),
        },
        "trivia",
    );
    let router = Router::new(offline().await, routes, RouterSettings::default());
    let ask = chat("alice", "!trivia stop", "t1").with_rank(Rank::REGISTERED);
    let outcome = router.route(&ask).expect("route");
    assert_eq!(
        outcome,
        RouteOutcome::NotAllowed {
            command: "trivia".into(),
            plugin: "trivia".into(),
            needs: Rank::MODERATOR
        }
    );
    assert_eq!(
        router.pending(),
        1,
        "only the event: the plugin is not woken"
    );
    assert_eq!(
        router.reply_to(&ask, &outcome),
        Some(Outgoing::Chat {
            text: "Sorry alice, !trivia needs rank moderator or higher.".into()
        })
    );
    let moderator = chat("bob", "!trivia stop", "t2").with_rank(Rank::MODERATOR);
    assert!(matches!(
        router.route(&moderator).expect("route"),
        RouteOutcome::Command { .. }
    ));

    let help = chat("alice", "!help", "h1").with_rank(Rank::REGISTERED);
    let outcome = router.route(&help).expect("route");
    assert_eq!(
        router.reply_to(&help, &outcome),
        Some(Outgoing::Chat {
            text: "Commands: !roll. Try !help roll for more about one.".into()
        })
    );
    let pm = Incoming::new(
        Source::Pm,
        "bob".into(),
        "!help trivia".into(),
        1,
        "h2".into(),
    )
    .with_rank(Rank::ADMIN);
    let outcome = router.route(&pm).expect("route");
    assert_eq!(
        router.reply_to(&pm, &outcome),
        Some(Outgoing::Pm {
            to: "bob".into(),
            text: "!trivia: Trivia rounds.".into()
        })
    );
}

#[tokio::test]
async fn a_flood_of_made_up_commands_is_limited_like_any_other() {
    let mut settings = RouterSettings::default();
    settings.rate_limit.commands = 2;
    let router = Router::new(offline().await, RouteTable::new(), settings);
    for n in 0..2 {
        let outcome = router
            .route(&chat("mallory", &format!("!x{n}"), &format!("u{n}")))
            .expect("route");
        assert!(
            matches!(outcome, RouteOutcome::Unknown { .. }),
            "{outcome:?}"
        );
    }
    let third = chat("mallory", "!x2", "u2");
    let outcome = router.route(&third).expect("route");
    assert!(
        matches!(outcome, RouteOutcome::Limited { first: true, .. }),
        "{outcome:?}"
    );
    assert!(router
        .reply_to(&third, &outcome)
        .is_some_and(|reply| reply.text().contains("slow down")));
    let fourth = router.route(&chat("mallory", "!x3", "u3")).expect("route");
    assert_eq!(router.reply_to(&third, &fourth), None, "then nothing");
}

//! The dead-letter store as the operator's tools read and prune it (`rosey_core::dead_letters`),
//! against a real nats-server: listing (all or one plugin's, oldest first), one letter with the
//! subject it was first published on and how many hosts died on it, removal, and purges by
//! plugin and by age; the letters a real daemon parks read back the same way; and the
//! operator's `rosey deadletter list|show|replay|purge` on a running stack (a replay goes to a
//! running plugin only, once, and is answered after the fix).

use std::time::{Duration, SystemTime};

use rosey_core::{
    bus::BusUser,
    dead_letters::{self, DeadLetterError},
    messaging::{self, Source, StoreBudget},
};
use rosey_e2e::{host::Bus, nats::NatsServer, stack::TestStack};

/// Parks `payload` for `plugin` as the plugin actor does: first published on `subject`, after
/// `died` hosts died on it.
async fn park(
    js: &async_nats::jetstream::Context,
    plugin: &str,
    subject: &str,
    died: u32,
    payload: &str,
) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(messaging::ORIGINAL_SUBJECT_HEADER, subject);
    headers.insert(messaging::FAILED_ATTEMPTS_HEADER, died.to_string().as_str());
    js.publish_with_headers(
        messaging::dead_letter_subject(plugin),
        headers,
        payload.to_owned().into(),
    )
    .await
    .expect("publish")
    .await
    .expect("stored");
}

#[tokio::test]
async fn dead_letters_are_listed_shown_removed_and_purged_by_plugin_and_age() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    assert!(
        matches!(
            dead_letters::list(&js, None).await,
            Err(DeadLetterError::Stream(_))
        ),
        "no stream yet: said so, not an empty list"
    );
    js.create_stream(messaging::dead_letter_stream_config(&StoreBudget::new(
        StoreBudget::MINIMUM,
    )))
    .await
    .expect("the dead-letter stream");
    assert!(dead_letters::list(&js, None)
        .await
        .expect("list")
        .is_empty());

    let before = SystemTime::now() - Duration::from_secs(1);
    park(&js, "dice-roller", "rosey.commands.roll", 2, r#"{"n":1}"#).await;
    park(
        &js,
        "quote-db",
        "rosey.events.chat.message",
        3,
        r#"{"n":2}"#,
    )
    .await;
    park(&js, "dice-roller", "rosey.commands.flip", 2, r#"{"n":3}"#).await;

    let all = dead_letters::list(&js, None).await.expect("list");
    let ids: Vec<u64> = all.iter().map(|letter| letter.id).collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "oldest first: {ids:?}"
    );
    let dice: Vec<&str> = all
        .iter()
        .filter(|letter| letter.plugin == "dice-roller")
        .map(|letter| letter.subject.as_str())
        .collect();
    assert_eq!(dice, ["rosey.commands.roll", "rosey.commands.flip"]);
    let only = dead_letters::list(&js, Some("dice-roller"))
        .await
        .expect("list");
    assert_eq!(
        only.iter().map(|l| l.id).collect::<Vec<_>>(),
        [ids[0], ids[2]]
    );

    let quote = dead_letters::get(&js, ids[1]).await.expect("show");
    assert_eq!(quote.plugin, "quote-db");
    assert_eq!(quote.subject, "rosey.events.chat.message");
    assert_eq!(quote.attempts, Some(3));
    assert_eq!(quote.payload, br#"{"n":2}"#.to_vec());
    assert!(quote.parked_at > before && quote.parked_at <= SystemTime::now());

    dead_letters::remove(&js, ids[1]).await.expect("remove");
    assert!(
        matches!(dead_letters::get(&js, ids[1]).await, Err(DeadLetterError::NotFound(id)) if id == ids[1])
    );
    assert!(matches!(
        dead_letters::remove(&js, ids[1]).await,
        Err(DeadLetterError::NotFound(_))
    ));

    // By age: all of them are younger than an hour.
    let purged = dead_letters::purge(&js, None, Some(Duration::from_secs(3600))).await;
    assert_eq!(purged.expect("purge"), 0);
    assert_eq!(
        dead_letters::purge(&js, Some("quote-db"), None)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        dead_letters::purge(&js, Some("dice-roller"), None)
            .await
            .expect("purge"),
        2
    );
    assert!(dead_letters::list(&js, None)
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn what_a_real_daemon_parks_reads_back_with_its_subject_and_attempts() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    // `exit` kills every host that takes it: after max_attempts (2) it is parked.
    bus.command("chaos", "exit", "gina", Source::Chat).await;
    let reader = stack.nats_client(BusUser::Reader).await;
    let js = async_nats::jetstream::new(reader);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let letters = loop {
        let letters = dead_letters::list(&js, Some("chaos"))
            .await
            .unwrap_or_default();
        if !letters.is_empty() || std::time::Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.plugin, "chaos");
    assert_eq!(letter.subject, messaging::command_subject("chaos"));
    assert_eq!(letter.attempts, Some(2));
    let command: messaging::CommandMessage = messaging::decode(&letter.payload).expect("a command");
    assert_eq!(
        (command.args.as_str(), command.user.as_str()),
        ("exit", "gina")
    );
}

/// Waits until `rosey deadletter list <plugin> --json` shows `count` letters; returns them.
fn listed(stack: &TestStack, plugin: &str, count: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = stack.home.run_ok(&["deadletter", "list", plugin, "--json"]);
        let letters: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
        if letters.len() == count || std::time::Instant::now() > deadline {
            assert_eq!(letters.len(), count, "{letters:?}");
            return letters;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn the_operator_lists_shows_and_purges_dead_letters_with_the_cli() {
    let stack = TestStack::with_plugins(&["fixtures/chaos", "dice-roller"]);
    // Without a daemon there is nobody to ask: said so, exit 3.
    let out = stack.rosey(&["deadletter", "list"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    stack.start();
    assert!(stack
        .home
        .run_ok(&["deadletter", "list"])
        .contains("No dead letters."));
    let bus = Bus::of(&stack).await;
    bus.command("chaos", "exit", "gina", Source::Chat).await;
    listed(&stack, "chaos", 1);
    bus.command("chaos", "abort", "hal", Source::Chat).await;
    let letters = listed(&stack, "chaos", 2);
    let first = letters[0]["id"].as_u64().expect("an id");
    assert_eq!(letters[0]["summary"], r#"command "chaos exit" from gina"#);
    assert_eq!(letters[1]["summary"], r#"command "chaos abort" from hal"#);

    let table = stack.home.run_ok(&["deadletter", "list"]);
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains(r#"command "chaos exit" from gina"#) && table.contains("2 dead letters."),
        "{table}"
    );
    let shown = stack
        .home
        .run_ok(&["deadletter", "show", &first.to_string()]);
    for line in [
        format!("Dead letter {first}"),
        "  Plugin:   chaos".to_owned(),
        "  Subject:  rosey.commands.chaos".to_owned(),
        "  Why:      2 plugin hosts died handling it".to_owned(),
        r#""user": "gina""#.to_owned(),
    ] {
        assert!(shown.contains(&line), "{line:?} in:\n{shown}");
    }
    let missing = stack.home.run_err(&["deadletter", "show", "999999"]);
    assert!(
        missing.contains("there is no dead letter 999999"),
        "{missing}"
    );

    // Purging asks first; a script must say --yes.
    let refused = stack.home.run_err(&["deadletter", "purge", "chaos"]);
    assert!(refused.contains("pass --yes to confirm"), "{refused}");
    listed(&stack, "chaos", 2);
    let recent = stack.home.run_ok(&[
        "deadletter",
        "purge",
        "chaos",
        "--older-than",
        "1h",
        "--yes",
    ]);
    assert!(recent.contains("✓ Removed 0 dead letters"), "{recent}");
    let one = stack
        .home
        .run_ok(&["deadletter", "purge", &first.to_string(), "--yes"]);
    assert!(one.contains("✓ Removed 1 dead letter"), "{one}");
    listed(&stack, "chaos", 1);
    let rest = stack.home.run_ok(&["deadletter", "purge", "--yes"]);
    assert!(rest.contains("✓ Removed 1 dead letter"), "{rest}");
    assert!(stack
        .home
        .run_ok(&["deadletter", "list", "chaos"])
        .contains("No dead letters for chaos."));
    let bad_age = stack.rosey(&["deadletter", "purge", "--older-than", "3w", "--yes"]);
    assert_eq!(bad_age.status.code(), Some(2), "a usage error: {bad_age:?}");
    assert!(
        String::from_utf8_lossy(&bad_age.stderr).contains("is not an age"),
        "{bad_age:?}"
    );
}

#[tokio::test]
async fn a_dead_letter_is_replayed_once_only_to_a_running_plugin_and_answered_after_the_fix() {
    let stack = TestStack::with_plugins(&["fixtures/chaos", "dice-roller"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    let exit_id = bus.command("chaos", "exit", "gina", Source::Chat).await;
    listed(&stack, "chaos", 1);
    let abort_id = bus.command("chaos", "abort", "hal", Source::Chat).await;
    let letters = listed(&stack, "chaos", 2);
    let exit_letter = letters[0]["id"].as_u64().expect("an id");

    // Naming nothing, or both, is a usage error; a plugin that is not running is refused and
    // its letters stay.
    let neither = stack.rosey(&["deadletter", "replay"]);
    assert_eq!(neither.status.code(), Some(2), "{neither:?}");
    stack.home.run_ok(&["stop", "chaos"]);
    let stopped = stack
        .home
        .run_err(&["deadletter", "replay", &exit_letter.to_string()]);
    assert!(
        stopped.contains("chaos is stopped") && stopped.contains("stay parked"),
        "{stopped}"
    );
    listed(&stack, "chaos", 2);
    stack.home.run_ok(&["start", "chaos"]);
    let unknown = stack
        .home
        .run_err(&["deadletter", "replay", "--plugin", "no-such"]);
    assert!(unknown.contains("no-such is not installed"), "{unknown}");
    let missing = stack.home.run_err(&["deadletter", "replay", "999999"]);
    assert!(
        missing.contains("there is no dead letter 999999"),
        "{missing}"
    );

    // Replayed before the fix, it gets one host, not two: parked again at once, with a new id.
    let out = stack
        .home
        .run_ok(&["deadletter", "replay", &exit_letter.to_string()]);
    assert!(
        out.contains(&format!(
            r#"✓ Replayed dead letter {exit_letter}: command "chaos exit" from gina"#
        )),
        "{out}"
    );
    let letters = loop {
        let letters = listed(&stack, "chaos", 2);
        if letters.iter().all(|letter| letter["id"] != exit_letter) {
            break letters;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let again = letters
        .iter()
        .find(|letter| letter["summary"] == r#"command "chaos exit" from gina"#)
        .expect("parked again");
    assert_eq!(again["attempts"], 1, "{again}");
    assert_eq!(again["subject"], "rosey.commands.chaos", "{again}");
    let answered = |id: &str| {
        bus.replies_to(id)
            .iter()
            .filter(|reply| reply.text.starts_with("defused"))
            .count()
    };
    assert_eq!(answered(&exit_id), 0, "only told it failed");

    // The fix: chaos loaded defused. Each letter is answered once, and leaves the list.
    std::fs::write(
        stack.home.path().join("data/plugins/chaos/config.yaml"),
        "defused: true\n",
    )
    .expect("write chaos's config");
    stack.home.run_ok(&["plugin", "reload", "chaos"]);
    let again = again["id"].as_u64().expect("an id").to_string();
    stack.home.run_ok(&["deadletter", "replay", &again]);
    wait_answered(&bus, &exit_id, "defused exit from gina").await;
    let out = stack
        .home
        .run_ok(&["deadletter", "replay", "--plugin", "chaos"]);
    assert!(out.contains(r#"command "chaos abort" from hal"#), "{out}");
    wait_answered(&bus, &abort_id, "defused abort from hal").await;
    listed(&stack, "chaos", 0);
    assert!(stack
        .home
        .run_ok(&["deadletter", "replay", "--plugin", "chaos"])
        .contains("No dead letters for chaos."));
    // Once: no second answer comes later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(answered(&exit_id), 1);
    assert_eq!(answered(&abort_id), 1);
}

/// Waits until command `id` gets the reply `text`.
async fn wait_answered(bus: &Bus, id: &str, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !bus.replies_to(id).iter().any(|reply| reply.text == text) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {text:?} to {id}: {:?}",
            bus.replies_to(id)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

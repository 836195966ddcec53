//! End to end: the edges of a plugin's serving loop in the real daemon, with real plugin hosts
//! and a real nats-server: a timer hook that fails or panics, frames a plugin forges on its
//! host's channels (out of turn, or an event the host would have refused), a message on the
//! plugin's subject that is not a message, a host that stops heartbeating mid-handler, a
//! handler that outlasts the ack wait, a chat line over the length limit, a failed command sent
//! by PM, and output the manifest does not allow that only the daemon is left to refuse.

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use rosey_core::messaging::{self, CommandMessage, Source, SCHEMA_VERSION};
use rosey_e2e::{
    host::{self, Bus},
    stack::{TestStack, TEST_CONFIG},
};

/// Upper bound for a reply, a restart or a log line (generous: tests run in parallel).
const SLOW: Duration = Duration::from_secs(30);

/// The most characters of one chat line the daemon passes on (the actor's own limit).
const MAX_CHAT_CHARS: usize = 3200;

/// Whether `unit` (a plugin as status shows it) is running.
fn running(unit: &serde_json::Value) -> bool {
    unit["state"] == "running"
}

/// Waits until plugin `name` runs in a host other than `pid`; that host's unit.
fn replaced(stack: &TestStack, name: &str, pid: u32) -> serde_json::Value {
    stack.wait_for_unit(name, SLOW, "running in a new host", |unit| {
        running(unit) && unit["pid"].as_u64() != Some(u64::from(pid))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_hook_that_fails_is_logged_and_one_that_panics_restarts_the_plugin() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    let pid = host::host_pid(&stack, "chaos");

    let armed = bus
        .ask("chaos", "timer 100 fail", "tim", Source::Chat)
        .await;
    assert_eq!(armed.text, "armed fail for 100 ms");
    let log = host::wait_for_log(&stack, "chaos", "timer \"fail\" failed: ", SLOW);
    assert!(log.contains("timer failing as asked"), "{log}");
    assert_eq!(
        host::host_pid(&stack, "chaos"),
        pid,
        "a failure is no crash"
    );
    assert_eq!(
        bus.ask("chaos", "ping", "tim", Source::Chat).await.text,
        "pong"
    );

    let armed = bus
        .ask("chaos", "timer 100 panic", "tim", Source::Chat)
        .await;
    assert_eq!(armed.text, "armed panic for 100 ms");
    let log = host::wait_for_log(&stack, "chaos", "plugin panicked on timer \"panic\"", SLOW);
    assert!(log.contains("chaos: deliberate panic"), "{log}");
    let unit = replaced(&stack, "chaos", pid);
    assert_eq!(unit["restarts"], 1, "{unit}");
    assert_eq!(
        bus.ask("chaos", "ping", "tim", Source::Chat).await.text,
        "pong"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_a_plugin_forges_on_its_channel_are_refused_or_get_its_host_killed() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    let pid = host::host_pid(&stack, "chaos");

    // An event of a kind the host would have refused: the actor refuses it too, and that is
    // all.
    let forged = bus
        .ask("chaos", "forge publish Not.A.Kind!", "fay", Source::Chat)
        .await;
    assert_eq!(forged.text, "forged");
    let log = host::wait_for_log(&stack, "chaos", "refused an event of kind", SLOW);
    assert!(
        log.contains(r#"refused an event of kind "Not.A.Kind!": not dot-separated words"#),
        "{log}"
    );
    assert_eq!(host::host_pid(&stack, "chaos"), pid, "the host lives on");

    // A frame that does not belong on the service channel: that host loses the service, and
    // only the service.
    let users = bus.ask("chaos", "users", "fay", Source::Chat).await;
    assert!(users.text.starts_with("users:"), "{users:?}");
    let forged = bus
        .ask("chaos", "forge-service started", "fay", Source::Chat)
        .await;
    assert_eq!(forged.text, "forged");
    let users = bus.ask("chaos", "users", "fay", Source::Chat).await;
    assert!(users.text.starts_with("cannot list users: "), "{users:?}");
    assert_eq!(host::host_pid(&stack, "chaos"), pid, "the host lives on");

    // `Started` out of turn while idle: the host is killed, a new one serves.
    let later = bus
        .ask("chaos", "forge-later 200 started", "fay", Source::Chat)
        .await;
    assert_eq!(later.text, "will forge in 200 ms");
    host::wait_until_dead(pid, SLOW);
    let log = host::wait_for_log(&stack, "chaos", "(sent Started out of turn); killed", SLOW);
    assert_eq!(
        log.matches(
            "[chaos/host] the host broke the channel's rules (sent Started out of turn); killed"
        )
        .count(),
        1,
        "{log}"
    );
    let unit = replaced(&stack, "chaos", pid);
    assert_eq!(unit["restarts"], 1, "{unit}");
    let users = bus.ask("chaos", "users", "fay", Source::Chat).await;
    assert!(
        users.text.starts_with("users:"),
        "a new host, a new service: {users:?}"
    );

    // The same mid-handler: the message goes back, counted, until it is dead-lettered; its
    // reply never goes out.
    let id = bus
        .command("chaos", "forge started", "fay", Source::Chat)
        .await;
    let deadline = std::time::Instant::now() + SLOW;
    while !bus
        .dead_letters("chaos")
        .await
        .iter()
        .any(|dead| dead.id == id)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "never dead-lettered; log:\n{}",
            host::plugin_log(&stack, "chaos")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        bus.replies_to(&id)
            .iter()
            .all(|reply| reply.text != "forged"),
        "{:?}",
        bus.replies_to(&id)
    );
    stack.wait_for_unit("chaos", SLOW, "running", running);
    assert_eq!(
        bus.ask("chaos", "ping", "fay", Source::Chat).await.text,
        "pong"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_message_on_a_plugin_subject_is_dropped_for_good_and_the_next_is_served() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    let publish = PublishMessage::build()
        .payload("this is no command".into())
        .message_id(messaging::command_msg_id("garbage-1"));
    bus.js
        .send_publish(messaging::command_subject("chaos"), publish)
        .await
        .expect("publish")
        .await
        .expect("stored");
    let log = host::wait_for_log(&stack, "chaos", "dropping unreadable message on ", SLOW);
    assert!(
        log.contains(&format!(
            "dropping unreadable message on {}",
            messaging::command_subject("chaos")
        )),
        "{log}"
    );
    assert_eq!(
        bus.ask("chaos", "ping", "uma", Source::Chat).await.text,
        "pong"
    );
    // Refused for good: nothing waits in the consumer for another delivery.
    let mut consumer = consumer_of(&bus, "chaos").await;
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        let info = consumer.info().await.expect("consumer info");
        if info.num_ack_pending == 0 && info.num_pending == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{info:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let unit = stack.unit("chaos");
    assert_eq!(unit["restarts"], 0, "{unit}");
    assert_eq!(unit["dead_letters"], 0, "{unit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_silent_mid_handler_is_killed_and_its_message_is_answered_once_by_the_next() {
    // A heartbeat deadline shorter than chaos's 2 s handler deadline.
    let config = TEST_CONFIG.replace("heartbeat_timeout_ms: 3000", "heartbeat_timeout_ms: 1000");
    assert_ne!(config, TEST_CONFIG);
    let stack = TestStack::with_config(&["fixtures/chaos"], &config);
    stack.start();
    let bus = Bus::of(&stack).await;
    let pid = host::host_pid(&stack, "chaos");
    let mark = bus.mark();
    let id = bus.command("chaos", "slow 1500", "sal", Source::Chat).await;
    bus.wait_for(mark, SLOW, "the slow handler running", |seen| {
        host::as_heartbeat(seen, "chaos")?
            .busy
            .filter(|busy| busy.message_id == id)
    })
    .await;
    // Stopped, it neither beats nor finishes.
    host::signal(pid, libc::SIGSTOP);
    host::wait_until_dead(pid, SLOW);
    let log = host::wait_for_log(&stack, "chaos", "hung: no heartbeat for 1s; killed", SLOW);
    assert!(!log.contains("ran past"), "not the handler deadline: {log}");
    let (reply, _) = bus.reply_to(&id, SLOW).await;
    assert_eq!(reply.text, "done after 1500 ms");
    assert_ne!(
        host::host_pid(&stack, "chaos"),
        pid,
        "answered by the next host"
    );
    assert_eq!(
        bus.ask("chaos", "ping", "sal", Source::Chat).await.text,
        "pong"
    );
    assert_eq!(bus.replies_to(&id).len(), 1, "answered once");
}

/// Plugin `name`'s durable consumer, as the stack made it.
async fn consumer_of(bus: &Bus, name: &str) -> async_nats::jetstream::consumer::PullConsumer {
    bus.js
        .get_stream(messaging::STREAM_NAME)
        .await
        .expect("stream")
        .get_consumer(&messaging::consumer_name(name))
        .await
        .expect("the plugin's consumer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_longer_than_the_ack_wait_keeps_its_message_with_progress_acks() {
    // An ack wait shorter than the handler: only progress acks keep JetStream from offering
    // the message again meanwhile.
    let config = TEST_CONFIG.replace("plugin_host:\n", "plugin_host:\n  ack_wait_ms: 1000\n");
    assert_ne!(config, TEST_CONFIG);
    let stack = TestStack::with_config(&["fixtures/chaos"], &config);
    stack.start();
    let bus = Bus::of(&stack).await;
    let mut consumer = consumer_of(&bus, "chaos").await;
    let before = consumer.info().await.expect("consumer info").delivered;
    // Without a message id, so the door takes the stream's copy (which it acks), not an early
    // copy.
    let command = CommandMessage {
        v: SCHEMA_VERSION,
        id: host::next_id(),
        command: "chaos".to_owned(),
        args: "slow 1800".to_owned(),
        user: "pia".to_owned(),
        channel: "test".to_owned(),
        source: Source::Chat,
        time_ms: messaging::now_ms(),
        rank: None,
    };
    bus.js
        .publish(
            messaging::command_subject("chaos"),
            messaging::encode(&command).into(),
        )
        .await
        .expect("publish")
        .await
        .expect("stored");
    let id = command.id;
    let (reply, _) = bus.reply_to(&id, SLOW).await;
    assert_eq!(reply.text, "done after 1800 ms");
    assert_eq!(
        bus.ask("chaos", "ping", "pia", Source::Chat).await.text,
        "pong"
    );
    let info = consumer.info().await.expect("consumer info");
    assert_eq!(
        info.delivered.consumer_sequence - before.consumer_sequence,
        2,
        "each message delivered once: {info:?}"
    );
    assert_eq!(info.num_ack_pending, 0, "{info:?}");
    assert_eq!(bus.replies_to(&id).len(), 1, "answered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_line_over_the_limit_is_cut_and_a_failed_pm_command_is_answered_by_pm() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    for _ in 0..2 {
        let long = bus.ask("chaos", "long 5000", "lee", Source::Chat).await;
        assert_eq!(long.text.chars().count(), MAX_CHAT_CHARS + 1, "cut, with …");
        assert!(long.text.starts_with("xxx") && long.text.ends_with('…'));
    }
    let log = host::plugin_log(&stack, "chaos");
    assert_eq!(
        log.matches(&format!(
            "cut a chat message to {MAX_CHAT_CHARS} characters"
        ))
        .count(),
        1,
        "logged once: {log}"
    );
    let short = bus.ask("chaos", "long 10", "lee", Source::Chat).await;
    assert_eq!(short.text, "x".repeat(10), "a short line is left alone");

    // A command that fails, sent by PM: the bot's answer goes back by PM.
    let id = bus.command("chaos", "fail", "pat", Source::Pm).await;
    let (told, _) = bus.reply_to(&id, SLOW).await;
    assert_eq!(told.to.as_deref(), Some("pat"), "{told:?}");
    assert_eq!(told.text, "Sorry pat, !chaos failed.");
    let pm = bus
        .since(0)
        .into_iter()
        .find(|seen| host::as_reply_to(seen, &id).is_some())
        .expect("the answer was seen");
    assert_eq!(pm.subject, messaging::PM_ACTION_SUBJECT);
}

/// `manifest` (YAML text) with its `permissions:` (inline or a block list) replaced by
/// `permissions` and events of `publishes` declared.
fn with_grants(manifest: &str, permissions: &str, publishes: &str) -> String {
    let mut kept = Vec::new();
    let mut in_permissions = false;
    for line in manifest.lines() {
        if in_permissions && line.starts_with("- ") {
            continue;
        }
        in_permissions = line.starts_with("permissions:");
        if !in_permissions {
            kept.push(line);
        }
    }
    format!(
        "{}\npermissions: [{permissions}]\npublishes: [{publishes}]\n",
        kept.join("\n")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_host_should_have_stopped_is_refused_again_by_the_daemon() {
    // chaos as an events-only plugin: it may publish `game.*` events, and not chat.
    let stack = TestStack::with_plugins(&[]);
    let v1 = stack.home.pack("fixtures/chaos");
    let mute = stack.home.scratch().join("chaos-mute.roseyplug");
    rosey_e2e::stack::repack(
        &v1,
        &mute,
        |m| with_grants(m, "publish_events", "\"game.*\""),
        None,
    );
    stack
        .home
        .run_ok(&["plugin", "install", mute.to_str().expect("utf-8")]);
    stack.start();
    let bus = Bus::of(&stack).await;

    // Chat it has no permission for: refused, counted each time, logged once.
    for _ in 0..2 {
        bus.command("chaos", "ping", "mo", Source::Chat).await;
    }
    let unit = stack.wait_for_unit("chaos", SLOW, "refusing its chat", |unit| {
        unit["refused"]["send_messages"] == 2
    });
    assert_eq!(unit["restarts"], 0, "{unit}");
    let log = host::plugin_log(&stack, "chaos");
    assert_eq!(
        log.matches("refused a chat message: add send_messages to permissions")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("Ping requested by mo").count(), 2, "{log}");

    // An event of a declared kind whose payload is not JSON, forged past the host.
    let mark = bus.mark();
    bus.command(
        "chaos",
        "forge publish game.won not-json",
        "mo",
        Source::Chat,
    )
    .await;
    host::wait_for_log(
        &stack,
        "chaos",
        "refused an event whose payload is not JSON",
        SLOW,
    );
    // The plugin's own events still go out.
    bus.command("chaos", "publish game.won", "mo", Source::Chat)
        .await;
    let event = messaging::event_subject("plugin.chaos.game.won");
    bus.wait_for(mark, SLOW, "the plugin's event", |seen| {
        (seen.subject == event).then_some(())
    })
    .await;
    let forged = bus
        .since(mark)
        .into_iter()
        .filter(|seen| seen.subject == event)
        .count();
    assert_eq!(forged, 1, "only the well-formed event went out");
    assert_eq!(stack.unit("chaos")["restarts"], 0);
}

//! End to end: what one chat user can do to a plugin and to the bot. A command that crashes
//! a plugin, repeated by several users, is dead-lettered without taking the plugin down for
//! anyone else; a plugin given up on comes back by itself after its retry delay; commands that
//! waited past their age limit are not answered late, and are counted; a plugin that is down
//! is answered "unavailable" once per user; a flood is refused once, then dropped, and does
//! not keep the bot's flood budget on CyTube from other users.

use std::time::{Duration, Instant};

use rosey_core::messaging::Source;
use rosey_e2e::{
    cytube::{CytubeServer, Limits},
    host::{self, Bus},
    stack::{TestStack, NO_RATE_LIMITS, TEST_CONFIG},
};

const SLOW: Duration = Duration::from_secs(40);

fn running(unit: &serde_json::Value) -> bool {
    unit["state"] == "running"
}

#[test]
fn a_crash_command_repeated_by_two_users_does_not_leave_the_plugin_down_for_a_third() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    // Each `exit` kills the host mid-handler: 2 users × 2 commands × 2 attempts (max_attempts)
    // is 8 crashes, far past the restart intensity (3 in 60 s), were they counted.
    for user in ["alice", "bob"] {
        for _ in 0..2 {
            let _ = stack.say_as(user, "!chaos exit", "0.3");
        }
    }
    let deadline = Instant::now() + SLOW;
    loop {
        let unit = stack.unit("chaos");
        if unit["dead_letters"] == 4 && running(&unit) {
            break;
        }
        assert_ne!(unit["state"], "crashed", "given up on: {unit}");
        assert!(Instant::now() < deadline, "not all dead-lettered: {unit}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let reply = stack.say_as("carol", "!chaos ping", "8");
    assert!(reply.contains("pong"), "{reply:?}");
    let log = host::plugin_log(&stack, "chaos");
    assert!(
        log.contains(r#"command "chaos exit" from alice"#)
            || log.contains(r#"command "chaos exit" from bob"#),
        "the log names who sent what:\n{log}"
    );
    // Two dead-lettered commands each (plugin_host.hold_strikes: 2): both are held back from
    // chaos, and the operator sees who and why.
    let unit = stack.unit("chaos");
    let held: Vec<&str> = unit["held_back"]
        .as_array()
        .map(|held| held.iter().filter_map(|h| h["user"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(held, ["alice", "bob"], "{unit}");
    assert!(
        unit["held_back"][0]["why"]
            .as_str()
            .is_some_and(|why| why.contains("chaos exit")),
        "{unit}"
    );
    let ignored = stack.say_as("alice", "!chaos ping", "1");
    assert!(
        !ignored.contains("pong"),
        "a held-back user was served: {ignored:?}"
    );
    host::wait_for_log(&stack, "chaos", "alice is held back from this plugin", SLOW);
    let status = String::from_utf8_lossy(&stack.rosey(&["status"]).stdout).into_owned();
    assert!(status.contains("Held back: alice ("), "{status}");
}

#[test]
fn a_plugin_given_up_on_is_tried_again_after_its_retry_delay() {
    let config = TEST_CONFIG.replace(
        "plugins: { max_restarts: 3,",
        "plugins: { retry_after_secs: 2, max_restarts: 3,",
    );
    assert_ne!(config, TEST_CONFIG);
    let stack = TestStack::with_config(&["fixtures/chaos"], &config);
    stack.start();
    // Killed while idle until given up on.
    let crashed = host::kill_until_crashed(&stack, "chaos", SLOW);
    let retry = crashed["retry_in_secs"].as_u64().unwrap_or(0);
    assert!((1..=2).contains(&retry), "{crashed}");
    let back = stack.wait_for_unit("chaos", SLOW, "running again", running);
    assert!(back["retry_in_secs"].is_null(), "{back}");
    stack.say_until("!chaos ping", "pong", SLOW);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_waited_past_their_age_limit_are_not_answered_and_are_counted() {
    let config = TEST_CONFIG.replace(
        "plugin_host:\n",
        "plugin_host:\n  max_command_age_ms: 1500\n",
    );
    assert_ne!(config, TEST_CONFIG);
    let stack = TestStack::with_config(&["dice-roller"], &config);
    stack.start();
    let bus = Bus::of(&stack).await;
    assert!(stack.rosey(&["stop", "dice-roller"]).status.success());
    let old = bus.command("roll", "1d1", "alice", Source::Chat).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(stack.rosey(&["start", "dice-roller"]).status.success());
    let fresh = bus.ask("roll", "1d1", "bob", Source::Chat).await;
    assert!(fresh.text.contains("= 1"), "{fresh:?}");
    host::wait_for_log(
        &stack,
        "dice-roller",
        r#"not handled: command "roll 1d1" from alice"#,
        SLOW,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(bus.replies_to(&old).is_empty(), "a stale answer was sent");
    let unit = stack.unit("dice-roller");
    assert_eq!(unit["stale"], 1, "{unit}");
    let status = String::from_utf8_lossy(&stack.rosey(&["status"]).stdout).into_owned();
    assert!(status.contains("Too old, not handled: 1"), "{status}");
}

#[test]
fn a_failed_command_is_answered_once_with_the_failure_wording() {
    let config =
        format!("{TEST_CONFIG}  replies: {{ failed: \"{{user}}: {{command}} broke, sorry\" }}\n");
    assert_ne!(config, TEST_CONFIG);
    let stack = TestStack::with_config(&["fixtures/chaos"], &config);
    stack.start();
    // An error value: told at once, the host lives on.
    let said = |user: &str, text: &str| stack.say_as(user, text, "3");
    let reply = said("alice", "!chaos fail");
    assert_eq!(
        reply.matches("alice: !chaos broke, sorry").count(),
        1,
        "{reply:?}"
    );
    // A crash: told once, when the command is dead-lettered after its last attempt.
    let reply = said("bob", "!chaos panic");
    assert_eq!(
        reply.matches("bob: !chaos broke, sorry").count(),
        1,
        "{reply:?}"
    );
    assert_eq!(stack.unit("chaos")["dead_letters"], 1);
    // The panics were logged at ERROR; their backtraces only exist at `logs.plugins: debug`.
    let log = host::plugin_log(&stack, "chaos");
    assert!(log.contains("chaos: deliberate panic (at "), "{log}");
    assert!(!log.contains("backtrace of the panic"), "{log}");
    assert!(!log.contains("panicked at"), "{log}");
}

#[test]
fn a_crashed_or_disabled_plugins_command_is_answered_unavailable_once_per_user() {
    let config = TEST_CONFIG.replace(
        "plugins: { max_restarts: 3,",
        "plugins: { retry_after_secs: 0, max_restarts: 3,",
    );
    assert_ne!(config, TEST_CONFIG);
    let stack = TestStack::with_config(&["fixtures/chaos", "dice-roller"], &config);
    stack.start();
    host::kill_until_crashed(&stack, "chaos", SLOW);
    let told = "Sorry alice, !chaos is unavailable right now.";
    let reply = stack.say_as("alice", "!chaos ping", "3");
    assert_eq!(reply.matches(told).count(), 1, "{reply:?}");
    let again = stack.say_as("alice", "!chaos ping", "1");
    assert!(!again.contains("unavailable"), "told twice: {again:?}");
    let other = stack.say_as("bob", "!chaos ping", "3");
    assert!(
        other.contains("Sorry bob, !chaos is unavailable"),
        "{other:?}"
    );

    assert!(stack
        .rosey(&["plugin", "disable", "dice-roller"])
        .status
        .success());
    let reply = stack.say_as("carol", "!roll 1d1", "3");
    assert!(
        reply.contains("Sorry carol, !roll is unavailable right now."),
        "a disabled plugin's command is not unknown: {reply:?}"
    );
    // The operator starts chaos again: answered at once, the crash is forgotten.
    assert!(stack.rosey(&["start", "chaos"]).status.success());
    let back = stack.say_as("dave", "!chaos ping", "8");
    assert!(back.contains("pong"), "{back:?}");
}

#[test]
fn a_flood_from_one_user_is_refused_once_then_dropped_and_others_are_served() {
    let config = TEST_CONFIG.replace(
        NO_RATE_LIMITS,
        "  rate_limit: { commands: 3, per_plugin: 3, window_secs: 60 }\n",
    );
    assert_ne!(config, TEST_CONFIG);
    let stack = TestStack::with_config(&["dice-roller"], &config);
    stack.start();
    for _ in 0..3 {
        let reply = stack.say_as("mallory", "!roll 1d1", "8");
        assert!(reply.contains("= 1"), "within the limit: {reply:?}");
    }
    let refused = stack.say_as("Mallory", "!roll 1d1", "3");
    assert_eq!(
        refused
            .matches("Mallory, slow down: too many commands.")
            .count(),
        1,
        "{refused:?}"
    );
    let dropped = stack.say_as("mallory", "!roll 1d1", "1");
    assert!(
        dropped.trim().is_empty(),
        "answered past the limit: {dropped:?}"
    );
    let other = stack.say_as("alice", "!roll 1d1", "8");
    assert!(other.contains("= 1"), "another user is served: {other:?}");
    let log = std::fs::read_to_string(stack.home.path().join("logs/rosey.log")).unwrap_or_default();
    assert_eq!(
        log.matches("chat user Mallory went past the rate limit")
            .count(),
        1,
        "the operator sees who, once per flood:\n{log}"
    );
}

/// A CyTube home: chaos installed, the bot paced at 2 messages a second under a server that
/// allows a burst of 4, then 2 a second, with the default rate limits and `edits` (pairs of
/// text to replace in the test config and what replaces it).
fn cytube_home(edits: &[(&str, &str)]) -> (CytubeServer, TestStack) {
    let server = CytubeServer::for_bot(
        "rosey",
        "pw",
        Limits {
            chat_burst: 4.0,
            chat_per_sec: 2.0,
            ..Limits::default()
        },
    );
    let bot = server.bot_keys("rosey", "pw", "test").replace(
        "  cytube:\n",
        "  cytube:\n    chat_burst: 2\n    chat_per_sec: 2\n",
    );
    // The default rate limits (8 commands per user per 10 s, 5 to one plugin).
    let mut config = TEST_CONFIG.replace(NO_RATE_LIMITS, "");
    for (from, to) in edits {
        assert!(config.contains(from), "{from:?} is not in the test config");
        config = config.replace(from, to);
    }
    let config = format!("{config}{bot}");
    let stack = TestStack::with_config(&["fixtures/chaos"], &config);
    stack.start();
    (server, stack)
}

#[test]
fn on_cytube_one_users_talkative_commands_do_not_delay_another_users_answer() {
    let (server, stack) = cytube_home(&[]);
    server.say("test", "mallory", "!chaos lines 20");
    server.wait_for_chat("rosey", "line 2 of 20", SLOW);
    // Mallory's other 18 lines are waiting for the flood budget; Alice's answer takes the
    // next turn instead of waiting behind all of them.
    server.say("test", "alice", "!chaos ping");
    let said = server.wait(SLOW, "every line and the pong", || {
        let said = server.chat_from("rosey");
        (said.iter().any(|s| s == "pong") && said.iter().any(|s| s == "line 20 of 20"))
            .then_some(said)
    });
    let pong = said.iter().position(|s| s == "pong").unwrap_or(usize::MAX);
    let line = |n: u32| {
        said.iter()
            .position(|s| *s == format!("line {n} of 20"))
            .unwrap_or(0)
    };
    assert!(pong < line(6), "alice waited behind mallory: {said:?}");
    let lines: Vec<&String> = said.iter().filter(|s| s.starts_with("line ")).collect();
    let expected: Vec<String> = (1..=20).map(|n| format!("line {n} of 20")).collect();
    assert_eq!(
        lines,
        expected.iter().collect::<Vec<_>>(),
        "mallory's lines, once each, in order"
    );
    drop(stack);
}

#[test]
fn on_cytube_a_moderator_is_not_rate_limited_and_a_guest_is() {
    let (server, stack) = cytube_home(&[]);
    server.set_rank("test", "mod", 2);
    server.join("test", "guest");
    // Texts differ: the same text from the same user in the same millisecond is one message.
    for n in 0..7 {
        server.say("test", "mod", &format!("!chaos lines {}", n + 1));
        server.say("test", "guest", &format!("!chaos slow {n}"));
    }
    let said = server.wait(SLOW, "the moderator's seven answers", || {
        let said = server.chat_from("rosey");
        said.iter().any(|s| s == "line 7 of 7").then_some(said)
    });
    let answered: Vec<&String> = said
        .iter()
        .filter(|s| s.starts_with("done after"))
        .collect();
    assert_eq!(
        answered,
        [
            "done after 0 ms",
            "done after 1 ms",
            "done after 2 ms",
            "done after 3 ms",
            "done after 4 ms"
        ],
        "the guest's first five (per_plugin: 5): {said:?}"
    );
    assert_eq!(
        said.iter()
            .filter(|s| s.starts_with("guest, slow down"))
            .count(),
        1,
        "{said:?}"
    );
    drop(stack);
}

#[test]
fn on_cytube_crash_commands_of_two_users_leave_the_plugin_up_each_told_once_then_unavailable() {
    let (server, stack) = cytube_home(&[(
        "plugins: { max_restarts: 3,",
        "plugins: { retry_after_secs: 0, max_restarts: 3,",
    )]);
    // Two commands each that kill the host (texts differ: one user's same text in the same
    // millisecond is one message): 8 crashes with max_attempts 2, none counted.
    for user in ["alice", "bob"] {
        server.say("test", user, "!chaos exit");
        server.say("test", user, "!chaos EXIT");
    }
    let said = server.wait(SLOW, "four failure replies", || {
        let said = server.chat_from("rosey");
        (said
            .iter()
            .filter(|s| s.ends_with("!chaos failed."))
            .count()
            >= 4)
            .then_some(said)
    });
    for user in ["alice", "bob"] {
        let told = format!("Sorry {user}, !chaos failed.");
        assert_eq!(said.iter().filter(|s| **s == told).count(), 2, "{said:?}");
    }
    server.say("test", "carol", "!chaos ping");
    server.wait_for_chat("rosey", "pong", SLOW);
    assert_ne!(stack.unit("chaos")["state"], "crashed");

    // Given up on for failures of its own: the next asker is told, once.
    host::kill_until_crashed(&stack, "chaos", SLOW);
    server.say("test", "dave", "!chaos ping");
    server.say("test", "dave", "!chaos PING");
    server.wait_for_chat(
        "rosey",
        "Sorry dave, !chaos is unavailable right now.",
        SLOW,
    );
    server.say("test", "erin", "!chaos ping");
    server.wait_for_chat(
        "rosey",
        "Sorry erin, !chaos is unavailable right now.",
        SLOW,
    );
    let said = server.chat_from("rosey");
    assert_eq!(
        said.iter().filter(|s| s.starts_with("Sorry dave")).count(),
        1,
        "{said:?}"
    );
}

#[test]
fn on_cytube_commands_typed_during_a_long_outage_are_not_answered_late() {
    let (server, stack) = cytube_home(&[(
        "plugin_host:\n",
        "plugin_host:\n  max_command_age_ms: 1500\n",
    )]);
    assert!(stack.rosey(&["stop", "chaos"]).status.success());
    server.say("test", "alice", "!chaos slow 1");
    std::thread::sleep(Duration::from_millis(2000));
    assert!(stack.rosey(&["start", "chaos"]).status.success());
    server.say("test", "bob", "!chaos slow 2");
    server.wait_for_chat("rosey", "done after 2 ms", SLOW);
    host::wait_for_log(
        &stack,
        "chaos",
        r#"not handled: command "chaos slow 1" from alice"#,
        SLOW,
    );
    std::thread::sleep(Duration::from_millis(500));
    let said = server.chat_from("rosey");
    assert!(
        !said.iter().any(|s| s == "done after 1 ms"),
        "a stale answer was sent: {said:?}"
    );
    assert_eq!(stack.unit("chaos")["stale"], 1);
}

//! End to end: what one chat user can do to a plugin. A command that crashes it, repeated by
//! several users, is dead-lettered without taking the plugin down for anyone else; a plugin
//! given up on comes back by itself after its retry delay; commands that waited past their
//! age limit are not answered late, and are counted.

use std::time::{Duration, Instant};

use rosey_core::messaging::Source;
use rosey_e2e::{
    host::{self, Bus},
    stack::{TestStack, TEST_CONFIG},
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
    let config = TEST_CONFIG.replace(
        "supervision:\n",
        "bot:\n  replies: { failed: \"{user}: {command} broke, sorry\" }\nsupervision:\n",
    );
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
}

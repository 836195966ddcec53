//! End to end: the supervised stack, started with the real `rosey start` against a real
//! nats-server, driven and inspected with the real CLI.

use std::time::Duration;

use rosey_e2e::stack::{wait_until_gone, TestStack};

const SLOW: Duration = Duration::from_secs(40);

fn running(unit: &serde_json::Value) -> bool {
    unit["state"] == "running"
}

fn restarts(unit: &serde_json::Value) -> u64 {
    unit["restarts"].as_u64().unwrap_or(0)
}

#[test]
fn start_reports_every_unit_running_and_stop_leaves_nothing() {
    let stack = TestStack::with_plugins(&["dice-roller", "quote-db"]);
    let out = stack.start();
    for line in [
        "✓ NATS server started",
        "✓ Bot service started",
        "✓ Loaded plugin: dice-roller",
        "✓ Loaded plugin: quote-db",
        "✓ Started all",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    let status = stack.status();
    for unit in status["services"]
        .as_array()
        .expect("services")
        .iter()
        .chain(status["plugins"].as_array().expect("plugins"))
    {
        assert!(running(unit), "{unit}");
        assert!(unit["pid"].as_u64().is_some(), "{unit}");
    }
    let names: Vec<&str> = status["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter_map(|unit| unit["name"].as_str())
        .collect();
    assert_eq!(names, ["dice-roller", "quote-db"]);

    let human = String::from_utf8_lossy(&stack.rosey(&["status"]).stdout).into_owned();
    assert!(
        human.contains("Service Status:") && human.contains("dice-roller"),
        "{human}"
    );
    assert!(
        !human.contains('\u{1b}'),
        "no colors when not on a terminal: {human}"
    );

    let list = stack.home.run_ok(&["plugin", "list"]);
    assert!(list.contains("STATE") && list.contains("running"), "{list}");

    assert!(stack.say("!roll 1d1+1").contains("= 2"));
    assert!(stack.say("!nosuchcommand").contains("Unknown command"));

    assert!(!stack.processes().is_empty());
    let stopped = stack.rosey(&["stop"]);
    assert!(stopped.status.success(), "{stopped:?}");
    let left = wait_until_gone(&stack.home.path(), Duration::from_secs(10));
    assert!(
        left.is_empty(),
        "processes of the home still running: {left:?}"
    );
    assert!(!stack.home.path().join("data/run/rosey.sock").exists());

    let status = stack.rosey(&["status"]);
    assert_eq!(status.status.code(), Some(3), "{status:?}");
    assert!(String::from_utf8_lossy(&status.stderr).contains("not running"));
}

#[test]
fn a_second_start_says_it_is_already_running() {
    let stack = TestStack::with_plugins(&[]);
    stack.start();
    let text = stack.start_fails();
    assert!(text.contains("already running"), "{text}");
    assert!(
        running(&stack.unit("nats")),
        "the running stack is untouched"
    );
}

#[test]
fn control_socket_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let stack = TestStack::with_plugins(&[]);
    stack.start();
    let socket = stack.home.path().join("data/run/rosey.sock");
    let mode = std::fs::metadata(&socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

#[test]
fn unknown_names_get_the_list_of_valid_ones() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let out = stack.rosey(&["restart", "dice-rollr"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nats") && stderr.contains("bot") && stderr.contains("dice-roller"),
        "{stderr}"
    );
}

#[test]
fn operator_stop_start_and_restart_of_a_plugin() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let before = stack.unit("dice-roller");
    assert!(stack.rosey(&["stop", "dice-roller"]).status.success());
    let unit = stack.unit("dice-roller");
    assert_eq!(unit["state"], "stopped", "{unit}");
    assert!(stack.rosey(&["start", "dice-roller"]).status.success());
    stack.wait_for_unit("dice-roller", SLOW, "running", running);
    assert!(stack.rosey(&["restart", "dice-roller"]).status.success());
    let after = stack.wait_for_unit("dice-roller", SLOW, "running", running);
    assert_ne!(before["pid"], after["pid"], "a new host process");
    assert_eq!(restarts(&after), 0, "operator restarts are not failures");
    assert!(stack.say("!roll 1d1").contains("= 1"));
}

/// A plugin that crashes in `how` is restarted and serves again, while the bot and another
/// plugin keep answering throughout.
fn crash_and_recover(how: &str) {
    let stack = TestStack::with_plugins(&["fixtures/chaos", "dice-roller"]);
    stack.start();
    let first_pid = stack.unit("chaos")["pid"].clone();
    let _ = stack.rosey(&["say", &format!("!chaos {how}"), "--timeout", "0.2"]);
    stack.wait_for_unit("chaos", SLOW, "restarted", |unit| restarts(unit) >= 1);
    // The other plugin and the bot answer while chaos recovers.
    assert!(
        stack.say("!roll 1d1").contains("= 1"),
        "dice-roller answers during the crash"
    );
    assert!(
        stack.say("!nosuch").contains("Unknown command"),
        "the bot answers"
    );
    stack.say_until("!chaos ping", "pong", SLOW);
    let unit = stack.wait_for_unit("chaos", SLOW, "running", running);
    assert_ne!(unit["pid"], first_pid, "served by a new host");
    assert!(unit["last_exit"].is_string(), "{unit}");
    assert!(stack.say("!roll 1d1").contains("= 1"));
    assert!(running(&stack.unit("nats")) && running(&stack.unit("bot")));
    // The message that crashed it was delivered twice (max_attempts), then dead-lettered
    // instead of crash-looping the plugin.
    let deadline = std::time::Instant::now() + SLOW;
    let log = stack.home.path().join("logs/plugins/chaos.log");
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("moved to rosey.deadletter.chaos") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never dead-lettered:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let unit = stack.unit("chaos");
    assert!(running(&unit) && restarts(&unit) <= 2, "{unit}");
    assert_eq!(
        unit["dead_letters"], 1,
        "status shows the dead letter: {unit}"
    );
}

#[test]
fn a_panicking_plugin_is_restarted_and_serves_again() {
    crash_and_recover("panic");
}

#[test]
fn an_aborting_plugin_is_restarted_and_serves_again() {
    crash_and_recover("abort");
}

#[test]
fn a_segfaulting_plugin_is_restarted_and_serves_again() {
    crash_and_recover("segfault");
}

#[test]
fn a_hanging_plugin_is_killed_restarted_and_serves_again() {
    crash_and_recover("hang");
}

#[test]
fn a_plugin_dying_over_and_over_with_no_message_in_hand_ends_crashed_and_the_rest_is_unaffected() {
    let stack = TestStack::with_plugins(&["fixtures/chaos", "dice-roller"]);
    stack.start();
    // Killed while idle: failures of the plugin's own (no message to blame), so the restart
    // intensity (3 in 60 s) runs out.
    let unit = rosey_e2e::host::kill_until_crashed(&stack, "chaos", SLOW);
    assert_eq!(restarts(&unit), 3, "{unit}");
    assert!(unit["pid"].is_null(), "{unit}");
    let retry = unit["retry_in_secs"].as_u64().unwrap_or(0);
    assert!(
        retry > 200 && retry <= 300,
        "tried again after supervision.plugins.retry_after_secs (300): {unit}"
    );
    let status = String::from_utf8_lossy(&stack.rosey(&["status"]).stdout).into_owned();
    assert!(status.contains("Retry in: "), "{status}");
    assert!(stack.say("!roll 1d1").contains("= 1"));
    assert!(running(&stack.unit("dice-roller")));
    assert!(running(&stack.unit("nats")) && running(&stack.unit("bot")));
    // An operator can bring it back at once.
    assert!(stack.rosey(&["start", "chaos"]).status.success());
    stack.say_until("!chaos ping", "pong", SLOW);
    assert!(stack.unit("chaos")["retry_in_secs"].is_null());
}

#[test]
fn nats_killed_is_restarted_and_no_command_is_lost() {
    let stack = TestStack::with_plugins(&["quote-db", "dice-roller"]);
    stack.start();
    let nats = stack.unit("nats");
    let pid = nats["pid"].as_u64().expect("nats pid") as i32;
    // SAFETY: killing the test stack's own nats-server.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    // Said while NATS is down or restarting: must be handled once it is back.
    let _ = stack.rosey(&[
        "say",
        "!quote add said during the outage",
        "--timeout",
        "0.1",
    ]);
    let unit = stack.wait_for_unit("nats", SLOW, "restarted", |unit| {
        running(unit) && restarts(unit) >= 1
    });
    assert_ne!(unit["pid"].as_u64(), Some(pid as u64));
    stack.say_until("!roll 1d1", "= 1", SLOW);
    let found = stack.say_until("!quote find outage", "said during the outage", SLOW);
    assert!(found.contains("said during the outage"), "{found}");
    assert!(running(&stack.unit("quote-db")) && running(&stack.unit("bot")));
}

/// `GOMAXPROCS` in the environment of the stack's nats-server.
fn nats_go_max_procs(stack: &TestStack) -> Option<String> {
    let pid = stack.unit("nats")["pid"].as_u64().expect("nats pid");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("nats-server environ");
    environ
        .split(|byte| *byte == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .find_map(|entry| entry.strip_prefix("GOMAXPROCS=").map(str::to_owned))
}

#[test]
fn nats_server_runs_on_one_go_thread_unless_the_daemons_environment_sets_gomaxprocs() {
    let stack = TestStack::with_plugins(&[]);
    stack.start();
    let inherited = std::env::var("GOMAXPROCS").unwrap_or_else(|_| "1".to_owned());
    assert_eq!(nats_go_max_procs(&stack), Some(inherited));
    stack.home.run_ok(&["stop"]);

    let out = stack.home.run_with_env(&["start"], &[("GOMAXPROCS", "2")]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(nats_go_max_procs(&stack).as_deref(), Some("2"));
}

#[test]
fn a_daemon_killed_with_sigkill_leaves_no_children_and_the_next_start_succeeds() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let daemon = stack.daemon_pid().expect("pid file");
    let host = rosey_e2e::host::host_pid(&stack, "dice-roller");
    let nats = stack.unit("nats")["pid"].as_u64().expect("nats pid") as u32;
    let processes = stack.processes();
    assert!(
        [daemon, nats, host]
            .iter()
            .all(|pid| processes.contains(pid)),
        "daemon {daemon}, nats-server {nats}, plugin host {host} among {processes:?}"
    );
    // SAFETY: killing the test stack's own daemon.
    unsafe {
        libc::kill(daemon as i32, libc::SIGKILL);
    }
    let left = wait_until_gone(&stack.home.path(), Duration::from_secs(10));
    assert!(left.is_empty(), "children outlived the daemon: {left:?}");
    // The host is no longer the daemon's child once the daemon is gone, so it is watched by
    // its pid.
    rosey_e2e::host::wait_until_dead(host, Duration::from_secs(10));
    assert!(
        stack.home.path().join("data/run/rosey.pid").exists(),
        "stale pid file left"
    );

    let out = stack.start();
    assert!(out.contains("✓ Started all"), "{out}");
    assert!(stack.say("!roll 1d1").contains("= 1"));
}

#[test]
fn a_service_failing_past_its_limit_stops_the_stack_and_says_why() {
    let config = rosey_e2e::stack::TEST_CONFIG.replace(
        "services: { backoff_initial_ms: 50,",
        "services: { max_restarts: 1, backoff_initial_ms: 50,",
    );
    let stack = TestStack::with_config(&["dice-roller"], &config);
    stack.start();
    let kill_nats = |stack: &TestStack| {
        let pid = stack.unit("nats")["pid"].as_u64().expect("nats pid");
        // SAFETY: killing the test stack's own nats-server.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    };
    kill_nats(&stack);
    stack.wait_for_unit("nats", SLOW, "restarted", |unit| {
        running(unit) && restarts(unit) == 1
    });
    kill_nats(&stack);
    // Past its limit: the root escalates, stops everything in reverse order and exits.
    let left = wait_until_gone(&stack.home.path(), SLOW);
    assert!(left.is_empty(), "processes left: {left:?}");
    let status = stack.rosey(&["status"]);
    assert_eq!(status.status.code(), Some(3), "{status:?}");
    let log = std::fs::read_to_string(stack.home.path().join("logs/rosey.log")).expect("log");
    assert!(
        log.contains("nats") && log.contains("exceeded"),
        "the log says why:\n{log}"
    );
    assert!(log.contains("rosey stopped: "), "{log}");
}

#[test]
fn a_plugin_host_whose_heartbeats_stop_is_killed_and_restarted() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let pid = stack.unit("dice-roller")["pid"].as_u64().expect("pid") as i32;
    // Frozen, not dead: only the missing heartbeats can tell.
    // SAFETY: stopping the test stack's own plugin host.
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    let unit = stack.wait_for_unit("dice-roller", SLOW, "restarted", |unit| {
        running(unit) && restarts(unit) >= 1
    });
    assert_ne!(unit["pid"].as_u64(), Some(pid as u64));
    assert!(
        unit["last_exit"]
            .as_str()
            .unwrap_or("")
            .contains("heartbeat"),
        "{unit}"
    );
    assert!(stack.say("!roll 1d1").contains("= 1"));
}

#[test]
fn sigterm_to_the_daemon_stops_everything_gracefully() {
    let stack = TestStack::with_plugins(&["markov-chat"]);
    stack.start();
    let _ = stack.rosey(&["say", "the model learns this line", "--timeout", "0.2"]);
    let daemon = stack.daemon_pid().expect("pid file");
    // SAFETY: signalling the test stack's own daemon.
    unsafe {
        libc::kill(daemon as i32, libc::SIGTERM);
    }
    let left = wait_until_gone(&stack.home.path(), SLOW);
    assert!(left.is_empty(), "processes left: {left:?}");
    let run = stack.home.path().join("data/run");
    assert!(!run.join("rosey.pid").exists() && !run.join("rosey.sock").exists());
    // Graceful: the plugin unloaded and handed its model over for the next start.
    assert!(stack
        .home
        .path()
        .join("data/plugins/markov-chat/handoff.state")
        .exists());
}

#[test]
fn a_bad_rosey_yaml_fails_start_with_the_key_named_and_nothing_left_running() {
    let stack = TestStack::with_config(&[], "nats:\n  prot: 4222\n");
    let text = stack.start_fails();
    assert!(
        text.contains("prot") && text.contains("rosey.yaml"),
        "{text}"
    );
    assert!(
        text.contains("logs/rosey.log"),
        "names the log to read: {text}"
    );
    let left = wait_until_gone(&stack.home.path(), Duration::from_secs(10));
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(stack.rosey(&["status"]).status.code(), Some(3));
}

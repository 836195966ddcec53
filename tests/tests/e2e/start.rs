//! End to end: `rosey start` says what happened and nothing else. A service that cannot start
//! fails the start at once (non-zero exit; the service, its reason and the fix on the last line;
//! nothing left running); it never ends with `Started all`.

use std::time::Duration;

use rosey_e2e::stack::{wait_until_gone, TestStack, TEST_CONFIG};

#[test]
fn a_service_that_cannot_start_fails_the_start_with_the_fix_and_leaves_nothing_running() {
    // Another program holds the port NATS is told to use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let config = TEST_CONFIG.replacen("nats:\n  port: 0\n", &format!("nats:\n  port: {port}\n"), 1);
    assert_ne!(config, TEST_CONFIG, "the test config names nats.port");
    let stack = TestStack::with_config(&["dice-roller"], &config);
    let text = stack.start_fails();
    assert!(!text.contains("Started all"), "{text}");
    let last = the_failure_is_the_last_line(&text);
    assert!(last.contains("nats failed"), "names the service: {last}");
    assert!(
        last.contains("address already in use"),
        "its reason: {last}"
    );
    assert!(
        last.contains("`nats.port`"),
        "the fix names the key: {last}"
    );
    // All or nothing: nothing after NATS was even tried.
    assert!(!text.contains("Starting bot"), "{text}");
    let left = wait_until_gone(&stack.home.path(), Duration::from_secs(20));
    assert!(left.is_empty(), "processes left: {left:?}");
    assert_eq!(stack.rosey(&["status"]).status.code(), Some(3));
    drop(taken);
}

#[test]
fn a_nats_server_that_is_not_there_fails_the_start_naming_the_variable_to_set() {
    let stack = TestStack::with_config(&[], TEST_CONFIG);
    let missing = stack.home.scratch().join("no-such-nats-server");
    let output = std::process::Command::new(rosey_e2e::cli::rosey_bin())
        .arg("--home")
        .arg(stack.home.path())
        .arg("start")
        .env_remove("ROSEY_HOME")
        .env("ROSEY_NATS_SERVER", &missing)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run rosey start");
    assert!(!output.status.success(), "{output:?}");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let last = the_failure_is_the_last_line(&text);
    assert!(
        last.contains(&format!("cannot start {}", missing.display()))
            && last.contains("there is no such file: point ROSEY_NATS_SERVER at a nats-server"),
        "{last}"
    );
    let left = wait_until_gone(&stack.home.path(), Duration::from_secs(20));
    assert!(left.is_empty(), "processes left: {left:?}");
}

#[test]
fn what_a_killed_daemon_left_of_an_upload_is_removed_at_the_next_start() {
    let stack = TestStack::with_config(&[], TEST_CONFIG);
    let run = stack.home.path().join("data/run");
    let leftover = run.join(".upload-abc123");
    std::fs::create_dir_all(&leftover).expect("mkdir");
    std::fs::write(leftover.join("dice-roller.roseyplug"), b"half an archive").expect("write");
    stack.start();
    assert!(!leftover.exists(), "the leftover upload is gone");
    assert!(
        run.join("rosey.pid").exists(),
        "the rest of data/run is the daemon's own"
    );
}

/// The last line of a failed start's output (stderr, then stdout), once checked to be the
/// failure with its fix, and the log to read named before it.
fn the_failure_is_the_last_line(text: &str) -> &str {
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.contains("not started:"),
        "the last line says the start failed:\n{text}"
    );
    assert!(
        text.contains("The details are in ") && text.contains("rosey.log."),
        "where the details are: {text}"
    );
    last
}

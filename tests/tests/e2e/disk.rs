//! End to end: the message store and the disk it lives on. The store's size fits the disk or
//! is `nats.max_storage` (a start that cannot fit fails naming the key); a store that fills up
//! while the stack runs (its own limit, or the disk itself) is shown in status and the log,
//! commands wait in the bot's memory instead of being lost, and the stack recovers by itself
//! once there is room again. The small disks are tmpfs mounts in a namespace of the daemon's
//! own (`rosey_e2e::disk`).

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use rosey_core::{
    bus::BusUser,
    messaging::{self, CommandMessage, Source, SCHEMA_VERSION},
    paths::Home,
};
use rosey_e2e::{
    disk::SmallDisk,
    stack::{wait_until_gone, TestStack, TEST_CONFIG},
};

const SLOW: Duration = Duration::from_secs(60);
const MIB: u64 = 1024 * 1024;

fn detail(unit: &serde_json::Value) -> String {
    unit["detail"].as_str().unwrap_or_default().to_owned()
}

fn rosey_log(stack: &TestStack) -> String {
    let log = Home::new(stack.home.path()).logs_dir().join("rosey.log");
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Waits until the log has a line containing every one of `words`; returns that line.
fn wait_for_log_line(stack: &TestStack, words: &[&str]) -> String {
    wait_for_log_line_after(stack, 0, words)
}

/// [`wait_for_log_line`] among the lines written after the log's first `from` bytes.
fn wait_for_log_line_after(stack: &TestStack, from: usize, words: &[&str]) -> String {
    let deadline = Instant::now() + SLOW;
    loop {
        let log = rosey_log(stack);
        let new = log.get(from..).unwrap_or_default();
        if let Some(line) = new
            .lines()
            .find(|line| words.iter().all(|word| line.contains(word)))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {words:?} within {SLOW:?}; the log:\n{new}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `rosey say`, not waiting for the answer (which may come much later).
fn say_now(stack: &TestStack, text: &str) {
    let out = stack.rosey(&["say", text, "--timeout", "0.1"]);
    assert!(
        out.status.code().is_some(),
        "rosey say {text:?} was killed: {out:?}"
    );
}

/// `config` with `line` added under its top-level `section:`.
fn config_with(config: &str, section: &str, line: &str) -> String {
    let header = format!("{section}:\n");
    assert!(config.contains(&header), "{section}: in {config}");
    config.replacen(&header, &format!("{header}  {line}\n"), 1)
}

#[test]
fn a_small_disk_gets_a_store_that_fits_and_the_log_names_the_key() {
    let disk = SmallDisk::new(&["dice-roller"], TEST_CONFIG, 40);
    disk.start_ok();
    let line = wait_for_log_line(
        &disk.stack,
        &["WARN", "message store is limited to", "nats.max_storage"],
    );
    assert!(
        line.contains("30.0 MiB"),
        "three quarters of the 40 MiB disk: {line}"
    );
    let reply = disk.stack.say_until("!roll 1d1", "= 1", SLOW);
    assert!(reply.contains("= 1"), "{reply}");
    let nats = disk.stack.unit("nats");
    assert!(!detail(&nats).contains("degraded"), "{nats}");
}

#[test]
fn a_max_storage_bigger_than_the_disk_fails_start_naming_the_key_and_leaves_nothing_running() {
    let disk = SmallDisk::new(
        &[],
        &config_with(TEST_CONFIG, "nats", "max_storage: 320MiB"),
        40,
    );
    let out = disk.start();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "start must fail: {text}");
    assert!(
        text.contains("nats.max_storage") && text.contains("320.0 MiB"),
        "names the key and its value: {text}"
    );
    let left = wait_until_gone(&disk.stack.home.path(), Duration::from_secs(10));
    assert!(
        left.is_empty(),
        "processes of the home still running: {left:?}"
    );
    assert_eq!(disk.stack.rosey(&["status"]).status.code(), Some(3));
}

#[test]
fn a_disk_that_fills_up_is_reported_commands_wait_and_the_stack_recovers_when_space_returns() {
    // One restart of a service within the window is all the budget: a second counted
    // restart would stop the stack. A full disk's restart of nats-server is not counted.
    let config = TEST_CONFIG.replacen("services: { ", "services: { max_restarts: 1, ", 1);
    assert_ne!(config, TEST_CONFIG, "TEST_CONFIG sets supervision.services");
    let disk = SmallDisk::new(&["quote-db"], &config, 40);
    disk.start_ok();
    let stack = &disk.stack;
    stack.say_until("!quote add before the disk filled", "added quote", SLOW);

    disk_full_episode(&disk, "first", 1);
    disk_full_episode(&disk, "second", 2);

    let before = stack.say_until(
        "!quote find before the disk",
        "before the disk filled",
        SLOW,
    );
    assert!(before.contains("before the disk filled"), "{before}");
    for unit in ["nats", "bot", "quote-db"] {
        let unit = stack.unit(unit);
        assert_eq!(unit["state"], "running", "{unit}");
    }
}

/// Fills the disk, sends commands, checks status and log, frees the disk, and checks that
/// every command was answered and status is clean again; nats-server has then restarted
/// `restarts` times.
fn disk_full_episode(disk: &SmallDisk, name: &str, restarts: u64) {
    let stack = &disk.stack;
    let log_before = rosey_log(stack).len();
    disk.fill();
    assert!(
        disk.free_bytes() < MIB,
        "the disk is full: {} bytes free",
        disk.free_bytes()
    );
    // Commands until the store refuses one (the first few may still fit in the space the
    // store's open block file already has on the disk); status then says what is wrong and
    // what to do, for the bot and for NATS.
    let degraded = |bot: &serde_json::Value| detail(bot).contains("degraded: message store full: ");
    let mut sent = 0;
    let bot = loop {
        for _ in 0..5 {
            sent += 1;
            say_now(stack, &format!("!quote add {name}-{sent}"));
        }
        let bot = match stack.poll_unit("bot", Duration::from_secs(2), degraded) {
            Ok(bot) => break bot,
            Err(bot) => bot,
        };
        assert!(
            sent < 50,
            "bot never became degraded by the full disk: {bot}"
        );
    };
    let note = detail(&bot);
    assert!(
        note.contains("messages waiting in memory (free disk space on")
            && note.contains("data/nats"),
        "{note}"
    );
    let nats = stack.wait_for_unit("nats", SLOW, "degraded by the full disk", |nats| {
        detail(nats).contains("no space left on device")
    });
    assert!(
        detail(&nats).contains("is full") && detail(&nats).contains("restarts once space is back"),
        "{nats}"
    );
    let human = String::from_utf8_lossy(&stack.rosey(&["status"]).stdout).into_owned();
    assert!(human.contains("message store full"), "{human}");
    wait_for_log_line_after(stack, log_before, &["WARN", "[bot]", "message store full"]);
    wait_for_log_line_after(
        stack,
        log_before,
        &[
            "WARN",
            "[nats]",
            "stopped writing",
            "no space left on device",
        ],
    );

    disk.free();

    // The stack recovers by itself: nats-server restarted, every command answered.
    stack.wait_for_unit("nats", SLOW, "restarted with its store writable", |nats| {
        nats["state"] == "running"
            && nats["restarts"].as_u64() == Some(restarts)
            && !detail(nats).contains("degraded")
    });
    // Every command sent meanwhile is answered, once. (One the server stored just before its
    // store failed comes again from the restarted server as a first delivery, its ack never
    // written: the plugin's door knows it by sequence and message id and drops it.)
    for k in 1..=sent {
        let needle = format!("{name}-{k}");
        // "Quote #7: first-1 (added by …)", or "2 quotes match …. Quote #7: …".
        let found = stack.say_until(&format!("!quote find {needle}"), "Quote #", SLOW);
        assert!(found.contains(&needle), "{found}");
    }
    let all = stack.say_until(&format!("!quote find {name}-"), "quotes match", SLOW);
    assert!(
        all.starts_with(&format!("{sent} quotes match")),
        "each command once: {all}"
    );
    stack.wait_for_unit("bot", SLOW, "clean again", |bot| {
        !detail(bot).contains("degraded") && !detail(bot).contains("waiting")
    });
    wait_for_log_line_after(
        stack,
        log_before,
        &["[nats]", "restarting nats-server now that space is back"],
    );
    wait_for_log_line_after(
        stack,
        log_before,
        &["INFO", "[bot]", "message store accepts messages again"],
    );
}

/// Publishes commands for `!quote` that the bot never heard (padded to `size` bytes) into the
/// stream, as a plugin that is down leaves them there, until the stream refuses one for its
/// size; then smaller ones until even the smallest is refused. Returns how many it stored.
async fn fill_stream(stack: &TestStack) -> usize {
    let client = stack.nats_client(BusUser::Daemon).await;
    let js = jetstream::new(client);
    let mut stored = 0;
    let mut size = 256 * 1024;
    while size >= 64 {
        let message = CommandMessage {
            v: SCHEMA_VERSION,
            id: format!("filler-{stored}"),
            command: "quote".to_owned(),
            args: "0".to_owned(),
            user: "filler".to_owned(),
            channel: "x".repeat(size),
            source: Source::Chat,
            time_ms: messaging::now_ms(),
            rank: None,
        };
        let publish = PublishMessage::build()
            .payload(messaging::encode(&message).into())
            .message_id(messaging::command_msg_id(&message.id));
        let ack = js
            .send_publish(messaging::command_subject("quote"), publish)
            .await
            .expect("publish a filler");
        match ack.await {
            Ok(_) => stored += 1,
            Err(err) => {
                assert!(
                    err.to_string().contains("maximum bytes exceeded"),
                    "the stream refuses for its size: {err}"
                );
                size /= 2;
            }
        }
        assert!(stored < 10_000, "the stream never filled up");
    }
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_at_its_size_is_reported_commands_wait_and_are_stored_once_plugins_catch_up() {
    let config = config_with(TEST_CONFIG, "nats", "max_storage: 16MiB");
    let config = config_with(&config, "plugin_host", "max_command_age_ms: 0");
    let stack = TestStack::with_config(&["quote-db"], &config);
    stack.start();
    stack.say_until("!quote add before the store filled", "added quote", SLOW);

    // quote-db is down for long: its commands stay in the stream until it is full.
    assert!(stack.rosey(&["stop", "quote-db"]).status.success());
    let fillers = fill_stream(&stack).await;
    assert!(fillers > 20, "{fillers}");
    for k in 1..=5 {
        say_now(&stack, &format!("!quote add store-full-{k}"));
    }
    let bot = stack.wait_for_unit("bot", SLOW, "degraded by the full store", |bot| {
        detail(bot).contains("degraded: message store full: ")
    });
    let note = detail(&bot);
    assert!(
        note.contains("messages waiting in memory") && note.contains("raise nats.max_storage"),
        "{note}"
    );
    let line = wait_for_log_line(&stack, &["WARN", "[bot]", "message store full"]);
    assert!(line.contains("maximum bytes exceeded"), "{line}");
    let nats = stack.unit("nats");
    assert!(
        !detail(&nats).contains("degraded"),
        "the disk has room: {nats}"
    );

    // quote-db is back: it takes its messages, the stream has room, the waiting are stored.
    assert!(stack.rosey(&["start", "quote-db"]).status.success());
    // All five, once each (nothing here fails a write: no command is offered twice).
    let found = stack.say_until("!quote find store-full", "5 quotes match", SLOW);
    assert!(found.contains("store-full"), "{found}");
    stack.wait_for_unit("bot", SLOW, "clean again", |bot| {
        !detail(bot).contains("degraded") && !detail(bot).contains("waiting")
    });
    wait_for_log_line(
        &stack,
        &["INFO", "[bot]", "message store accepts messages again"],
    );
}

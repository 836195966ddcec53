//! End to end: plugins packed, installed and run in real `rosey plugin-host` processes against
//! a real nats-server, answering commands and events published on NATS.

use std::time::Duration;

use rosey_core::{exit_codes, messaging::Source};
use rosey_e2e::host::{expect_lifecycle, expect_reply, PluginEnv};

const READY: Duration = Duration::from_secs(20);
const REPLY: Duration = Duration::from_secs(10);
const EXIT: Duration = Duration::from_secs(10);

fn installed_version(env: &PluginEnv, name: &str) -> String {
    let text = std::fs::read_to_string(env.home().join("data/registry.json")).expect("registry");
    let registry: serde_json::Value = serde_json::from_str(&text).expect("registry json");
    registry["plugins"][name]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} not in registry: {text}"))
        .to_owned()
}

/// The sum at the end of a dice-roller reply such as `alice rolled 2d6: [3, 5] = 8`.
fn roll_total(text: &str) -> i64 {
    text.rsplit('=')
        .next()
        .and_then(|total| total.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total in {text:?}"))
}

#[tokio::test]
async fn dice_roller_answers_a_roll_in_chat_and_by_pm() {
    let env = PluginEnv::new();
    env.install("dice-roller");
    let version = installed_version(&env, "dice-roller");
    let bus = env.client().await;
    let mut ready = bus.ready_watch("dice-roller").await;
    let mut replies = bus.replies().await;
    let _host = env.spawn_host("dice-roller", &version);
    let notice = expect_lifecycle(&mut ready, READY).await;
    assert_eq!(notice.version, version);

    let id = bus.command("roll", "2d6", "alice", Source::Chat).await;
    let reply = expect_reply(&mut replies, &id, REPLY).await;
    assert_eq!(reply.to, None, "a chat command is answered in chat");
    assert_eq!(reply.plugin, "dice-roller");
    let total = roll_total(&reply.text);
    assert!(
        (2..=12).contains(&total),
        "2d6 totalled {total}: {}",
        reply.text
    );

    let id = bus.command("roll", "1d1+4", "bob", Source::Pm).await;
    let reply = expect_reply(&mut replies, &id, REPLY).await;
    assert_eq!(
        reply.to.as_deref(),
        Some("bob"),
        "a PM command is answered by PM"
    );
    assert_eq!(roll_total(&reply.text), 5, "{}", reply.text);
}

#[tokio::test]
async fn commands_sent_while_no_host_runs_wait_in_the_stream() {
    let env = PluginEnv::new();
    env.install("dice-roller");
    let version = installed_version(&env, "dice-roller");
    let bus = env.client().await;
    let mut ready = bus.ready_watch("dice-roller").await;
    let mut replies = bus.replies().await;

    let mut host = env.spawn_host("dice-roller", &version);
    expect_lifecycle(&mut ready, READY).await;
    host.signal(libc::SIGTERM);
    let status = host.expect_exit(EXIT);
    assert_eq!(
        status.code(),
        Some(exit_codes::CLEAN),
        "graceful stop exits 0"
    );

    let ids = [
        bus.command("roll", "1d1", "carol", Source::Chat).await,
        bus.command("roll", "2d1", "carol", Source::Chat).await,
        bus.command("flip", "", "carol", Source::Chat).await,
    ];
    let _host = env.spawn_host("dice-roller", &version);
    expect_lifecycle(&mut ready, READY).await;
    for id in &ids {
        expect_reply(&mut replies, id, REPLY).await;
    }
}

#[tokio::test]
async fn markov_model_is_carried_over_a_host_restart() {
    let env = PluginEnv::new();
    env.install("markov-chat");
    let version = installed_version(&env, "markov-chat");
    let bus = env.client().await;
    let mut ready = bus.ready_watch("markov-chat").await;
    let mut stopped = bus
        .client
        .subscribe(rosey_core::messaging::stopped_subject("markov-chat"))
        .await
        .expect("subscribe stopped");
    let mut replies = bus.replies().await;

    let mut host = env.spawn_host("markov-chat", &version);
    expect_lifecycle(&mut ready, READY).await;
    for line in [
        "the quick brown fox jumps over the lazy dog",
        "the lazy cat sleeps all day long",
        "a quick brown dog runs in the park",
    ] {
        bus.chat("dave", line).await;
    }
    let id = bus.command("markov", "stats", "dave", Source::Chat).await;
    let before = expect_reply(&mut replies, &id, REPLY).await.text;
    assert!(
        before.contains("3 messages"),
        "the model learned three messages: {before}"
    );

    host.signal(libc::SIGTERM);
    expect_lifecycle(&mut stopped, EXIT).await;
    assert_eq!(host.expect_exit(EXIT).code(), Some(exit_codes::CLEAN));
    let handoff = env.home().join("data/plugins/markov-chat/handoff.state");
    assert!(
        handoff.exists(),
        "unload left the model for the next instance"
    );

    let _host = env.spawn_host("markov-chat", &version);
    expect_lifecycle(&mut ready, READY).await;
    let id = bus.command("markov", "stats", "dave", Source::Chat).await;
    let after = expect_reply(&mut replies, &id, REPLY).await.text;
    assert_eq!(after, before, "the new instance starts with the old model");
    assert!(
        !handoff.exists(),
        "the handed-over state is consumed once the new instance is ready"
    );
}

#[tokio::test]
async fn quotes_survive_a_host_restart_and_are_gone_after_remove() {
    let env = PluginEnv::new();
    env.install("quote-db");
    let version = installed_version(&env, "quote-db");
    let bus = env.client().await;
    let mut ready = bus.ready_watch("quote-db").await;
    let mut replies = bus.replies().await;

    let host = env.spawn_host("quote-db", &version);
    expect_lifecycle(&mut ready, READY).await;
    let id = bus
        .command(
            "quote",
            "add a stitch in time saves nine",
            "erin",
            Source::Chat,
        )
        .await;
    let added = expect_reply(&mut replies, &id, REPLY).await.text;
    assert!(added.contains('1'), "the first quote gets id 1: {added}");
    // Killed outright, not stopped: the quotes live in the key-value store, not in handed-over state.
    drop(host);

    let host = env.spawn_host("quote-db", &version);
    expect_lifecycle(&mut ready, READY).await;
    let id = bus.command("quote", "1", "erin", Source::Chat).await;
    let shown = expect_reply(&mut replies, &id, REPLY).await.text;
    assert!(shown.contains("a stitch in time saves nine"), "{shown}");
    drop(host);

    let storage = env.home().join("data/plugins/quote-db/storage");
    assert!(storage.join("kv.sqlite3").exists());
    env.rosey_ok(&["plugin", "remove", "quote-db", "--yes"]);
    assert!(!storage.exists(), "remove deletes the plugin's storage");

    env.install("quote-db");
    let _host = env.spawn_host("quote-db", &version);
    expect_lifecycle(&mut ready, READY).await;
    let id = bus.command("quote", "1", "erin", Source::Chat).await;
    let shown = expect_reply(&mut replies, &id, REPLY).await.text;
    assert!(
        !shown.contains("a stitch in time"),
        "a reinstalled plugin starts empty: {shown}"
    );
}

#[tokio::test]
async fn a_panicking_plugin_exits_with_the_panic_code_and_the_message_logged() {
    let env = PluginEnv::new();
    env.install("fixtures/chaos");
    let version = installed_version(&env, "chaos");
    let bus = env.client().await;
    let mut ready = bus.ready_watch("chaos").await;
    let mut replies = bus.replies().await;
    let mut host = env.spawn_host("chaos", &version);
    expect_lifecycle(&mut ready, READY).await;
    let id = bus.command("chaos", "ping", "frank", Source::Chat).await;
    assert_eq!(expect_reply(&mut replies, &id, REPLY).await.text, "pong");

    bus.command("chaos", "panic", "frank", Source::Chat).await;
    let status = host.expect_exit(EXIT);
    assert_eq!(
        status.code(),
        Some(exit_codes::PLUGIN_PANICKED),
        "{status:?}"
    );
    let log = env.plugin_log("chaos");
    assert!(
        log.contains("chaos: deliberate panic"),
        "panic message in the log:\n{log}"
    );
}

#[tokio::test]
async fn crashes_of_every_kind_end_the_host_with_their_own_status() {
    use std::os::unix::process::ExitStatusExt;
    let env = PluginEnv::new();
    env.install("fixtures/chaos");
    let version = installed_version(&env, "chaos");
    let bus = env.client().await;
    let mut ready = bus.ready_watch("chaos").await;
    // (command, expected exit code, expected signal)
    let cases = [
        ("abort", None, Some(libc::SIGABRT)),
        ("segfault", None, Some(libc::SIGSEGV)),
        ("exit", Some(42), None),
        ("oom", None, Some(libc::SIGABRT)),
    ];
    for (what, code, signal) in cases {
        let mut host = env.spawn_host("chaos", &version);
        expect_lifecycle(&mut ready, READY).await;
        bus.command("chaos", what, "gina", Source::Chat).await;
        let status = host.expect_exit(Duration::from_secs(30));
        assert_eq!(
            (status.code(), status.signal()),
            (code, signal),
            "chaos {what}: {status:?}"
        );
        // Each crash was mid-message, so the message would be redelivered to the next host and
        // crash it again; deleting the consumer drops it (the next host creates a fresh one).
        let stream = bus
            .js
            .get_stream(rosey_core::messaging::STREAM_NAME)
            .await
            .expect("stream");
        stream
            .delete_consumer(&rosey_core::messaging::consumer_name("chaos"))
            .await
            .expect("delete consumer");
    }
}

#[tokio::test]
async fn a_plugin_whose_load_fails_exits_with_the_load_code() {
    let env = PluginEnv::new();
    env.install("fixtures/fail-load");
    let version = installed_version(&env, "fail-load");
    let mut host = env.spawn_host("fail-load", &version);
    let status = host.expect_exit(EXIT);
    assert_eq!(status.code(), Some(exit_codes::LOAD_FAILED));
    let log = env.plugin_log("fail-load");
    assert!(log.contains("refusing to load on purpose"), "{log}");
}

#[test]
fn an_abi_mismatched_library_is_refused_with_one_line_naming_both_versions() {
    let env = PluginEnv::new();
    let archive = env.pack("fixtures/abi-mismatch");
    // Take the library straight out of the archive and check it in a throwaway host.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = std::fs::File::open(&archive).expect("open archive");
    let mut zip = zip::ZipArchive::new(file).expect("zip");
    zip.extract(dir.path()).expect("extract");
    let library = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "so"))
        .expect("library in archive");
    let output = env.rosey(&[
        "plugin-host",
        "check",
        "--library",
        library.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(exit_codes::LOAD_FAILED));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one line, not abi_stable's report:\n{stderr}"
    );
    assert!(
        lines[0].contains("v999") && lines[0].contains("9.9.9"),
        "names the library's versions: {}",
        lines[0]
    );
    assert!(
        lines[0].contains(&format!("v{}", rosey_abi::ABI_VERSION)),
        "names the host's version: {}",
        lines[0]
    );
}

#[test]
fn installing_an_abi_mismatched_archive_is_refused_with_the_one_line_message() {
    let env = PluginEnv::new();
    let archive = env.pack("fixtures/abi-mismatch");
    let output = env.rosey(&["plugin", "install", archive.to_str().expect("utf-8")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("v999") && stderr.contains("9.9.9"),
        "{stderr}"
    );
    assert!(
        !env.home().join("data/plugins/abi-mismatch").exists(),
        "nothing unpacked"
    );
}

#[tokio::test]
async fn heartbeats_go_on_while_a_handler_hangs_and_show_it_busy() {
    use futures::StreamExt;
    let env = PluginEnv::new();
    env.install("fixtures/chaos");
    let version = installed_version(&env, "chaos");
    let bus = env.client().await;
    let mut ready = bus.ready_watch("chaos").await;
    let mut beats = bus
        .client
        .subscribe(rosey_core::messaging::heartbeat_subject("chaos"))
        .await
        .expect("subscribe heartbeats");
    let _host = env.spawn_host("chaos", &version);
    expect_lifecycle(&mut ready, READY).await;
    let id = bus.command("chaos", "hang", "hank", Source::Chat).await;

    // The host beats every 100 ms; collect beats for a second of hanging.
    let mut busy_since = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while busy_since.len() < 8 {
        let message = tokio::time::timeout_at(deadline, beats.next())
            .await
            .expect("heartbeats stopped while the handler hung")
            .expect("subscription ended");
        let beat: rosey_core::messaging::Heartbeat =
            rosey_core::messaging::decode(&message.payload).expect("heartbeat");
        if let Some(busy) = beat.busy {
            assert_eq!(busy.what, "command chaos");
            assert_eq!(busy.message_id, id);
            busy_since.push(busy.since_ms);
        }
    }
    assert!(
        busy_since.windows(2).all(|pair| pair[0] == pair[1]),
        "one handler, busy since one moment: {busy_since:?}"
    );
}

#[tokio::test]
async fn sigterm_finishes_the_message_in_hand_before_unloading() {
    use futures::StreamExt;
    let env = PluginEnv::new();
    env.install("fixtures/chaos");
    let version = installed_version(&env, "chaos");
    let bus = env.client().await;
    let mut ready = bus.ready_watch("chaos").await;
    let mut replies = bus.replies().await;
    let mut beats = bus
        .client
        .subscribe(rosey_core::messaging::heartbeat_subject("chaos"))
        .await
        .expect("subscribe heartbeats");
    let mut host = env.spawn_host("chaos", &version);
    expect_lifecycle(&mut ready, READY).await;
    let id = bus.command("chaos", "slow 1500", "ivy", Source::Chat).await;
    // Wait until the handler is running, then ask the host to stop.
    loop {
        let message = tokio::time::timeout(REPLY, beats.next())
            .await
            .expect("heartbeat")
            .expect("subscription");
        let beat: rosey_core::messaging::Heartbeat =
            rosey_core::messaging::decode(&message.payload).expect("heartbeat");
        if beat.busy.is_some() {
            break;
        }
    }
    host.signal(libc::SIGTERM);
    let reply = expect_reply(&mut replies, &id, REPLY).await;
    assert_eq!(reply.text, "done after 1500 ms");
    assert_eq!(host.expect_exit(EXIT).code(), Some(exit_codes::CLEAN));

    // It was acked: a new host does not get it again.
    let _host = env.spawn_host("chaos", &version);
    expect_lifecycle(&mut ready, READY).await;
    let ping = bus.command("chaos", "ping", "ivy", Source::Chat).await;
    let next = expect_reply(&mut replies, &ping, REPLY).await;
    assert_eq!(next.text, "pong");
    let again = tokio::time::timeout(Duration::from_millis(500), replies.next()).await;
    assert!(again.is_err(), "nothing else was answered: {again:?}");
}

//! End to end: plugins packed, installed and run in real `rosey plugin-host` processes against
//! a real nats-server, answering commands and events published on NATS.

use std::{os::unix::process::ExitStatusExt, time::Duration};

use futures::StreamExt;
use rosey_core::{
    exit_codes,
    messaging::{self, Heartbeat, Source},
};
use rosey_e2e::host::{expect_lifecycle, expect_reply, PluginEnv};

const REPLY: Duration = Duration::from_secs(10);
const EXIT: Duration = Duration::from_secs(10);

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
    let mut dice = env.watch("dice-roller", "dice-roller").await;
    let _host = dice.start(&env).await;

    let reply = dice.ask("roll", "2d6", "alice", Source::Chat).await;
    assert_eq!(reply.to, None, "a chat command is answered in chat");
    assert_eq!(reply.plugin, "dice-roller");
    let total = roll_total(&reply.text);
    assert!(
        (2..=12).contains(&total),
        "2d6 totalled {total}: {}",
        reply.text
    );

    let reply = dice.ask("roll", "1d1+4", "bob", Source::Pm).await;
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
    let mut dice = env.watch("dice-roller", "dice-roller").await;
    let mut host = dice.start(&env).await;
    host.signal(libc::SIGTERM);
    let status = host.expect_exit(EXIT);
    assert_eq!(
        status.code(),
        Some(exit_codes::CLEAN),
        "graceful stop exits 0"
    );

    let ids = [
        dice.bus.command("roll", "1d1", "carol", Source::Chat).await,
        dice.bus.command("roll", "2d1", "carol", Source::Chat).await,
        dice.bus.command("flip", "", "carol", Source::Chat).await,
    ];
    let _host = dice.start(&env).await;
    for id in &ids {
        expect_reply(&mut dice.replies, id, REPLY).await;
    }
}

#[tokio::test]
async fn markov_model_is_carried_over_a_host_restart() {
    let env = PluginEnv::new();
    let mut markov = env.watch("markov-chat", "markov-chat").await;
    let mut stopped = markov
        .bus
        .client
        .subscribe(messaging::stopped_subject("markov-chat"))
        .await
        .expect("subscribe stopped");

    let mut host = markov.start(&env).await;
    for line in [
        "the quick brown fox jumps over the lazy dog",
        "the lazy cat sleeps all day long",
        "a quick brown dog runs in the park",
    ] {
        markov.bus.chat("dave", line).await;
    }
    let before = markov
        .ask("markov", "stats", "dave", Source::Chat)
        .await
        .text;
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

    let _host = markov.start(&env).await;
    let after = markov
        .ask("markov", "stats", "dave", Source::Chat)
        .await
        .text;
    assert_eq!(after, before, "the new instance starts with the old model");
    assert!(
        !handoff.exists(),
        "the handed-over state is consumed once the new instance is ready"
    );
}

#[tokio::test]
async fn quotes_survive_a_host_restart_and_are_gone_after_remove() {
    let env = PluginEnv::new();
    let mut quotes = env.watch("quote-db", "quote-db").await;

    let host = quotes.start(&env).await;
    let added = quotes
        .ask(
            "quote",
            "add a stitch in time saves nine",
            "erin",
            Source::Chat,
        )
        .await
        .text;
    assert!(added.contains("#1"), "the first quote gets id 1: {added}");
    // Killed outright, not stopped: quotes live in the key-value store, not in handed-over state.
    drop(host);

    let host = quotes.start(&env).await;
    let shown = quotes.ask("quote", "1", "erin", Source::Chat).await.text;
    assert!(shown.contains("a stitch in time saves nine"), "{shown}");
    drop(host);

    let storage = env.home().join("data/plugins/quote-db/storage");
    assert!(storage.join("kv.sqlite3").exists());
    env.rosey_ok(&["plugin", "remove", "quote-db", "--yes"]);
    assert!(!storage.exists(), "remove deletes the plugin's storage");

    env.install("quote-db");
    let _host = quotes.start(&env).await;
    let shown = quotes.ask("quote", "1", "erin", Source::Chat).await.text;
    assert!(
        !shown.contains("a stitch in time"),
        "a reinstalled plugin starts empty: {shown}"
    );
}

#[tokio::test]
async fn a_panicking_plugin_exits_with_the_panic_code_and_the_message_logged() {
    let env = PluginEnv::new();
    let mut chaos = env.watch("fixtures/chaos", "chaos").await;
    let mut host = chaos.start(&env).await;
    assert_eq!(
        chaos.ask("chaos", "ping", "frank", Source::Chat).await.text,
        "pong"
    );

    chaos
        .bus
        .command("chaos", "panic", "frank", Source::Chat)
        .await;
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
    let env = PluginEnv::new();
    let mut chaos = env.watch("fixtures/chaos", "chaos").await;
    // (command, expected exit code, expected signal)
    let cases = [
        ("abort", None, Some(libc::SIGABRT)),
        ("segfault", None, Some(libc::SIGSEGV)),
        ("exit", Some(42), None),
        ("oom", None, Some(libc::SIGABRT)),
    ];
    for (what, code, signal) in cases {
        let mut host = chaos.start(&env).await;
        chaos.bus.command("chaos", what, "gina", Source::Chat).await;
        let status = host.expect_exit(Duration::from_secs(30));
        assert_eq!(
            (status.code(), status.signal()),
            (code, signal),
            "chaos {what}: {status:?}"
        );
        // Each crash was mid-message, so the message would be redelivered to the next host and
        // crash it again; deleting the consumer drops it (the next host creates a fresh one).
        let stream = chaos
            .bus
            .js
            .get_stream(messaging::STREAM_NAME)
            .await
            .expect("stream");
        stream
            .delete_consumer(&messaging::consumer_name("chaos"))
            .await
            .expect("delete consumer");
    }
}

#[tokio::test]
async fn a_plugin_whose_load_fails_exits_with_the_load_code() {
    let env = PluginEnv::new();
    let version = env.install("fixtures/fail-load");
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
    let (name, bytes) = rosey_e2e::cli::read_zip(&archive)
        .into_iter()
        .find(|(name, _)| name.ends_with(".so"))
        .expect("library in archive");
    let library = dir.path().join(name);
    std::fs::write(&library, bytes).expect("write library");
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
        lines[0].contains(&format!("v{}", rosey_abi::ABI_VERSION))
            && lines[0].contains(rosey_abi::SDK_VERSION),
        "names the host's versions: {}",
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

/// Reads heartbeats until one satisfies `done`, returning the busy ones seen on the way.
async fn heartbeats_until(
    beats: &mut async_nats::Subscriber,
    mut done: impl FnMut(&Heartbeat) -> bool,
) -> Vec<Heartbeat> {
    let deadline = tokio::time::Instant::now() + REPLY;
    let mut seen = Vec::new();
    loop {
        let message = tokio::time::timeout_at(deadline, beats.next())
            .await
            .expect("heartbeats stopped")
            .expect("subscription ended");
        let beat: Heartbeat = messaging::decode(&message.payload).expect("heartbeat");
        let finished = done(&beat);
        seen.push(beat);
        if finished {
            return seen;
        }
    }
}

#[tokio::test]
async fn heartbeats_go_on_while_a_handler_hangs_and_show_it_busy() {
    let env = PluginEnv::new();
    let mut chaos = env.watch("fixtures/chaos", "chaos").await;
    let mut beats = chaos
        .bus
        .client
        .subscribe(messaging::heartbeat_subject("chaos"))
        .await
        .expect("subscribe heartbeats");
    let _host = chaos.start(&env).await;
    let id = chaos
        .bus
        .command("chaos", "hang", "hank", Source::Chat)
        .await;

    // The host beats every 100 ms: eight busy beats is most of a second of hanging.
    let mut busy = 0;
    let beats = heartbeats_until(&mut beats, |beat| {
        busy += usize::from(beat.busy.is_some());
        busy == 8
    })
    .await;
    let busy: Vec<_> = beats.iter().filter_map(|beat| beat.busy.as_ref()).collect();
    assert!(
        busy.iter()
            .all(|b| b.what == "command chaos" && b.message_id == id),
        "{busy:?}"
    );
    assert!(
        busy.windows(2)
            .all(|pair| pair[0].since_ms == pair[1].since_ms),
        "one handler, busy since one moment: {busy:?}"
    );
}

#[tokio::test]
async fn sigterm_finishes_the_message_in_hand_before_unloading() {
    let env = PluginEnv::new();
    let mut chaos = env.watch("fixtures/chaos", "chaos").await;
    let mut beats = chaos
        .bus
        .client
        .subscribe(messaging::heartbeat_subject("chaos"))
        .await
        .expect("subscribe heartbeats");
    let mut host = chaos.start(&env).await;
    let id = chaos
        .bus
        .command("chaos", "slow 1500", "ivy", Source::Chat)
        .await;
    heartbeats_until(&mut beats, |beat| beat.busy.is_some()).await;
    host.signal(libc::SIGTERM);
    let reply = expect_reply(&mut chaos.replies, &id, REPLY).await;
    assert_eq!(reply.text, "done after 1500 ms");
    assert_eq!(host.expect_exit(EXIT).code(), Some(exit_codes::CLEAN));

    // It was acked: a new host does not get it again.
    let _host = chaos.start(&env).await;
    assert_eq!(
        chaos.ask("chaos", "ping", "ivy", Source::Chat).await.text,
        "pong"
    );
    let again = tokio::time::timeout(Duration::from_millis(500), chaos.replies.next()).await;
    assert!(again.is_err(), "nothing else was answered: {again:?}");
}

#[tokio::test]
async fn a_host_that_loses_nats_hands_its_state_over_and_exits_with_the_nats_code() {
    let mut env = PluginEnv::new();
    let mut markov = env.watch("markov-chat", "markov-chat").await;
    let mut host = markov.start(&env).await;
    markov
        .bus
        .chat("jo", "state worth keeping across an outage")
        .await;
    let stats = markov.ask("markov", "stats", "jo", Source::Chat).await.text;
    assert!(
        stats.contains("1 messages") || stats.contains("1 message"),
        "{stats}"
    );

    env.nats.kill();
    // The test hosts give NATS 3 s to come back.
    let status = host.expect_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(exit_codes::NATS_LOST), "{status:?}");
    assert!(
        env.home()
            .join("data/plugins/markov-chat/handoff.state")
            .exists(),
        "the model was handed over before exiting"
    );
    let log = env.plugin_log("markov-chat");
    assert!(log.contains("NATS unreachable"), "{log}");
}

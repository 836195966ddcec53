//! End to end: plugins run in the plugin hosts of a real daemon (`rosey start`), fed by the
//! daemon over each host's private channel, answering commands and events published into the
//! stream of the stack's real nats-server; crashes of every kind, hangs, reloads, the load and
//! ABI checks, and what a host process may hold open.

use std::time::{Duration, Instant};

use rosey_core::{
    exit_codes,
    logs::{parse_line, Level, ParsedLine},
    messaging::Source,
};
use rosey_e2e::{
    host::{self, Bus},
    stack::{TestStack, TEST_CONFIG},
};

/// Upper bound for a reply, a restart or a log line (generous: tests run in parallel).
const SLOW: Duration = Duration::from_secs(30);
/// Upper bound for a reply from a running plugin.
const REPLY: Duration = Duration::from_secs(10);

/// The sum at the end of a dice-roller reply such as `alice rolled 2d6: [3, 5] = 8`.
fn roll_total(text: &str) -> i64 {
    text.rsplit('=')
        .next()
        .and_then(|total| total.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total in {text:?}"))
}

fn running(unit: &serde_json::Value) -> bool {
    unit["state"] == "running"
}

fn restarts(unit: &serde_json::Value) -> u64 {
    unit["restarts"].as_u64().unwrap_or(0)
}

/// Runs `rosey <args>` against the stack's home on a blocking thread (so the test can watch
/// NATS meanwhile); the output, stdout then stderr, and whether it succeeded.
fn rosey_in_background(
    stack: &TestStack,
    args: &[&str],
) -> tokio::task::JoinHandle<(bool, String)> {
    let home = stack.home.path();
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(rosey_e2e::cli::rosey_bin())
            .arg("--home")
            .arg(home)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run rosey");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dice_roller_answers_a_roll_in_chat_and_by_pm() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let bus = Bus::of(&stack).await;

    let reply = bus.ask("roll", "2d6", "alice", Source::Chat).await;
    assert_eq!(reply.to, None, "a chat command is answered in chat");
    assert_eq!(reply.plugin, "dice-roller");
    let total = roll_total(&reply.text);
    assert!(
        (2..=12).contains(&total),
        "2d6 totalled {total}: {}",
        reply.text
    );

    let reply = bus.ask("roll", "1d1+4", "bob", Source::Pm).await;
    assert_eq!(
        reply.to.as_deref(),
        Some("bob"),
        "a PM command is answered by PM"
    );
    assert_eq!(roll_total(&reply.text), 5, "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_sent_while_the_plugin_is_stopped_wait_in_the_stream_and_are_answered_after_start()
{
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    assert!(bus
        .ask("roll", "1d1", "carol", Source::Chat)
        .await
        .text
        .ends_with("= 1"));

    stack.home.run_ok(&["stop", "dice-roller"]);
    assert_eq!(stack.unit("dice-roller")["state"], "stopped");
    let ids = [
        bus.command("roll", "1d1", "carol", Source::Chat).await,
        bus.command("roll", "2d1", "carol", Source::Chat).await,
        bus.command("flip", "", "carol", Source::Chat).await,
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        assert!(
            bus.replies_to(id).is_empty(),
            "{id} was answered while the plugin was stopped"
        );
    }

    stack.home.run_ok(&["start", "dice-roller"]);
    let texts = [
        bus.reply_to(&ids[0], REPLY).await.0.text,
        bus.reply_to(&ids[1], REPLY).await.0.text,
        bus.reply_to(&ids[2], REPLY).await.0.text,
    ];
    assert_eq!(roll_total(&texts[0]), 1, "{}", texts[0]);
    assert_eq!(roll_total(&texts[1]), 2, "{}", texts[1]);
    assert!(texts[2].contains("flipped a coin"), "{}", texts[2]);
    for id in &ids {
        assert_eq!(bus.replies_to(id).len(), 1, "{id} answered once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markov_model_is_carried_over_a_reload_and_a_stop_and_the_handoff_file_is_consumed() {
    let stack = TestStack::with_plugins(&["markov-chat"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    for line in [
        "the quick brown fox jumps over the lazy dog",
        "the lazy cat sleeps all day long",
        "a quick brown dog runs in the park",
    ] {
        bus.chat("dave", line).await;
    }
    let before = bus.ask("markov", "stats", "dave", Source::Chat).await.text;
    assert!(
        before.contains("from 3 messages"),
        "the model learned three messages: {before}"
    );
    let handoff = stack
        .home
        .path()
        .join("data/plugins/markov-chat/handoff.state");

    // A reload: the old host hands its model to the new one.
    let old_pid = host::host_pid(&stack, "markov-chat");
    let mark = bus.mark();
    stack.home.run_ok(&["plugin", "reload", "markov-chat"]);
    let (stopped_at, stopped) = bus.stopped_after("markov-chat", mark, REPLY).await;
    assert_eq!(stopped.pid, old_pid, "the old host announced its stop");
    let (_, ready) = bus.ready_after("markov-chat", stopped_at, REPLY).await;
    assert_ne!(ready.pid, old_pid, "a new host is ready");
    assert_eq!(host::host_pid(&stack, "markov-chat"), ready.pid);
    assert!(
        !handoff.exists(),
        "the handed-over state is consumed once the new instance is ready"
    );
    let after = bus.ask("markov", "stats", "dave", Source::Chat).await.text;
    assert_eq!(after, before, "the new instance starts with the old model");

    // A stop leaves the model on disk; the next start takes it and removes the file.
    stack.home.run_ok(&["stop", "markov-chat"]);
    assert!(
        handoff.exists(),
        "the stopped plugin's model waits on disk for the next instance"
    );
    let mark = bus.mark();
    stack.home.run_ok(&["start", "markov-chat"]);
    bus.ready_after("markov-chat", mark, REPLY).await;
    assert!(
        !handoff.exists(),
        "the handed-over state is consumed once the new instance is ready"
    );
    let after = bus.ask("markov", "stats", "dave", Source::Chat).await.text;
    assert_eq!(after, before, "the restarted instance has the old model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_survive_a_reload_and_a_killed_host_and_are_gone_after_remove() {
    let stack = TestStack::with_plugins(&["quote-db"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    let added = bus
        .ask(
            "quote",
            "add a stitch in time saves nine",
            "erin",
            Source::Chat,
        )
        .await
        .text;
    assert!(added.contains("#1"), "the first quote gets id 1: {added}");

    stack.home.run_ok(&["plugin", "reload", "quote-db"]);
    let shown = bus.ask("quote", "1", "erin", Source::Chat).await.text;
    assert!(
        shown.contains("a stitch in time saves nine"),
        "after a reload: {shown}"
    );

    // Killed outright, no unload: quotes live in the key-value store, not in handed-over state.
    let pid = host::host_pid(&stack, "quote-db");
    host::signal(pid, libc::SIGKILL);
    stack.wait_for_unit("quote-db", SLOW, "restarted", |unit| {
        running(unit) && restarts(unit) >= 1
    });
    let shown = bus.ask("quote", "1", "erin", Source::Chat).await.text;
    assert!(
        shown.contains("a stitch in time saves nine"),
        "after the host was killed: {shown}"
    );

    let storage = stack.home.path().join("data/plugins/quote-db/storage");
    assert!(storage.join("kv.sqlite3").exists());
    stack
        .home
        .run_ok(&["plugin", "remove", "quote-db", "--yes"]);
    assert!(!storage.exists(), "remove deletes the plugin's storage");

    let archive = stack.home.pack("quote-db");
    stack
        .home
        .run_ok(&["plugin", "install", archive.to_str().expect("utf-8 path")]);
    let shown = bus.ask("quote", "1", "erin", Source::Chat).await.text;
    assert!(
        !shown.contains("a stitch in time"),
        "a reinstalled plugin starts empty: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_plugin_s_host_exits_with_the_panic_code_and_the_message_is_logged() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    assert_eq!(
        bus.ask("chaos", "ping", "frank", Source::Chat).await.text,
        "pong"
    );
    let pid = host::host_pid(&stack, "chaos");

    bus.command("chaos", "panic", "frank", Source::Chat).await;
    host::wait_until_dead(pid, SLOW);
    let unit = stack.wait_for_unit("chaos", SLOW, "restarted", |unit| restarts(unit) >= 1);
    let panicked = format!(
        "exit code {} ({})",
        exit_codes::PLUGIN_PANICKED,
        exit_codes::describe(exit_codes::PLUGIN_PANICKED)
    );
    assert!(
        unit["last_exit"].as_str().unwrap_or("").contains(&panicked),
        "the host exited with the panic code: {unit}"
    );
    let log = host::wait_for_log(&stack, "chaos", &panicked, SLOW);
    assert!(
        log.contains("chaos: deliberate panic"),
        "panic message in the log:\n{log}"
    );
}

/// Where the chaos fixture's `!chaos panic` panics, as a panic location ends:
/// `src/lib.rs:<line>:<column>` (read from its source, so an edit there does not break this).
fn chaos_panic_location() -> String {
    let path = rosey_e2e::cli::workspace_root().join("plugins/fixtures/chaos/src/lib.rs");
    let source = std::fs::read_to_string(&path).expect("the chaos fixture's source");
    let (line, column) = source
        .lines()
        .enumerate()
        .find_map(|(index, text)| {
            let column = text.find("Action::Panic => panic!(")? + "Action::Panic => ".len();
            Some((index + 1, column + 1))
        })
        .expect("chaos panics on `Action::Panic => panic!(…)`");
    format!("src/lib.rs:{line}:{column}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_panic_is_an_error_with_its_location_its_backtrace_is_debug_and_stderr_is_quiet()
{
    // The operator's switch for plugins' debug lines.
    let config = format!("{TEST_CONFIG}logs:\n  plugins: debug\n");
    let stack = TestStack::with_config(&["fixtures/chaos"], &config);
    stack.start();
    let bus = Bus::of(&stack).await;
    assert_eq!(
        bus.ask("chaos", "ping", "olga", Source::Chat).await.text,
        "pong"
    );
    let pid = host::host_pid(&stack, "chaos");
    bus.command("chaos", "panic", "olga", Source::Chat).await;
    host::wait_until_dead(pid, SLOW);
    host::wait_for_log(&stack, "chaos", "plugin panicked on", SLOW);
    let log = host::wait_for_log(&stack, "chaos", "backtrace of the panic at ", SLOW);
    let lines: Vec<ParsedLine<'_>> = log.lines().filter_map(parse_line).collect();
    let location = chaos_panic_location();

    // The failure the host reported, at ERROR: the panic message and where it panicked.
    let failed_at = lines
        .iter()
        .position(|line| line.message.contains("plugin panicked on"))
        .unwrap_or_else(|| panic!("no failure line in the log:\n{log}"));
    let failure = &lines[failed_at];
    assert_eq!(failure.level, Level::Error, "{failure:?}");
    assert!(
        failure.message.contains("chaos: deliberate panic (at ")
            && failure.message.ends_with(&format!("{location})")),
        "the panic message and its location {location}: {failure:?}"
    );

    // The backtrace follows, at DEBUG, as the plugin's own lines: a heading naming the
    // location, then the frames, the handler's among them.
    let heading = lines
        .iter()
        .position(|line| line.message.starts_with("backtrace of the panic at "))
        .unwrap_or_else(|| panic!("no backtrace in the log:\n{log}"));
    assert!(
        heading > failed_at,
        "the backtrace comes after the failure:\n{log}"
    );
    let heading_line = &lines[heading];
    assert_eq!(
        (heading_line.level, heading_line.tag),
        (Level::Debug, "chaos"),
        "{heading_line:?}"
    );
    assert!(
        heading_line.message.ends_with(&format!("{location}:")),
        "{heading_line:?}"
    );
    let frames: Vec<&str> = lines[heading + 1..]
        .iter()
        .take_while(|line| line.level == Level::Debug && line.tag == "chaos")
        .map(|line| line.message)
        .collect();
    assert!(
        frames.iter().any(|frame| frame.contains("chaos::")),
        "the chaos handler's frame is in the backtrace:\n{log}"
    );

    // Nothing of std's own panic report reached the host's stderr (logged at INFO).
    assert!(
        !log.contains("panicked at"),
        "std's panic hook printed on the host's stderr:\n{log}"
    );
}

/// `rosey.yaml` for the crash tests: plugins restart quickly and often, a message a host died
/// on is dead-lettered at once (not handed to the next host), and the ack wait is long, so a
/// prompt answer cannot come from a JetStream redelivery.
const CRASH_CONFIG: &str = "\
nats:
  port: 0
web:
  port: 0
plugin_host:
  heartbeat_ms: 200
  heartbeat_timeout_ms: 3000
  ready_timeout_ms: 20000
  ack_wait_ms: 30000
supervision:
  services: { backoff_initial_ms: 50, backoff_max_ms: 500, shutdown_timeout_ms: 5000 }
  plugins: { max_restarts: 50, within_secs: 60, backoff_initial_ms: 10, backoff_max_ms: 100, shutdown_timeout_ms: 5000 }
plugins:
  chaos: { max_attempts: 1 }
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_of_every_kind_are_reported_with_their_own_exit_status() {
    let stack = TestStack::with_config(&["fixtures/chaos"], CRASH_CONFIG);
    stack.start();
    let bus = Bus::of(&stack).await;
    let cases = [
        ("abort", "signal 6 (SIGABRT)".to_owned()),
        ("segfault", "signal 11 (SIGSEGV)".to_owned()),
        ("exit", "exit code 42".to_owned()),
        (
            "panic",
            format!(
                "exit code {} ({})",
                exit_codes::PLUGIN_PANICKED,
                exit_codes::describe(exit_codes::PLUGIN_PANICKED)
            ),
        ),
        // The manifest's memory_mb limit makes the allocation fail, and Rust aborts.
        ("oom", "signal 6 (SIGABRT)".to_owned()),
    ];
    for (what, expected) in &cases {
        let before = stack.wait_for_unit("chaos", SLOW, "running", running);
        let pid = host::host_pid(&stack, "chaos");
        // A user of its own per crash: two crashes from one user would hold them back.
        bus.command("chaos", what, &format!("gina-{what}"), Source::Chat)
            .await;
        host::wait_until_dead(pid, SLOW);
        let unit = stack.wait_for_unit("chaos", SLOW, "restarted", |unit| {
            running(unit) && restarts(unit) > restarts(&before)
        });
        let last_exit = unit["last_exit"].as_str().unwrap_or("");
        assert!(
            last_exit.contains(expected.as_str()),
            "chaos {what}: status says {last_exit:?}, not {expected:?}"
        );
        host::wait_for_log(
            &stack,
            "chaos",
            &format!("plugin chaos exited: {last_exit}"),
            SLOW,
        );
    }
    // Each crash command was dead-lettered, not handed to the next host to crash it again.
    let dead: Vec<String> = bus
        .dead_letters("chaos")
        .await
        .into_iter()
        .map(|command| command.args)
        .collect();
    let all: Vec<&str> = cases.iter().map(|(what, _)| *what).collect();
    assert_eq!(dead, all);
    assert_eq!(
        restarts(&stack.unit("chaos")),
        cases.len() as u64,
        "one restart per crash"
    );
}

#[test]
fn a_plugin_whose_load_fails_fails_its_start_with_the_load_code_named() {
    let stack = TestStack::with_plugins(&["fixtures/fail-load"]);
    let out = stack.start();
    let load_failed = format!(
        "exit code {} ({})",
        exit_codes::LOAD_FAILED,
        exit_codes::describe(exit_codes::LOAD_FAILED)
    );
    let line = out
        .lines()
        .find(|line| line.contains("Plugin fail-load failed"))
        .unwrap_or_else(|| panic!("start names the failed plugin:\n{out}"));
    assert!(
        line.contains("refusing to load on purpose") && line.contains(&load_failed),
        "the plugin's own error and the load code: {line}"
    );
    // The start does not claim what did not happen: no `Started all`, the plugin named.
    let last = out
        .lines()
        .rfind(|line| line.contains("Started"))
        .unwrap_or("");
    assert!(
        last.contains("Started, except 1 plugin not running: fail-load")
            && !out.contains("Started all"),
        "{out}"
    );
    let unit = stack.wait_for_unit("fail-load", SLOW, "crashed", |unit| {
        unit["state"] == "crashed"
    });
    assert!(unit["pid"].is_null(), "{unit}");
    let last_exit = unit["last_exit"].as_str().unwrap_or("");
    assert!(
        last_exit.contains("refusing to load on purpose") && last_exit.contains(&load_failed),
        "{unit}"
    );
    let log = host::plugin_log(&stack, "fail-load");
    assert!(log.contains(&load_failed), "{log}");
    assert!(
        running(&stack.unit("bot")) && running(&stack.unit("nats")),
        "the rest of the stack runs"
    );
}

#[test]
fn an_abi_mismatched_library_is_refused_with_one_line_naming_both_versions() {
    let home = rosey_e2e::cli::TempHome::new();
    let archive = home.pack("fixtures/abi-mismatch");
    // Take the library straight out of the archive and check it in a throwaway host.
    let (name, bytes) = rosey_e2e::cli::read_zip(&archive)
        .into_iter()
        .find(|(name, _)| name.ends_with(".so"))
        .expect("library in archive");
    let library = home.scratch().join(name);
    std::fs::write(&library, bytes).expect("write library");
    let output = home.run(&[
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
    let home = rosey_e2e::cli::TempHome::new();
    let archive = home.pack("fixtures/abi-mismatch");
    let output = home.run(&["plugin", "install", archive.to_str().expect("utf-8")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("v999") && stderr.contains("9.9.9"),
        "{stderr}"
    );
    assert!(
        !home.path().join("data/plugins/abi-mismatch").exists(),
        "nothing unpacked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_go_on_while_a_handler_hangs_showing_it_busy_until_the_deadline_kills_it() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    let pid = host::host_pid(&stack, "chaos");
    let mark = bus.mark();
    let id = bus.command("chaos", "hang", "hank", Source::Chat).await;

    // Heartbeats come every 200 ms: five busy ones is a second of hanging, well within the
    // chaos manifest's 2 s handler deadline.
    let mut busy = 0;
    bus.wait_for(mark, REPLY, "five busy heartbeats", |seen| {
        let beat = host::as_heartbeat(seen, "chaos")?;
        busy += usize::from(beat.busy.is_some());
        (busy >= 5).then_some(())
    })
    .await;
    let beats = bus.heartbeats_since("chaos", mark);
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
    assert!(
        beats.iter().all(|beat| beat.pid == pid),
        "the beats are the hanging host's"
    );

    // The handler deadline kills the host.
    host::wait_until_dead(pid, REPLY);
    let unit = stack.wait_for_unit("chaos", SLOW, "restarted", |unit| restarts(unit) >= 1);
    let last_exit = unit["last_exit"].as_str().unwrap_or("");
    assert!(
        last_exit.contains(&format!("(message {id}) ran past 2s")),
        "killed for its deadline: {unit}"
    );
    assert!(bus.replies_to(&id).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_during_a_slow_handler_finishes_that_message_before_the_old_host_unloads() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    let old_pid = host::host_pid(&stack, "chaos");
    let mark = bus.mark();
    let id = bus.command("chaos", "slow 1500", "ivy", Source::Chat).await;
    bus.wait_for(mark, REPLY, "the slow handler running", |seen| {
        host::as_heartbeat(seen, "chaos")?
            .busy
            .filter(|busy| busy.message_id == id)
    })
    .await;

    let reload = rosey_in_background(&stack, &["plugin", "reload", "chaos"]);
    let (replied_at, reply) = bus
        .wait_for(mark, REPLY, "the slow reply", |seen| {
            host::as_reply_to(seen, &id)
        })
        .await;
    assert_eq!(reply.text, "done after 1500 ms");
    let (stopped_at, stopped) = bus.stopped_after("chaos", mark, SLOW).await;
    assert_eq!(stopped.pid, old_pid);
    assert!(
        replied_at < stopped_at,
        "the old host answered before it unloaded"
    );
    let (_, ready) = bus.ready_after("chaos", stopped_at, SLOW).await;
    assert_ne!(ready.pid, old_pid, "a new host serves");
    let (ok, text) = reload.await.expect("reload");
    assert!(ok, "{text}");

    // It was acked: the new host does not get it again.
    assert_eq!(
        bus.ask("chaos", "ping", "ivy", Source::Chat).await.text,
        "pong"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bus.replies_to(&id).len(), 1, "answered once");
    let handled = host::plugin_log(&stack, "chaos")
        .matches("Slow(1500) requested")
        .count();
    assert_eq!(handled, 1, "handled once");
}

/// What a crash test does to the chaos host.
#[derive(Clone, Copy)]
enum Crash {
    /// Sends `!chaos <this>`: the host dies handling it.
    Command(&'static str),
    /// Kills the idle host with SIGKILL.
    KillIdle,
    /// Sends `!chaos slow 3000` and kills the host with SIGKILL while it handles it.
    KillDuringHandler,
}

/// A `!chaos ping` published into the stream the moment the chaos host dies is answered by the
/// next host within 10 s, though the ack wait is 30 s: the message never sat in a dead host's
/// hands, and the one the host died on is dead-lettered (max_attempts 1), not retried. Each
/// reply comes exactly once.
async fn a_ping_at_the_crash_is_answered_at_once_by_the_next_host(crash: Crash) {
    let stack = TestStack::with_config(&["fixtures/chaos"], CRASH_CONFIG);
    stack.start();
    let bus = Bus::of(&stack).await;
    assert_eq!(
        bus.ask("chaos", "ping", "kit", Source::Chat).await.text,
        "pong"
    );
    let old_pid = host::host_pid(&stack, "chaos");
    let mark = bus.mark();

    let (crash_id, ping_id, sent) = match crash {
        Crash::Command(what) => {
            let crash_id = bus.command("chaos", what, "kit", Source::Chat).await;
            let ping_id = bus.command("chaos", "ping", "kit", Source::Chat).await;
            (Some(crash_id), ping_id, Instant::now())
        }
        Crash::KillIdle => {
            host::signal(old_pid, libc::SIGKILL);
            // Dead before the ping is published, so it cannot be in the dying host's hands.
            host::wait_until_dead(old_pid, REPLY);
            let ping_id = bus.command("chaos", "ping", "kit", Source::Chat).await;
            (None, ping_id, Instant::now())
        }
        Crash::KillDuringHandler => {
            let crash_id = bus.command("chaos", "slow 3000", "kit", Source::Chat).await;
            bus.wait_for(mark, REPLY, "the slow handler running", |seen| {
                host::as_heartbeat(seen, "chaos")?
                    .busy
                    .filter(|busy| busy.message_id == crash_id)
            })
            .await;
            let ping_id = bus.command("chaos", "ping", "kit", Source::Chat).await;
            let sent = Instant::now();
            host::signal(old_pid, libc::SIGKILL);
            (Some(crash_id), ping_id, sent)
        }
    };

    let (pong, answered) = bus.reply_to(&ping_id, SLOW).await;
    assert_eq!(pong.text, "pong");
    let took = answered.duration_since(sent);
    eprintln!("the ping was answered {took:?} after it was published");
    assert!(
        took < Duration::from_secs(10),
        "the ping took {took:?} (the ack wait is 30 s)"
    );
    let (_, ready) = bus.ready_after("chaos", mark, REPLY).await;
    assert_ne!(ready.pid, old_pid, "a new host came up");
    assert_ne!(
        host::host_pid(&stack, "chaos"),
        old_pid,
        "the next host answered"
    );

    if let Some(crash_id) = &crash_id {
        let unit = stack.wait_for_unit("chaos", SLOW, "showing a dead letter", |unit| {
            unit["dead_letters"] == 1
        });
        assert!(restarts(&unit) >= 1, "{unit}");
        let dead = bus.dead_letters("chaos").await;
        let ids: Vec<&str> = dead.iter().map(|command| command.id.as_str()).collect();
        assert_eq!(
            ids,
            [crash_id.as_str()],
            "the crash command is dead-lettered"
        );
        // Its sender is told once that it failed, and gets no other answer.
        let (told, _) = bus.reply_to(crash_id, SLOW).await;
        assert!(told.text.contains("failed"), "{told:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            bus.replies_to(crash_id).len(),
            1,
            "{crash_id} answered again"
        );
    } else {
        assert!(bus.dead_letters("chaos").await.is_empty());
        assert_eq!(stack.unit("chaos")["dead_letters"], 0);
    }
    // Nothing more comes for the ping, say after another ping went through.
    assert_eq!(
        bus.ask("chaos", "ping", "kit", Source::Chat).await.text,
        "pong"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        bus.replies_to(&ping_id).len(),
        1,
        "the ping was answered once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_sent_as_a_handler_aborts_is_answered_by_the_next_host_within_10s() {
    a_ping_at_the_crash_is_answered_at_once_by_the_next_host(Crash::Command("abort")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_sent_as_a_handler_segfaults_is_answered_by_the_next_host_within_10s() {
    a_ping_at_the_crash_is_answered_at_once_by_the_next_host(Crash::Command("segfault")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_sent_as_a_handler_panics_is_answered_by_the_next_host_within_10s() {
    a_ping_at_the_crash_is_answered_at_once_by_the_next_host(Crash::Command("panic")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_sent_as_an_idle_host_is_killed_is_answered_by_the_next_host_within_10s() {
    a_ping_at_the_crash_is_answered_at_once_by_the_next_host(Crash::KillIdle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_sent_as_a_host_is_killed_mid_handler_is_answered_by_the_next_host_within_10s() {
    a_ping_at_the_crash_is_answered_at_once_by_the_next_host(Crash::KillDuringHandler).await;
}

/// Checks that process `pid` holds exactly two sockets, Unix ones (its channel and its
/// service channel), and no TCP or UDP socket.
fn assert_only_the_channel_socket(pid: u32, what: &str) {
    let sockets = host::socket_inodes(pid);
    assert_eq!(
        sockets.len(),
        2,
        "{what} (pid {pid}) holds exactly two sockets, its channel and its service channel: {sockets:?}"
    );
    let unix = host::net_table_inodes("unix");
    for inode in &sockets {
        assert!(
            unix.contains(inode),
            "{what}'s socket {inode} is a Unix socket"
        );
        for table in ["tcp", "tcp6", "udp", "udp6"] {
            assert!(
                !host::net_table_inodes(table).contains(inode),
                "{what}'s socket {inode} is in /proc/net/{table}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_host_and_a_spare_hold_no_network_socket_only_their_channel() {
    let stack = TestStack::with_plugins(&["quote-db"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    // The check can see a network socket: the daemon's NATS connections are TCP ones.
    let daemon = stack.daemon_pid().expect("daemon pid");
    let tcp: std::collections::HashSet<u64> = ["tcp", "tcp6"]
        .iter()
        .flat_map(|table| host::net_table_inodes(table))
        .collect();
    assert!(
        host::socket_inodes(daemon)
            .iter()
            .any(|inode| tcp.contains(inode)),
        "the daemon's TCP sockets are found"
    );
    // After some work, with the key-value store open.
    let added = bus
        .ask("quote", "add no sockets here", "lee", Source::Chat)
        .await
        .text;
    assert!(added.contains("#1"), "{added}");
    let pid = host::host_pid(&stack, "quote-db");
    assert!(host::is_plugin_host(pid), "{}", host::cmdline(pid));
    assert_only_the_channel_socket(pid, "the quote-db host");

    let deadline = Instant::now() + SLOW;
    let spare = loop {
        if let Some(spare) = host::spare_hosts(&stack).first() {
            break *spare;
        }
        assert!(Instant::now() < deadline, "no warm spare host came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(spare, pid);
    assert_only_the_channel_socket(spare, "the idle spare host");
}

/// The stream keeps a message only for consumers that exist when it is published: a plugin
/// counts as started only once its durable consumer does, so a command sent the moment
/// `rosey start` returns is never dropped.
#[tokio::test]
async fn a_started_plugin_s_consumer_exists_before_rosey_start_returns() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let client = stack.nats_client(rosey_core::bus::BusUser::Daemon).await;
    let js = async_nats::jetstream::new(client);
    let stream = js
        .get_stream(rosey_core::messaging::STREAM_NAME)
        .await
        .expect("the ROSEY stream exists");
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_consumer(&rosey_core::messaging::consumer_name("dice-roller"))
        .await
        .expect("dice-roller's consumer exists as soon as the stack is started");
    let info = consumer.info().await.expect("consumer info");
    assert!(
        info.config
            .filter_subjects
            .contains(&rosey_core::messaging::command_subject("roll")),
        "{:?}",
        info.config.filter_subjects
    );
}

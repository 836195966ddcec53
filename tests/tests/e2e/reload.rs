//! End to end: plugin operations on a running bot (hot reload), against the real daemon, real
//! plugin hosts and a real nats-server.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::StreamExt;
use rosey_core::{
    bus::BusUser,
    messaging::{self, ChatAction, CommandMessage, Source, SCHEMA_VERSION},
};
use rosey_e2e::stack::{TestStack, TEST_CONFIG};

/// Publishes `roll 1d1` commands at `per_second` for `duration`, returning their ids.
async fn steady_load(
    js: async_nats::jetstream::Context,
    per_second: u64,
    duration: Duration,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
    let end = Instant::now() + duration;
    let mut acks = Vec::new();
    while Instant::now() < end {
        ticks.tick().await;
        let id = format!("load-{}", ids.len());
        let command = CommandMessage {
            v: SCHEMA_VERSION,
            id: id.clone(),
            command: "roll".to_owned(),
            args: "1d1".to_owned(),
            user: "load".to_owned(),
            channel: "test".to_owned(),
            source: Source::Chat,
            time_ms: messaging::now_ms(),
            rank: None,
        };
        // As the router publishes: with the id the stream and the plugin's door know it by.
        let publish = async_nats::jetstream::message::PublishMessage::build()
            .payload(messaging::encode(&command).into())
            .message_id(messaging::command_msg_id(&id));
        let ack = js
            .send_publish(messaging::command_subject("roll"), publish)
            .await
            .expect("publish");
        acks.push(ack);
        ids.push(id);
    }
    for ack in acks {
        ack.await.expect("the stream stored the command");
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_lose_and_duplicate_nothing() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let client = stack.nats_client(BusUser::Daemon).await;
    let mut replies = client
        .subscribe(messaging::CHAT_ACTION_SUBJECT)
        .await
        .expect("subscribe");
    let counts: std::sync::Arc<std::sync::Mutex<HashMap<String, u32>>> = Default::default();
    let counter = {
        let counts = counts.clone();
        tokio::spawn(async move {
            while let Some(message) = replies.next().await {
                if let Ok(action) = messaging::decode::<ChatAction>(&message.payload) {
                    if let Some(id) = action.in_reply_to {
                        *counts.lock().expect("counts").entry(id).or_default() += 1;
                    }
                }
            }
        })
    };
    let load = tokio::spawn(steady_load(
        async_nats::jetstream::new(client.clone()),
        500,
        Duration::from_secs(4),
    ));
    let home = stack.home.path();
    let reloads = tokio::task::spawn_blocking(move || {
        let mut done = 0;
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..6 {
            let started = Instant::now();
            let out = std::process::Command::new(rosey_e2e::cli::rosey_bin())
                .arg("--home")
                .arg(&home)
                .args(["plugin", "reload", "dice-roller"])
                .output()
                .expect("rosey plugin reload");
            assert!(out.status.success(), "{out:?}");
            eprintln!(
                "reload took {:?}: {}",
                started.elapsed(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
            done += 1;
            std::thread::sleep(Duration::from_millis(300));
        }
        done
    });
    let ids = load.await.expect("load task");
    assert_eq!(reloads.await.expect("reloads"), 6);
    assert!(ids.len() >= 1500, "the load ran: {} commands", ids.len());

    // Every command is answered exactly once (allowing for a redelivery's ack wait).
    let waiting_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answered = {
            let counts = counts.lock().expect("counts");
            ids.iter().filter(|id| counts.contains_key(*id)).count()
        };
        if answered == ids.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "all answered {:?} after the load ended",
        waiting_since.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    counter.abort();
    let counts = counts.lock().expect("counts");
    let lost: Vec<&String> = ids.iter().filter(|id| !counts.contains_key(*id)).collect();
    let duplicated: Vec<(&String, &u32)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        lost.is_empty(),
        "{} of {} lost, e.g. {:?}",
        lost.len(),
        ids.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(
        duplicated.is_empty(),
        "{} duplicated, e.g. {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(5)]
    );
    let unit = stack.unit("dice-roller");
    assert_eq!(unit["restarts"], 0, "reloads are not crashes: {unit}");
}

fn out_text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn install_on_a_running_bot_loads_the_plugin_at_once() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let archive = stack.home.pack("quote-db");
    let out = stack.rosey(&["plugin", "install", archive.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{out:?}");
    let text = out_text(&out);
    assert!(
        text.contains("✓ Plugin quote-db loaded successfully (hot reload"),
        "{text}"
    );
    let unit = stack.unit("quote-db");
    assert_eq!(unit["state"], "running", "{unit}");
    assert!(stack.say("!quote add hot off the press").contains("#1"));
    assert!(
        stack.say("!roll 1d1").contains("= 1"),
        "the rest kept running"
    );
    let nats = stack.unit("nats");
    assert_eq!(nats["restarts"], 0);
}

#[test]
fn update_carries_the_state_over_to_the_new_version() {
    let stack = TestStack::with_plugins(&["markov-chat"]);
    stack.start();
    for line in ["one fish two fish", "red fish blue fish"] {
        let _ = stack.rosey(&["say", line, "--timeout", "0.2"]);
    }
    let before = stack.say_until("!markov stats", "2 messages", SLOW_REPLY);
    let v1 = stack.home.pack("markov-chat");
    let v2 = stack.home.scratch().join("markov-chat-9.0.0.roseyplug");
    rosey_e2e::stack::repack(
        &v1,
        &v2,
        |m| rosey_e2e::stack::with_version(m, "9.0.0"),
        None,
    );
    let out = stack.rosey(&["plugin", "update", v2.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(
        out_text(&out).contains("loaded successfully (hot reload"),
        "{}",
        out_text(&out)
    );
    let unit = stack.unit("markov-chat");
    assert_eq!(unit["version"], "9.0.0", "{unit}");
    assert_eq!(stack.registry_version("markov-chat"), "9.0.0");
    let after = stack.say("!markov stats");
    assert_eq!(after, before, "the model was handed to the new version");
}

const SLOW_REPLY: Duration = Duration::from_secs(30);

#[test]
fn an_update_that_fails_to_load_rolls_back_to_the_old_version_with_its_state() {
    let stack = TestStack::with_plugins(&["markov-chat"]);
    stack.start();
    let _ = stack.rosey(&[
        "say",
        "state that must survive a failed update",
        "--timeout",
        "0.2",
    ]);
    let before = stack.say_until("!markov stats", "1 messages", SLOW_REPLY);
    let registry_before =
        std::fs::read(stack.home.path().join("data/registry.json")).expect("registry");

    // v9 whose library refuses to load: the fail-load fixture's library under markov's name.
    let (_, broken_library) = fixture_library(&stack, "fixtures/fail-load");
    let v1 = stack.home.pack("markov-chat");
    let v9 = stack.home.scratch().join("markov-chat-9.0.0.roseyplug");
    rosey_e2e::stack::repack(
        &v1,
        &v9,
        |m| rosey_e2e::stack::with_version(m, "9.0.0"),
        Some(broken_library),
    );

    let out = stack.rosey(&["plugin", "update", v9.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
    let text = out_text(&out);
    assert!(
        text.contains("refusing to load on purpose"),
        "the new version's error: {text}"
    );
    assert!(text.contains("rolled back"), "{text}");

    let unit = stack.unit("markov-chat");
    assert_eq!(unit["state"], "running", "{unit}");
    assert_eq!(unit["version"], "0.1.0", "the old version runs: {unit}");
    assert_eq!(
        std::fs::read(stack.home.path().join("data/registry.json")).expect("registry"),
        registry_before,
        "the registry is unchanged"
    );
    assert!(!stack
        .home
        .path()
        .join("data/plugins/markov-chat/versions/9.0.0")
        .exists());
    assert_eq!(
        stack.say("!markov stats"),
        before,
        "the old version kept its state"
    );
}

/// The library (file name and bytes) of `fixture` as packed in `stack`'s home.
fn fixture_library(stack: &TestStack, fixture: &str) -> (String, Vec<u8>) {
    let archive = stack.home.pack(fixture);
    rosey_e2e::cli::read_zip(&archive)
        .into_iter()
        .find(|(name, _)| name.ends_with(".so"))
        .unwrap_or_else(|| panic!("{fixture} has no library"))
}

/// The library of the abi-mismatch fixture (built for rosey ABI v999), packed in `stack`.
fn foreign_abi_library(stack: &TestStack) -> (String, Vec<u8>) {
    fixture_library(stack, "fixtures/abi-mismatch")
}

#[test]
fn an_update_to_an_abi_mismatched_library_is_refused_and_the_old_version_keeps_serving() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    assert!(stack.say("!roll 1d1").contains("= 1"));
    let pid = stack.unit("dice-roller")["pid"].clone();
    let registry_before =
        std::fs::read(stack.home.path().join("data/registry.json")).expect("registry");

    // v9 built for another ABI: the abi-mismatch fixture's library under dice-roller's name.
    let (_, foreign_library) = foreign_abi_library(&stack);
    let v1 = stack.home.pack("dice-roller");
    let v9 = stack.home.scratch().join("dice-roller-9.0.0.roseyplug");
    rosey_e2e::stack::repack(
        &v1,
        &v9,
        |m| rosey_e2e::stack::with_version(m, "9.0.0"),
        Some(foreign_library),
    );

    let out = stack.rosey(&["plugin", "update", v9.to_str().expect("utf-8")]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("v999") && text.contains("9.9.9"),
        "the new version's own error: {text}"
    );

    let unit = stack.unit("dice-roller");
    assert_eq!(unit["state"], "running", "{unit}");
    assert_eq!(unit["version"], "0.1.0", "the old version runs: {unit}");
    assert_eq!(unit["pid"], pid, "the old host never stopped: {unit}");
    assert_eq!(
        std::fs::read(stack.home.path().join("data/registry.json")).expect("registry"),
        registry_before,
        "the registry is unchanged"
    );
    assert!(!stack
        .home
        .path()
        .join("data/plugins/dice-roller/versions/9.0.0")
        .exists());
    assert!(
        stack.say("!roll 1d1").contains("= 1"),
        "the old version keeps answering"
    );
}

#[test]
fn a_swap_to_an_abi_mismatched_library_rolls_back_with_the_old_host_serving_throughout() {
    // The CLI refuses such an archive before asking the daemon (see above); this puts the
    // files in place by hand and asks the daemon directly, as the CLI would after its checks,
    // so the daemon's own ABI check (the new host's Open step) is what refuses it.
    let config = format!("logs: {{ plugins: debug }}\n{TEST_CONFIG}");
    let stack = TestStack::with_config(&["dice-roller"], &config);
    stack.start();
    let pid = stack.unit("dice-roller")["pid"].clone();
    let versions = stack.home.path().join("data/plugins/dice-roller/versions");
    let (library_name, foreign_library) = foreign_abi_library(&stack);
    let v9 = versions.join("9.0.0");
    std::fs::create_dir_all(&v9).expect("version dir");
    let manifest = std::fs::read_to_string(versions.join("0.1.0/manifest.yaml")).expect("manifest");
    let library = manifest
        .lines()
        .find_map(|line| line.strip_prefix("library:"))
        .map(|name| name.trim().trim_matches('"').to_owned())
        .unwrap_or(library_name);
    std::fs::write(
        v9.join("manifest.yaml"),
        rosey_e2e::stack::with_version(&manifest, "9.0.0"),
    )
    .expect("write manifest");
    std::fs::write(v9.join(&library), foreign_library).expect("write library");

    let answer = stack.control(serde_json::json!({
        "cmd": "plugin_update",
        "name": "dice-roller",
        "version": "9.0.0",
        "previous": "0.1.0",
    }));
    assert_eq!(answer["ok"], false, "{answer}");
    let error = answer["error"].as_str().unwrap_or("");
    assert!(
        error.contains("v999") && error.contains("9.9.9"),
        "the new version's own error: {error}"
    );
    assert!(error.contains("rolled back"), "{error}");
    // The operator got one line; the host's whole loader report is in the plugin's log.
    let log =
        rosey_e2e::host::wait_for_log(&stack, "dice-roller", "loader report for ", SLOW_REPLY);
    assert!(
        log.contains("/versions/9.0.0/libdice_roller.so"),
        "the report names the refused library: {log}"
    );

    let unit = stack.unit("dice-roller");
    assert_eq!(unit["state"], "running", "{unit}");
    assert_eq!(unit["version"], "0.1.0", "{unit}");
    assert_eq!(unit["pid"], pid, "the old host never stopped: {unit}");
    assert_eq!(stack.registry_version("dice-roller"), "0.1.0");
    assert!(
        stack.say("!roll 1d1").contains("= 1"),
        "the old version keeps answering"
    );
}

#[test]
fn reload_keeps_the_state_and_remove_runs_the_unload_hook() {
    let stack = TestStack::with_plugins(&["markov-chat"]);
    stack.start();
    let _ = stack.rosey(&["say", "remember me across a reload", "--timeout", "0.2"]);
    let before = stack.say_until("!markov stats", "1 messages", SLOW_REPLY);
    let pid = stack.unit("markov-chat")["pid"].clone();
    let out = stack.rosey(&["plugin", "reload", "markov-chat"]);
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(
        out_text(&out).contains("reloaded successfully"),
        "{}",
        out_text(&out)
    );
    assert_ne!(stack.unit("markov-chat")["pid"], pid, "a new host");
    assert_eq!(stack.say("!markov stats"), before);

    let log = stack.home.path().join("logs/plugins/markov-chat.log");
    let unloads = |text: &str| text.matches("unloaded; handing over").count();
    let before_remove = unloads(&std::fs::read_to_string(&log).unwrap_or_default());
    let out = stack.rosey(&["plugin", "remove", "markov-chat", "--yes"]);
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(
        out_text(&out).contains("unloaded successfully"),
        "{}",
        out_text(&out)
    );
    let after_remove = unloads(&std::fs::read_to_string(&log).unwrap_or_default());
    assert_eq!(
        after_remove,
        before_remove + 1,
        "the unload hook ran on remove"
    );
    let status = stack.status();
    assert!(
        status["plugins"].as_array().expect("plugins").is_empty(),
        "{status}"
    );
    assert!(stack.say("!markov").contains("Unknown command"));
}

#[test]
fn disable_and_enable_follow_in_the_running_bot() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    assert!(stack
        .rosey(&["plugin", "disable", "dice-roller"])
        .status
        .success());
    assert!(stack.status()["plugins"]
        .as_array()
        .expect("plugins")
        .is_empty());
    let reply = stack.say("!roll 1d1");
    assert!(
        reply.contains("!roll is unavailable right now"),
        "{reply:?}"
    );
    assert!(stack
        .rosey(&["plugin", "enable", "dice-roller"])
        .status
        .success());
    assert_eq!(stack.unit("dice-roller")["state"], "running");
    assert!(stack.say("!roll 1d1").contains("= 1"));
}

#[test]
fn without_a_daemon_or_with_no_reload_changes_wait_for_the_next_start() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    let archive = stack.home.pack("quote-db");
    let out = stack.rosey(&["plugin", "install", archive.to_str().expect("utf-8")]);
    assert!(
        out_text(&out).contains("takes effect at the next `rosey start`"),
        "{}",
        out_text(&out)
    );
    let out = stack.rosey(&["plugin", "reload", "quote-db"]);
    assert_eq!(out.status.code(), Some(3), "{}", out_text(&out));

    stack.start();
    assert_eq!(
        stack.unit("quote-db")["state"],
        "running",
        "picked up at start"
    );
    let out = stack.rosey(&["plugin", "disable", "quote-db", "--no-reload"]);
    assert!(out_text(&out).contains("--no-reload"), "{}", out_text(&out));
    assert_eq!(stack.unit("quote-db")["state"], "running", "untouched");
    assert!(stack.rosey(&["restart", "plugins"]).status.success());
    let status = stack.status();
    let names: Vec<&str> = status["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter_map(|unit| unit["name"].as_str())
        .collect();
    assert_eq!(names, ["dice-roller"], "disabled after the plugins restart");
}

#[test]
fn a_remove_during_a_reload_and_two_installs_of_one_archive_end_consistent() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let home = stack.home.path();
    let run = |args: Vec<String>| {
        let home = home.clone();
        std::thread::spawn(move || {
            std::process::Command::new(rosey_e2e::cli::rosey_bin())
                .arg("--home")
                .arg(&home)
                .args(&args)
                .output()
                .expect("run rosey")
        })
    };
    let to_args = |args: &[&str]| args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
    let reload = run(to_args(&["plugin", "reload", "dice-roller"]));
    let remove = run(to_args(&["plugin", "remove", "dice-roller", "--yes"]));
    let (reload, remove) = (
        reload.join().expect("reload"),
        remove.join().expect("remove"),
    );
    assert!(remove.status.success(), "{}", out_text(&remove));
    // The reload ran first and succeeded, or ran after the removal and says so.
    if !reload.status.success() {
        assert!(
            out_text(&reload).contains("not running"),
            "{}",
            out_text(&reload)
        );
    }
    assert!(stack.status()["plugins"]
        .as_array()
        .expect("plugins")
        .is_empty());
    let left: Vec<_> = std::fs::read_dir(home.join("data/plugins/dice-roller"))
        .map(|entries| entries.flatten().map(|entry| entry.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "left behind: {left:?}\n{}\n{}",
        out_text(&reload),
        out_text(&remove)
    );

    let archive = stack.home.pack("quote-db");
    let path = archive.to_str().expect("utf-8").to_owned();
    let first = run(to_args(&["plugin", "install", &path]));
    let second = run(to_args(&["plugin", "install", &path]));
    let outcomes = [first.join().expect("first"), second.join().expect("second")];
    let succeeded = outcomes.iter().filter(|out| out.status.success()).count();
    assert_eq!(succeeded, 1, "exactly one install wins");
    let loser = outcomes
        .iter()
        .find(|out| !out.status.success())
        .expect("a loser");
    assert!(
        out_text(loser).contains("already installed"),
        "{}",
        out_text(loser)
    );
    assert_eq!(stack.unit("quote-db")["state"], "running");
    assert!(stack.say("!quote add still consistent").contains("#1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervision_notices_are_published_on_nats() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let client = stack.nats_client(BusUser::Daemon).await;
    let mut notices = client
        .subscribe(messaging::supervision_subject("*"))
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    // A restart goes through the supervisor (stopped, then started); a reload is
    // make-before-break inside the plugin's actor, so the supervisor sees nothing and only
    // `reloaded` is announced.
    let home = stack.home.path();
    let operations = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| {
            std::process::Command::new(rosey_e2e::cli::rosey_bin())
                .arg("--home")
                .arg(&home)
                .args(args)
                .output()
                .expect("run rosey")
        };
        (
            run(&["restart", "dice-roller"]),
            run(&["plugin", "reload", "dice-roller"]),
        )
    });
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen
        .iter()
        .any(|(_, n): &(String, messaging::SupervisionEvent)| n.event == "reloaded")
    {
        let message = tokio::time::timeout_at(deadline, notices.next())
            .await
            .unwrap_or_else(|_| panic!("no `reloaded` notice; saw {seen:#?}"))
            .expect("subscription open");
        let notice: messaging::SupervisionEvent =
            messaging::decode(&message.payload).expect("a supervision notice");
        seen.push((message.subject.to_string(), notice));
    }
    let (restart, reload) = operations.await.expect("join");
    assert!(restart.status.success(), "{restart:?}");
    assert!(reload.status.success(), "{reload:?}");
    let started = seen
        .iter()
        .find(|(_, n)| n.event == "started")
        .unwrap_or_else(|| panic!("the new instance's start is announced: {seen:#?}"));
    assert_eq!(started.0, "rosey.supervision.started");
    assert_eq!(started.1.unit, "dice-roller");
    assert_eq!(started.1.supervisor, "plugins");
    assert_eq!(started.1.text, "plugin dice-roller started");
    let events: Vec<&str> = seen.iter().map(|(_, n)| n.event.as_str()).collect();
    assert_eq!(
        events,
        ["stopped", "started", "reloaded"],
        "published in the order they happened"
    );
    let reloaded = seen.last().expect("the reloaded notice");
    assert_eq!(reloaded.0, "rosey.supervision.reloaded");
    assert_eq!(reloaded.1.unit, "dice-roller");
}

//! End to end: the edges of a running plugin's reloads, updates and new configuration, against
//! the real daemon, real plugin hosts and a real nats-server: a plugin that panics, dies or
//! refuses in a lifecycle hook (`on_config`, `unload`), a configuration file that cannot be
//! read or that the plugin cannot load with, a host killed before it could take the new
//! configuration, handed-over state that cannot be written to disk, an update whose new version
//! fails while the old one cannot come back either, a version folder that holds another
//! plugin, and the standby host a reload leaves (kept for the running version only).

use std::time::Duration;

use rosey_core::messaging::Source;
use rosey_e2e::{
    host::{self, Bus},
    stack::TestStack,
};

/// Upper bound for a reply, a restart or a log line (generous: tests run in parallel).
const SLOW: Duration = Duration::from_secs(30);

/// The message chaos panics with.
const PANIC_MESSAGE: &str = "chaos: deliberate panic";

/// All a `rosey` run printed: stdout, then stderr.
fn out_text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `rosey <args>` against `stack`'s home, asserting it failed; all it printed.
fn rosey_fails(stack: &TestStack, args: &[&str]) -> String {
    let out = stack.rosey(args);
    let text = out_text(&out);
    assert!(
        !out.status.success(),
        "`rosey {}` must fail: {text}",
        args.join(" ")
    );
    text
}

/// Plugin `name`'s config file in `stack`'s home.
fn config_file(stack: &TestStack, name: &str) -> std::path::PathBuf {
    stack
        .home
        .path()
        .join("data/plugins")
        .join(name)
        .join("config.yaml")
}

/// Whether `unit` (a plugin as status shows it) is running.
fn running(unit: &serde_json::Value) -> bool {
    unit["state"] == "running"
}

#[test]
fn a_configuration_file_that_cannot_be_read_is_refused_by_config_and_reload_and_the_running_host_keeps_serving(
) {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let pid = host::host_pid(&stack, "chaos");
    // Broken by hand: the CLI would refuse to edit it, so the daemon is asked directly.
    std::fs::write(config_file(&stack, "chaos"), "mood: [unclosed\n").expect("write config");
    let answer = stack.control(serde_json::json!({ "cmd": "plugin_config", "name": "chaos" }));
    assert_eq!(answer["ok"], false, "{answer}");
    let error = answer["error"].as_str().unwrap_or("");
    assert!(error.contains("config.yaml"), "names the file: {error}");
    assert_eq!(host::host_pid(&stack, "chaos"), pid, "the same host serves");
    // A reload reads the file before the running instance unloads: refused the same way,
    // with the old instance never stopped (not stopped and brought back).
    let refused = rosey_fails(&stack, &["plugin", "reload", "chaos"]);
    assert!(
        refused.contains("config.yaml") && refused.contains("v0.1.0 kept serving throughout"),
        "{refused}"
    );
    assert_eq!(host::host_pid(&stack, "chaos"), pid, "the same host serves");
    assert_eq!(stack.say("!chaos ping").trim(), "pong");
    let unit = stack.unit("chaos");
    assert_eq!(unit["restarts"], 0, "{unit}");
}

#[test]
fn a_plugin_that_panics_or_dies_taking_new_configuration_is_restarted_and_the_operator_told() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let config = config_file(&stack, "chaos");
    let before = std::fs::read(&config).unwrap_or_default();

    // A panic in on_config: the operator hears the panic, the old file is back, a new host
    // serves.
    let pid = host::host_pid(&stack, "chaos");
    let refused = rosey_fails(&stack, &["plugin", "config", "chaos", "on_config", "panic"]);
    assert!(
        refused.contains("the plugin panicked taking it") && refused.contains(PANIC_MESSAGE),
        "{refused}"
    );
    assert!(refused.contains("the old config is back"), "{refused}");
    assert_eq!(std::fs::read(&config).unwrap_or_default(), before);
    host::wait_for_log(
        &stack,
        "chaos",
        "plugin panicked on new configuration",
        SLOW,
    );
    let unit = replaced_running(&stack, "chaos", pid);
    assert_eq!(unit["restarts"], 1, "{unit}");
    stack.say_until("!chaos ping", "pong", SLOW);

    // Exiting in on_config: the host's death is the reason.
    let pid = host::host_pid(&stack, "chaos");
    let refused = rosey_fails(&stack, &["plugin", "config", "chaos", "on_config", "exit"]);
    assert!(
        refused.contains("the plugin died taking it") && refused.contains("exit code 42"),
        "{refused}"
    );
    assert_eq!(std::fs::read(&config).unwrap_or_default(), before);
    replaced_running(&stack, "chaos", pid);
    stack.say_until("!chaos ping", "pong", SLOW);

    // Refused: the same host keeps serving with the old configuration.
    let pid = host::host_pid(&stack, "chaos");
    let refused = rosey_fails(
        &stack,
        &["plugin", "config", "chaos", "on_config", "refuse"],
    );
    assert!(
        refused.contains("the plugin refused it: refusing the configuration as asked"),
        "{refused}"
    );
    assert_eq!(
        host::host_pid(&stack, "chaos"),
        pid,
        "no restart for a refusal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_asked_while_the_host_dies_mid_handler_is_refused_and_its_message_retried() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let bus = Bus::of(&stack).await;
    let pid = host::host_pid(&stack, "chaos");
    let mark = bus.mark();
    let id = bus.command("chaos", "slow 1500", "ivy", Source::Chat).await;
    bus.wait_for(mark, SLOW, "the slow handler running", |seen| {
        host::as_heartbeat(seen, "chaos")?
            .busy
            .filter(|busy| busy.message_id == id)
    })
    .await;

    // The configuration waits for the handler; the host dies before it is done.
    let config = rosey_in_background(&stack, &["plugin", "config", "chaos", "mood", "calm"]);
    daemon_got(&stack, r#"{"cmd":"plugin_config","name":"chaos"}"#).await;
    host::signal(pid, libc::SIGKILL);

    let out = config.await.expect("config task");
    let text = out_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("the plugin stopped before it took the new configuration"),
        "{text}"
    );
    assert!(text.contains("the old config is back"), "{text}");
    // The message the dead host held goes to the next one, and is answered once.
    let (reply, _) = bus.reply_to(&id, SLOW).await;
    assert_eq!(reply.text, "done after 1500 ms");
    assert_eq!(
        bus.ask("chaos", "ping", "ivy", Source::Chat).await.text,
        "pong"
    );
    assert_eq!(bus.replies_to(&id).len(), 1, "answered once");
}

/// Waits until the daemon of `stack` has logged the control request starting with `request`
/// (its JSON, as sent).
async fn daemon_got(stack: &TestStack, request: &str) {
    let daemon_log = stack.home.path().join("logs/rosey.log");
    let needle = format!("control: {request}");
    let deadline = std::time::Instant::now() + SLOW;
    while !std::fs::read_to_string(&daemon_log)
        .unwrap_or_default()
        .contains(&needle)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never got {request}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `rosey <args>` against `stack`'s home on a blocking thread, so the test can go on meanwhile.
fn rosey_in_background(
    stack: &TestStack,
    args: &[&str],
) -> tokio::task::JoinHandle<std::process::Output> {
    let home = stack.home.path();
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(rosey_e2e::cli::rosey_bin())
            .arg("--home")
            .arg(home)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run rosey")
    })
}

#[test]
fn a_reload_whose_old_host_dies_unloading_starts_the_new_one_without_state_and_logs_why() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    std::fs::write(config_file(&stack, "chaos"), "on_unload: exit\n").expect("write config");
    stack.start();
    let pid = host::host_pid(&stack, "chaos");
    let out = stack.rosey(&["plugin", "reload", "chaos"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let log = host::wait_for_log(&stack, "chaos", "unload failed: ", SLOW);
    assert!(
        log.contains("host exited while it should unload: exit code 42")
            && log.contains("the next instance starts without state"),
        "{log}"
    );
    assert_ne!(host::host_pid(&stack, "chaos"), pid, "a new host serves");
    assert_eq!(stack.say("!chaos ping").trim(), "pong");
    let unit = stack.unit("chaos");
    assert_eq!(unit["restarts"], 0, "a reload, not a crash: {unit}");
}

#[test]
fn state_that_cannot_be_written_to_disk_is_still_handed_over_in_memory_by_a_reload() {
    let stack = TestStack::with_plugins(&["markov-chat"]);
    stack.start();
    let _ = stack.rosey(&["say", "one fish two fish", "--timeout", "0.2"]);
    let before = stack.say_until("!markov stats", "1 messages", SLOW);
    // Where the handed-over state goes is taken by a folder.
    let handoff = stack
        .home
        .path()
        .join("data/plugins/markov-chat/handoff.state");
    std::fs::create_dir(&handoff).expect("a folder in the handoff file's place");

    let pid = host::host_pid(&stack, "markov-chat");
    let out = stack.rosey(&["plugin", "reload", "markov-chat"]);
    assert!(out.status.success(), "{}", out_text(&out));
    assert_ne!(host::host_pid(&stack, "markov-chat"), pid, "a new host");
    assert_eq!(
        stack.say("!markov stats"),
        before,
        "the model was handed over all the same"
    );
    let log = host::plugin_log(&stack, "markov-chat");
    let place = handoff.display().to_string();
    assert!(
        log.contains(&format!("cannot write {place}")),
        "the failed write is logged: {log}"
    );
    assert!(
        log.contains(&format!("cannot remove {place}")),
        "the failed removal is logged: {log}"
    );

    // A start cannot read it either: it fails, naming the file, until the folder is gone.
    host::kill_until_crashed(&stack, "markov-chat", SLOW);
    let unit = stack.unit("markov-chat");
    assert!(
        unit["last_exit"]
            .as_str()
            .is_some_and(|exit| exit.contains(&format!("cannot read {place}"))),
        "{unit}"
    );
    std::fs::remove_dir(&handoff).expect("remove the folder");
    stack.home.run_ok(&["start", "markov-chat"]);
    stack.say_until("!markov stats", "messages", SLOW);
}

#[test]
fn config_a_plugin_cannot_load_with_is_refused_and_it_comes_back_on_the_old_with_its_state() {
    // markov-chat has no on_config: a change reloads it, and its load reads the file.
    let stack = TestStack::with_plugins(&["markov-chat"]);
    stack.start();
    let _ = stack.rosey(&["say", "one fish two fish", "--timeout", "0.2"]);
    let before = stack.say_until("!markov stats", "1 messages", SLOW);
    let config = config_file(&stack, "markov-chat");
    let old_config = std::fs::read(&config).unwrap_or_default();
    let pid = host::host_pid(&stack, "markov-chat");

    let refused = rosey_fails(
        &stack,
        &["plugin", "config", "markov-chat", "max_words", "lots"],
    );
    assert!(
        refused.contains("the reload to take it failed: v0.1.0 failed: "),
        "{refused}"
    );
    assert!(
        refused.contains("max_words"),
        "the plugin's reason: {refused}"
    );
    assert!(refused.contains("the old config is back"), "{refused}");
    assert_eq!(std::fs::read(&config).unwrap_or_default(), old_config);

    // The old instance comes back at once, with the configuration it ran with (not the new
    // file, which it could not load either) and its state: no crash, no supervisor restart.
    assert!(
        refused.contains("rolled back: v0.1.0 runs again with its state"),
        "{refused}"
    );
    let unit = replaced_running(&stack, "markov-chat", pid);
    assert_eq!(unit["restarts"], 0, "{unit}");
    assert_eq!(stack.say_until("!markov stats", "messages", SLOW), before);
}

/// Waits until plugin `name` runs in a host other than `pid`.
fn replaced_running(stack: &TestStack, name: &str, pid: u32) -> serde_json::Value {
    stack.wait_for_unit(name, SLOW, "running in a new host", |unit| {
        running(unit) && unit["pid"].as_u64() != Some(u64::from(pid))
    })
}

#[test]
fn an_update_that_fails_to_start_rolls_back_with_the_configuration_the_old_version_ran_with() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let v1 = stack.home.pack("fixtures/chaos");
    let v9 = stack.home.scratch().join("chaos-9.0.0.roseyplug");
    rosey_e2e::stack::repack(
        &v1,
        &v9,
        |m| rosey_e2e::stack::with_version(m, "9.0.0"),
        None,
    );
    // A setting no version can load with, written by hand (no reload takes it): the new
    // version fails on it; the old one comes back with what it ran with, not the file.
    let config = config_file(&stack, "chaos");
    std::fs::write(&config, "load_delay_ms: soon\n").expect("write config");

    let text = rosey_fails(&stack, &["plugin", "update", v9.to_str().expect("utf-8")]);
    assert!(
        text.contains("v9.0.0 failed: ")
            && text.contains("rolled back: v0.1.0 runs again with its state"),
        "{text}"
    );
    assert_eq!(
        text.matches("load_delay_ms").count(),
        1,
        "v9's reason: {text}"
    );
    assert_eq!(stack.registry_version("chaos"), "0.1.0");
    assert!(!stack
        .home
        .path()
        .join("data/plugins/chaos/versions/9.0.0")
        .exists());
    let unit = stack.wait_for_unit("chaos", SLOW, "running", running);
    assert_eq!(
        (unit["version"].as_str(), unit["restarts"].as_u64()),
        (Some("0.1.0"), Some(0)),
        "{unit}"
    );
    stack.say_until("!chaos ping", "pong", SLOW);
}

#[test]
fn an_update_to_a_folder_holding_another_plugin_is_refused_while_the_old_host_serves() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let pid = host::host_pid(&stack, "chaos");
    // Version 9.0.0's folder, put in place by hand, holds a manifest named otherwise.
    let versions = stack.home.path().join("data/plugins/chaos/versions");
    let manifest = std::fs::read_to_string(versions.join("0.1.0/manifest.yaml")).expect("manifest");
    let stranger =
        rosey_e2e::stack::with_version(&manifest, "9.0.0").replace("name: chaos", "name: stranger");
    assert_ne!(stranger, rosey_e2e::stack::with_version(&manifest, "9.0.0"));
    std::fs::create_dir_all(versions.join("9.0.0")).expect("version folder");
    std::fs::write(versions.join("9.0.0/manifest.yaml"), stranger).expect("write manifest");

    let answer = stack.control(serde_json::json!({
        "cmd": "plugin_update",
        "name": "chaos",
        "version": "9.0.0",
        "previous": "0.1.0",
    }));
    assert_eq!(answer["ok"], false, "{answer}");
    let error = answer["error"].as_str().unwrap_or("");
    assert!(
        error.contains(r#"holds plugin "stranger", not "chaos""#),
        "{error}"
    );
    assert!(
        error.contains("rolled back: v0.1.0 kept serving throughout"),
        "{error}"
    );
    let unit = stack.unit("chaos");
    assert_eq!(unit["version"], "0.1.0", "{unit}");
    assert_eq!(
        host::host_pid(&stack, "chaos"),
        pid,
        "the old host never stopped"
    );
    assert_eq!(stack.say("!chaos ping").trim(), "pong");
}

/// The stack's idle hosts that have version `version` of a plugin's library open (standbys),
/// told from warm spares (nothing open) by their memory maps.
fn standbys_of(stack: &TestStack, version: &str) -> Vec<u32> {
    let folder = format!("/versions/{version}/");
    host::spare_hosts(stack)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/maps"))
                .is_ok_and(|maps| maps.contains(&folder))
        })
        .collect()
}

/// Waits until exactly one standby of `version` is kept; its pid.
fn one_standby_of(stack: &TestStack, version: &str) -> u32 {
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        if let [pid] = standbys_of(stack, version)[..] {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no standby of v{version}: {:?}",
            host::spare_hosts(stack)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_standby_is_kept_for_the_running_version_only_and_ends_with_the_plugin() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    assert!(
        standbys_of(&stack, "0.1.0").is_empty(),
        "none before any churn"
    );
    // A reload: from now on a host with the library open waits for the next start.
    stack.home.run_ok(&["plugin", "reload", "chaos"]);
    let old = one_standby_of(&stack, "0.1.0");

    // An update cannot use it: it is killed, and the new version gets one of its own.
    let v1 = stack.home.pack("fixtures/chaos");
    let v9 = stack.home.scratch().join("chaos-9.0.0.roseyplug");
    rosey_e2e::stack::repack(
        &v1,
        &v9,
        |m| rosey_e2e::stack::with_version(m, "9.0.0"),
        None,
    );
    stack
        .home
        .run_ok(&["plugin", "update", v9.to_str().expect("utf-8")]);
    host::wait_until_dead(old, SLOW);
    let new = one_standby_of(&stack, "9.0.0");
    assert!(standbys_of(&stack, "0.1.0").is_empty());
    assert_eq!(stack.unit("chaos")["version"], "9.0.0");
    assert_eq!(stack.say("!chaos ping").trim(), "pong");

    // Stopping the plugin ends its standby too.
    stack.home.run_ok(&["stop", "chaos"]);
    host::wait_until_dead(new, SLOW);
}

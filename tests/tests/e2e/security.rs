//! What a plugin may not do, end to end with a real stack: send what its manifest does not
//! allow (the plugin actor refuses, counts and logs it, and the plugin keeps running), drive
//! the daemon through the control socket from its host process or a child of it, or take the
//! name of a service.

use std::{path::Path, time::Duration};

use rosey_e2e::{
    cli::{fake_plugin_files, rosey_bin, with_checksums, zip_bytes, TempHome},
    stack::{repack, TestStack},
};

const WAIT: Duration = Duration::from_secs(30);

fn out_text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The manifest `text` at `version`, asking for `permissions` and publishing `publishes`.
fn with_grants(text: &str, version: &str, permissions: &str, publishes: &str) -> String {
    let mut out = Vec::new();
    let mut in_permissions = false;
    for line in text.lines() {
        if in_permissions && line.starts_with("- ") {
            continue;
        }
        in_permissions = false;
        if line.starts_with("permissions:") {
            in_permissions = true;
            continue;
        }
        if line.starts_with("version:") {
            out.push(format!("version: {version}"));
        } else {
            out.push(line.to_owned());
        }
    }
    out.push(format!("permissions: [{permissions}]"));
    out.push(format!("publishes: [{publishes}]"));
    out.join("\n") + "\n"
}

fn log_count(home: &Path, plugin: &str, needle: &str) -> usize {
    std::fs::read_to_string(home.join(format!("logs/plugins/{plugin}.log")))
        .unwrap_or_default()
        .matches(needle)
        .count()
}

#[test]
fn what_the_manifest_does_not_allow_is_refused_counted_and_logged_once() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let pid = stack.unit("chaos")["pid"].clone();
    // chaos may chat, nothing else.
    for _ in 0..2 {
        assert!(stack.say("!chaos pm").contains("pm sent"));
    }
    for _ in 0..3 {
        assert!(stack.say("!chaos publish game.won").contains("published"));
    }
    let chaos = stack.wait_for_unit("chaos", WAIT, "counting refusals", |unit| {
        unit["refused"]["send_pms"] == 2 && unit["refused"]["publish_events"] == 3
    });
    assert_eq!(chaos["state"], "running", "{chaos}");
    assert_eq!(chaos["pid"], pid, "the plugin keeps running: {chaos}");
    assert_eq!(chaos["restarts"], 0, "{chaos}");
    let home = stack.home.path();
    assert_eq!(
        log_count(
            &home,
            "chaos",
            "refused a PM: add send_pms to permissions in the manifest"
        ),
        1,
        "logged once per instance"
    );
    assert_eq!(
        log_count(&home, "chaos", "add publish_events to permissions"),
        1
    );
    let status = stack.home.run_ok(&["status"]);
    assert!(
        status.contains("refused: 5 (publish_events, send_pms)"),
        "{status}"
    );

    // An update that asks for more says so, and what it declares goes through.
    let v1 = stack.home.pack("fixtures/chaos");
    let v2 = stack.home.scratch().join("chaos-9.0.0.roseyplug");
    repack(
        &v1,
        &v2,
        |m| {
            with_grants(
                m,
                "9.0.0",
                "send_messages, send_pms, publish_events",
                "\"game.*\"",
            )
        },
        None,
    );
    let out = stack.rosey(&["plugin", "update", v2.to_str().expect("utf-8")]);
    let text = out_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("new permissions: send_pms, publish_events"),
        "{text}"
    );
    assert!(text.contains("Publishes events: game.*"), "{text}");
    assert!(!text.contains("informational"), "{text}");
    stack.wait_for_unit("chaos", WAIT, "at 9.0.0", |unit| unit["version"] == "9.0.0");
    assert!(stack.say("!chaos pm").contains("pm sent"));
    assert!(stack.say("!chaos publish game.lost").contains("published"));
    assert!(stack
        .say("!chaos publish secret.stuff")
        .contains("published"));
    let chaos = stack.wait_for_unit("chaos", WAIT, "refusing an undeclared kind", |unit| {
        unit["refused"]["publishes"] == 1
    });
    assert_eq!(
        chaos["refused"]["send_pms"], 2,
        "no new PM refusal: {chaos}"
    );
    assert_eq!(chaos["refused"]["publish_events"], 3, "{chaos}");
    assert_eq!(
        log_count(
            &home,
            "chaos",
            "add secret.stuff to publishes in the manifest"
        ),
        1
    );
}

/// Two walls keep a plugin off the control socket: its host's sandbox refuses it every Unix
/// socket and every exec (so neither it nor a program it starts can connect), and the daemon
/// refuses any peer that is a plugin host or runs under one (that check is unit-tested on real
/// process trees in `rosey/src/daemon/peer.rs`, since a sandboxed plugin cannot get that far).
#[test]
fn a_plugin_host_and_its_children_cannot_drive_the_daemon() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let home = stack.home.path();
    let socket = home.join("data/run/rosey.sock");

    let direct = stack.say(&format!("!chaos control {}", socket.display()));
    assert!(
        direct.contains("Operation not permitted") || direct.contains("refused"),
        "the plugin reached the control socket: {direct}"
    );
    assert!(!direct.contains("\"ok\":true"), "{direct}");
    let child = stack.say(&format!(
        "!chaos control-child {} {}",
        rosey_bin().display(),
        home.display()
    ));
    assert!(
        child.contains("Operation not permitted") || child.contains("refused"),
        "a program the plugin started reached the control socket: {child}"
    );
    assert!(!child.contains("running"), "{child}");
    // The operator still drives it, and the plugin is unharmed.
    assert_eq!(stack.unit("chaos")["state"], "running");
}

#[test]
fn a_plugin_may_not_take_a_services_name() {
    let home = TempHome::new();
    for name in ["bot", "nats", "web", "plugins"] {
        let archive = home.scratch().join(format!("{name}.roseyplug"));
        std::fs::write(
            &archive,
            zip_bytes(&with_checksums(fake_plugin_files(name, "1.0.0", &["x"]))),
        )
        .expect("archive");
        let err = home.run_err(&["plugin", "install", archive.to_str().expect("utf-8")]);
        assert!(
            err.contains(&format!("{name:?} is the name of a part of rosey itself"))
                && err.contains("rename the plugin in its manifest.yaml"),
            "{err}"
        );
    }
    assert!(!home.path().join("data/plugins/bot").exists());
}

#[test]
fn a_short_dashboard_token_is_refused_at_start_naming_the_key() {
    let config = rosey_e2e::stack::TEST_CONFIG
        .replace("web:\n  port: 0\n", "web:\n  port: 0\n  token: hunter2\n");
    let stack = TestStack::with_config(&[], &config);
    let text = stack.start_fails();
    assert!(
        text.contains("web.token") && text.contains("at least 24"),
        "{text}"
    );
}

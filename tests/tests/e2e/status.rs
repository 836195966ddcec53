//! End to end: `rosey status` (text and `--json`, which the dashboard's `/api/status` is) tells
//! what it cannot know as unknown, with the reason, and a stopped plugin supervisor as
//! stopped: never 0 dead letters or "none installed" in their place.

use std::time::Duration;

use rosey_e2e::{browser::Browser, http, stack::TestStack};
use serde_json::Value;

const SLOW: Duration = Duration::from_secs(40);

fn running(unit: &Value) -> bool {
    unit["state"] == "running"
}

/// `rosey status` as the operator reads it.
fn text_status(stack: &TestStack) -> String {
    let out = stack.rosey(&["status"]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The status's plugin `name`.
fn plugin(status: &Value, name: &str) -> Value {
    status["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|unit| unit["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no plugin {name} in {status}"))
}

/// The names of the status's service rows.
fn service_names(status: &Value) -> Vec<String> {
    status["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|unit| unit["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn dead_letters_read_unknown_with_the_reason_while_nats_is_down() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let status = stack.status();
    assert_eq!(
        plugin(&status, "dice-roller")["dead_letters"],
        0,
        "{status}"
    );
    assert!(status.get("unknown").is_none(), "all is known: {status}");

    // An operator's stop: NATS stays down (a killed one would be restarted at once).
    let stopped = stack.rosey(&["stop", "nats"]);
    assert!(stopped.status.success(), "{stopped:?}");
    let status = stack.status();
    assert_eq!(stack.unit("nats")["state"], "stopped", "{status}");
    let dice = plugin(&status, "dice-roller");
    assert!(
        dice["dead_letters"].is_null(),
        "not 0: they cannot be counted: {dice}"
    );
    let unknown = status["unknown"].as_array().cloned().unwrap_or_default();
    let why = unknown
        .iter()
        .find(|unknown| unknown["what"] == "dead letters")
        .and_then(|unknown| unknown["why"].as_str())
        .unwrap_or_else(|| panic!("the dead-letter counts are not reported unknown: {status}"));
    assert!(why.starts_with("NATS unreachable: "), "{why}");

    let text = text_status(&stack);
    assert!(
        text.contains("\ndead letters: unknown (NATS unreachable: "),
        "{text}"
    );

    // NATS back: counted again.
    assert!(stack.rosey(&["start", "nats"]).status.success());
    stack.wait_for_unit("nats", SLOW, "running", running);
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        let status = stack.status();
        if plugin(&status, "dice-roller")["dead_letters"] == 0 && status.get("unknown").is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the counts never came back: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!text_status(&stack).contains("unknown"));
}

#[test]
fn a_stopped_plugin_supervisor_is_a_row_and_its_plugins_read_stopped() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let status = stack.status();
    assert_eq!(
        service_names(&status),
        ["nats", "bot", "web", "plugins"],
        "every child of the root is a row: {status}"
    );
    let supervisor = stack.unit("plugins");
    assert!(running(&supervisor), "{supervisor}");
    assert!(status.get("plugin_supervisor").is_none(), "{status}");
    let text = text_status(&stack);
    assert!(
        text.lines().any(|line| line.starts_with("plugins ")),
        "{text}"
    );

    let stopped = stack.rosey(&["stop", "plugins"]);
    assert!(stopped.status.success(), "{stopped:?}");
    let status = stack.status();
    let supervisor = stack.unit("plugins");
    assert_eq!(supervisor["state"], "stopped", "{supervisor}");
    assert_eq!(status["plugin_supervisor"], "stopped", "{status}");
    assert_eq!(status["plugins"], Value::Array(Vec::new()), "{status}");
    assert!(
        status.get("unknown").is_none(),
        "stopped is known, not unknown: {status}"
    );
    let text = text_status(&stack);
    assert!(
        text.contains(
            "\nPlugins: stopped (the plugin supervisor is stopped: rosey start plugins)\n"
        ),
        "{text}"
    );
    assert!(!text.contains("none installed"), "{text}");
    let list = stack.home.run_ok(&["plugin", "list"]);
    assert!(
        list.contains("not running (the plugin supervisor is stopped)"),
        "`plugin list` says why, not `not loaded`: {list}"
    );

    let started = stack.rosey(&["start", "plugins"]);
    assert!(started.status.success(), "{started:?}");
    stack.wait_for_unit("dice-roller", SLOW, "running", running);
    let status = stack.status();
    assert!(running(&stack.unit("plugins")), "{status}");
    assert!(status.get("plugin_supervisor").is_none(), "{status}");
    let text = text_status(&stack);
    assert!(
        text.contains("\nPlugins:\n\n") && text.contains("dice-roller"),
        "{text}"
    );
    assert!(stack.say("!roll 1d1").contains("= 1"));
}

/// The dashboard's URL and the token that opens it (`rosey status` prints the link).
fn dashboard(stack: &TestStack) -> (String, String) {
    let web = stack.unit("web");
    let url = web["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("web shows no URL: {web}"))
        .to_owned();
    let token = std::fs::read_to_string(stack.home.path().join("data/web-token"))
        .expect("the generated token")
        .trim()
        .to_owned();
    (url, token)
}

#[test]
fn the_dashboard_says_what_is_unknown_and_that_the_plugins_are_stopped() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let (url, token) = dashboard(&stack);
    let mut browser = Browser::launch();
    browser.navigate(&format!("{url}?token={token}"));
    let state = |unit: &str| {
        format!(
            "(document.querySelector('tr[data-unit=\"{unit}\"] td[data-field=\"state\"]')?.textContent ?? '')"
        )
    };
    browser.wait_until(
        &format!("{} === 'running'", state("dice-roller")),
        SLOW,
        "dice-roller listed as running",
    );
    assert_eq!(browser.eval(&state("plugins")), "running");
    assert_eq!(
        browser.eval("document.querySelector('#unknown').textContent"),
        ""
    );

    assert!(stack.rosey(&["stop", "nats"]).status.success());
    let api = http::get(
        &format!("{url}api/status"),
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(api.status, 200, "{api:?}");
    let status = api.json();
    assert!(
        plugin(&status, "dice-roller")["dead_letters"].is_null(),
        "{status}"
    );
    assert_eq!(status["unknown"][0]["what"], "dead letters", "{status}");
    let shown = browser.wait_until(
        "document.querySelector('#unknown').textContent",
        SLOW,
        "the unknown dead-letter counts under the table",
    );
    assert!(
        shown
            .as_str()
            .is_some_and(|text| text.starts_with("dead letters: unknown (NATS unreachable: ")),
        "{shown}"
    );
    let note = browser
        .eval("document.querySelector('tr[data-unit=\"dice-roller\"] td.note')?.textContent ?? ''");
    assert!(
        note.as_str()
            .is_some_and(|note| note.contains("dead letters: unknown")),
        "{note}"
    );
    assert!(stack.rosey(&["start", "nats"]).status.success());

    assert!(stack.rosey(&["stop", "plugins"]).status.success());
    browser.wait_until(
        &format!("{} === 'stopped'", state("plugins")),
        SLOW,
        "the plugins row stopped",
    );
    browser.wait_until(
        "document.querySelector('#unknown').textContent ===          'plugins: stopped (the plugin supervisor is stopped: rosey start plugins)'",
        SLOW,
        "the stopped plugin supervisor said under the table",
    );
    assert_eq!(browser.eval(&state("dice-roller")), "", "no plugin row");
}

#[test]
fn status_answers_while_the_plugin_supervisor_is_busy_starting_a_plugin() {
    let stack = TestStack::with_plugins(&["dice-roller", "fixtures/chaos"]);
    stack.start();
    // chaos's next start takes a while (its `load` sleeps): long enough that a status which
    // asked the busy supervisor would wait it out.
    let config = rosey_core::paths::Home::new(stack.home.path()).plugin_config_file("chaos");
    std::fs::write(&config, "load_delay_ms: 15000\n").expect("write chaos's config");
    let restart = {
        let home = stack.home.path();
        std::thread::spawn(move || {
            std::process::Command::new(rosey_e2e::cli::rosey_bin())
                .arg("--home")
                .arg(home)
                .args(["restart", "chaos"])
                .output()
                .expect("rosey restart chaos")
        })
    };
    // While the plugin supervisor waits for chaos's start, status answers and says so.
    let deadline = std::time::Instant::now() + SLOW;
    let status = loop {
        let status = stack.status();
        if plugin(&status, "chaos")["state"] == "starting" {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "chaos never showed as starting: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(running(&plugin(&status, "dice-roller")), "{status}");
    assert!(
        !restart.is_finished(),
        "the restart was still waiting for chaos's start when status answered"
    );
    let restarted = restart.join().expect("join");
    assert!(restarted.status.success(), "{restarted:?}");
    assert!(running(&stack.unit("chaos")));
}

//! `GET /metrics` end to end: a real stack on the emulated CyTube server, its dashboard
//! scraped over HTTP as Prometheus would, after chat commands answered, one refused for its
//! rank, a plugin crashing on a command until it is parked, and a reload. Each family counts
//! what happened; the scrape needs the dashboard's token like every other route.

use std::time::{Duration, Instant};

use rosey_e2e::{http, stack::TestStack};

const SLOW: Duration = Duration::from_secs(40);

/// The value of the series `series` (name and labels, exactly as rendered) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[test]
fn metrics_count_commands_replies_refusals_crashes_and_reloads_behind_the_token() {
    let (server, stack) = TestStack::on_cytube(&["dice-roller", "fixtures/chaos"]);
    stack.start();
    let web = stack.unit("web");
    let url = format!(
        "{}metrics",
        web["detail"].as_str().expect("the dashboard's URL")
    );
    let token = std::fs::read_to_string(stack.home.path().join("data/web-token"))
        .expect("the generated token");
    let bearer = format!("Bearer {}", token.trim());

    let refused = http::get(&url, &[]);
    assert_eq!(refused.status, 401, "{}", refused.body);

    server.join("test", "alice");
    server.say("test", "alice", "!roll 2d6");
    server.wait_for_chat("rosey", "alice rolled 2d6", SLOW);
    server.say("test", "alice", "!roll 1d4");
    server.wait_for_chat("rosey", "alice rolled 1d4", SLOW);
    server.say("test", "alice", "!chaos-mod");
    server.wait_for_chat("rosey", "needs rank moderator", SLOW);
    // `abort` kills every host that takes it: twice, then it is parked.
    server.say("test", "alice", "!chaos abort");
    stack.home.run_ok(&["plugin", "reload", "dice-roller"]);

    let expected: &[(&str, f64)] = &[
        ("rosey_commands_routed_total{plugin=\"dice-roller\"}", 2.0),
        ("rosey_commands_answered_total{plugin=\"dice-roller\"}", 2.0),
        ("rosey_reply_seconds_count{plugin=\"dice-roller\"}", 2.0),
        (
            "rosey_messages_handled_total{plugin=\"dice-roller\",kind=\"command\",outcome=\"ok\"}",
            2.0,
        ),
        (
            "rosey_commands_refused_total{plugin=\"chaos\",reason=\"rank\"}",
            1.0,
        ),
        (
            "rosey_host_exits_total{plugin=\"chaos\",cause=\"signal_SIGABRT\"}",
            2.0,
        ),
        ("rosey_dead_lettered_total{plugin=\"chaos\"}", 1.0),
        ("rosey_dead_letters{plugin=\"chaos\"}", 1.0),
        (
            "rosey_plugin_operations_total{plugin=\"dice-roller\",op=\"reload\",result=\"ok\"}",
            1.0,
        ),
        ("rosey_connector_connected", 1.0),
        ("rosey_unit_up{unit=\"bot\"}", 1.0),
        ("rosey_unit_up{unit=\"dice-roller\"}", 1.0),
        ("rosey_unit_restarts_total{unit=\"chaos\"}", 2.0),
    ];
    let deadline = Instant::now() + SLOW;
    let text = loop {
        let answer = http::get(&url, &[("Authorization", &bearer)]);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            answer.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let missing: Vec<_> = expected
            .iter()
            .filter(|(series, want)| value(&answer.body, series) != Some(*want))
            .collect();
        if missing.is_empty() {
            break answer.body;
        }
        assert!(
            Instant::now() < deadline,
            "not as expected: {missing:?} in\n{}",
            answer.body
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for family in [
        "# TYPE rosey_reply_seconds histogram",
        "# HELP rosey_commands_routed_total Commands the router stored for a plugin.",
        "# TYPE rosey_unit_memory_bytes gauge",
    ] {
        assert!(text.contains(family), "{family:?} in\n{text}");
    }
    let memory = value(&text, "rosey_unit_memory_bytes{unit=\"dice-roller\"}")
        .expect("the plugin host's memory");
    assert!(memory > 100_000.0, "{memory}");

    // The charts' history answers too (its first point comes after 20 s, so it may be empty).
    let history = http::get(
        &url.replace("/metrics", "/api/history"),
        &[("Authorization", &bearer)],
    );
    assert_eq!(history.status, 200, "{}", history.body);
    let history = history.json();
    assert_eq!(history["interval_secs"], 10);
    assert!(history["points"].is_array(), "{history}");
}

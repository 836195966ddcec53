//! `GET /metrics` end to end: a real stack on the emulated CyTube server, its dashboard
//! scraped over HTTP as Prometheus would, after chat commands answered, one refused for its
//! rank, a plugin crashing on a command until it is parked, and a reload. Each family counts
//! what happened; the scrape needs the dashboard's token like every other route. And with a
//! stricter flood limit than the bot's pacing and a kick, the chat server's cooldowns and the
//! reconnect are counted.

use std::time::{Duration, Instant};

use rosey_e2e::{
    cytube::{CytubeServer, Limits},
    http,
    stack::{TestStack, TEST_CONFIG},
};

const SLOW: Duration = Duration::from_secs(40);

/// The value of the series `series` (name and labels, exactly as rendered) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// A GET of `path` on `stack`'s dashboard (`metrics`, `api/history`), with its token or
/// without.
fn getter(stack: &TestStack) -> impl Fn(&str, bool) -> http::HttpResponse {
    let web = stack.unit("web");
    let base = web["detail"]
        .as_str()
        .expect("the dashboard's URL")
        .to_owned();
    let token = std::fs::read_to_string(stack.home.path().join("data/web-token"))
        .expect("the generated token");
    let bearer = format!("Bearer {}", token.trim());
    move |path, with_token| {
        let url = format!("{base}{path}");
        if with_token {
            http::get(&url, &[("Authorization", &bearer)])
        } else {
            http::get(&url, &[])
        }
    }
}

/// `GET /metrics` on `stack`'s dashboard with its token, or that request without it.
fn scraper(stack: &TestStack) -> impl Fn(bool) -> http::HttpResponse {
    let get = getter(stack);
    move |with_token| get("metrics", with_token)
}

/// Scrapes until every series in `expected` reads at least its value; returns the text.
fn scrape_until(scrape: &dyn Fn(bool) -> http::HttpResponse, expected: &[(&str, f64)]) -> String {
    let deadline = Instant::now() + SLOW;
    loop {
        let answer = scrape(true);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let missing: Vec<_> = expected
            .iter()
            .filter(|(series, least)| value(&answer.body, series).is_none_or(|v| v < *least))
            .collect();
        if missing.is_empty() {
            return answer.body;
        }
        assert!(
            Instant::now() < deadline,
            "not as expected: {missing:?} in\n{}",
            answer.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn metrics_count_commands_replies_refusals_crashes_and_reloads_behind_the_token() {
    let (server, stack) = TestStack::on_cytube(&["dice-roller", "fixtures/chaos"]);
    stack.start();
    let scrape = scraper(&stack);
    let refused = scrape(false);
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
        let answer = scrape(true);
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

    // The charts' history answers too (its first point comes after 10 s, so it may be empty).
    let history = getter(&stack)("api/history", true);
    assert_eq!(history.status, 200, "{}", history.body);
    let history = history.json();
    assert_eq!(history["interval_secs"], 10);
    assert!(history["points"].is_array(), "{history}");
}

#[test]
fn the_connections_reconnects_and_the_chat_servers_cooldowns_are_counted() {
    // A stricter flood limit than the bot's pacing: the server answers some lines `cooldown`.
    let server = CytubeServer::for_bot(
        "rosey",
        "pw",
        Limits {
            chat_burst: 4.0,
            chat_per_sec: 10.0,
            ..Limits::default()
        },
    );
    let bot = server.bot_keys("rosey", "pw", "test");
    let stack = TestStack::with_config(&["fixtures/chaos"], &format!("{TEST_CONFIG}{bot}"));
    stack.start();
    let scrape = scraper(&stack);
    server.join("test", "alice");
    server.say("test", "alice", "!chaos lines 30");
    server.wait_for_chat("rosey", "line 30 of 30", SLOW);
    server.kick("rosey", "Rate limit exceeded");
    server.wait(SLOW, "the bot back in the channel", || {
        server
            .logged_in()
            .contains(&"rosey".to_owned())
            .then_some(())
    });
    let text = scrape_until(
        &scrape,
        &[
            ("rosey_outbox_cooldowns_total", 1.0),
            ("rosey_outbox_cooldown_seconds_total", 0.0),
            ("rosey_connector_reconnects_total", 1.0),
            ("rosey_connector_connected", 1.0),
            ("rosey_outbox_queued", 0.0),
        ],
    );
    assert_eq!(value(&text, "rosey_outbox_queued"), Some(0.0), "all said");
}

//! The web dashboard end to end: a real stack (`rosey start`, nats-server, plugin hosts) with
//! the dashboard on a free port, driven by headless Chromium over the DevTools protocol and by
//! plain HTTP requests to its JSON API.

use std::time::Duration;

use rosey_e2e::{
    browser::Browser,
    http,
    stack::{wait_until_gone, TestStack, TEST_CONFIG},
};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// The dashboard's URL, from `rosey status` (the `web` service's detail).
fn web_url(stack: &TestStack) -> String {
    let web = stack.unit("web");
    assert_eq!(web["state"], "running", "{web}");
    web["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("web shows no URL: {web}"))
        .to_owned()
}

/// The dashboard's token, generated into the home at the first start.
fn token(stack: &TestStack) -> String {
    std::fs::read_to_string(stack.home.path().join("data/web-token"))
        .expect("the generated token")
        .trim()
        .to_owned()
}

/// A started stack with dice-roller and 8ball installed, its dashboard URL and the
/// `Authorization` header value its token makes.
fn started() -> (TestStack, String, String) {
    let stack = TestStack::with_plugins(&["dice-roller", "8ball"]);
    stack.start();
    let url = web_url(&stack);
    let bearer = format!("Bearer {}", token(&stack));
    (stack, url, bearer)
}

fn row_field(unit: &str, field: &str) -> String {
    format!(
        "(document.querySelector('tr[data-unit=\"{unit}\"] td[data-field=\"{field}\"]')?.textContent ?? '')"
    )
}

#[test]
fn the_page_lists_the_running_plugins_and_a_reload_button_reloads_one() {
    let (stack, url, _) = started();
    let link = stack.dashboard_link();
    assert_eq!(link, format!("{url}?token={}", token(&stack)));
    let mut browser = Browser::launch();
    browser.navigate(&link);
    for plugin in ["dice-roller", "8ball"] {
        browser.wait_until(
            &format!("{} === 'running'", row_field(plugin, "state")),
            WAIT,
            &format!("{plugin} listed as running"),
        );
    }
    for service in ["nats", "bot", "web"] {
        assert_eq!(
            browser.eval(&row_field(service, "state")),
            "running",
            "{service}"
        );
    }
    let before = stack.unit("dice-roller");
    let old_pid = before["pid"].as_u64().expect("dice-roller pid");
    browser.wait_until(
        &format!("{} === '{old_pid}'", row_field("dice-roller", "pid")),
        WAIT,
        "the page to show dice-roller's pid",
    );
    assert_eq!(
        browser.eval(&row_field("dice-roller", "version")),
        before["version"]
    );
    let note = browser
        .eval("document.querySelector('tr[data-unit=\"dice-roller\"] td.note')?.textContent ?? ''");
    assert!(
        note.as_str()
            .is_some_and(|note| note.contains("sandbox: full")),
        "{note}"
    );

    browser.eval(
        "document.querySelector('tr[data-unit=\"dice-roller\"] button[data-action=\"reload\"]').click()",
    );
    browser.wait_until(
        "document.querySelector('#feed li[data-event=\"reloaded\"][data-unit=\"dice-roller\"]')?.textContent ?? ''",
        WAIT,
        "a reload notice in the event feed",
    );
    let new_pid = browser.wait_until(
        &format!(
            "(() => {{ const pid = {}; const state = {}; return state === 'running' && pid !== '-' && pid !== '{old_pid}' ? pid : ''; }})()",
            row_field("dice-roller", "pid"),
            row_field("dice-roller", "state")
        ),
        WAIT,
        "dice-roller running under a new pid",
    );
    let after = stack.unit("dice-roller");
    assert_eq!(
        after["pid"].as_u64().map(|pid| pid.to_string()),
        new_pid.as_str().map(str::to_owned),
        "the page and `rosey status` agree on the new pid"
    );
    assert_eq!(after["restarts"], 0, "a reload is not a crash: {after}");
    let message = browser.eval("document.querySelector('#message').textContent");
    assert!(
        message
            .as_str()
            .is_some_and(|text| text.contains("reloaded")),
        "{message}"
    );
    // The other plugin was left alone.
    assert_eq!(browser.eval(&row_field("8ball", "state")), "running");
}

#[test]
fn the_chat_box_gets_the_bots_answer_to_roll() {
    let (stack, _url, _) = started();
    let mut browser = Browser::launch();
    browser.navigate(&stack.dashboard_link());
    browser.wait_until(
        &format!("{} === 'running'", row_field("dice-roller", "state")),
        WAIT,
        "dice-roller running",
    );
    let reply = browser.dashboard_say("alice", "!roll 2d6", WAIT);
    assert!(
        reply.starts_with("rosey: alice rolled 2d6: ["),
        "unexpected reply {reply:?}"
    );
    let said = browser.eval("document.querySelector('#chat-log li.said')?.textContent");
    assert_eq!(said, "alice: !roll 2d6");
}

/// Drops what changes from one second to the next (uptimes, memory).
fn steady(mut status: Value) -> Value {
    status["uptime_secs"] = Value::Null;
    for group in ["services", "plugins"] {
        for unit in status[group].as_array_mut().into_iter().flatten() {
            unit["uptime_secs"] = Value::Null;
            assert!(
                unit["state"] != "running" || unit["memory_bytes"].as_u64().is_some_and(|b| b > 0),
                "a running unit shows its memory: {unit}"
            );
            unit["memory_bytes"] = Value::Null;
        }
    }
    status
}

#[test]
fn api_status_is_rosey_status_json() {
    let (stack, url, bearer) = started();
    let auth = [("Authorization", bearer.as_str())];
    let api = http::get(&format!("{url}api/status"), &auth);
    assert_eq!(api.status, 200, "{api:?}");
    assert!(api
        .header("content-type")
        .is_some_and(|kind| kind.starts_with("application/json")));
    let cli = stack.status();
    assert_eq!(steady(api.json()), steady(cli));
    let plugins = api.json()["plugins"].clone();
    let names: Vec<&str> = plugins
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|unit| unit["name"].as_str())
        .collect();
    assert_eq!(names, ["8ball", "dice-roller"]);

    let page = http::get(&url, &auth);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<table id=\"units\">"), "{page:?}");
}

#[test]
fn api_operations_answer_with_json_and_proper_status_codes() {
    let (stack, url, bearer) = started();
    let api = |path: &str| format!("{url}api/{path}");
    let auth = [("Authorization", bearer.as_str())];

    let log = http::get(&api("plugins/dice-roller/log?lines=5"), &auth);
    assert_eq!(log.status, 200, "{log:?}");
    let lines = log.json()["lines"].as_array().cloned().unwrap_or_default();
    assert!(!lines.is_empty() && lines.len() <= 5, "{log:?}");
    for (path, status, says) in [
        ("plugins/nope-nope/log", 404, "no log yet"),
        ("plugins/..%2Fetc/log", 400, "not a plugin name"),
        (
            "plugins/dice-roller/log?lines=x",
            400,
            "lines must be a number",
        ),
        ("nothing-here", 404, "no such page"),
    ] {
        expect_error(path, &http::get(&api(path), &auth), status, says);
    }
    for (path, body, status, says) in [
        ("plugins/ghost-plugin/reload", json!({}), 404, "not running"),
        (
            "plugins/dice-roller/explode",
            json!({}),
            404,
            "use reload, restart, enable or disable",
        ),
        ("plugins/nats/reload", json!({}), 404, "is a service"),
        ("services/ghost/restart", json!({}), 404, "no service named"),
        (
            "plugins/ghost-plugin/enable",
            json!({}),
            404,
            "no plugin named",
        ),
        (
            "chat",
            json!({ "user": "a b", "text": "!roll" }),
            400,
            "not a user name",
        ),
        ("chat", json!({ "user": "alice" }), 400, "send {"),
    ] {
        expect_error(
            path,
            &http::post_json_with(&api(path), &body, &auth),
            status,
            says,
        );
    }
    let form = http::request(
        "POST",
        &api("plugins/dice-roller/reload"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            auth[0],
        ],
        Some("a=b"),
    );
    assert_eq!(form.status, 415, "{form:?}");

    // Chat answers like `rosey say`.
    let chat = http::post_json_with(
        &api("chat"),
        &json!({ "user": "bob", "text": "!roll 1d6" }),
        &auth,
    );
    assert_eq!(chat.status, 200, "{chat:?}");
    let replies = chat.json()["replies"].clone();
    assert!(
        replies[0]
            .as_str()
            .is_some_and(|reply| reply.starts_with("bob rolled 1d6")),
        "{replies}"
    );

    // Disable takes the plugin out of the stack and the registry; enable brings it back.
    let disabled = http::post_json_with(&api("plugins/8ball/disable"), &json!({}), &auth);
    assert_eq!(disabled.status, 200, "{disabled:?}");
    assert!(
        !stack.status()["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|unit| unit["name"] == "8ball"),
        "8ball still in the stack"
    );
    let installed = http::get(&api("plugins"), &auth).json();
    let eight = installed
        .as_array()
        .into_iter()
        .flatten()
        .find(|plugin| plugin["name"] == "8ball")
        .cloned()
        .unwrap_or_default();
    assert_eq!(eight["enabled"], false, "{installed}");
    let enabled = http::post_json_with(&api("plugins/8ball/enable"), &json!({}), &auth);
    assert_eq!(enabled.status, 200, "{enabled:?}");
    stack.wait_for_unit("8ball", WAIT, "running", |unit| unit["state"] == "running");

    // A plugin restart and a service restart.
    let restarted = http::post_json_with(&api("plugins/dice-roller/restart"), &json!({}), &auth);
    assert_eq!(restarted.status, 200, "{restarted:?}");
    let bot = http::post_json_with(&api("services/bot/restart"), &json!({}), &auth);
    assert_eq!(bot.status, 200, "{bot:?}");
    stack.wait_for_unit("bot", WAIT, "running", |unit| unit["state"] == "running");

    let recent = http::get(&api("events/recent"), &auth).json();
    let events: Vec<(String, String)> = recent
        .as_array()
        .into_iter()
        .flatten()
        .map(|notice| {
            (
                notice["unit"].as_str().unwrap_or_default().to_owned(),
                notice["event"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for wanted in [("8ball", "removed"), ("web", "started"), ("bot", "stopped")] {
        assert!(
            events
                .iter()
                .any(|(unit, event)| unit == wanted.0 && event == wanted.1),
            "{wanted:?} not in {events:?}"
        );
    }
}

#[test]
fn a_non_loopback_dashboard_without_a_token_is_refused_at_start() {
    let config = TEST_CONFIG.replace(
        "web:\n  port: 0\n",
        "web:\n  port: 0\n  host: 0.0.0.0\n  token: none\n",
    );
    let stack = TestStack::with_config(&[], &config);
    let text = stack.start_fails();
    assert!(
        text.contains("web.token") && text.contains("not loopback"),
        "{text}"
    );
    assert!(text.contains("remove web.token"), "names the fix: {text}");
    let left = wait_until_gone(&stack.home.path(), Duration::from_secs(10));
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn with_a_token_every_request_needs_it() {
    let config = TEST_CONFIG.replace(
        "web:\n  port: 0\n",
        "web:\n  port: 0\n  token: s3cret-token-long-enough-for-web\n",
    );
    let stack = TestStack::with_config(&[], &config);
    stack.start();
    let url = web_url(&stack);
    let status = format!("{url}api/status");

    let refused = http::get(&status, &[]);
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(refused.json()["error"]
        .as_str()
        .is_some_and(|error| error.contains("Authorization: Bearer")));
    assert!(
        !stack.home.path().join("data/web-token").exists(),
        "a configured token generates none"
    );
    assert_eq!(http::get(&url, &[]).status, 401);
    let wrong = http::get(&status, &[("Authorization", "Bearer wrong")]);
    assert_eq!(wrong.status, 401);

    let allowed = http::get(
        &status,
        &[("Authorization", "Bearer s3cret-token-long-enough-for-web")],
    );
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(allowed.json()["services"][2]["name"], "web");

    // The page's ?token= sets an HttpOnly cookie and drops the token from the address.
    let login = http::get(
        &format!("{url}?token=s3cret-token-long-enough-for-web"),
        &[],
    );
    assert_eq!(login.status, 303, "{login:?}");
    assert_eq!(login.header("location"), Some("/"));
    let cookie = login.header("set-cookie").unwrap_or_default().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let pair = cookie.split(';').next().unwrap_or_default().to_owned();
    let page = http::get(&url, &[("Cookie", &pair)]);
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(http::get(&status, &[("Cookie", &pair)]).status, 200);
    assert_eq!(http::get(&format!("{url}?token=wrong"), &[]).status, 401);
}

#[test]
fn by_default_a_generated_token_guards_the_page_and_every_action() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    let started = stack.start();
    let url = web_url(&stack);
    let secret = token(&stack);
    assert!(
        secret.len() >= 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()),
        "{secret}"
    );
    let file = stack.home.path().join("data/web-token");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file).expect("token file").permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "the token file is the operator's alone"
    );
    // `rosey start` and `rosey status` print the link that signs a browser in.
    let link = format!("{url}?token={secret}");
    assert!(started.contains(&link), "{started}");
    assert_eq!(stack.dashboard_link(), link);

    assert_eq!(http::get(&url, &[]).status, 401, "the page");
    for path in ["api/status", "api/plugins", "api/events/recent"] {
        assert_eq!(
            http::get(&format!("{url}{path}"), &[]).status,
            401,
            "{path}"
        );
    }
    for path in [
        "api/plugins/dice-roller/reload",
        "api/services/bot/restart",
        "api/chat",
    ] {
        let answer = http::post_json(
            &format!("{url}{path}"),
            &json!({ "user": "mallory", "text": "!roll 1d6" }),
        );
        assert_eq!(answer.status, 401, "{path}: {answer:?}");
    }
    let before = stack.unit("dice-roller")["pid"].clone();
    assert_eq!(
        stack.unit("dice-roller")["pid"],
        before,
        "nothing was reloaded"
    );

    // The token from the link works; a restart keeps it.
    let auth = format!("Bearer {secret}");
    let allowed = http::get(
        &format!("{url}api/status"),
        &[("Authorization", auth.as_str())],
    );
    assert_eq!(allowed.status, 200, "{allowed:?}");
    stack.home.run_ok(&["stop"]);
    stack.start();
    assert_eq!(token(&stack), secret, "the token is kept in the home");
}

#[test]
fn web_token_none_opens_a_loopback_dashboard() {
    let config = TEST_CONFIG.replace("web:\n  port: 0\n", "web:\n  port: 0\n  token: none\n");
    let stack = TestStack::with_config(&[], &config);
    stack.start();
    let url = web_url(&stack);
    assert_eq!(stack.dashboard_link(), url, "no token in the link");
    assert!(!stack.home.path().join("data/web-token").exists());
    let status = http::get(&format!("{url}api/status"), &[]);
    assert_eq!(status.status, 200, "{status:?}");
}

#[test]
fn a_disabled_dashboard_is_not_started() {
    let config = TEST_CONFIG.replace("web:\n  port: 0\n", "web:\n  enabled: false\n");
    let stack = TestStack::with_config(&[], &config);
    stack.start();
    let services: Vec<Value> = stack.status()["services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = services
        .iter()
        .filter_map(|unit| unit["name"].as_str())
        .collect();
    assert_eq!(names, ["nats", "bot", "plugins"]);
}

#[test]
fn a_taken_dashboard_port_fails_the_start_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let config = TEST_CONFIG.replace("web:\n  port: 0\n", &format!("web:\n  port: {port}\n"));
    let stack = TestStack::with_config(&[], &config);
    let text = stack.start_fails();
    assert!(
        text.contains(&format!("cannot listen on 127.0.0.1:{port}")) && text.contains("web.port"),
        "{text}"
    );
    let left = wait_until_gone(&stack.home.path(), Duration::from_secs(10));
    assert!(left.is_empty(), "{left:?}");
}

/// Asserts the API answered `path` with `status` and a JSON error containing `says`.
fn expect_error(path: &str, answer: &http::HttpResponse, status: u16, says: &str) {
    assert_eq!(answer.status, status, "{path}: {answer:?}");
    let error = answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains(says), "{path}: {error}");
}

//! End to end: the real `rosey` daemon (bot, NATS, dice-roller plugin) connected with
//! `bot.connector: cytube` to the emulated CyTube server of `rosey_e2e::cytube`, a real
//! socket.io server on loopback.

use std::time::Duration;

use rosey_core::{
    bus::BusUser,
    messaging::{self, ChatAction, CHAT_ACTION_SUBJECT, SCHEMA_VERSION},
};
use rosey_e2e::{
    cytube::{CytubeServer, Limits},
    stack::{TestStack, TEST_CONFIG},
};

const SLOW: Duration = Duration::from_secs(40);
const CHANNEL: &str = "test";
const BOT: &str = "rosey";
const PASSWORD: &str = "s3cret pass";

/// A home whose bot sits in `server`'s channel with `password`, dice-roller installed.
fn stack_for(server: &CytubeServer, password: &str) -> TestStack {
    let bot = server.bot_keys(BOT, password, CHANNEL);
    TestStack::with_config(&["dice-roller"], &format!("{TEST_CONFIG}{bot}"))
}

fn server() -> CytubeServer {
    CytubeServer::for_bot(BOT, PASSWORD, Limits::default())
}

/// Publishes `texts` as plugin chat replies straight onto the stack's NATS, in order.
fn publish_replies(stack: &TestStack, texts: &[String]) {
    let url = stack.nats_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = rosey_e2e::stack::connect_nats(&stack.home.path(), &url, BusUser::Daemon)
            .await
            .expect("connect to the stack's NATS");
        for text in texts {
            let action = ChatAction {
                v: SCHEMA_VERSION,
                text: text.clone(),
                to: None,
                plugin: "test".into(),
                in_reply_to: None,
                for_user: None,
            };
            client
                .publish(CHAT_ACTION_SUBJECT, messaging::encode(&action).into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
}

#[test]
fn a_roll_in_chat_is_answered_in_chat() {
    let server = server();
    let stack = stack_for(&server, PASSWORD);
    let out = stack.start();
    assert!(out.contains("✓ Bot service started"), "{out}");
    assert!(server.logged_in().contains(&BOT.to_owned()));
    let bot = stack.unit("bot");
    assert_eq!(bot["state"], "running", "{bot}");
    server.say(CHANNEL, "alice", "!roll 1d1+1");
    let reply = server.wait_for_chat(BOT, "= 2", SLOW);
    assert!(!reply.contains('<'), "a plain reply: {reply}");
    // Chat arrives HTML-escaped and is unescaped before routing: `<` and `&` reach the plugin.
    server.say(CHANNEL, "alice", "!roll 1d1+1 <&>");
    server.wait(SLOW, "a second reply", || {
        (server.chat_from(BOT).len() >= 2).then_some(())
    });
    assert!(
        server.pms(BOT, "alice").is_empty(),
        "chat is answered in chat"
    );
}

#[test]
fn a_pm_command_is_answered_by_pm() {
    let server = server();
    let stack = stack_for(&server, PASSWORD);
    stack.start();
    assert!(server.pm(CHANNEL, "bob", BOT, "!roll 1d1+2"));
    server.wait_for_pm(BOT, "bob", "= 3", SLOW);
    assert!(
        server.chat_from(BOT).iter().all(|m| !m.contains("= 3")),
        "a PM is not answered in chat: {:?}",
        server.chat_from(BOT)
    );
    // An unknown command by PM gets the list of commands by PM too.
    server.pm(CHANNEL, "bob", BOT, "!nosuch");
    server.wait_for_pm(BOT, "bob", "Unknown command", SLOW);
}

#[test]
fn commands_in_the_replayed_backlog_are_not_run() {
    let server = server();
    // Said before the bot joins: replayed to it as backlog on every join.
    server.say(CHANNEL, "alice", "!roll 1d1+5");
    server.say(CHANNEL, "alice", "!flip");
    let stack = stack_for(&server, PASSWORD);
    stack.start();
    server.say(CHANNEL, "alice", "!roll 1d1+1");
    server.wait_for_chat(BOT, "= 2", SLOW);
    // Its own echoes are not commands either: a reconnect replays them all once more.
    server.kick(BOT, "Rate limit exceeded");
    std::thread::sleep(Duration::from_millis(300));
    server.wait(SLOW, "the bot back in the channel", || {
        server.logged_in().contains(&BOT.to_owned()).then_some(())
    });
    server.say(CHANNEL, "alice", "!roll 1d1+3");
    server.wait_for_chat(BOT, "= 4", SLOW);
    let said = server.chat_from(BOT);
    assert_eq!(
        said.len(),
        2,
        "only the live commands were answered: {said:?}"
    );
    assert!(said.iter().all(|m| !m.contains("= 6")), "{said:?}");
}

#[test]
fn fifty_replies_in_a_burst_all_arrive_in_order() {
    // A stricter flood limit than the bot's pacing (burst 10): the server drops some with
    // `cooldown`, and the bot must resend every one of them.
    let server = CytubeServer::start(Limits {
        chat_burst: 4.0,
        chat_per_sec: 10.0,
        ..Limits::default()
    });
    server.add_account(BOT, PASSWORD);
    let stack = stack_for(&server, PASSWORD);
    stack.start();
    let texts: Vec<String> = (1..=50).map(|n| format!("reply number {n}")).collect();
    publish_replies(&stack, &texts);
    let said = server.wait(Duration::from_secs(60), "all 50 replies", || {
        let said = server.chat_from(BOT);
        (said.len() >= 50).then_some(said)
    });
    assert_eq!(said, texts, "every reply, once, in order");
    // A long reply is split on word boundaries at 320 characters, nothing lost.
    let long: String = (0..120)
        .map(|n| format!("w{n}"))
        .collect::<Vec<_>>()
        .join(" ");
    publish_replies(&stack, std::slice::from_ref(&long));
    let pieces = server.wait(SLOW, "the long reply", || {
        let said = server.chat_from(BOT);
        said.last()
            .is_some_and(|last| last.ends_with("w119"))
            .then(|| said[50..].to_vec())
    });
    assert!(pieces.len() >= 2, "{pieces:?}");
    assert!(
        pieces.iter().all(|p| p.chars().count() <= 320),
        "{pieces:?}"
    );
    assert_eq!(pieces.join(" "), long);
}

#[test]
fn a_server_restart_ends_reconnected_and_serving() {
    let server = server();
    let stack = stack_for(&server, PASSWORD);
    stack.start();
    server.say(CHANNEL, "alice", "!roll 1d1+1");
    server.wait_for_chat(BOT, "= 2", SLOW);

    server.stop();
    let bot = stack.wait_for_unit("bot", SLOW, "degraded", |unit| {
        unit["detail"]
            .as_str()
            .is_some_and(|d| d.contains("degraded"))
    });
    assert_eq!(bot["state"], "running", "degraded, not down: {bot}");
    publish_replies(&stack, &["said while the server was down".to_owned()]);
    std::thread::sleep(Duration::from_millis(500));
    server.start_again();

    server.wait_for_chat(BOT, "said while the server was down", SLOW);
    // Its detail then only tells its rank in the channel.
    stack.wait_for_unit("bot", SLOW, "connected again", |unit| {
        unit["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("rank: ") && !detail.contains("degraded"))
    });
    server.say(CHANNEL, "alice", "!roll 1d1+2");
    server.wait_for_chat(BOT, "= 3", SLOW);
    let total = server.connections_total();
    assert!(
        total <= 8,
        "reconnects stayed within CyTube's limits: {total}"
    );
}

#[test]
fn a_wrong_password_fails_clearly_without_a_retry_storm() {
    let server = server();
    let stack = stack_for(&server, "not the password");
    let text = stack.start_fails();
    assert!(
        text.contains("Invalid username/password combination"),
        "the server's reason: {text}"
    );
    assert_eq!(server.connections_total(), 1, "one login, no retries");
}

#[test]
fn a_duplicate_login_kick_stops_the_bot_with_that_reason() {
    let server = server();
    let stack = stack_for(&server, PASSWORD);
    stack.start();
    server.kick(BOT, "Duplicate login");
    let deadline = std::time::Instant::now() + SLOW;
    while stack.daemon_pid().is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(stack.home.path().join("logs/rosey.log")).unwrap_or_default();
    assert!(log.contains("Duplicate login"), "{log}");
    assert_eq!(server.connections_total(), 1, "no reconnect after the kick");
}

#[test]
fn channel_happenings_become_nats_events() {
    let server = server();
    let stack = stack_for(&server, PASSWORD);
    stack.start();
    let url = stack.nats_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let events = runtime.block_on(async {
        use futures::StreamExt;
        let client = rosey_e2e::stack::connect_nats(&stack.home.path(), &url, BusUser::Daemon)
            .await
            .expect("connect");
        let mut events = client.subscribe("rosey.events.>").await.expect("subscribe");
        client.flush().await.expect("flush");
        server.join(CHANNEL, "carol");
        server.say(CHANNEL, "carol", "a <b> & *c* _d_ https://example.com/x");
        server.change_media(CHANNEL, "Some video");
        server.leave(CHANNEL, "carol");
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + SLOW;
        while seen.len() < 4 {
            let Ok(Some(message)) = tokio::time::timeout_at(deadline, events.next()).await else {
                break;
            };
            let event: messaging::EventMessage =
                messaging::decode(&message.payload).expect("an event");
            if event.kind != "user.count" {
                seen.push((message.subject.to_string(), event));
            }
        }
        seen
    });
    let kinds: Vec<&str> = events.iter().map(|(_, e)| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["user.join", "chat.message", "media.change", "user.leave"],
        "{events:#?}"
    );
    assert_eq!(events[0].0, "rosey.events.user.join");
    assert_eq!(events[0].1.user.as_deref(), Some("carol"));
    let chat = &events[1].1;
    assert_eq!(
        chat.text.as_deref(),
        Some("a <b> & *c* _d_ https://example.com/x"),
        "the text as typed, for plugins"
    );
    let html = chat.data["html"].as_str().expect("the raw HTML beside it");
    assert!(
        html.contains("&lt;b&gt; &amp;")
            && html.contains("<strong>c</strong> <em>d</em>")
            && html.contains("<a href="),
        "{html}"
    );
    assert_eq!(events[2].1.data["title"], "Some video");
    assert_eq!(events[3].1.user.as_deref(), Some("carol"));
}

#[test]
fn a_guest_bot_joins_and_answers() {
    let server = server();
    let config = format!(
        "{TEST_CONFIG}  connector: cytube
  name: guestbot
  channel: {CHANNEL}
  cytube: {{ server: {}, connect_timeout_ms: 5000 }}
",
        server.url()
    );
    let stack = TestStack::with_config(&["dice-roller"], &config);
    stack.start();
    server.say(CHANNEL, "alice", "!roll 1d1+1");
    server.wait_for_chat("guestbot", "= 2", SLOW);
    let out = stack.rosey(&["say", "!roll"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connected to CyTube"), "{err}");
    // The dashboard's chat box is the local chat too: it says so instead of sending.
    let dashboard = stack.unit("web")["detail"]
        .as_str()
        .expect("the web unit's detail is its URL")
        .to_owned();
    let token = std::fs::read_to_string(stack.home.path().join("data/web-token"))
        .expect("the dashboard's token");
    let bearer = format!("Bearer {}", token.trim());
    let answer = rosey_e2e::http::post_json_with(
        &format!("{dashboard}api/chat"),
        &serde_json::json!({ "user": "alice", "text": "!roll" }),
        &[("Authorization", bearer.as_str())],
    );
    assert_eq!(answer.status, 409, "{answer:?}");
    let error = answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("local connector"), "{error}");
}

//! The kit's own tests: each drives a fixture plugin through a [`TestBot`] and checks what a
//! real host would have seen.

mod channel;
mod conveniences;
mod fixture;
mod lifecycle;

use std::time::Duration;

use self::fixture::{PanicsOnLoad, Probe, Refuses};
use super::{Said, TestBot, START_MS};
use crate::{ChatUser, LogLevel, Media, Rank};

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn texts(said: &[Said]) -> Vec<&str> {
    said.iter().map(|said| said.text.as_str()).collect()
}

#[test]
fn a_command_in_chat_is_answered_in_chat_with_or_without_the_bang() {
    let mut bot = TestBot::<Probe>::new();
    assert_eq!(bot.command("alice", "!hi"), [Said::chat("hello, alice")]);
    assert_eq!(bot.command("bob", "HI  "), [Said::chat("hello, bob")]);
    assert_eq!(bot.command("bob", "rank"), [Said::chat("registered")]);
}

#[test]
fn the_sender_rank_reaches_the_plugin() {
    let mut bot = TestBot::<Probe>::new();
    let said = bot.command_as("carol", Rank::MODERATOR, "kick  dave ");
    assert_eq!(said, [Said::chat("kicked dave")]);
    assert_eq!(
        bot.command("eve", "kick dave"),
        [Said::chat("moderators only")]
    );
    assert_eq!(bot.command_as("x", Rank(7), "rank"), [Said::chat("7")]);
}

#[test]
fn a_command_by_pm_is_replied_to_by_pm_while_say_and_pm_go_where_they_say() {
    let mut bot = TestBot::<Probe>::new();
    assert_eq!(
        bot.pm_command("alice", Rank::GUEST, "hi"),
        [Said::pm("alice", "hello, alice")]
    );
    assert_eq!(
        bot.pm_command("alice", Rank::GUEST, "shout wake up"),
        [Said::chat("wake up"), Said::pm("alice", "shouted")]
    );
}

#[test]
fn a_one_off_timer_fires_once_at_its_due_time_with_the_clock_reading_it() {
    let mut bot = TestBot::<Probe>::new();
    bot.command("a", "after 1500 tea");
    assert_eq!(bot.timers(), [("tea".to_owned(), START_MS + 1500)]);
    assert_eq!(bot.advance(ms(1499)), []);
    assert_eq!(bot.now_ms(), START_MS + 1499);
    // Timers answer in chat, and the clock reads the due time, not the end of the advance.
    assert_eq!(bot.advance(ms(5000)), [Said::chat("tea due 1500 now 1500")]);
    assert_eq!(bot.command("a", "now"), [Said::chat("6499")]);
    assert!(bot.timers().is_empty());
    assert_eq!(bot.advance(ms(10_000)), []);
}

#[test]
fn a_repeating_timer_fires_every_period_until_cancelled() {
    let mut bot = TestBot::<Probe>::new();
    bot.command("a", "every 1000 tick");
    assert_eq!(
        texts(&bot.advance(ms(3500))),
        [
            "tick due 1000 now 1000",
            "tick due 2000 now 2000",
            "tick due 3000 now 3000"
        ]
    );
    assert_eq!(bot.timers(), [("tick".to_owned(), START_MS + 4000)]);
    assert_eq!(bot.command("a", "cancel tick"), [Said::chat("true")]);
    assert_eq!(bot.command("a", "cancel tick"), [Said::chat("false")]);
    assert_eq!(bot.advance(ms(5000)), []);
}

#[test]
fn timers_fire_in_due_then_arming_order_and_one_armed_by_a_timer_fires_in_the_same_advance() {
    let mut bot = TestBot::<Probe>::new();
    for line in [
        "after 200 second",
        "after 100 first",
        "after 200 third",
        "after 150 once-more",
    ] {
        bot.command("a", line);
    }
    assert_eq!(
        bot.timers().first(),
        Some(&("first".to_owned(), START_MS + 100))
    );
    // `once-more` arms `again` 50 ms on: due with `second` and `third`, armed after them.
    assert_eq!(
        texts(&bot.advance(ms(1000))),
        [
            "first due 100 now 100",
            "once-more due 150 now 150",
            "second due 200 now 200",
            "third due 200 now 200",
            "again due 200 now 200"
        ]
    );
}

#[test]
fn a_timer_the_host_would_refuse_is_refused_with_the_hosts_words() {
    let mut bot = TestBot::<Probe>::new();
    let refused = |bot: &mut TestBot<Probe>, line: &str| {
        bot.try_command("a", Rank::REGISTERED, line)
            .expect_err("refused")
    };
    assert_eq!(
        refused(&mut bot, "every 99 fast"),
        "timer \"fast\" repeats every 99 ms: the shortest period is 100 ms"
    );
    assert_eq!(
        refused(&mut bot, &format!("after 10 {}", "n".repeat(65))),
        "a timer's name must be 1 to 64 bytes, not 65"
    );
    let far = refused(
        &mut bot,
        &format!("after {} far", 367 * 24 * 3600 * 1000_u64),
    );
    assert!(far.contains("more than a year ahead"), "{far}");
    assert!(bot.timers().is_empty());
    for n in 0..crate::MAX_TIMERS {
        bot.command("a", &format!("after 1000 t{n}"));
    }
    let full = refused(&mut bot, "after 1000 one-too-many");
    assert_eq!(
        full,
        "1000 timers are armed already, the most one plugin may have; cancel some first"
    );
    // Re-arming one that is armed replaces it.
    bot.command("a", "after 2000 t0");
    assert_eq!(
        bot.timers().last(),
        Some(&("t0".to_owned(), START_MS + 2000))
    );
}

#[test]
fn a_thread_of_the_plugin_speaks_through_its_handle_the_way_the_command_came() {
    let mut bot = TestBot::<Probe>::new();
    assert_eq!(bot.pm_command("alice", Rank::GUEST, "later"), []);
    assert_eq!(
        bot.wait_for_said(Duration::from_secs(5)),
        [Said::pm("alice", "later")]
    );
    bot.command("bob", "later");
    assert_eq!(
        bot.wait_for_said(Duration::from_secs(5)),
        [Said::chat("later")]
    );
    assert_eq!(bot.wait_for_said(ms(30)), []);
}

#[test]
fn the_store_logs_and_published_events_are_recorded_and_bad_events_refused() {
    let mut bot = TestBot::<Probe>::new();
    bot.command("a", "set quote:1 to be");
    bot.command("a", "set quote:2 or not");
    bot.command("a", "set other x");
    assert_eq!(bot.command("a", "get quote:2"), [Said::chat("or not")]);
    assert_eq!(
        bot.command("a", "list quote:"),
        [Said::chat("quote:1,quote:2")]
    );
    assert_eq!(bot.command("a", "del other"), [Said::chat("true")]);
    assert_eq!(bot.command("a", "del other"), [Said::chat("false")]);
    assert_eq!(bot.kv_string("quote:1").as_deref(), Some("to be"));
    assert_eq!(bot.kv().len(), 2);
    assert_eq!(bot.kv_string("other"), None);

    bot.command("a", "log careful now");
    assert_eq!(
        bot.logs(),
        [
            (LogLevel::Info, "loaded with count 0".to_owned()),
            (LogLevel::Warn, "careful now".to_owned())
        ]
    );

    bot.command("a", r#"publish quote.added {"n":1}"#);
    assert_eq!(
        bot.published(),
        [("quote.added".to_owned(), r#"{"n":1}"#.to_owned())]
    );
    assert_eq!(bot.published(), []);
    let bad_kind = bot.try_command("a", Rank::REGISTERED, "publish Quote {}");
    assert!(bad_kind.is_err_and(|err| err.contains("is not a valid event kind")));
    let bad_json = bot.try_command("a", Rank::REGISTERED, "publish quote.added {");
    assert!(bad_json.is_err_and(|err| err.starts_with("the event payload is not JSON")));
}

#[test]
fn users_and_media_answer_what_the_test_set() {
    let mut bot = TestBot::<Probe>::new();
    assert_eq!(bot.command("a", "who"), [Said::chat("")]);
    assert_eq!(bot.command("a", "playing"), [Said::chat("nothing")]);
    bot.set_users(vec![ChatUser {
        name: "alice".to_owned(),
        rank: Rank::ADMIN,
        afk: true,
    }]);
    bot.set_media(Some(Media {
        title: "Song".to_owned(),
        kind: "yt".to_owned(),
        id: "abc".to_owned(),
        duration: Duration::from_secs(215),
    }));
    assert_eq!(bot.command("a", "who"), [Said::chat("alice:admin:true")]);
    assert_eq!(bot.command("a", "playing"), [Said::chat("Song (215s)")]);
}

#[test]
fn a_chat_line_arrives_as_the_routers_chat_message_event() {
    let mut bot = TestBot::<Probe>::new();
    assert_eq!(
        bot.chat("alice", "hi all"),
        [Said::chat("alice (registered) said hi all")]
    );
    let said = bot.chat("bob", "payload");
    let payload: serde_json::Value =
        serde_json::from_str(&said[0].text).expect("the payload is JSON");
    assert_eq!(payload["kind"], "chat.message");
    assert_eq!(payload["user"], "bob");
    assert_eq!(payload["text"], "payload");
    assert_eq!(payload["rank"], "registered");
    assert_eq!(payload["time_ms"], START_MS);
    assert_eq!(payload["data"]["channel"], "test");
    assert_eq!(payload["v"], 1);
    assert!(payload["id"].is_string());
    assert!(
        payload["data"].get("command").is_none(),
        "talk is no command"
    );
    let said = bot.chat("bob", "!payload now");
    let payload: serde_json::Value =
        serde_json::from_str(&said[0].text).expect("the payload is JSON");
    assert_eq!(
        payload["data"]["command"], "payload",
        "a command line names its command, as the router marks it"
    );
}

#[test]
fn an_event_is_handed_over_as_given_with_a_rank_only_when_it_names_a_user() {
    let mut bot = TestBot::<Probe>::new();
    bot.advance(ms(42));
    assert_eq!(
        bot.event("user.join", Some("dave"), None, r#"{"x":1}"#),
        [Said::chat(
            r#"user.join Some("dave") None {"x":1} registered at 42"#
        )]
    );
    assert_eq!(
        bot.event("media.change", None, Some("t"), "{}"),
        [Said::chat(r#"media.change None Some("t") {} none at 42"#)]
    );
}

#[test]
fn a_failing_or_panicking_hook_comes_back_as_err_and_the_plugin_stays_loaded() {
    let mut bot = TestBot::<Probe>::new();
    let failed = bot.try_command("a", Rank::REGISTERED, "fail today");
    assert_eq!(failed, Err("no luck: today".to_owned()));
    let panicked = bot
        .try_command("a", Rank::REGISTERED, "boom now")
        .expect_err("the panic is an error");
    assert!(panicked.starts_with("boom: now (at "), "{panicked}");
    assert!(panicked.contains("fixture.rs"), "{panicked}");
    assert_eq!(bot.command("a", "hi"), [Said::chat("hello, a")]);
}

#[test]
#[should_panic(expected = "no luck: here (use try_command to test failures)")]
fn command_panics_with_the_hooks_error() {
    TestBot::<Probe>::new().command("a", "fail here");
}

#[test]
fn a_plugin_that_fails_to_load_gives_its_error() {
    let refused = TestBot::<Refuses>::try_load("db", "{}").err();
    assert_eq!(refused.as_deref(), Some("no database configured"));
    let panicked = TestBot::<PanicsOnLoad>::try_load("p", "{}")
        .err()
        .unwrap_or_default();
    assert!(panicked.starts_with("cannot start (at "), "{panicked}");
}

#[test]
#[should_panic(expected = "must be a JSON object")]
fn a_configuration_that_is_not_an_object_is_a_mistake_in_the_test() {
    TestBot::<Probe>::with_config("[1, 2]");
}

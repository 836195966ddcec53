//! The plugin driven through `rosey_abi::testing`: a fake clock instead of sleeping, reloads
//! and restarts as the daemon does them, and the store looked at directly.

use std::time::Duration;

use rosey_abi::{
    testing::{Said, TestBot, START_MS},
    Rank,
};

use super::*;

fn mins(minutes: u64) -> Duration {
    Duration::from_secs(minutes * 60)
}

const MS: Duration = Duration::from_millis(1);

/// The due times of the armed timers, in minutes from the start.
fn due_minutes(bot: &TestBot<Remind>) -> Vec<u64> {
    (bot.timers().iter())
        .map(|(_, due)| (due - START_MS) / 60_000)
        .collect()
}

/// The keys of the stored reminders.
fn stored(bot: &TestBot<Remind>) -> Vec<String> {
    (bot.kv().into_keys())
        .filter(|key| key.starts_with(KEY_PREFIX))
        .collect()
}

#[test]
fn parses_requests() {
    let set = |secs, text| Request::Set {
        delay: Duration::from_secs(secs),
        text,
    };
    assert_eq!(Request::parse(""), Request::Usage);
    assert_eq!(Request::parse("10m stretch"), set(600, "stretch"));
    assert_eq!(
        Request::parse("in 1h30m  stand up  now"),
        set(5_400, "stand up  now")
    );
    assert_eq!(Request::parse("LIST"), Request::List);
    assert_eq!(Request::parse("list all"), Request::Usage);
    assert_eq!(Request::parse("cancel #3"), Request::Cancel(3));
    assert_eq!(Request::parse("cancel 12"), Request::Cancel(12));
    assert_eq!(Request::parse("cancel"), Request::Usage);
    assert_eq!(Request::parse("in"), Request::Usage);
    let Request::Invalid(reason) = Request::parse("cancel x") else {
        panic!("an id must be a number")
    };
    assert!(reason.contains("a number from !remind list"), "{reason}");
    let Request::Invalid(reason) = Request::parse("soon stretch") else {
        panic!("soon is not a duration")
    };
    assert!(reason.contains("is not a duration"), "{reason}");
    let Request::Invalid(reason) = Request::parse("10m") else {
        panic!("a reminder needs a message")
    };
    assert!(
        reason.starts_with("what should I remind you of?"),
        "{reason}"
    );
}

#[test]
fn list_clips_long_texts() {
    assert_eq!(clip("short"), "short");
    assert_eq!(clip(&"x".repeat(41)), format!("{}…", "x".repeat(40)));
}

#[test]
fn a_reminder_already_due_at_load_is_armed_to_fire_at_once() {
    assert_eq!(delay_until(5_000, 9_000), Duration::ZERO);
    assert_eq!(delay_until(9_000, 9_000), Duration::ZERO);
    assert_eq!(delay_until(9_000, 5_000), Duration::from_secs(4));
}

#[test]
fn a_reminder_is_said_when_due_and_not_before() {
    let mut bot = TestBot::<Remind>::new();
    assert_eq!(
        bot.command("alice", "remind 10m stretch"),
        [Said::chat("alice: I'll remind you in 10m.")]
    );
    let key = reminder::key(START_MS + 600_000, 1);
    assert_eq!(bot.timers(), [(key.clone(), START_MS + 600_000)]);
    assert_eq!(bot.kv_string(&key).as_deref(), Some("alice\nchat\nstretch"));

    assert_eq!(bot.advance(mins(10) - MS), []);
    assert_eq!(bot.advance(MS), [Said::chat("alice: reminder: stretch")]);
    assert_eq!(stored(&bot), Vec::<String>::new(), "said, then deleted");
    assert_eq!(bot.timers(), []);
    assert_eq!(bot.advance(mins(60)), [], "said once");
}

#[test]
fn reminders_survive_a_reload_with_the_time_left() {
    let mut bot = TestBot::<Remind>::new();
    bot.command("alice", "remind 10m stretch");
    bot.command("bob", "remind 1h tea");
    assert_eq!(bot.advance(mins(4)), []);

    assert_eq!(bot.reload(), []);
    assert_eq!(due_minutes(&bot), [10, 60], "re-armed for the time left");
    assert_eq!(bot.advance(mins(6) - MS), []);
    assert_eq!(bot.advance(MS), [Said::chat("alice: reminder: stretch")]);
    assert_eq!(bot.advance(mins(50)), [Said::chat("bob: reminder: tea")]);
    assert_eq!(stored(&bot), Vec::<String>::new());
}

#[test]
fn reminders_survive_a_restart_pms_included() {
    let mut bot = TestBot::<Remind>::new();
    bot.command("alice", "remind 10m stretch");
    bot.pm_command("bob", Rank::REGISTERED, "remind 30m tea");
    bot.advance(mins(5));

    // A crash or a daemon restart: no unload, no state, no timers; the store stays.
    assert_eq!(bot.restart(), []);
    assert_eq!(due_minutes(&bot), [10, 30]);
    assert_eq!(bot.advance(mins(5) - MS), []);
    assert_eq!(bot.advance(MS), [Said::chat("alice: reminder: stretch")]);
    bot.restart();
    assert_eq!(bot.advance(mins(20)), [Said::pm("bob", "reminder: tea")]);
}

#[test]
fn a_pm_is_answered_and_reminded_by_pm() {
    let mut bot = TestBot::<Remind>::new();
    assert_eq!(
        bot.pm_command("alice", Rank::REGISTERED, "remind in 90s drink water"),
        [Said::pm("alice", "alice: I'll remind you in 1m30s.")]
    );
    assert_eq!(
        bot.advance(Duration::from_secs(90)),
        [Said::pm("alice", "reminder: drink water")]
    );
}

#[test]
fn each_user_has_a_limit_and_the_delay_a_maximum() {
    let mut bot = TestBot::<Remind>::with_config(r#"{"max_per_user": 2, "max_delay": "1d"}"#);
    bot.command("alice", "remind 1m one");
    bot.command("alice", "remind 2m two");
    let refused = bot.command("Alice", "remind 3m three");
    assert!(
        refused[0]
            .text
            .starts_with("Alice: you already have 2 reminders waiting"),
        "{refused:?}"
    );
    assert_eq!(
        bot.command("bob", "remind 3m three"),
        [Said::chat("bob: I'll remind you in 3m.")],
        "the limit is per user"
    );
    assert_eq!(stored(&bot).len(), 3);

    bot.advance(mins(1));
    assert_eq!(
        bot.command("alice", "remind 3m three"),
        [Said::chat("alice: I'll remind you in 3m.")],
        "room again once one was said"
    );
    assert_eq!(
        bot.command("bob", "remind 25h later"),
        [Said::chat("bob: I can only remind you up to 1d ahead.")]
    );
    assert_eq!(
        bot.command("bob", "remind 0s now"),
        [Said::chat("bob: pick a time from now, like 10m.")]
    );
    let unreadable = bot.command("bob", "remind soon stretch");
    assert!(
        unreadable[0].text.contains("is not a duration"),
        "{unreadable:?}"
    );
    assert_eq!(bot.command("bob", "remind"), [Said::chat(USAGE)]);
    assert_eq!(stored(&bot).len(), 3, "nothing refused was stored");
}

#[test]
fn list_and_cancel_touch_only_the_askers_own() {
    let mut bot = TestBot::<Remind>::new();
    bot.command("alice", "remind 10m stretch");
    bot.command("alice", "remind 1h30m tea");
    bot.command("bob", "remind 5m nap");
    bot.advance(mins(1));

    assert_eq!(
        bot.command("alice", "remind list"),
        [Said::chat("alice: #1 in 9m: stretch | #2 in 1h29m: tea")]
    );
    assert_eq!(
        bot.command("bob", "remind cancel 1"),
        [Said::chat(
            "bob: you have no reminder #1 (see !remind list)."
        )]
    );
    assert_eq!(
        bot.command("alice", "remind cancel #1"),
        [Said::chat("alice: cancelled reminder #1 (stretch).")]
    );
    assert_eq!(due_minutes(&bot), [5, 90], "its timer went with it");
    assert_eq!(stored(&bot).len(), 2);

    assert_eq!(
        bot.advance(mins(89)),
        [
            Said::chat("bob: reminder: nap"),
            Said::chat("alice: reminder: tea")
        ]
    );
    assert_eq!(
        bot.command("alice", "remind list"),
        [Said::chat("alice: you have no reminders waiting.")]
    );
    assert_eq!(
        bot.command("alice", "remind 1m again"),
        [Said::chat("alice: I'll remind you in 1m.")]
    );
    assert_eq!(
        bot.command("alice", "remind list"),
        [Said::chat("alice: #4 in 1m: again")],
        "numbers are not reused"
    );
}

#[test]
fn a_bad_configuration_is_refused_and_a_good_one_taken_live() {
    let err = TestBot::<Remind>::try_load("remind", r#"{"max_delay": "forever"}"#)
        .err()
        .unwrap_or_default();
    assert!(err.contains("config: max_delay"), "{err}");
    let err = TestBot::<Remind>::try_load("remind", r#"{"max_per_user": 0}"#)
        .err()
        .unwrap_or_default();
    assert!(err.contains("max_per_user"), "{err}");

    let mut bot = TestBot::<Remind>::new();
    bot.command("alice", "remind 10m stretch");
    assert!(bot.set_config(r#"{"max_per_user": "many"}"#).is_err());
    assert_eq!(bot.set_config(r#"{"max_delay": "5m"}"#), Ok(Vec::new()));
    assert_eq!(
        bot.command("bob", "remind 6m tea"),
        [Said::chat("bob: I can only remind you up to 5m ahead.")]
    );
    assert_eq!(due_minutes(&bot), [10], "taken live: the timers stay");
}

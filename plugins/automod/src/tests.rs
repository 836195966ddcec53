//! The plugin driven through `rosey_abi::testing`: chat lines as events, a fake clock for the
//! flood window and the warning window, and a fake channel that records the actions and
//! refuses them when told to.

use std::time::Duration;

use rosey_abi::{
    testing::{chat_user, Said, TestBot},
    Action, ActionError, ActionErrorKind, LogLevel, Rank,
};

use super::*;

/// Three lines within 5 s at most; a flood is the fourth.
const CONFIG: &str = r#"{"flood": {"messages": 3, "seconds": 5}, "words": ["spam", "free money"]}"#;

fn bot() -> TestBot<Automod> {
    TestBot::with_config(CONFIG)
}

fn mins(minutes: u64) -> Duration {
    Duration::from_secs(minutes * 60)
}

/// `user` says four lines at once: a flood. What was said in answer.
fn flood(bot: &mut TestBot<Automod>, user: &str) -> Vec<Said> {
    let mut said = Vec::new();
    for n in 0..4 {
        said.extend(bot.chat(user, &format!("line {n}")));
    }
    said
}

fn mute(user: &str) -> Action {
    Action::Mute {
        user: user.to_owned(),
    }
}

fn infos(bot: &TestBot<Automod>) -> Vec<String> {
    (bot.logs().into_iter())
        .filter(|(level, _)| *level == LogLevel::Info)
        .map(|(_, line)| line)
        .collect()
}

fn warnings(bot: &TestBot<Automod>) -> usize {
    (bot.logs().iter())
        .filter(|(level, _)| *level == LogLevel::Warn)
        .count()
}

fn status(bot: &mut TestBot<Automod>) -> String {
    let said = bot.command_as("mod", Rank::MODERATOR, "automod status");
    said.first()
        .map(|said| said.text.clone())
        .unwrap_or_default()
}

#[test]
fn a_flood_is_warned_then_muted() {
    let mut bot = bot();
    for n in 0..3 {
        assert_eq!(bot.chat("alice", &format!("hi {n}")), []);
    }
    assert_eq!(
        bot.chat("alice", "hi again"),
        [Said::chat("alice, please slow down.")]
    );
    assert_eq!(bot.actions(), [], "a warning only");
    bot.advance(Duration::from_secs(30));
    assert_eq!(
        flood(&mut bot, "alice"),
        [Said::chat("Muted alice for flooding.")]
    );
    assert_eq!(bot.actions(), [mute("alice")]);
    let logged = infos(&bot);
    assert!(
        logged.contains(&"warned alice for flooding".to_owned()),
        "{logged:?}"
    );
    assert!(
        logged.contains(&"mute alice for flooding: done".to_owned()),
        "{logged:?}"
    );
}

#[test]
fn lines_spread_out_are_no_flood_and_commands_count_as_lines() {
    let mut bot = bot();
    for _ in 0..10 {
        assert_eq!(bot.chat("alice", "hello"), []);
        bot.advance(Duration::from_secs(2));
    }
    for line in ["!roll", "!roll", "!roll"] {
        assert_eq!(bot.chat("bob", line), []);
    }
    assert_eq!(
        bot.chat("bob", "!roll"),
        [Said::chat("bob, please slow down.")]
    );
}

#[test]
fn never_twice_in_one_window_and_a_fresh_start_after_it() {
    let mut bot = bot();
    flood(&mut bot, "alice");
    flood(&mut bot, "alice");
    assert_eq!(bot.actions(), [mute("alice")]);
    bot.advance(mins(5));
    assert_eq!(flood(&mut bot, "alice"), [], "acted on already");
    assert_eq!(bot.actions(), []);

    bot.advance(mins(10));
    assert_eq!(
        flood(&mut bot, "alice"),
        [Said::chat("alice, please slow down.")],
        "the window is over: a warning again"
    );
    // A warning long ago does not count either.
    bot.advance(mins(11));
    assert_eq!(
        flood(&mut bot, "alice"),
        [Said::chat("alice, please slow down.")]
    );
    assert_eq!(bot.actions(), []);
}

#[test]
fn banned_words_are_whole_words_in_any_case() {
    let mut bot = bot();
    assert_eq!(bot.chat("bob", "I am a spammer, sorry"), []);
    assert_eq!(bot.chat("bob", "money is free in class"), []);
    assert_eq!(
        bot.chat("bob", "buy SPAM!"),
        [Said::chat("bob, watch your language.")]
    );
    assert_eq!(
        bot.chat("bob", "Free  Money here"),
        [Said::chat("Muted bob for banned words.")]
    );
    assert_eq!(bot.actions(), [mute("bob")]);
}

#[test]
fn moderators_the_bot_and_the_exempt_are_spared() {
    let mut bot = TestBot::<Automod>::with_config(
        r#"{"flood": {"messages": 3, "seconds": 5}, "words": "spam", "exempt": ["Carol"]}"#,
    );
    // The kit's chat lines are from registered users: the user list says who moderates.
    bot.set_users(vec![chat_user("Mod", Rank::MODERATOR)]);
    for user in ["mod", "carol", "rosey"] {
        assert_eq!(flood(&mut bot, user), [], "{user}");
        assert_eq!(bot.chat(user, "spam spam spam"), [], "{user}");
        assert_eq!(flood(&mut bot, user), [], "{user}");
    }
    assert_eq!(bot.actions(), []);
    assert!(status(&mut bot).starts_with("automod: 0 warnings, 0 actions"));
}

#[test]
fn a_line_whose_event_says_moderator_is_spared() {
    let mut bot = bot();
    // Nobody in the user list: only the event's own rank says who moderates.
    for n in 0..8 {
        assert_eq!(
            bot.chat_as("modly", Rank::MODERATOR, &format!("free money {n}")),
            []
        );
    }
    assert_eq!(bot.actions(), []);
    assert_eq!(
        bot.chat_as("newbie", Rank::REGISTERED, "free money"),
        [Said::chat("newbie, watch your language.")]
    );
}

#[test]
fn kick_and_shadow_mute_are_configurable() {
    let config = r#"{"flood": {"messages": 3, "seconds": 5}, "action": "kick"}"#;
    let mut bot = TestBot::<Automod>::with_config(config);
    flood(&mut bot, "alice");
    assert_eq!(
        flood(&mut bot, "alice"),
        [Said::chat("Kicked alice for flooding.")]
    );
    assert_eq!(
        bot.actions(),
        [Action::Kick {
            user: "alice".to_owned(),
            reason: "flooding (automod)".to_owned()
        }]
    );

    let config = r#"{"flood": {"messages": 3, "seconds": 5}, "action": "shadow_mute"}"#;
    let mut bot = TestBot::<Automod>::with_config(config);
    flood(&mut bot, "alice");
    assert_eq!(
        flood(&mut bot, "alice"),
        [],
        "a shadow mute is not announced"
    );
    assert_eq!(
        bot.actions(),
        [Action::ShadowMute {
            user: "alice".to_owned()
        }]
    );
    assert!(infos(&bot).contains(&"shadow_mute alice for flooding: done".to_owned()));
}

#[test]
fn pardon_forgets_the_strikes_and_unmutes() {
    let mut bot = bot();
    flood(&mut bot, "alice");
    flood(&mut bot, "alice");
    bot.actions();
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "automod pardon Alice"),
        [Said::chat("Pardoned Alice: strikes cleared, unmuted.")]
    );
    assert_eq!(
        bot.actions(),
        [Action::Unmute {
            user: "Alice".to_owned()
        }]
    );
    assert_eq!(
        flood(&mut bot, "alice"),
        [Said::chat("alice, please slow down.")],
        "a clean slate"
    );

    bot.refuse_next_action(ActionError::new(ActionErrorKind::Refused, "no such user"));
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "automod pardon bob"),
        [Said::chat(
            "Pardoned bob: no strikes to clear, but I could not unmute them: no such user"
        )]
    );
    assert!(infos(&bot)
        .iter()
        .any(|line| line.ends_with("failed (refused): no such user")));
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "automod pardon bad!name"),
        [Said::chat("\"bad!name\" is not a user name.")]
    );
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "automod pardon"),
        [Said::chat(USAGE)]
    );
}

#[test]
fn a_bot_without_the_rank_says_so_once() {
    let mut bot = bot();
    bot.refuse_actions(
        ActionErrorKind::BotRank,
        "muting needs rank 2 (moderator); the bot is registered",
    );
    flood(&mut bot, "alice");
    assert_eq!(
        flood(&mut bot, "alice"),
        [Said::chat(
            "I need to be a moderator here to act on flooding and banned words."
        )]
    );
    flood(&mut bot, "bob");
    assert_eq!(flood(&mut bot, "bob"), [], "said once");
    assert_eq!(warnings(&bot), 1, "{:?}", bot.logs());
    let failed = (infos(&bot).into_iter())
        .filter(|line| line.contains("failed (bot_rank)"))
        .count();
    assert_eq!(failed, 2, "every attempt is logged");
    assert!(status(&mut bot).starts_with("automod: 2 warnings, 0 actions (2 failed)"));

    // Promoted: it works again, and a later demotion would be reported again.
    bot.accept_actions();
    flood(&mut bot, "carol");
    assert_eq!(
        flood(&mut bot, "carol"),
        [Said::chat("Muted carol for flooding.")]
    );
}

#[test]
fn only_moderators_use_the_command_and_status_counts() {
    let mut bot = bot();
    assert_eq!(
        bot.command("alice", "automod status"),
        [Said::chat(MODS_ONLY)]
    );
    flood(&mut bot, "alice");
    flood(&mut bot, "alice");
    bot.chat("bob", "spam");
    assert_eq!(
        status(&mut bot),
        "automod: 2 warnings, 1 action (0 failed) since it started; 2 users with strikes now. \
         Flood: over 3 lines in 5s; 2 banned words; second offence: mute."
    );
    assert_eq!(
        bot.command_as("mod", Rank::ADMIN, "automod"),
        bot.command_as("mod", Rank::ADMIN, "automod STATUS")
    );
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "automod ban everyone"),
        [Said::chat(USAGE)]
    );
}

#[test]
fn leaving_ends_a_flood_window_but_wipes_no_slate() {
    let mut bot = bot();
    for _ in 0..3 {
        bot.chat("alice", "hi");
    }
    bot.event(
        "user.leave",
        Some("alice"),
        None,
        r#"{"data": {"name": "alice"}}"#,
    );
    assert_eq!(bot.chat("alice", "back"), [], "the window started over");

    bot.chat("bob", "spam");
    bot.event(
        "user.leave",
        Some("bob"),
        None,
        r#"{"data": {"name": "bob"}}"#,
    );
    assert_eq!(
        bot.chat("bob", "spam again"),
        [Said::chat("Muted bob for banned words.")]
    );
}

#[test]
fn strikes_and_counts_survive_a_reload() {
    let mut bot = bot();
    bot.chat("bob", "spam");
    assert_eq!(bot.reload(), []);
    assert_eq!(
        bot.chat("bob", "spam"),
        [Said::chat("Muted bob for banned words.")]
    );
    assert!(status(&mut bot).starts_with("automod: 1 warning, 1 action"));
    bot.restart();
    assert!(status(&mut bot).starts_with("automod: 0 warnings, 0 actions"));
}

#[test]
fn configuration_is_checked_and_taken_live() {
    for (config, key) in [
        (r#"{"flood": {"messages": 0}}"#, "flood.messages"),
        (r#"{"flood": {"seconds": "soon"}}"#, "flood.seconds"),
        (r#"{"action": "ban"}"#, "action"),
        (r#"{"warn_reset_minutes": 0}"#, "warn_reset_minutes"),
        (r#"{"words": {"a": 1}}"#, "words"),
        (r#"{"exempt": [["x"]]}"#, "exempt"),
    ] {
        let err = TestBot::<Automod>::try_load("automod", config)
            .err()
            .unwrap_or_default();
        assert!(err.contains(key), "{config}: {err}");
    }
    let mut bot = TestBot::<Automod>::new();
    assert_eq!(bot.chat("bob", "scam"), []);
    assert!(bot.set_config(r#"{"action": "nuke"}"#).is_err());
    assert_eq!(bot.set_config(r#"{"words": "scam, spam"}"#), Ok(Vec::new()));
    assert_eq!(
        bot.chat("bob", "scam"),
        [Said::chat("bob, watch your language.")]
    );
}

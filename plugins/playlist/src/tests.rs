//! The plugin driven through `rosey_abi::testing`: a fake channel whose playlist, users and
//! bot the test sets, whose actions are recorded, and which refuses them when told to.

use std::time::Duration;

use rosey_abi::{
    testing::{chat_user, playlist_item, Said, TestBot},
    Action, ActionError, ActionErrorKind, ChatUser, LogLevel, PlaylistItem, QueueAt, Rank,
};

use super::*;

fn user(name: &str) -> ChatUser {
    chat_user(name, Rank::REGISTERED)
}

fn said(text: &str) -> [Said; 1] {
    [Said::chat(text)]
}

/// A bot with three songs, the first playing, and four users present besides the bot
/// itself (so two votes skip at the default threshold).
fn dj() -> TestBot<PlaylistPlugin> {
    let mut bot = TestBot::<PlaylistPlugin>::new();
    bot.set_playlist(
        vec![
            playlist_item(1, "One"),
            playlist_item(2, "Two"),
            playlist_item(3, "Three"),
        ],
        Some(1),
    );
    bot.set_users(
        ["alice", "bob", "carol", "dave", "rosey"]
            .map(user)
            .to_vec(),
    );
    bot
}

fn queue_action(link: &str) -> Action {
    Action::Queue {
        link: link.to_owned(),
        at: QueueAt::End,
        temp: false,
    }
}

#[test]
fn add_queues_at_the_end_and_says_where() {
    let mut bot = dj();
    assert_eq!(
        bot.command("alice", "add https://youtu.be/abc"),
        said("Added: https://youtu.be/abc (#4)")
    );
    assert_eq!(bot.actions(), [queue_action("https://youtu.be/abc")]);
    assert_eq!(bot.playlist().items.len(), 4);
}

#[test]
fn add_words_a_refusal_and_explains_its_usage() {
    let mut bot = dj();
    bot.refuse_next_action(ActionError::new(
        ActionErrorKind::Refused,
        "This item is already on the playlist",
    ));
    assert_eq!(
        bot.command("alice", "add yt:abc"),
        said("Cannot add that: This item is already on the playlist")
    );
    assert_eq!(bot.actions(), [queue_action("yt:abc")]);
    assert_eq!(bot.command("alice", "add"), said(ADD_USAGE));
    assert_eq!(bot.command("alice", "add two links"), said(ADD_USAGE));
    assert_eq!(bot.actions(), [], "nothing asked of the channel");
}

#[test]
fn each_user_may_have_at_most_max_per_user_items() {
    let mut bot = TestBot::<PlaylistPlugin>::with_config(r#"{"max_per_user": 2}"#);
    let own = PlaylistItem {
        queued_by: "Alice".to_owned(),
        ..playlist_item(1, "Hers")
    };
    bot.set_playlist(vec![own, playlist_item(2, "Other")], Some(1));
    assert_eq!(bot.command("alice", "add yt:a"), said("Added: yt:a (#3)"));
    // The chat records the bot as who queued it; the plugin remembers alice asked.
    assert_eq!(bot.playlist().items[2].queued_by, "rosey");
    let refused = bot.command("alice", "add yt:b");
    assert!(
        refused[0]
            .text
            .starts_with("alice, you already have 2 in the playlist"),
        "{refused:?}"
    );
    assert_eq!(bot.command("bob", "add yt:b"), said("Added: yt:b (#4)"));
    assert_eq!(
        bot.actions().len(),
        2,
        "the refused one never reached the chat"
    );

    // Once one of hers has played (and left the playlist), there is room again.
    let left: Vec<_> = (bot.playlist().items.into_iter())
        .filter(|item| item.uid != 1)
        .collect();
    bot.set_playlist(left, Some(2));
    assert_eq!(bot.command("alice", "add yt:c"), said("Added: yt:c (#4)"));
}

#[test]
fn np_says_what_plays_how_far_in_and_who_queued_it() {
    let mut bot = TestBot::<PlaylistPlugin>::new();
    assert_eq!(bot.command("bob", "np"), said("Nothing is playing."));
    let song = PlaylistItem {
        duration: Duration::from_secs(225),
        queued_by: "alice".to_owned(),
        ..playlist_item(7, "Song")
    };
    bot.set_playlist_state(Playlist {
        items: vec![song],
        current: Some(7),
        position: Duration::from_secs(83),
        ..Playlist::default()
    });
    assert_eq!(
        bot.command("bob", "np"),
        said("Now playing: Song [1:23/3:45], queued by alice")
    );
}

#[test]
fn np_names_who_asked_for_what_the_bot_queued_even_after_a_reload() {
    let mut bot = TestBot::<PlaylistPlugin>::new();
    // An empty playlist plays what is queued at once.
    assert_eq!(bot.command("carol", "add yt:x"), said("Added: yt:x (#1)"));
    assert_eq!(
        bot.command("bob", "np"),
        said("Now playing: yt:x [0:00], queued by carol")
    );
    bot.reload();
    assert_eq!(
        bot.command("bob", "np"),
        said("Now playing: yt:x [0:00], queued by carol")
    );
    bot.restart();
    assert_eq!(
        bot.command("bob", "np"),
        said("Now playing: yt:x [0:00], queued by rosey"),
        "a restart forgets; the chat's own record is left"
    );
}

#[test]
fn queue_lists_what_comes_next() {
    let mut bot = TestBot::<PlaylistPlugin>::with_config(r#"{"queue_show": 3}"#);
    assert_eq!(bot.command("bob", "queue"), said("The playlist is empty."));
    let items: Vec<_> = ["A", "B", "C", "D", "E", "F"]
        .iter()
        .zip(1..)
        .map(|(title, uid)| playlist_item(uid, title))
        .collect();
    bot.set_playlist(items.clone(), Some(1));
    assert_eq!(
        bot.command("bob", "queue"),
        said("Up next: 1. B | 2. C | 3. D (+2 more)")
    );
    bot.set_playlist(items, Some(6));
    assert_eq!(bot.command("bob", "queue"), said("Nothing after this."));
}

#[test]
fn enough_votes_among_those_present_skip() {
    let mut bot = dj();
    // Four present (the bot does not count): two votes skip.
    assert_eq!(
        bot.command("alice", "skip"),
        said("alice voted to skip (1/2)")
    );
    assert_eq!(
        bot.command("Alice", "skip"),
        said("Alice, you already voted to skip this (1/2).")
    );
    assert_eq!(bot.actions(), []);
    assert_eq!(bot.command("bob", "skip"), said("Skipping One (2/2 votes)"));
    assert_eq!(bot.actions(), [Action::Skip]);
    assert_eq!(bot.playlist().current, Some(2));
    assert_eq!(
        bot.command("carol", "skip"),
        said("carol voted to skip (1/2)"),
        "a new item, new votes"
    );
}

#[test]
fn away_users_and_the_bot_do_not_count_nor_do_those_who_left() {
    let mut bot = dj();
    let mut users = vec![user("alice"), user("bob"), user("rosey")];
    users.extend(["carol", "dave"].map(|name| ChatUser {
        afk: true,
        ..user(name)
    }));
    bot.set_users(users);
    // alice and bob are the only voters: one vote skips.
    assert_eq!(
        bot.command("alice", "skip"),
        said("Skipping One (1/1 votes)")
    );

    bot.set_users(["alice", "bob", "carol", "dave"].map(user).to_vec());
    assert_eq!(
        bot.command("alice", "skip"),
        said("alice voted to skip (1/2)")
    );
    bot.set_users(["bob", "carol", "dave"].map(user).to_vec());
    assert_eq!(
        bot.command("bob", "skip"),
        said("bob voted to skip (1/2)"),
        "alice left: her vote no longer counts"
    );
}

#[test]
fn the_threshold_is_configurable_and_checked() {
    let mut bot = TestBot::<PlaylistPlugin>::with_config(r#"{"skip_threshold": 1}"#);
    bot.set_playlist(vec![playlist_item(1, "One")], Some(1));
    bot.set_users(["alice", "bob"].map(user).to_vec());
    assert_eq!(
        bot.command("alice", "skip"),
        said("alice voted to skip (1/2)")
    );
    for bad in [r#"{"skip_threshold": 0}"#, r#"{"skip_threshold": 1.5}"#] {
        let err = bot.set_config(bad).err().unwrap_or_default();
        assert!(err.contains("skip_threshold"), "{bad}: {err}");
    }
    let err = TestBot::<PlaylistPlugin>::try_load("playlist", r#"{"queue_show": 0}"#)
        .err()
        .unwrap_or_default();
    assert!(err.contains("queue_show"), "{err}");
    // Taken live, the votes cast kept.
    assert_eq!(bot.set_config(r#"{"skip_threshold": 0.5}"#), Ok(Vec::new()));
    assert_eq!(bot.command("bob", "skip"), said("Skipping One (2/1 votes)"));
}

#[test]
fn moderators_skip_at_once_with_skip_now() {
    let mut bot = dj();
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "skip now"),
        said("Skipping One (mod skipped it)")
    );
    assert_eq!(bot.actions(), [Action::Skip]);
    assert_eq!(
        bot.command("alice", "skip now"),
        said("alice voted to skip (1/2)"),
        "from anyone else, a vote"
    );
    assert_eq!(
        bot.command_unranked("bob", "skip now"),
        said("Skipping Two (2/2 votes)"),
        "an unknown rank is no moderator: a vote"
    );

    let mut bot = TestBot::<PlaylistPlugin>::with_config(r#"{"mods_skip_now": false}"#);
    bot.set_playlist(vec![playlist_item(1, "One")], Some(1));
    bot.set_users(["alice", "bob", "mod"].map(user).to_vec());
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "skip now"),
        said("mod voted to skip (1/2)")
    );
}

#[test]
fn votes_reset_when_the_media_changes() {
    let mut bot = dj();
    bot.command("alice", "skip");
    assert_eq!(bot.event("media.change", None, None, "{}"), []);
    assert_eq!(bot.command("bob", "skip"), said("bob voted to skip (1/2)"));

    // Another item playing resets them too, even without the event.
    bot.set_playlist(bot.playlist().items, Some(3));
    assert_eq!(
        bot.command("carol", "skip"),
        said("carol voted to skip (1/2)")
    );
    bot.set_playlist(Vec::new(), None);
    assert_eq!(bot.command("dave", "skip"), said("Nothing is playing."));
}

#[test]
fn a_bot_without_the_rank_says_so_once() {
    let mut bot = dj();
    bot.refuse_actions(
        ActionErrorKind::BotRank,
        "skipping needs rank 1.5 (leader); the bot is registered",
    );
    bot.command("alice", "skip");
    assert_eq!(
        bot.command("bob", "skip"),
        said("I can't skip here: skipping needs rank 1.5 (leader); the bot is registered")
    );
    assert_eq!(
        bot.command("carol", "skip"),
        said("carol voted to skip (3/2); I still can't skip here.")
    );
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "skip now"),
        said("I still can't skip here.")
    );
    let warnings = (bot.logs().into_iter())
        .filter(|(level, _)| *level == LogLevel::Warn)
        .count();
    assert_eq!(warnings, 1, "{:?}", bot.logs());

    // Promoted: the next vote skips, and a later refusal is said again.
    bot.accept_actions();
    assert_eq!(
        bot.command("dave", "skip"),
        said("Skipping One (4/2 votes)")
    );
    bot.refuse_next_action(ActionError::new(ActionErrorKind::BotRank, "demoted"));
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "skip now"),
        said("I can't skip here: demoted")
    );
    bot.refuse_next_action(ActionError::new(ActionErrorKind::NoAnswer, "no answer"));
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "skip now"),
        said("Could not skip Two: no answer")
    );
}

#[test]
fn votes_survive_a_reload_but_not_a_restart() {
    let mut bot = dj();
    bot.command("alice", "skip");
    assert_eq!(bot.reload(), []);
    assert_eq!(bot.command("bob", "skip"), said("Skipping One (2/2 votes)"));

    bot.command("alice", "skip");
    bot.restart();
    assert_eq!(bot.command("bob", "skip"), said("bob voted to skip (1/2)"));
}

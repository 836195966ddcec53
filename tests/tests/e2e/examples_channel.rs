//! End to end: the playlist and automod example plugins, through the real daemon, plugin hosts
//! and emulated CyTube, with the bot a moderator. `!add` queues a link and `!np`/`!queue` read
//! the playlist back; `!skip` skips once enough of the users present voted; automod warns a
//! user who posts a banned word, mutes them the second time, and spares a moderator.

use std::time::Duration;

use rosey_e2e::{cytube::CytubeServer, stack::TestStack};

const SLOW: Duration = Duration::from_secs(40);

fn moderator_bot(plugins: &[&str], configs: &[(&str, &str)]) -> (CytubeServer, TestStack) {
    let (server, stack) = TestStack::on_cytube(plugins);
    for (plugin, config) in configs {
        let file = stack
            .home
            .path()
            .join(format!("data/plugins/{plugin}/config.yaml"));
        std::fs::write(file, config).expect("write the plugin's config.yaml");
    }
    stack.start();
    server.set_rank("test", "rosey", 2);
    // The rank reaches the bot's status once the bot has taken it in.
    stack.wait_for_unit("bot", SLOW, "the bot to know it moderates", |unit| {
        unit["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("rank: moderator"))
    });
    (server, stack)
}

#[test]
fn the_playlist_plugin_adds_shows_and_skips_by_vote() {
    let (server, _stack) = moderator_bot(&["playlist"], &[]);
    server.set_media_info("yt", "aaaaaaaaaaa", "First song", 200);
    server.set_media_info("yt", "bbbbbbbbbbb", "Second song", 100);
    for user in ["alice", "bob", "carol"] {
        server.join("test", user);
    }

    server.say("test", "alice", "!add https://youtu.be/aaaaaaaaaaa");
    server.wait_for_chat("rosey", "Added: First song (#1)", SLOW);
    server.say(
        "test",
        "bob",
        "!add https://www.youtube.com/watch?v=bbbbbbbbbbb",
    );
    server.wait_for_chat("rosey", "Added: Second song (#2)", SLOW);
    assert_eq!(server.playlist("test").len(), 2);
    server.say("test", "alice", "!np");
    server.wait_for_chat("rosey", "Now playing: First song", SLOW);
    server.say("test", "alice", "!queue");
    server.wait_for_chat("rosey", "Second song", SLOW);
    server.say("test", "carol", "!add ftp://example.com/x");
    server.wait_for_chat("rosey", "Cannot add that", SLOW);

    // Three users present (the bot does not count): two votes of three pass at 0.5.
    let first = server.current("test").expect("something plays");
    server.say("test", "alice", "!skip");
    server.wait_for_chat("rosey", "alice voted to skip (1/2)", SLOW);
    assert_eq!(
        server.current("test"),
        Some(first),
        "one vote is not enough"
    );
    server.say("test", "bob", "!skip");
    server.wait_for_chat("rosey", "Skipping First song (2/2 votes)", SLOW);
    server.wait(SLOW, "the second song to play", || {
        (server.current("test") != Some(first)).then_some(())
    });
}

#[test]
fn automod_warns_then_mutes_and_spares_moderators() {
    let (server, _stack) = moderator_bot(&["automod"], &[("automod", "words: [spam]\n")]);
    server.join("test", "mallory");
    server.set_rank("test", "mod", 2);

    server.say("test", "mod", "spam spam spam");
    server.say("test", "mallory", "buy spam now");
    server.wait_for_chat("rosey", "mallory, watch your language.", SLOW);
    assert!(!server.is_muted("test", "mallory"), "a warning first");
    server.say("test", "mallory", "more spam");
    server.wait_for_chat("rosey", "Muted mallory for banned words.", SLOW);
    assert!(server.is_muted("test", "mallory"));
    assert!(!server.is_muted("test", "mod"));
    assert_eq!(
        server.count_chat("rosey", "mod, watch"),
        0,
        "moderators are spared"
    );
}

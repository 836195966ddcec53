//! End to end: a plugin acting on its own, through the real daemon, host and emulated CyTube.
//! Timers fire `on_timer` on the plugin's thread, repeat, are cancelled exactly and end with
//! their instance; a thread of the plugin's own says things through a handle long after the
//! hook returned; a plugin asks who is in the channel and what plays, as the chat server told
//! the bot.

use std::time::{Duration, Instant};

use rosey_e2e::{cytube::CytubeServer, stack::TestStack};

const SLOW: Duration = Duration::from_secs(40);

fn cytube_home() -> (CytubeServer, TestStack) {
    let (server, stack) = TestStack::on_cytube(&["fixtures/chaos"]);
    stack.start();
    (server, stack)
}

#[test]
fn a_timer_fires_on_time_repeats_and_stops_exactly_when_cancelled() {
    let (server, _stack) = cytube_home();
    server.join("test", "alice");
    server.say("test", "alice", "!chaos timer 300");
    server.wait_for_chat("rosey", "armed probe for 300 ms", SLOW);
    let line = server.wait_for_chat("rosey", "timer probe due", SLOW);
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let [due, fired] = numbers[..] else {
        panic!("a due and a fired time in {line:?}")
    };
    assert!(fired >= due, "fired before it was due: {line}");

    server.say("test", "alice", "!chaos every 150");
    server.wait(SLOW, "three firings of the repeating timer", || {
        (server.count_chat("rosey", "timer probe due") >= 4).then_some(())
    });
    server.say("test", "alice", "!chaos cancel");
    server.wait_for_chat("rosey", "cancelled: true", SLOW);
    let after_cancel = server.count_chat("rosey", "timer probe due");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        server.count_chat("rosey", "timer probe due"),
        after_cancel,
        "no firing after the cancel was answered"
    );
    server.say("test", "alice", "!chaos cancel");
    server.wait_for_chat("rosey", "cancelled: false", SLOW);
    server.say("test", "alice", "!chaos every 20");
    server.wait_for_chat(
        "rosey",
        "repeats every 20 ms: the shortest period is 100 ms",
        SLOW,
    );
}

#[test]
fn a_thread_of_the_plugin_speaks_through_its_handle_after_the_hook_returned() {
    let (server, _stack) = cytube_home();
    server.join("test", "alice");
    let asked = Instant::now();
    server.say("test", "alice", "!chaos later 800 hello from a thread");
    server.wait_for_chat("rosey", "will say it in 800 ms", SLOW);
    server.wait_for_chat("rosey", "hello from a thread", SLOW);
    assert!(
        asked.elapsed() >= Duration::from_millis(800),
        "said when the thread woke, not in the hook"
    );
}

#[test]
fn timers_end_with_their_instance_on_reload() {
    let (server, stack) = cytube_home();
    server.join("test", "alice");
    server.say("test", "alice", "!chaos every 150");
    server.wait(SLOW, "the repeating timer", || {
        (server.count_chat("rosey", "timer probe due") >= 2).then_some(())
    });
    stack.home.run_ok(&["plugin", "reload", "chaos"]);
    let after_reload = server.count_chat("rosey", "timer probe due");
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        server.count_chat("rosey", "timer probe due") <= after_reload + 1,
        "the new instance did not re-arm it, so it stopped (one firing may have been on its way)"
    );
    server.say("test", "alice", "!chaos cancel");
    server.wait_for_chat("rosey", "cancelled: false", SLOW);
}

#[test]
fn a_plugin_sees_who_is_in_the_channel_and_what_plays() {
    let (server, _stack) = cytube_home();
    server.join("test", "alice");
    server.join("test", "Bob");
    server.set_rank("test", "Bob", 2);
    server.change_media("test", "A fine song");
    server.say("test", "alice", "!chaos users");
    let users = server.wait_for_chat("rosey", "users:", SLOW);
    for expected in ["alice:registered", "Bob:moderator", "rosey:"] {
        assert!(users.contains(expected), "{expected} in {users:?}");
    }
    server.say("test", "alice", "!chaos media");
    let playing = server.wait_for_chat("rosey", "playing:", SLOW);
    assert_eq!(playing, "playing: A fine song (yt abc123, 60 s)");
    server.leave("test", "Bob");
    server.say("test", "alice", "!chaos users");
    server.wait(SLOW, "Bob gone from the list", || {
        let lists: Vec<String> = server
            .chat_from("rosey")
            .into_iter()
            .filter(|line| line.starts_with("users:"))
            .collect();
        (lists.len() >= 2 && !lists[1].contains("Bob")).then_some(())
    });
}

#[test]
fn plugin_config_shows_and_sets_a_key_and_the_running_plugin_takes_it_live_or_by_reload() {
    let stack = TestStack::with_plugins(&["dice-roller", "fixtures/chaos"]);
    stack.start();
    let shown = stack.home.run_ok(&["plugin", "config", "dice-roller"]);
    assert!(shown.contains("  max_dice = 100"), "{shown}");
    assert_eq!(
        stack
            .home
            .run_ok(&["plugin", "config", "dice-roller", "max_sides"])
            .trim(),
        "1000"
    );
    let missing = stack
        .home
        .run_err(&["plugin", "config", "dice-roller", "max_dies"]);
    assert!(
        missing.contains("no key `max_dies`") && missing.contains("max_dice, max_sides"),
        "{missing}"
    );

    // dice-roller has on_config: it takes the change without a restart.
    let pid = stack.unit("dice-roller")["pid"].clone();
    let set = stack
        .home
        .run_ok(&["plugin", "config", "dice-roller", "max_dice", "3"]);
    assert!(
        set.contains("Set max_dice = 3 for dice-roller; dice-roller took it live"),
        "{set}"
    );
    assert_eq!(stack.unit("dice-roller")["pid"], pid, "the same host");
    assert!(
        stack.say("!roll 5d6").contains("at most 3 dice"),
        "the new limit applies at once"
    );
    let config = std::fs::read_to_string(
        stack
            .home
            .path()
            .join("data/plugins/dice-roller/config.yaml"),
    )
    .expect("config file");
    assert!(
        config.contains("# The most dice one !roll may throw") && config.contains("max_dice: 3"),
        "edited in place, comments kept: {config}"
    );

    // A value the plugin refuses: it keeps the old one, and so does the file.
    let refused = stack
        .home
        .run_err(&["plugin", "config", "dice-roller", "max_dice", "0"]);
    assert!(
        refused.contains("must be at least 1") && refused.contains("the old config is back"),
        "{refused}"
    );
    assert_eq!(
        stack
            .home
            .run_ok(&["plugin", "config", "dice-roller", "max_dice"])
            .trim(),
        "3"
    );
    assert!(stack.say("!roll 2d6").contains("rolled 2d6"));

    // chaos has no on_config: it is reloaded with its state to take the change.
    let pid = stack.unit("chaos")["pid"].clone();
    let set = stack
        .home
        .run_ok(&["plugin", "config", "chaos", "mood", "grumpy"]);
    assert!(
        set.contains("Set mood = grumpy for chaos; chaos was reloaded with its state"),
        "{set}"
    );
    assert_ne!(stack.unit("chaos")["pid"], pid, "a new host");
    assert_eq!(stack.say("!chaos ping").trim(), "pong");
}

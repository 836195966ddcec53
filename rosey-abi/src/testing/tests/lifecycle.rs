//! The kit's tests of instances coming and going: reload, restart, new configuration,
//! unload, and what the old instance's handles can still do.

use std::time::Duration;

use super::fixture::{kept, Plain, Probe};
use crate::testing::{Said, TestBot, START_MS};

#[test]
fn reload_hands_the_state_over_keeps_the_store_and_drops_the_timers() {
    let mut bot = TestBot::<Probe>::new();
    bot.command("a", "count");
    bot.command("a", "count");
    bot.command("a", "set k v");
    bot.command("a", "after 1000 old");
    assert_eq!(bot.reload(), [Said::chat("bye at 2")]);
    assert_eq!(bot.command("a", "count"), [Said::chat("3")]);
    assert_eq!(bot.kv_string("k").as_deref(), Some("v"));
    assert!(bot.timers().is_empty());
    assert_eq!(bot.advance(Duration::from_secs(5)), []);
}

#[test]
fn restart_loads_without_state_or_timers_but_keeps_the_store() {
    let mut bot = TestBot::<Probe>::new();
    bot.command("a", "count");
    bot.command("a", "set k v");
    bot.command("a", "every 500 tick");
    // No unload: nothing is said on the way down.
    assert_eq!(bot.restart(), []);
    assert_eq!(bot.command("a", "count"), [Said::chat("1")]);
    assert_eq!(bot.kv_string("k").as_deref(), Some("v"));
    assert!(bot.timers().is_empty());
}

#[test]
fn a_new_instance_re_arms_its_timers_in_load_and_the_old_ones_do_not_fire() {
    let mut bot = TestBot::<Plain>::new();
    assert_eq!(bot.said(), [Said::chat("load 1: hello")]);
    bot.command("a", "arm");
    assert_eq!(bot.timers().len(), 2);
    assert_eq!(bot.reload(), [Said::chat("load 2: hello")]);
    assert_eq!(bot.timers(), [("beat".to_owned(), START_MS + 1000)]);
    assert_eq!(
        bot.advance(Duration::from_secs(6)).len(),
        6,
        "only the new instance's beat fires"
    );
}

#[test]
fn a_handle_kept_from_before_a_reload_is_refused() {
    let mut bot = TestBot::<Probe>::new();
    bot.command("a", "keep reload");
    let handle = kept("reload");
    handle.say("still here").expect("open while loaded");
    assert_eq!(bot.said(), [Said::chat("still here")]);
    bot.reload();
    let err = handle.say("too late").expect_err("closed by the unload");
    assert!(err.message().contains("the plugin has unloaded"), "{err}");
    assert_eq!(bot.said(), []);
}

#[test]
fn a_handle_kept_from_before_a_restart_is_refused_by_the_services() {
    let mut bot = TestBot::<Probe>::new();
    bot.command("a", "keep restart");
    let handle = kept("restart");
    bot.restart();
    // No unload closed it: the services table itself refuses.
    assert!(handle.is_open());
    let err = handle.say("too late").expect_err("refused");
    assert_eq!(err.message(), "the plugin has unloaded");
    assert!(handle.after(Duration::from_secs(1), "ghost").is_err());
    assert!(bot.timers().is_empty());
    assert_eq!(bot.said(), []);
}

#[test]
fn on_config_takes_new_configuration_live_or_refuses_it() {
    let mut bot = TestBot::<Probe>::with_config(r#"{"greeting": "hi", "deep": {"n": 3}}"#);
    bot.command("a", "count");
    assert_eq!(
        bot.command("a", "config deep.n"),
        [Said::chat(r#"3 {"deep":{"n":3},"greeting":"hi"}"#)]
    );
    assert_eq!(
        bot.set_config(r#"{"greeting": "yo"}"#),
        Ok(vec![Said::chat("greeting is now yo")])
    );
    assert_eq!(bot.command("a", "hi"), [Said::chat("yo, a")]);
    assert_eq!(
        bot.command("a", "config greeting"),
        [Said::chat(r#"yo {"greeting":"yo"}"#)]
    );
    // No reload happened: the count is still the first instance's.
    assert_eq!(bot.command("a", "count"), [Said::chat("2")]);

    let refused = bot.set_config(r#"{"greeting": ""}"#);
    assert_eq!(refused, Err("greeting must not be empty".to_owned()));
    assert_eq!(
        bot.command("a", "config greeting"),
        [Said::chat(r#"yo {"greeting":"yo"}"#)]
    );
}

#[test]
fn without_on_config_new_configuration_reloads_the_plugin_with_its_state() {
    let mut bot = TestBot::<Plain>::with_config(r#"{"greeting": "hi"}"#);
    bot.said();
    assert_eq!(
        bot.set_config(r#"{"greeting": "yo"}"#),
        Ok(vec![Said::chat("load 2: yo")])
    );
    assert_eq!(bot.command("a", "x"), [Said::chat("yo")]);
}

#[test]
fn configuration_that_fails_to_load_is_refused_and_the_old_one_put_back() {
    let mut bot = TestBot::<Plain>::with_config(r#"{"greeting": "hi"}"#);
    bot.said();
    assert_eq!(
        bot.set_config(r#"{"fail": true}"#),
        Err("told to fail".to_owned())
    );
    // Load 2 failed; load 3 got the old configuration and load 1's state.
    assert_eq!(bot.said(), [Said::chat("load 2: hi")]);
    assert_eq!(bot.command("a", "x"), [Said::chat("hi")]);
}

#[test]
fn unload_returns_the_state_the_plugin_hands_over() {
    let mut bot = TestBot::<Probe>::new();
    bot.command("a", "count");
    bot.command("a", "keep unload");
    assert_eq!(bot.unload(), b"1");
    assert!(!kept("unload").is_open());
}

#[test]
fn bots_in_one_test_share_nothing() {
    let mut one = TestBot::<Probe>::named("one", "{}");
    let mut two = TestBot::<Probe>::named("two", "{}");
    one.command("a", "set k one");
    one.command("a", "every 1000 tick");
    one.advance(Duration::from_secs(2));
    assert_eq!(two.kv_string("k"), None);
    assert_eq!(two.now_ms(), START_MS);
    assert!(two.timers().is_empty());
    assert_eq!(two.said(), []);
    assert_eq!(one.said(), []);
}

#[test]
fn the_storage_folder_is_the_bots_and_goes_with_it() {
    let mut bot = TestBot::<Probe>::new();
    assert_eq!(
        bot.command("a", "store notes.txt hello"),
        [Said::chat("stored")]
    );
    let dir = bot.storage_dir();
    let notes = std::fs::read_to_string(dir.join("notes.txt")).expect("the plugin's file");
    assert_eq!(notes, "hello");
    drop(bot);
    assert!(!dir.exists());
}

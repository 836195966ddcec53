//! End to end: plugins acting on the CyTube channel, through the real daemon, plugin hosts and
//! the emulated CyTube server. The `chanops` fixture takes any action on command (`!act
//! verb|arg…`) and answers `ok …` or `err <verb> <kind>: …`; each test checks the action's
//! effect on the server, the events plugins get, and the refusals: the bot's rank too low
//! (nothing is sent to CyTube), a locked playlist, CyTube's own refusal, a target the channel
//! does not have, and a permission the manifest does not declare.

use std::time::Duration;

use rosey_e2e::{cytube::CytubeServer, host, stack::TestStack};

const SLOW: Duration = Duration::from_secs(40);

/// A stack with the chanops fixture on the emulated CyTube, the bot a moderator when
/// `moderator`, and alice and bob in the channel.
fn channel(moderator: bool) -> (CytubeServer, TestStack) {
    let (server, stack) = TestStack::on_cytube(&["fixtures/chanops"]);
    stack.start();
    server.join("test", "alice");
    server.join("test", "bob");
    if moderator {
        server.set_rank("test", "rosey", 2);
        wait_for_bot_rank(&server, "moderator");
    }
    (server, stack)
}

/// Asks `!state bot` until the bot's rank reads `rank`.
fn wait_for_bot_rank(server: &CytubeServer, rank: &str) {
    let wanted = format!("rank {rank}");
    server.wait(SLOW, &format!("the bot to know its rank is {rank}"), || {
        ask(server, "!state bot").contains(&wanted).then_some(())
    });
}

/// Says `line` as alice and returns the bot's next answer that starts like the fixture's.
fn ask(server: &CytubeServer, line: &str) -> String {
    let before = server.chat_from("rosey").len();
    server.say("test", "alice", line);
    server.wait(SLOW, &format!("an answer to {line:?}"), || {
        server
            .chat_from("rosey")
            .into_iter()
            .skip(before)
            .find(|said| {
                [
                    "ok ",
                    "err ",
                    "bad request",
                    "playlist:",
                    "poll:",
                    "bot:",
                    "events:",
                ]
                .iter()
                .any(|start| said.starts_with(start))
            })
    })
}

/// How many events of `kind` the fixture received so far.
fn events(server: &CytubeServer, kind: &str) -> u64 {
    ask(server, "!state events")
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix(&format!("{kind}=")))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Waits until the fixture received at least `least` events of `kind`.
fn wait_for_events(server: &CytubeServer, kind: &str, least: u64) {
    server.wait(
        SLOW,
        &format!("{least} {kind} event(s) at the plugin"),
        || (events(server, kind) >= least).then_some(()),
    );
}

fn uids(server: &CytubeServer) -> Vec<u64> {
    server
        .playlist("test")
        .iter()
        .map(|item| item.uid)
        .collect()
}

#[test]
fn a_moderator_bot_runs_the_playlist_and_plugins_see_it_change() {
    let (server, _stack) = channel(true);
    server.set_media_info("yt", "aaaaaaaaaaa", "First song", 120);

    let queued = ask(&server, "!act queue|https://youtu.be/aaaaaaaaaaa|end|false");
    assert!(queued.starts_with("ok queue: "), "{queued}");
    assert!(
        queued.contains("First song"),
        "the title CyTube found: {queued}"
    );
    let first = server.playlist("test");
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        (first[0].kind.as_str(), first[0].id.as_str()),
        ("yt", "aaaaaaaaaaa")
    );
    assert_eq!(first[0].queueby, "rosey");
    assert!(queued.contains(&first[0].uid.to_string()), "{queued}");

    // More media of other kinds, parsed as CyTube's web client parses links.
    assert!(ask(&server, "!act queue|https://vimeo.com/123456|end|false").starts_with("ok queue"));
    assert!(ask(&server, "!act queue|yt:bbbbbbbbbbb|next|true").starts_with("ok queue"));
    let items = server.playlist("test");
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(
        items[1].id, "bbbbbbbbbbb",
        "next goes after what plays: {items:?}"
    );
    assert_eq!(items[2].kind, "vi");

    // Move the last to the top, jump to it, delete another, skip.
    let [a, b, c] = [items[0].uid, items[1].uid, items[2].uid];
    assert!(ask(&server, &format!("!act move|{c}|start")).starts_with("ok move"));
    assert_eq!(uids(&server), [c, a, b]);
    assert!(ask(&server, &format!("!act jump|{c}")).starts_with("ok jump"));
    assert_eq!(server.current("test"), Some(c));
    assert!(ask(&server, &format!("!act delete|{a}")).starts_with("ok delete"));
    assert_eq!(uids(&server), [c, b]);
    assert!(ask(&server, "!act skip").starts_with("ok skip"));
    assert_eq!(server.current("test"), Some(b));

    // What the plugin reads agrees with the server.
    let state = ask(&server, "!state playlist");
    assert!(
        state.contains(&format!("{c}=vi:123456")) && state.contains(&format!("current={b}")),
        "{state}"
    );
    assert!(!state.contains(&format!("{a}=")), "deleted: {state}");

    // And it heard every change as events, and the playback clock as it runs.
    wait_for_events(&server, "playlist.add", 3);
    wait_for_events(&server, "playlist.move", 1);
    wait_for_events(&server, "playlist.delete", 1);
    wait_for_events(&server, "media.progress", 1);

    // A moderator clearing the playlist sends it whole (empty): the plugin hears the new set.
    server.set_rank("test", "bob", 2);
    server.emit_as("test", "bob", "clearPlaylist", serde_json::Value::Null);
    wait_for_events(&server, "playlist.set", 1);
    let state = ask(&server, "!state playlist");
    assert!(
        state.contains("current=none") && !state.contains("=yt:") && !state.contains("=vi:"),
        "{state}"
    );
}

#[test]
fn a_bot_below_the_needed_rank_is_refused_before_anything_reaches_cytube() {
    let (server, stack) = channel(false);
    server.set_playlist_locked("test", true);
    let sent_before = server.received("rosey").len();

    let skip = ask(&server, "!act skip");
    assert!(skip.starts_with("err skip "), "{skip}");
    let queue = ask(&server, "!act queue|yt:ccccccccccc|end|false");
    assert!(
        queue.starts_with("err queue bot_rank: ")
            && queue.contains("registered (1)")
            && queue.contains("playlistadd")
            && queue.contains("make the bot a moderator"),
        "{queue}"
    );
    let kick = ask(&server, "!act kick|bob|bye");
    assert!(kick.starts_with("err kick bot_rank: "), "{kick}");
    let actions: Vec<String> = server.received("rosey")[sent_before..]
        .iter()
        .map(|(event, data)| format!("{event} {data}"))
        .filter(|frame| !frame.starts_with("chatMsg") || frame.contains("\"/"))
        .collect();
    assert_eq!(
        actions,
        Vec::<String>::new(),
        "nothing but chat reached CyTube"
    );

    // Unlocked, anyone may add at the end: the same request now goes through.
    let locks = events(&server, "playlist.lock");
    server.set_playlist_locked("test", false);
    wait_for_events(&server, "playlist.lock", locks + 1);
    let queue = ask(&server, "!act queue|yt:ccccccccccc|end|false");
    assert!(queue.starts_with("ok queue"), "{queue}");

    // And status says what the bot's rank keeps it from (the bot's line is refreshed twice a
    // second).
    stack.wait_for_unit("bot", SLOW, "the bot's rank on its status line", |bot| {
        bot["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("rank: registered, not a moderator"))
    });
    let status = stack.home.run_ok(&["status"]);
    assert!(
        status.contains("not a moderator: cannot moderate"),
        "{status}"
    );
}

#[test]
fn cytube_s_own_refusals_and_missing_targets_come_back_as_such() {
    let (server, _stack) = channel(true);
    server.reject_media("yt", "ddddddddddd", "Video not found");
    let refused = ask(&server, "!act queue|yt:ddddddddddd|end|false");
    assert!(
        refused.starts_with("err queue refused: ") && refused.contains("Video not found"),
        "{refused}"
    );
    let link = ask(&server, "!act queue|ftp://example.com/x.mp4|end|false");
    assert!(link.starts_with("err queue invalid: "), "{link}");
    let gone = ask(&server, "!act delete|999");
    assert!(
        gone.starts_with("err delete invalid: ") && gone.contains("999"),
        "{gone}"
    );
    let absent = ask(&server, "!act mute|nobody");
    assert!(absent.starts_with("err mute invalid: "), "{absent}");
    server.set_rank("test", "carol", 3);
    let higher = ask(&server, "!act kick|carol|x");
    assert!(
        higher.starts_with("err kick bot_rank: ") && higher.contains("admin (3)"),
        "{higher}"
    );
    assert!(server.present("test", "carol"));
    let bad = ask(&server, "!act open_poll|Q||false");
    assert!(bad.starts_with("bad request"), "the SDK's own check: {bad}");
}

#[test]
fn moderation_kicks_mutes_bans_and_clears_and_is_heard_as_events() {
    let (server, _stack) = channel(true);
    server.join("test", "carol");
    server.join("test", "dave");

    assert!(ask(&server, "!act mute|bob").starts_with("ok mute"));
    assert!(server.is_muted("test", "bob"));
    assert!(ask(&server, "!act unmute|bob").starts_with("ok unmute"));
    assert!(!server.is_muted("test", "bob"));
    assert!(ask(&server, "!act shadow_mute|carol").starts_with("ok shadow_mute"));
    assert!(server.is_shadow_muted("test", "carol"));
    wait_for_events(&server, "user.mute", 3);

    let kick = ask(&server, "!act kick|dave|flooding");
    assert!(kick.starts_with("ok kick"), "{kick}");
    assert!(!server.present("test", "dave"));
    assert!(
        server
            .kicked()
            .iter()
            .any(|(name, reason)| name == "dave" && reason == "flooding"),
        "{:?}",
        server.kicked()
    );
    wait_for_events(&server, "user.kick", 1);

    let ban = ask(&server, "!act ban|spammer|spam");
    assert!(ban.starts_with("ok ban"), "{ban}");
    assert!(server.is_banned("test", "spammer"));
    wait_for_events(&server, "user.ban", 1);

    assert!(ask(&server, "!act clear_chat").starts_with("ok clear_chat"));
    assert_eq!(server.chat_cleared("test"), 1);
    // The server's own notices are events, never chat a plugin would take as a user's.
    wait_for_events(&server, "chat.notice", 1);
}

#[test]
fn polls_open_count_votes_and_close_and_voteskip_counts() {
    let (server, _stack) = channel(true);
    let opened = ask(
        &server,
        "!act open_poll|Best pizza?|60|false|margherita|hawaii",
    );
    assert!(opened.starts_with("ok open_poll"), "{opened}");
    let poll = server.poll("test").expect("a poll is open");
    assert_eq!(poll.options, ["margherita", "hawaii"]);
    assert_eq!(poll.initiator, "rosey");
    wait_for_events(&server, "poll.open", 1);
    server.vote_as("test", "alice", 1);
    server.vote_as("test", "bob", 1);
    wait_for_events(&server, "poll.update", 2);
    let state = ask(&server, "!state poll");
    assert!(
        state.contains("hawaii=2") && state.contains("margherita=0"),
        "{state}"
    );
    assert!(ask(&server, "!act close_poll").starts_with("ok close_poll"));
    assert!(server.poll("test").is_none());
    wait_for_events(&server, "poll.close", 1);
    let none = ask(&server, "!act close_poll");
    assert!(none.starts_with("err close_poll invalid"), "{none}");

    // A vote to skip, counted by the server and confirmed to a moderator bot.
    assert!(ask(&server, "!act queue|yt:eeeeeeeeeee|end|false").starts_with("ok queue"));
    let vote = ask(&server, "!act voteskip");
    assert!(vote.starts_with("ok voteskip: 1 of "), "{vote}");
    assert_eq!(server.skip_votes("test"), Some(1));
    let again = ask(&server, "!act voteskip");
    assert!(
        again.starts_with("err voteskip invalid: ") && again.contains("already voted"),
        "{again}"
    );
}

#[test]
fn waiting_for_cytube_does_not_count_against_the_handler_deadline() {
    let (server, stack) = channel(true);
    // A lookup that never ends: no answer for longer than the fixture's 3 s deadline.
    server.stall_media("yt", "fffffffffff");
    let stalled = ask(&server, "!act queue|yt:fffffffffff|end|false");
    assert!(
        stalled.starts_with("err queue no_answer: ") && stalled.contains("may or may not"),
        "{stalled}"
    );
    let chanops = stack.unit("chanops");
    assert_eq!(chanops["restarts"], 0, "not taken for hung: {chanops}");
    assert_eq!(chanops["state"], "running", "{chanops}");
    assert!(ask(&server, "!state bot").contains("rank moderator"));
}

#[test]
fn an_undeclared_action_is_refused_by_the_door_and_counted() {
    let (server, stack) = TestStack::on_cytube(&[]);
    // The fixture without its `channel:` key: it may talk, not act.
    let archive = stack.home.pack("fixtures/chanops");
    let stripped = stack.home.path().join("chanops-no-channel.roseyplug");
    rosey_e2e::stack::repack(
        &archive,
        &stripped,
        |manifest| {
            // `channel:` and its list items (`- playlist`, indented or not).
            let mut in_channel = false;
            manifest
                .lines()
                .filter(|line| {
                    if line.starts_with("channel:") {
                        in_channel = true;
                        return false;
                    }
                    if in_channel && (line.starts_with('-') || line.starts_with(' ')) {
                        return false;
                    }
                    in_channel = false;
                    true
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
        None,
    );
    stack
        .home
        .run_ok(&["plugin", "install", stripped.to_str().expect("utf-8 path")]);
    stack.start();
    server.join("test", "alice");
    server.set_rank("test", "rosey", 2);
    let sent_before = server.received("rosey").len();
    let kick = ask(&server, "!act kick|alice|x");
    assert!(
        kick.starts_with("err kick not_declared: ") && kick.contains("channel: [moderate]"),
        "{kick}"
    );
    assert!(server.present("test", "alice"));
    assert!(
        !server.received("rosey")[sent_before..]
            .iter()
            .any(|(_, data)| data.to_string().contains("/kick")),
        "nothing reached CyTube"
    );
    host::wait_for_log(&stack, "chanops", "refused a channel action (kick)", SLOW);
    let refused = stack.unit("chanops")["refused"]["channel: moderate"].as_u64();
    assert_eq!(refused, Some(1), "{}", stack.unit("chanops"));
}

//! The fake chat channel: a plugin's channel actions recorded and answered (by default as
//! CyTube would, or refused as the test says), and the playlist, poll and bot it reads.

use std::{sync::Mutex, time::Duration};

use crate::{
    testing::{playlist_item, Said, TestBot, START_MS},
    Action, ActionError, ActionErrorKind, Channel, ChannelPermission, ChatUser, Command, Context,
    LoadContext, MoveTo, NewPoll, PlaylistItem, Plugin, PluginResult, Poll, QueueAt, Rank,
};

/// A channel kept by `keep`, for a test to use once its instance is gone.
static KEPT: Mutex<Option<Channel>> = Mutex::new(None);

/// A DJ and moderator: every channel action and reader, one command each.
struct Dj;

/// An action's outcome as the plugin replies it.
fn outcome(result: Result<(), ActionError>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(err) => format!("{:?}: {}", err.kind, err.message),
    }
}

impl Plugin for Dj {
    fn load(_ctx: &LoadContext<'_>) -> PluginResult<Self> {
        Ok(Dj)
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        let channel = ctx.channel();
        let args: Vec<&str> = cmd.args().split_whitespace().collect();
        let arg = |n: usize| args.get(n).copied().unwrap_or("");
        let uid = |n: usize| arg(n).parse::<u64>();
        let reply = match cmd.name() {
            "queue" | "next" => {
                let at = if cmd.name() == "next" {
                    QueueAt::Next
                } else {
                    QueueAt::End
                };
                match channel.queue(arg(0), at, arg(1) == "temp") {
                    Ok(queued) => format!("queued {} {}", queued.uid, queued.title),
                    Err(err) => outcome(Err(err)),
                }
            }
            "del" => outcome(channel.delete(uid(0)?)),
            "top" => outcome(channel.move_item(uid(0)?, MoveTo::Start)),
            "after" => outcome(channel.move_item(uid(0)?, MoveTo::After(uid(1)?))),
            "jump" => outcome(channel.jump_to(uid(0)?)),
            "skip" => outcome(channel.skip()),
            "vote" => outcome(channel.vote_skip()),
            "kick" => outcome(channel.kick(arg(0), arg(1))),
            "ban" => outcome(channel.ban(arg(0), "")),
            "mute" => outcome(channel.mute(arg(0))),
            "clear" => outcome(channel.clear_chat()),
            "poll" => outcome(channel.open_poll(NewPoll {
                title: arg(0).to_owned(),
                options: vec!["yes".to_owned(), "no".to_owned()],
                timeout_secs: arg(1).parse().ok(),
                hidden: false,
            })),
            "close" => outcome(channel.close_poll()),
            "playing" => {
                let playlist = channel.playlist()?;
                let next: Vec<&str> = playlist.upcoming().map(|i| i.title.as_str()).collect();
                match playlist.now_playing() {
                    Some(item) => format!("{}; next: {}", item.title, next.join(", ")),
                    None => format!("nothing; next: {}", next.join(", ")),
                }
            }
            "votes" => match channel.poll()? {
                Some(poll) => format!("{} {:?}", poll.title, poll.counts),
                None => "no poll".to_owned(),
            },
            "who" => {
                let users = ctx.users()?;
                let names: Vec<&str> = users.iter().map(|user| user.name.as_str()).collect();
                names.join(",")
            }
            "me" => {
                let bot = channel.bot()?;
                format!("{}:{}", bot.name, bot.rank)
            }
            "keep" => {
                *KEPT.lock().unwrap_or_else(|p| p.into_inner()) = Some(channel);
                "kept".to_owned()
            }
            "wrong" => {
                // Straight through `act`, as a plugin could: the host checks it.
                outcome(
                    channel
                        .act(&Action::Kick {
                            user: "bad name!".to_owned(),
                            reason: String::new(),
                        })
                        .map(drop),
                )
            }
            other => format!("unknown {other}"),
        };
        ctx.reply(reply);
        Ok(())
    }
}

fn said(text: &str) -> [Said; 1] {
    [Said::chat(text)]
}

fn uids(bot: &TestBot<Dj>) -> Vec<u64> {
    bot.playlist().items.iter().map(|item| item.uid).collect()
}

#[test]
fn a_queue_adds_an_item_plays_it_in_an_empty_playlist_and_is_recorded() {
    let mut bot = TestBot::<Dj>::new();
    assert_eq!(bot.command("a", "queue yt:abc"), said("queued 1 yt:abc"));
    assert_eq!(bot.command("a", "queue yt:def"), said("queued 2 yt:def"));
    assert_eq!(bot.command("a", "playing"), said("yt:abc; next: yt:def"));
    let playlist = bot.playlist();
    assert_eq!(playlist.current, Some(1));
    assert_eq!(playlist.items[1].queued_by, "rosey");
    assert_eq!(
        bot.actions(),
        [
            Action::Queue {
                link: "yt:abc".to_owned(),
                at: QueueAt::End,
                temp: false
            },
            Action::Queue {
                link: "yt:def".to_owned(),
                at: QueueAt::End,
                temp: false
            }
        ]
    );
    assert_eq!(bot.actions(), [], "drained");
}

#[test]
fn next_goes_after_the_current_item_and_skips_move_on_dropping_temp_items() {
    let mut bot = TestBot::<Dj>::new();
    bot.set_playlist(
        vec![
            playlist_item(5, "five"),
            playlist_item(6, "six"),
            playlist_item(7, "seven"),
        ],
        Some(6),
    );
    assert_eq!(bot.command("a", "next yt:x temp"), said("queued 8 yt:x"));
    assert_eq!(uids(&bot), [5, 6, 8, 7]);
    assert_eq!(bot.command("a", "skip"), said("ok"));
    assert_eq!(bot.playlist().current, Some(8));
    // A temp item is gone once skipped.
    bot.command("a", "skip");
    assert_eq!(uids(&bot), [5, 6, 7]);
    assert_eq!(bot.playlist().current, Some(7));
    // The last item wraps to the first.
    bot.command("a", "skip");
    assert_eq!(bot.playlist().current, Some(5));
    assert_eq!(bot.command("a", "vote"), said("ok"));
    assert_eq!(bot.playlist().current, Some(5), "a vote is only a vote");
}

#[test]
fn delete_move_and_jump_change_the_playlist_and_unknown_items_are_invalid() {
    let mut bot = TestBot::<Dj>::new();
    let temp = PlaylistItem {
        temp: true,
        ..playlist_item(2, "two")
    };
    bot.set_playlist(
        vec![playlist_item(1, "one"), temp, playlist_item(3, "three")],
        Some(2),
    );
    assert_eq!(bot.command("a", "top 3"), said("ok"));
    assert_eq!(uids(&bot), [3, 1, 2]);
    assert_eq!(bot.command("a", "after 2 3"), said("ok"));
    assert_eq!(uids(&bot), [3, 2, 1]);
    // Jumping away from a temp item drops it.
    assert_eq!(bot.command("a", "jump 1"), said("ok"));
    assert_eq!(uids(&bot), [3, 1]);
    assert_eq!(bot.playlist().current, Some(1));
    // Deleting what plays plays the next (wrapping to the first).
    assert_eq!(bot.command("a", "del 1"), said("ok"));
    assert_eq!(bot.playlist().current, Some(3));
    assert_eq!(
        bot.command("a", "del 42"),
        said("Invalid: no playlist item has uid 42")
    );
    assert_eq!(
        bot.command("a", "after 3 3"),
        said("Invalid: cannot move item 3 after itself")
    );
    bot.command("a", "del 3");
    assert_eq!(bot.playlist().current, None);
    assert_eq!(bot.command("a", "playing"), said("nothing; next: "));
}

#[test]
fn refusals_come_back_as_the_test_scripted_them_and_are_still_recorded() {
    let mut bot = TestBot::<Dj>::new();
    bot.refuse_next_action(ActionError::new(
        ActionErrorKind::BotRank,
        "the bot is not a moderator",
    ));
    assert_eq!(
        bot.command("a", "kick spammer flood"),
        said("BotRank: the bot is not a moderator")
    );
    assert_eq!(bot.command("a", "kick spammer flood"), said("ok"));
    bot.refuse_actions(ActionErrorKind::Refused, "the playlist is locked");
    assert_eq!(
        bot.command("a", "queue yt:a"),
        said("Refused: the playlist is locked")
    );
    assert_eq!(
        bot.command("a", "clear"),
        said("Refused: the playlist is locked")
    );
    assert!(bot.playlist().items.is_empty());
    bot.accept_actions();
    assert_eq!(bot.command("a", "mute troll"), said("ok"));
    assert_eq!(bot.actions().len(), 5);
}

#[test]
fn an_undeclared_action_fails_as_the_daemon_refuses_it() {
    let mut bot = TestBot::<Dj>::new();
    bot.declare_channel(&[ChannelPermission::Playlist]);
    assert_eq!(bot.command("a", "queue yt:a"), said("queued 1 yt:a"));
    assert_eq!(
        bot.command("a", "skip"),
        said("NotDeclared: skip needs the channel permission skip, which the manifest does not declare: add `channel: [skip]` to the plugin's manifest")
    );
    assert_eq!(bot.playlist().current, Some(1));
}

#[test]
fn a_malformed_request_is_invalid_and_never_recorded() {
    let mut bot = TestBot::<Dj>::new();
    let said = bot.command("a", "wrong");
    assert!(said[0].text.starts_with("Invalid: "), "{said:?}");
    assert!(said[0].text.contains("user name"), "{said:?}");
    assert_eq!(bot.actions(), []);
}

#[test]
fn polls_open_with_zero_votes_close_on_request_or_timeout_and_read_as_set() {
    let mut bot = TestBot::<Dj>::new();
    assert_eq!(bot.command("a", "votes"), said("no poll"));
    assert_eq!(bot.command("a", "poll Pizza? 60"), said("ok"));
    let poll = bot.poll().expect("open");
    assert_eq!(poll.counts, [Some(0), Some(0)]);
    assert_eq!(
        (poll.opened_by.as_str(), poll.opened_at_ms),
        ("rosey", START_MS)
    );
    assert_eq!(bot.command("a", "votes"), said("Pizza? [Some(0), Some(0)]"));
    bot.advance(Duration::from_secs(60));
    assert_eq!(bot.poll(), None, "its timeout closed it");
    bot.set_poll(Some(Poll {
        title: "Hidden".to_owned(),
        options: vec!["a".to_owned(), "b".to_owned()],
        counts: vec![None, None],
        hidden: true,
        opened_by: "mod".to_owned(),
        opened_at_ms: START_MS,
    }));
    assert_eq!(bot.command("a", "votes"), said("Hidden [None, None]"));
    assert_eq!(bot.command("a", "close"), said("ok"));
    assert_eq!(bot.command("a", "votes"), said("no poll"));
}

#[test]
fn the_bot_is_who_the_test_says_and_kicks_and_bans_empty_the_user_list() {
    let mut bot = TestBot::<Dj>::new();
    assert_eq!(bot.command("a", "me"), said("rosey:moderator"));
    bot.set_bot_user("dj", Rank::ADMIN);
    assert_eq!(bot.command("a", "me"), said("dj:admin"));
    let user = |name: &str| ChatUser {
        name: name.to_owned(),
        rank: Rank::GUEST,
        afk: false,
    };
    bot.set_users(vec![user("Spammer"), user("troll"), user("alice")]);
    bot.command("a", "kick spammer bye");
    bot.command("a", "ban troll");
    assert_eq!(bot.command("a", "who"), said("alice"));
    bot.command("dj", "queue yt:q");
    assert_eq!(bot.playlist().items[0].queued_by, "dj");
    let kit = bot.actions();
    assert_eq!(
        kit[..2],
        [
            Action::Kick {
                user: "spammer".to_owned(),
                reason: "bye".to_owned()
            },
            Action::Ban {
                user: "troll".to_owned(),
                reason: String::new()
            }
        ]
    );
}

#[test]
fn a_channel_kept_past_its_instance_is_unavailable_and_the_new_one_works() {
    fn is_send<T: Send + Clone>() {}
    is_send::<Channel>();
    let mut bot = TestBot::<Dj>::new();
    bot.command("a", "keep");
    bot.restart();
    let kept = KEPT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .expect("kept");
    let refused = kept.skip().expect_err("unloaded");
    assert_eq!(
        refused,
        ActionError::new(ActionErrorKind::Unavailable, "the plugin has unloaded")
    );
    assert!(kept.playlist().is_err());
    assert_eq!(bot.command("a", "skip"), said("ok"));
    assert_eq!(
        bot.actions(),
        [Action::Skip],
        "the old instance's try is not recorded"
    );
}

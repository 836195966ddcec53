//! What each action sends, what it needs first, and which frame settles it.

use rosey_abi::channel::NewPoll;
use serde_json::json;

use super::*;

/// A registered channel's default table (docs/CYTUBE.md §1), a playlist of uids 1 and 2 with
/// 1 playing, and users alice (registered) and mod (moderator); the bot has `rank`.
fn model(rank: f64) -> ChannelModel {
    let mut model = ChannelModel::new("bot");
    model.note(
        "setPermissions",
        &json!({"playlistadd": 1.5, "oplaylistadd": -1, "playlistnext": 1.5, "oplaylistnext": 1.5,
            "playlistmove": 1.5, "oplaylistmove": 1.5, "playlistdelete": 2, "oplaylistdelete": 2,
            "playlistjump": 1.5, "oplaylistjump": 1.5, "pollctl": 1.5, "voteskip": -1,
            "viewvoteskip": 1.5, "mute": 1.5, "kick": 1.5, "ban": 2, "chatclear": 2}),
    );
    model.note("setPlaylistLocked", &json!(true));
    model.note("rank", &json!(rank));
    let item = |uid: u64| {
        json!({"uid": uid, "temp": false, "queueby": "x",
            "media": {"id": format!("v{uid}"), "title": "t", "seconds": 60, "type": "yt"}})
    };
    model.note("playlist", &json!([item(1), item(2)]));
    model.note("setCurrent", &json!(1));
    model.note(
        "userlist",
        &json!([{"name": "alice", "rank": 1, "meta": {}}, {"name": "mod", "rank": 2, "meta": {}},
            {"name": "bot", "rank": rank, "meta": {}}]),
    );
    model
}

fn error(model: &ChannelModel, action: Action) -> ActionError {
    plan(model, &action).expect_err("refused")
}

#[test]
fn a_moderator_bot_sends_each_action_as_cytube_s_client_does() {
    let model = model(2.0);
    let frames = |action: Action| plan(&model, &action).expect("planned").frames.join("");
    assert_eq!(
        frames(Action::Queue {
            link: "https://youtu.be/dQw4w9WgXcQ".into(),
            at: QueueAt::Next,
            temp: true
        }),
        r#"42["queue",{"id":"dQw4w9WgXcQ","pos":"next","temp":true,"type":"yt"}]"#
    );
    assert_eq!(frames(Action::Delete { uid: 2 }), r#"42["delete",2]"#);
    assert_eq!(
        frames(Action::Move {
            uid: 2,
            to: MoveTo::Start
        }),
        r#"42["moveMedia",{"after":"prepend","from":2}]"#
    );
    assert_eq!(frames(Action::Jump { uid: 2 }), r#"42["jumpTo",2]"#);
    assert_eq!(frames(Action::Skip), r#"42["playNext"]"#);
    assert_eq!(frames(Action::VoteSkip), r#"42["voteskip"]"#);
    assert_eq!(
        frames(Action::Kick {
            user: "Alice".into(),
            reason: "flooding".into()
        }),
        r#"42["chatMsg",{"meta":{},"msg":"/kick alice flooding"}]"#
    );
    assert_eq!(
        frames(Action::ShadowMute {
            user: "alice".into()
        }),
        r#"42["chatMsg",{"meta":{},"msg":"/smute alice"}]"#
    );
    assert_eq!(
        frames(Action::OpenPoll(NewPoll {
            title: "Next?".into(),
            options: vec!["a".into(), "b".into()],
            timeout_secs: Some(30),
            hidden: false
        })),
        r#"42["newPoll",{"obscured":false,"opts":["a","b"],"timeout":30,"title":"Next?"}]"#
    );
    assert!(
        plan(&model, &Action::ClearChat)
            .expect("clear")
            .chat_command
    );
}

#[test]
fn a_bot_below_the_needed_rank_is_told_which_rank_and_key() {
    let model = model(1.0);
    let err = error(&model, Action::Skip);
    assert_eq!(err.kind, ActionErrorKind::BotRank);
    assert!(
        err.message.contains("registered (1)")
            && err.message.contains("leader (1.5)")
            && err.message.contains("playlistjump")
            && err.message.contains("make the bot a moderator"),
        "{err}"
    );
    let err = error(
        &model,
        Action::Kick {
            user: "alice".into(),
            reason: String::new(),
        },
    );
    assert_eq!(err.kind, ActionErrorKind::BotRank);
    // Anyone may vote to skip (voteskip -1), but only leaders see the count: sent, unconfirmed.
    let vote = plan(&model, &Action::VoteSkip).expect("vote");
    assert!(matches!(vote.expect, Expect::Nothing(_)));
}

#[test]
fn targets_are_checked_before_anything_is_sent() {
    let model = model(2.0);
    let kinds = [
        (Action::Delete { uid: 9 }, ActionErrorKind::Invalid, "uid 9"),
        (
            Action::Move {
                uid: 1,
                to: MoveTo::After(9),
            },
            ActionErrorKind::Invalid,
            "uid 9",
        ),
        (
            Action::Move {
                uid: 1,
                to: MoveTo::After(1),
            },
            ActionErrorKind::Invalid,
            "after itself",
        ),
        (
            Action::Kick {
                user: "nobody".into(),
                reason: String::new(),
            },
            ActionErrorKind::Invalid,
            "not in the channel",
        ),
        (
            Action::Mute { user: "mod".into() },
            ActionErrorKind::BotRank,
            "moderator (2)",
        ),
        (
            Action::Ban {
                user: "BOT".into(),
                reason: String::new(),
            },
            ActionErrorKind::Invalid,
            "itself",
        ),
        (Action::ClosePoll, ActionErrorKind::Invalid, "no poll"),
        (
            Action::Queue {
                link: "ftp://example.com/x".into(),
                at: QueueAt::End,
                temp: false,
            },
            ActionErrorKind::Invalid,
            "cannot queue",
        ),
    ];
    for (action, kind, needle) in kinds {
        let err = error(&model, action.clone());
        assert_eq!(err.kind, kind, "{action:?}: {err}");
        assert!(err.message.contains(needle), "{action:?}: {err}");
    }
}

#[test]
fn vote_skipping_needs_it_on_something_playing_and_one_vote() {
    let mut model = model(2.0);
    model.voted_skip = Some(1);
    assert!(error(&model, Action::VoteSkip)
        .message
        .contains("already voted"));
    model.note("setCurrent", &json!(2));
    assert!(
        plan(&model, &Action::VoteSkip).is_ok(),
        "a new item resets the vote"
    );
    model.note("channelOpts", &json!({"allow_voteskip": false}));
    assert_eq!(
        error(&model, Action::VoteSkip).kind,
        ActionErrorKind::Refused
    );
    let mut empty = ChannelModel::new("bot");
    assert_eq!(
        error(&empty, Action::Skip).kind,
        ActionErrorKind::Unavailable
    );
    empty.note("setPermissions", &json!({"playlistjump": 0}));
    assert!(error(&empty, Action::Skip).message.contains("empty"));
}

#[test]
fn the_right_frames_settle_each_action() {
    let settle = |expect: &Expect, name: &str, data: Value| settles(expect, "bot", name, &data);
    let queued = Expect::Queued("yt".into());
    let item = |by: &str| {
        json!({"item": {"uid": 7, "queueby": by, "temp": false,
            "media": {"id": "abc", "title": "A song", "type": "yt"}}, "after": 2})
    };
    assert_eq!(
        settle(&queued, "queue", item("alice")),
        None,
        "someone else's item"
    );
    assert_eq!(
        settle(&queued, "queue", item("Bot")),
        Some(Ok("7\tA song".into()))
    );
    let failed = settle(
        &queued,
        "queueFail",
        json!({"msg": "Video not found", "link": "", "id": "abc"}),
    )
    .expect("settled")
    .expect_err("refused");
    assert_eq!(failed.kind, ActionErrorKind::Refused);
    assert!(failed.message.contains("Video not found"));
    assert_eq!(
        settle(&Expect::Deleted(2), "delete", json!({"uid": 2})),
        Some(Ok(String::new()))
    );
    assert_eq!(
        settle(&Expect::Deleted(2), "delete", json!({"uid": 3})),
        None
    );
    assert!(settle(&Expect::Playing(Some(2)), "setCurrent", json!(1)).is_none());
    assert!(settle(&Expect::Playing(None), "setCurrent", json!(1)).is_some());
    let kick = Expect::Left("alice".into());
    assert!(settle(&kick, "userLeave", json!({"name": "Alice"})).is_some());
    let refused = settle(
        &kick,
        "errorMsg",
        json!({"msg": "You do not have permission to kick alice"}),
    )
    .expect("settled")
    .expect_err("refused");
    assert!(refused.message.contains("You do not have permission"));
    let notice = |msg: &str| json!({"username": "[server]", "msg": msg, "meta": {}, "time": 1});
    let ban = Expect::Banned("spammer".into());
    assert!(settle(&ban, "chatMsg", notice("bot namebanned spammer")).is_some());
    assert!(settle(&ban, "chatMsg", notice("alice namebanned spammer")).is_none());
    assert!(settle(
        &Expect::Unmuted("bob".into()),
        "chatMsg",
        notice("bot unmuted bob")
    )
    .is_some());
    let mute = Expect::Muted("bob".into(), true);
    assert!(settle(
        &mute,
        "setUserMeta",
        json!({"name": "bob", "meta": {"muted": false, "smuted": true}})
    )
    .is_some());
    assert!(settle(
        &mute,
        "setUserMeta",
        json!({"name": "bob", "meta": {"muted": true}})
    )
    .is_none());
    assert!(settle(&Expect::PollOpened, "newPoll", json!({"initiator": "bot"})).is_some());
    assert!(settle(
        &Expect::PollOpened,
        "newPoll",
        json!({"initiator": "alice"})
    )
    .is_none());
    assert_eq!(
        settle(
            &Expect::VoteCounted,
            "voteskip",
            json!({"count": 1, "need": 3})
        ),
        Some(Ok("1 of 3 votes".into()))
    );
    assert!(settle(&Expect::Cleared, "errorMsg", json!({"msg": "x"})).is_none());
}

#[test]
fn every_rank_is_named_as_cytube_names_it() {
    let names: Vec<String> = [-1.0, 0.0, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 255.0]
        .into_iter()
        .map(rank_name)
        .collect();
    assert_eq!(
        names,
        [
            "anonymous (-1)",
            "guest (0)",
            "registered (1)",
            "leader (1.5)",
            "moderator (2)",
            "admin (3)",
            "owner (4)",
            "founder (5)",
            "site admin (255)"
        ]
    );
}

#[test]
fn an_item_moves_to_the_end_or_after_another_known_item() {
    let model = model(2.0);
    let frames = |action: Action| plan(&model, &action).expect("planned").frames.join("");
    assert_eq!(
        frames(Action::Move {
            uid: 1,
            to: MoveTo::End
        }),
        r#"42["moveMedia",{"after":"append","from":1}]"#
    );
    assert_eq!(
        frames(Action::Move {
            uid: 1,
            to: MoveTo::After(2)
        }),
        r#"42["moveMedia",{"after":2,"from":1}]"#
    );
}

#[test]
fn nothing_playing_leaves_nothing_to_vote_to_skip() {
    let mut model = model(2.0);
    model.playlist.current = None;
    let err = error(&model, Action::VoteSkip);
    assert_eq!(err.kind, ActionErrorKind::Invalid);
    assert_eq!(
        err.message,
        "nothing is playing: there is nothing to vote to skip"
    );
}

#[test]
fn the_bot_cannot_unmute_itself() {
    let err = error(&model(2.0), Action::Unmute { user: "Bot".into() });
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ActionErrorKind::Invalid, "the bot cannot unmute itself")
    );
}

#[test]
fn a_permission_the_channel_lacks_is_named_as_missing() {
    // An unregistered channel's table has no `ban` key at all.
    let mut model = ChannelModel::new("bot");
    model.note("setPermissions", &json!({"playlistadd": -1}));
    let err = error(
        &model,
        Action::Ban {
            user: "spammer".into(),
            reason: String::new(),
        },
    );
    assert_eq!(err.kind, ActionErrorKind::BotRank);
    assert_eq!(
        err.message,
        "CyTube lets nobody ban users in this channel (it has no ban permission: an unregistered channel has no moderation)"
    );
}

#[test]
fn a_vote_that_passes_is_settled_by_the_voteskip_notice() {
    let passed = json!({"username": "[voteskip]", "msg": "Voteskip passed: 1/1 skipped; eligible voters: 1 = total (1) - AFK (0) - no permission (0); ratio = 0.5", "meta": {}, "time": 1});
    assert_eq!(
        settles(&Expect::VoteCounted, "bot", "chatMsg", &passed),
        Some(Ok("the vote passed: skipping".into()))
    );
    let chat = json!({"username": "alice", "msg": "skip it", "meta": {}, "time": 1});
    assert_eq!(
        settles(&Expect::VoteCounted, "bot", "chatMsg", &chat),
        None,
        "a user's chat settles nothing"
    );
}

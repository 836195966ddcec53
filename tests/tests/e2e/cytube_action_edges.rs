//! End to end, in process: channel actions through rosey-core's CyTube connector against the
//! emulated CyTube server of `rosey_e2e::cytube`, at their edges: a vote sent without a
//! confirmation, a chat command CyTube's flood control drops, an action whose asker gave up
//! before its turn, actions in hand or waiting when the connection drops, the limit on
//! actions waiting behind the one in hand, and chat lines that would run as commands.

use std::time::Duration;

use futures::FutureExt;
use rosey_abi::channel::{Action, ActionErrorKind, QueueAt};
use rosey_core::{
    connector::{cytube::outbox::COMMAND_ESCAPE, Connector, Outgoing},
    messaging,
};
use rosey_e2e::{
    connector::{bot_said, bot_with_rank, event, moderated, run, until, BOT, CHANNEL, PASSWORD},
    cytube::{CytubeServer, Limits},
};

#[test]
fn a_vote_to_skip_the_bot_may_not_see_counted_is_done_once_sent_and_only_once() {
    let server = CytubeServer::start(Limits::default());
    server.add_account(BOT, PASSWORD);
    server.set_rank(CHANNEL, "alice", 2);
    assert_eq!(
        server.queue_as(CHANNEL, "alice", "yt", "aaaaaaaaaaa", false),
        None
    );
    server.join(CHANNEL, "bob");
    run(async {
        // Registered (1): below viewvoteskip (1.5), so CyTube never shows the bot the count.
        let (connector, _incoming) = bot_with_rank(&server, 1.0).await;
        until("the bot knowing what plays", || {
            connector.playlist().and_then(|playlist| playlist.current)
        })
        .await;
        assert_eq!(
            connector.act(Action::VoteSkip).await,
            Ok("vote sent (CyTube shows the count only to ranks with viewvoteskip)".into())
        );
        until("the vote counted at the server", || {
            (server.skip_votes(CHANNEL) == Some(1)).then_some(())
        })
        .await;
        let again = connector
            .act(Action::VoteSkip)
            .await
            .expect_err("one vote per item");
        assert_eq!(
            (again.kind, again.message.as_str()),
            (
                ActionErrorKind::Invalid,
                "the bot already voted to skip what is playing"
            )
        );
        connector.close().await.expect("closed");
    });
    let votes = server
        .received(BOT)
        .iter()
        .filter(|(event, _)| event == "voteskip")
        .count();
    assert_eq!(votes, 1, "the second was never sent");
}

#[test]
fn a_kick_dropped_by_flood_control_is_refused_and_nobody_is_kicked() {
    // CyTube's flood limit stricter than the bot's own pacing: one line, then one per 2 s.
    let server = moderated(Limits {
        chat_burst: 1.0,
        chat_per_sec: 0.5,
        ..Limits::default()
    });
    run(async {
        let (connector, _incoming) = bot_with_rank(&server, 2.0).await;
        connector
            .send(Outgoing::Chat {
                text: "hello".into(),
            })
            .await
            .expect("queued");
        until("the bot's hello", || {
            server
                .chat_from(BOT)
                .contains(&"hello".to_owned())
                .then_some(())
        })
        .await;
        let kick = Action::Kick {
            user: "alice".into(),
            reason: "bye".into(),
        };
        let err = connector.act(kick).await.expect_err("dropped");
        assert_eq!(
            (err.kind, err.message.as_str()),
            (
                ActionErrorKind::Refused,
                "CyTube's flood control dropped the command (the bot spoke too fast); nothing was done"
            )
        );
        assert!(bot_said(&server, "/kick alice"), "it was sent");
        connector.close().await.expect("closed");
    });
    assert!(server.present(CHANNEL, "alice"), "and came to nothing");
    assert!(server.kicked().is_empty());
}

#[test]
fn an_action_whose_asker_gave_up_before_its_turn_is_never_sent() {
    let server = moderated(Limits::default());
    run(async {
        let (connector, _incoming) = bot_with_rank(&server, 2.0).await;
        let kick = Action::Kick {
            user: "alice".into(),
            reason: String::new(),
        };
        // Asked, then given up on at once: before the connector could take it.
        assert_eq!(connector.act(kick).now_or_never(), None);
        // The bot carries on: what it says next goes out (and it found the kick given up on).
        connector
            .send(Outgoing::Chat {
                text: "still here".into(),
            })
            .await
            .expect("queued");
        until("the bot's next line", || {
            bot_said(&server, "still here").then_some(())
        })
        .await;
        assert_eq!(connector.act(Action::ClearChat).await, Ok(String::new()));
        assert_eq!(server.chat_cleared(CHANNEL), 1);
        assert!(!bot_said(&server, "/kick"), "{:?}", server.received(BOT));
        connector.close().await.expect("closed");
    });
    assert!(server.present(CHANNEL, "alice"));
}

#[test]
fn actions_in_hand_or_waiting_when_the_connection_drops_are_answered_and_never_retried() {
    let server = moderated(Limits::default());
    // A media lookup that never ends: the queue stays unconfirmed.
    server.stall_media("yt", "sssssssssss");
    run(async {
        let (connector, mut incoming) = bot_with_rank(&server, 2.0).await;
        let queue = Action::Queue {
            link: "https://youtu.be/sssssssssss".into(),
            at: QueueAt::End,
            temp: false,
        };
        let mut queued = connector.act(queue);
        assert!((&mut queued).now_or_never().is_none(), "asked");
        until("the queue request at the server", || {
            server
                .received(BOT)
                .iter()
                .any(|(event, _)| event == "queue")
                .then_some(())
        })
        .await;
        // The channel is still heard while the queue waits for its confirmation.
        server.join(CHANNEL, "carol");
        let joined = event(&mut incoming, messaging::EVENT_USER_JOIN, |_| true).await;
        assert_eq!(joined.user.as_deref(), Some("carol"));
        let mut skip = connector.act(Action::Skip);
        assert!((&mut skip).now_or_never().is_none(), "waiting its turn");
        server.stop();
        let err = queued.await.expect_err("lost");
        assert_eq!(
            (err.kind, err.message.as_str()),
            (
                ActionErrorKind::NoAnswer,
                "the connection to CyTube was lost before it confirmed the queue; it may or may not have happened"
            )
        );
        let err = skip.await.expect_err("not done");
        assert_eq!(
            (err.kind, err.message.as_str()),
            (
                ActionErrorKind::Unavailable,
                "the connection to CyTube was lost; nothing was done"
            )
        );
        connector.close().await.expect("closed");
    });
    assert!(
        !server
            .received(BOT)
            .iter()
            .any(|(event, _)| event == "playNext"),
        "the skip was never sent"
    );
}

#[test]
fn at_most_64_actions_wait_behind_the_one_in_hand() {
    let server = moderated(Limits::default());
    server.stall_media("yt", "sssssssssss");
    run(async {
        let (connector, _incoming) = bot_with_rank(&server, 2.0).await;
        let mut in_hand = connector.act(Action::Queue {
            link: "https://youtu.be/sssssssssss".into(),
            at: QueueAt::End,
            temp: false,
        });
        assert!((&mut in_hand).now_or_never().is_none(), "asked");
        until("the queue request at the server", || {
            server
                .received(BOT)
                .iter()
                .any(|(event, _)| event == "queue")
                .then_some(())
        })
        .await;
        let mut waiting: Vec<_> = (0..64).map(|_| connector.act(Action::Skip)).collect();
        for asked in &mut waiting {
            assert!(asked.now_or_never().is_none(), "waiting its turn");
        }
        let err = connector.act(Action::Skip).await.expect_err("one too many");
        assert_eq!(
            (err.kind, err.message.as_str()),
            (
                ActionErrorKind::Refused,
                "64 channel actions are already waiting to be sent; nothing was done"
            )
        );
        // Closing answers every one of them: none was done.
        connector.close().await.expect("closed");
        for asked in waiting {
            let err = asked.await.expect_err("not done");
            assert_eq!(err.kind, ActionErrorKind::Unavailable, "{err}");
        }
        assert_eq!(
            in_hand.await.expect_err("unconfirmed").kind,
            ActionErrorKind::NoAnswer
        );
    });
    assert!(!server
        .received(BOT)
        .iter()
        .any(|(event, _)| event == "playNext"));
}

#[test]
fn a_chat_command_waiting_for_its_turn_when_the_connection_drops_is_not_done() {
    let server = moderated(Limits::default());
    // Chat above the bot's rank: CyTube drops its lines without a word, so one stays in
    // flight, and a chat command waits until it is answered.
    server.set_permission(CHANNEL, "chat", 3.0);
    run(async {
        let (connector, mut incoming) = bot_with_rank(&server, 2.0).await;
        connector
            .send(Outgoing::Chat {
                text: "unheard".into(),
            })
            .await
            .expect("queued");
        until("the bot's line at the server", || {
            bot_said(&server, "unheard").then_some(())
        })
        .await;
        assert_eq!(connector.pending(), 1, "in flight, unanswered");
        let mut kick = connector.act(Action::Kick {
            user: "alice".into(),
            reason: String::new(),
        });
        assert!((&mut kick).now_or_never().is_none(), "waiting its turn");
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Meanwhile the channel is still heard.
        server.join(CHANNEL, "carol");
        let joined = event(&mut incoming, messaging::EVENT_USER_JOIN, |_| true).await;
        assert_eq!(joined.user.as_deref(), Some("carol"));
        server.stop();
        let err = kick.await.expect_err("not done");
        assert_eq!(
            (err.kind, err.message.as_str()),
            (
                ActionErrorKind::Unavailable,
                "the connection to CyTube was lost; nothing was done"
            )
        );
        connector.close().await.expect("closed");
    });
    assert!(!bot_said(&server, "/kick"), "{:?}", server.received(BOT));
    assert!(server.kicked().is_empty());
}

#[test]
fn chat_the_bot_is_made_to_say_never_runs_as_a_chat_command() {
    // A moderator bot: a line CyTube ran would kick alice or clear the chat.
    let server = moderated(Limits::default());
    run(async {
        let (connector, _incoming) = bot_with_rank(&server, 2.0).await;
        for text in ["/kick alice", "/me /kick alice", "/clear", "/me waves"] {
            connector
                .send(Outgoing::Chat { text: text.into() })
                .await
                .expect("queued");
        }
        until("the bot's last line", || {
            server
                .chat_from(BOT)
                .contains(&"waves".to_owned())
                .then_some(())
        })
        .await;
        connector.close().await.expect("closed");
    });
    let escaped = |line: &str| format!("{COMMAND_ESCAPE}{line}");
    assert_eq!(
        server.chat_from(BOT),
        [
            escaped("/kick alice"),
            escaped("/me /kick alice"),
            escaped("/clear"),
            // `/me` only makes an action of the rest, so it is kept.
            "waves".to_owned(),
        ],
        "said, in order"
    );
    assert!(server.present(CHANNEL, "alice"), "nobody was kicked");
    assert!(server.kicked().is_empty());
    assert_eq!(server.chat_cleared(CHANNEL), 0, "the chat was not cleared");
}

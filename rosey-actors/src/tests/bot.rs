//! The bot service of an in-process stack on the local chat, driven over the stack's own NATS
//! as plugin actors drive it: questions about the channel it cannot answer, requests it
//! cannot read or has nobody to answer, unreadable chat from plugins; the restart types
//! `services.<name>.restart` gives an embedder's services; and what `Debug` shows of the
//! bot's arguments (never a password).

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use rosey_core::{
    channel::Action,
    config::ConfigError,
    connector::{self, LocalConnector, Outgoing},
    messaging::{self, ActionReply, ActionRequest, ChatAction, StateReply, StoreBudget},
    paths::Home,
    router::PluginsDown,
};

use super::{
    eventually, info,
    stack::{builder, test_config, Running},
};
use crate::{
    services::bot::{BotArgs, ReplyWaiters},
    spawn_child,
    stack::{Board, BuildError, ExtraService, UnitReport},
    ChildState,
};

/// How long a request to the bot may take before the test fails.
const ANSWER: Duration = Duration::from_secs(10);

/// What the bot answers to a question about part `part` of the channel's state.
async fn ask(client: &async_nats::Client, part: &str) -> StateReply {
    let reply = tokio::time::timeout(
        ANSWER,
        client.request(messaging::CHANNEL_STATE_SUBJECT, part.to_owned().into()),
    )
    .await
    .expect("answered in time")
    .expect("answered");
    messaging::decode(&reply.payload).expect("a state reply")
}

#[tokio::test]
async fn questions_the_bot_cannot_answer_get_the_reason_and_those_without_a_reply_are_skipped() {
    let dir = tempfile::tempdir().expect("temp home");
    let running = Running::start(builder(&dir, test_config(""))).await;
    let client = running.stack.client().await.expect("the stack's NATS");
    // Nobody to answer: skipped, and the next question is still answered.
    client
        .publish(messaging::CHANNEL_STATE_SUBJECT, "roster".into())
        .await
        .expect("publish");
    let roster = ask(&client, "roster").await;
    assert!(roster.error.is_none(), "{roster:?}");

    assert_eq!(
        ask(&client, "weather").await.error.as_deref(),
        Some("there is no part \"weather\" of the channel's state")
    );
    for (part, what) in [("playlist", "playlist"), ("poll", "polls")] {
        assert_eq!(
            ask(&client, part).await.error,
            Some(format!(
                "the local connector has no {what}: connect the bot to CyTube (bot.connector: cytube in rosey.yaml)"
            ))
        );
    }
    running.stop().await.expect("shutdown");
}

#[tokio::test]
async fn channel_actions_unreadable_or_without_a_reply_are_skipped_and_the_next_is_answered() {
    let dir = tempfile::tempdir().expect("temp home");
    let running = Running::start(builder(&dir, test_config(""))).await;
    let client = running.stack.client().await.expect("the stack's NATS");
    let request = messaging::encode(&ActionRequest {
        v: messaging::SCHEMA_VERSION,
        plugin: "tester".to_owned(),
        action: Action::Skip,
    });
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.expect("subscribe");
    client
        .publish(messaging::CHANNEL_ACT_SUBJECT, request.clone().into())
        .await
        .expect("an action nobody waits for");
    client
        .publish_with_reply(
            messaging::CHANNEL_ACT_SUBJECT,
            inbox.clone(),
            "not an action".into(),
        )
        .await
        .expect("an unreadable action");
    client
        .publish_with_reply(messaging::CHANNEL_ACT_SUBJECT, inbox, request.into())
        .await
        .expect("an action");
    let first = tokio::time::timeout(ANSWER, replies.next())
        .await
        .expect("answered in time")
        .expect("a reply");
    let reply: ActionReply =
        messaging::decode(&first.payload).expect("the first reply answers the readable action");
    assert_eq!(
        reply.error,
        Some(connector::unsupported("local", &Action::Skip))
    );
    running.stop().await.expect("shutdown");
}

#[tokio::test]
async fn unreadable_chat_from_a_plugin_is_skipped_and_the_next_is_said() {
    let dir = tempfile::tempdir().expect("temp home");
    let running = Running::start(builder(&dir, test_config(""))).await;
    let local = running.stack.local().expect("the local chat").clone();
    let mut said = local.subscribe_outgoing();
    let client = running.stack.client().await.expect("the stack's NATS");
    let subject = "rosey.actions.tester";
    client
        .publish(subject, "{ not a chat action".into())
        .await
        .expect("publish");
    let action = ChatAction {
        v: messaging::SCHEMA_VERSION,
        text: "still here".to_owned(),
        to: None,
        plugin: "tester".to_owned(),
        in_reply_to: None,
        for_user: None,
    };
    client
        .publish(subject, messaging::encode(&action).into())
        .await
        .expect("publish");
    let out = tokio::time::timeout(ANSWER, said.recv())
        .await
        .expect("said in time")
        .expect("said");
    assert_eq!(
        out,
        Outgoing::Chat {
            text: "still here".to_owned()
        }
    );
    running.stop().await.expect("shutdown");
}

/// An embedder's service that stops normally or fails when told.
struct Worker;

/// What [`Worker`] is told.
enum Order {
    /// Stop with no reason: a normal exit.
    Finish,
    /// Fail: an abnormal exit.
    Fail,
}

impl Actor for Worker {
    type Msg = Order;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Order>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Order>,
        order: Order,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match order {
            Order::Finish => myself.stop(None),
            Order::Fail => return Err("told to fail".into()),
        }
        Ok(())
    }
}

/// A [`Worker`] service named `name`.
fn worker(name: &str) -> ExtraService {
    ExtraService::new(name, |supervisor: ActorCell| {
        spawn_child(None, Worker, (), supervisor)
    })
}

#[tokio::test]
async fn an_embedder_s_services_restart_as_their_configured_restart_type_says() {
    let dir = tempfile::tempdir().expect("temp home");
    // An embedder's services take their settings from rosey.yaml like rosey's own.
    let config =
        test_config("services:\n  calm: { restart: transient }\n  once: { restart: temporary }\n");
    let running = Running::start(
        builder(&dir, config)
            .extra_service(worker("calm"))
            .extra_service(worker("once")),
    )
    .await;
    let root = running.stack.root().clone();
    let tell = |name: &'static str, order: Order| {
        let root = root.clone();
        async move {
            let actor = info(&root, name).await.actor.expect("running");
            actor.send_message(order).expect("told");
        }
    };
    // Transient: a normal exit is final, a failure is restarted.
    tell("calm", Order::Fail).await;
    eventually("calm restarted", || async {
        let calm = info(&root, "calm").await;
        calm.state == ChildState::Running && calm.restarts == 1
    })
    .await;
    tell("calm", Order::Finish).await;
    eventually("calm stopped", || async {
        info(&root, "calm").await.state == ChildState::Stopped
    })
    .await;
    // Temporary: even a failure is final.
    tell("once", Order::Fail).await;
    eventually("once crashed", || async {
        info(&root, "once").await.state == ChildState::Crashed
    })
    .await;
    assert_eq!(info(&root, "once").await.restarts, 0);
    assert_eq!(info(&root, "calm").await.restarts, 1);
    assert_eq!(info(&root, "nats").await.state, ChildState::Running);
    running.stop().await.expect("shutdown");
}

#[test]
fn the_bot_s_arguments_show_who_and_where_it_is_but_no_password() {
    let dir = tempfile::tempdir().expect("temp home");
    let home = Home::new(dir.path());
    let mut config = test_config("bot:\n  name: shown-bot\n  channel: shown-channel\n");
    config.bot.cytube.password = Some("cytube-secret-1".to_owned());
    config.bot.cytube.channel_password = Some("cytube-secret-2".to_owned());
    let waiters = ReplyWaiters::default();
    let (id, _replies) = waiters
        .inject(|| Ok::<_, std::convert::Infallible>("message-7".to_owned()))
        .expect("injected");
    let board = Board::default();
    board.set(
        "bot",
        UnitReport {
            detail: Some("shown-detail".to_owned()),
            ..UnitReport::default()
        },
    );
    let args = BotArgs {
        home,
        config: config.bot.clone(),
        nats_url: "nats://127.0.0.1:4222".to_owned(),
        credentials: rosey_core::bus::Credentials::load_or_create(&Home::new(dir.path()))
            .expect("credentials"),
        stream_repair: Arc::new(|_why: String| Box::pin(async {})),
        connector: Arc::new(LocalConnector::new()),
        waiters,
        board,
        plugins_down: PluginsDown::new(),
        store: StoreBudget::default(),
    };
    let shown = format!("{args:?}");
    for part in [
        "name: \"shown-bot\"",
        "channel: \"shown-channel\"",
        "nats_url: \"nats://127.0.0.1:4222\"",
        "connector: \"local\"",
        &format!("ReplyWaiters {{ waiting: [\"{id}\"] }}"),
        "shown-detail",
    ] {
        assert!(shown.contains(part), "{part:?} missing from {shown}");
    }
    assert!(
        !shown.contains("cytube-secret-1") && !shown.contains("cytube-secret-2"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_services_section_for_a_service_the_stack_does_not_run_fails_the_start_naming_it() {
    let dir = tempfile::tempdir().expect("temp home");
    let config =
        test_config("services:\n  calm: { restart: transient }\n  nat: { max_restarts: 1 }\n");
    let err = builder(&dir, config)
        .extra_service(worker("calm"))
        .start()
        .await
        .expect_err("`nat` is no service");
    let BuildError::Config(ConfigError::Invalid { key, problem, .. }) = &err else {
        panic!("not the config's error: {err}");
    };
    assert_eq!(key, "services.nat");
    assert_eq!(
        problem,
        "there is no service \"nat\"; the services are nats, bot, web, node, calm"
    );
}

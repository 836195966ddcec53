//! End to end: a plugin's door takes a message as soon as NATS routes it (its early copy) and
//! acks the stream's durable copy when that arrives; nothing is handled twice, out of order,
//! or left unacked, and a message without a `Nats-Msg-Id` waits for the stream as before.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, message::PublishMessage};
use futures::StreamExt;
use rosey_core::{
    bus::BusUser,
    messaging::{self, ChatAction, CommandMessage, Source, SCHEMA_VERSION},
};
use rosey_e2e::stack::TestStack;

/// Upper bound for every reply of a burst (generous: tests run in parallel).
const SLOW: Duration = Duration::from_secs(30);

fn roll(id: &str, command: &str) -> CommandMessage {
    CommandMessage {
        v: SCHEMA_VERSION,
        id: id.to_owned(),
        command: command.to_owned(),
        args: if command == "roll" { "1d1" } else { "" }.to_owned(),
        user: "door".to_owned(),
        channel: "test".to_owned(),
        source: Source::Chat,
        time_ms: messaging::now_ms(),
        rank: None,
    }
}

/// Publishes `count` commands one per millisecond (`roll 1d1`, or `roll` and `flip` in turn
/// when `both`), with a `Nats-Msg-Id` as the router gives them when `with_ids`; waits until
/// the stream stored them all; their ids.
async fn publish_burst(
    js: &jetstream::Context,
    prefix: &str,
    count: usize,
    with_ids: bool,
    both: bool,
) -> Vec<String> {
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    let mut acks = Vec::new();
    let mut ids = Vec::new();
    for i in 0..count {
        ticks.tick().await;
        let id = format!("{prefix}-{i}");
        let command = if both && i % 2 == 1 { "flip" } else { "roll" };
        let mut publish =
            PublishMessage::build().payload(messaging::encode(&roll(&id, command)).into());
        if with_ids {
            publish = publish.message_id(messaging::command_msg_id(&id));
        }
        let ack = js
            .send_publish(messaging::command_subject(command), publish)
            .await
            .expect("publish");
        acks.push(ack);
        ids.push(id);
    }
    for ack in acks {
        ack.await.expect("the stream stored the command");
    }
    ids
}

/// Reads replies from `replies` until every one of `ids` has one (or `SLOW` passed), then a
/// moment longer for any second reply; the `in_reply_to` of each reply, in arrival order.
async fn replies_to(replies: &mut async_nats::Subscriber, ids: &[String]) -> Vec<String> {
    let mut order = Vec::new();
    let mut missing: std::collections::HashSet<&String> = ids.iter().collect();
    let deadline = Instant::now() + SLOW;
    let mut extra = None;
    loop {
        let until = extra.unwrap_or(deadline);
        let Ok(Some(message)) = tokio::time::timeout_at(until.into(), replies.next()).await else {
            break;
        };
        if let Ok(ChatAction {
            in_reply_to: Some(id),
            ..
        }) = messaging::decode::<ChatAction>(&message.payload)
        {
            missing.remove(&id);
            order.push(id);
        }
        if missing.is_empty() && extra.is_none() {
            extra = Some(Instant::now() + Duration::from_millis(500));
        }
    }
    order
}

/// The plugin's durable consumer: (messages not yet delivered, delivered but not acked).
async fn consumer_backlog(js: &jetstream::Context, plugin: &str) -> (u64, usize) {
    let stream = js
        .get_stream(messaging::STREAM_NAME)
        .await
        .expect("the ROSEY stream");
    let mut consumer: jetstream::consumer::PullConsumer = stream
        .get_consumer(&messaging::consumer_name(plugin))
        .await
        .expect("the plugin's consumer");
    let info = consumer.info().await.expect("consumer info");
    (info.num_pending, info.num_ack_pending)
}

/// Polls until the plugin's consumer has nothing pending or unacked, or panics after `SLOW`.
async fn wait_until_all_acked(js: &jetstream::Context, plugin: &str) {
    let deadline = Instant::now() + SLOW;
    loop {
        let backlog = consumer_backlog(js, plugin).await;
        if backlog == (0, 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer still has (pending, unacked) = {backlog:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A started stack with dice-roller, a JetStream context on it, and a subscription to the
/// replies.
async fn dice_roller() -> (TestStack, jetstream::Context, async_nats::Subscriber) {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let client = stack.nats_client(BusUser::Daemon).await;
    let js = jetstream::new(client.clone());
    let replies = client
        .subscribe(messaging::CHAT_ACTION_SUBJECT)
        .await
        .expect("subscribe");
    (stack, js, replies)
}

fn counter(unit: &serde_json::Value, key: &str) -> u64 {
    unit[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {unit}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_handled_once_each_in_order_partly_early_and_every_stored_copy_is_acked() {
    let (stack, js, mut replies) = dice_roller().await;
    // One command first, so the burst finds the plugin serving.
    let first = publish_burst(&js, "first", 1, true, false).await;
    assert_eq!(replies_to(&mut replies, &first).await, first);

    let ids = publish_burst(&js, "burst", 300, true, false).await;
    let order = replies_to(&mut replies, &ids).await;

    let mut counts: HashMap<&String, u32> = HashMap::new();
    for id in &order {
        *counts.entry(id).or_default() += 1;
    }
    let lost: Vec<&String> = ids.iter().filter(|id| !counts.contains_key(id)).collect();
    assert!(
        lost.is_empty(),
        "{} lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "answered more than once: {twice:?}");
    assert_eq!(order, ids, "answered in the order published");

    let unit = stack.unit("dice-roller");
    assert_eq!(counter(&unit, "handled"), 301, "{unit}");
    let early = counter(&unit, "handled_early");
    eprintln!("{early} of 301 taken early");
    assert!(
        early > 0 && early <= 301,
        "taken before the stream delivered them: {early} ({unit})"
    );
    wait_until_all_acked(&js, "dice-roller").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_without_a_message_id_are_handled_from_the_stream_alone() {
    let (stack, js, mut replies) = dice_roller().await;
    let ids = publish_burst(&js, "plain", 20, false, false).await;
    assert_eq!(
        replies_to(&mut replies, &ids).await,
        ids,
        "each once, in order"
    );

    let unit = stack.unit("dice-roller");
    assert_eq!(counter(&unit, "handled"), 20, "{unit}");
    assert_eq!(
        counter(&unit, "handled_early"),
        0,
        "an early copy is only taken when its durable copy can be matched to it: {unit}"
    );
    wait_until_all_acked(&js, "dice-roller").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_two_commands_in_turn_is_answered_in_the_order_published() {
    // Each command word has a plain subscription of its own, and two subscriptions do not
    // keep the server's order between them: the door must not take such copies early out of
    // turn.
    let (_stack, js, mut replies) = dice_roller().await;
    let ids = publish_burst(&js, "both", 200, true, true).await;
    assert_eq!(
        replies_to(&mut replies, &ids).await,
        ids,
        "each once, in order"
    );
    wait_until_all_acked(&js, "dice-roller").await;
}

//! The stream's ballast against a real nats-server: the keeper lays one, acked commands then
//! leave the store's block files alone (without it, every command made and deleted a file), a
//! new one is laid once the stream moved on and only one is kept, and a ballast purged or a
//! ballast consumer deleted is laid again without counting as a repair.

use std::{path::Path, time::Duration};

use async_nats::jetstream;
use futures::StreamExt;
use rosey_core::messaging::{self, StoreBudget};

use super::nats::TestNats;
use crate::services::{
    keeper::{ballast::SPAN, Keeper},
    plugin::door::Doors,
};

const MIB: u64 = 1024 * 1024;

/// A server with both streams made as the stack defines them, and a keeper of them.
async fn server_and_keeper() -> (TestNats, jetstream::Context, Keeper) {
    let nats = TestNats::start(64 * MIB).await;
    let js = jetstream::new(nats.client().await);
    let store = StoreBudget::new(32 * MIB);
    for config in [
        messaging::stream_config(&store),
        messaging::dead_letter_stream_config(&store),
    ] {
        js.create_stream(config).await.expect("make stream");
    }
    let keeper = Keeper::new(nats.credentials.clone(), nats.url(), Doors::new(store));
    (nats, js, keeper)
}

/// How many ballast messages the stream holds (the ballast consumer's pending count).
async fn ballasts(js: &jetstream::Context) -> u64 {
    let stream = js.get_stream(messaging::STREAM_NAME).await.expect("stream");
    stream
        .consumer_info(messaging::BALLAST_CONSUMER)
        .await
        .expect("the ballast consumer")
        .num_pending
}

/// The numbers of the stream's message block files (`<n>.blk`).
fn block_files(nats: &TestNats) -> Vec<u64> {
    let msgs = nats
        .home
        .nats_store_dir()
        .join("jetstream/$G/streams")
        .join(messaging::STREAM_NAME)
        .join("msgs");
    let mut numbers: Vec<u64> = std::fs::read_dir(&msgs)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", msgs.display()))
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            Path::new(&name)
                .extension()
                .is_some_and(|ext| ext == "blk")
                .then(|| name.trim_end_matches(".blk").parse().ok())
                .flatten()
        })
        .collect();
    numbers.sort_unstable();
    numbers
}

/// Sends `count` commands through a plugin-like consumer, one at a time, each acked (and the
/// ack confirmed) before the next is published: the stream is empty between them but for
/// what the keeper put there.
async fn handle_one_at_a_time(js: &jetstream::Context, count: usize) {
    let stream = js.get_stream(messaging::STREAM_NAME).await.expect("stream");
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(messaging::plugin_consumer_config(
            "ballast-test",
            vec![messaging::command_subject("ping")],
            Duration::from_secs(30),
        ))
        .await
        .expect("a plugin's consumer");
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(1)
        .messages()
        .await
        .expect("pull");
    for i in 0..count {
        js.publish(messaging::command_subject("ping"), format!("{i}").into())
            .await
            .expect("publish")
            .await
            .expect("stored");
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("delivered within 10 s")
            .expect("the pull goes on")
            .expect("a message");
        message.double_ack().await.expect("acked");
    }
}

#[tokio::test]
async fn with_its_ballast_the_stream_makes_no_block_file_per_acked_command() {
    let (nats, js, keeper) = server_and_keeper().await;
    keeper.repair_now("test").await;
    assert_eq!(ballasts(&js).await, 1, "the keeper laid one ballast");
    let before = block_files(&nats);
    handle_one_at_a_time(&js, 60).await;
    let after = block_files(&nats);
    // Without ballast each acked command emptied the stream, and the store deleted its block
    // file and made the next: 60 commands, 60 new files.
    assert!(
        after.last() <= before.last().map(|last| last + 1).as_ref(),
        "block files before {before:?}, after 60 commands {after:?}"
    );
    let state = js
        .get_stream(messaging::STREAM_NAME)
        .await
        .expect("stream")
        .cached_info()
        .state
        .clone();
    assert_eq!(state.messages, 1, "only the ballast is left: {state:?}");
    assert_eq!(keeper.summary(), None, "laying ballast is not a repair");
}

#[tokio::test]
async fn a_new_ballast_is_laid_once_the_stream_moved_on_and_only_one_is_kept() {
    let (_nats, js, keeper) = server_and_keeper().await;
    keeper.repair_now("test").await;
    let first = keeper.ballast().expect("laid").seq;
    keeper.repair_now("test").await;
    assert_eq!(
        keeper.ballast().map(|laid| laid.seq),
        Some(first),
        "not due yet"
    );
    // Messages no consumer is interested in are not kept, but take a sequence each.
    for i in 0..SPAN {
        js.publish(
            messaging::event_subject("nobody.listens"),
            format!("{i}").into(),
        )
        .await
        .expect("publish")
        .await
        .expect("taken");
    }
    keeper.repair_now("test").await;
    let second = keeper.ballast().expect("laid").seq;
    assert!(
        second > first + SPAN,
        "laid again at {second} (first at {first})"
    );
    assert_eq!(ballasts(&js).await, 1, "the older ballast was purged");
}

#[tokio::test]
async fn a_purged_ballast_or_a_deleted_ballast_consumer_is_laid_again_without_a_repair() {
    let (_nats, js, keeper) = server_and_keeper().await;
    keeper.repair_now("test").await;
    let stream = js.get_stream(messaging::STREAM_NAME).await.expect("stream");
    stream
        .purge()
        .filter(messaging::BALLAST_SUBJECT)
        .await
        .expect("someone purges the ballast");
    assert_eq!(ballasts(&js).await, 0);
    keeper.repair_now("test").await;
    assert_eq!(ballasts(&js).await, 1, "laid again after the purge");

    stream
        .delete_consumer(messaging::BALLAST_CONSUMER)
        .await
        .expect("someone deletes the ballast consumer");
    keeper.repair_now("test").await;
    assert_eq!(
        ballasts(&js).await,
        1,
        "consumer made again, ballast laid again"
    );
    assert_eq!(keeper.summary(), None, "neither counts as a repair");
}

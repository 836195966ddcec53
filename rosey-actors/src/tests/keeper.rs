//! The JetStream keeper against a real nats-server: what it does when it cannot reach the
//! server or JetStream, a stream it must make anew, a consumer changed behind a door's back,
//! a consumer's repair that belongs to its stream's, and advisories about someone else's
//! streams.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use rosey_core::{
    bus::{BusUser, Credentials},
    messaging::{self, StoreBudget},
    paths::Home,
};

use super::{
    eventually,
    nats::{free_port, TestNats},
};
use crate::services::{
    keeper::Keeper,
    plugin::door::{Doors, Wants},
};

const MIB: u64 = 1024 * 1024;

/// The store size the keeper's streams are defined with in these tests.
fn store() -> StoreBudget {
    StoreBudget::new(32 * MIB)
}

/// A keeper of `nats`'s streams and of the consumers of `doors`.
fn keeper_of(nats: &TestNats, doors: &Doors) -> Keeper {
    Keeper::new(nats.credentials.clone(), nats.url(), doors.clone())
}

/// Both streams, as the stack defines them.
async fn make_streams(js: &jetstream::Context) {
    for config in [
        messaging::stream_config(&store()),
        messaging::dead_letter_stream_config(&store()),
    ] {
        js.create_stream(config).await.expect("make stream");
    }
}

/// Whether stream `name` exists.
async fn has_stream(js: &jetstream::Context, name: &str) -> bool {
    js.get_stream(name).await.is_ok()
}

/// A door for plugin `name` reading `subjects`.
fn open_door(doors: &Doors, js: &jetstream::Context, name: &str, subjects: &[&str]) {
    let wants = Wants {
        filter_subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
        ack_wait: Duration::from_secs(30),
    };
    let attempts = std::env::temp_dir().join(format!("rosey-keeper-test-{name}-absent.json"));
    doors.open(name, "1.0.0", wants, js, attempts);
}

/// How many repairs the keeper's summary counts (0 while it has none).
fn repairs(keeper: &Keeper) -> u32 {
    keeper.summary().map_or(0, |summary| {
        summary
            .strip_prefix("repaired ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("unexpected summary {summary:?}"))
    })
}

#[tokio::test]
async fn the_keeper_s_debug_shows_its_server_and_record_but_never_a_password() {
    let nats = TestNats::start(64 * MIB).await;
    let keeper = keeper_of(&nats, &Doors::new(store()));
    let before = format!("{keeper:?}");
    assert!(
        before.contains(&nats.url()) && before.contains("connected: false"),
        "{before}"
    );
    keeper.repair_now("test").await;
    let after = format!("{keeper:?}");
    assert!(
        after.contains("connected: true") && after.contains("repairs: 1"),
        "{after}"
    );
    for user in [BusUser::Daemon, BusUser::Reader] {
        assert!(!after.contains(nats.credentials.password(user)), "{after}");
    }
}

#[tokio::test]
async fn a_keeper_on_a_server_without_jetstream_makes_nothing_and_counts_nothing() {
    let nats = TestNats::without_jetstream().await;
    let keeper = keeper_of(&nats, &Doors::new(store()));
    keeper.repair_now("test").await;
    assert_eq!(keeper.summary(), None);
}

#[tokio::test]
async fn a_keeper_started_before_its_server_makes_the_streams_once_the_server_is_up() {
    let dir = tempfile::tempdir().expect("temp home");
    let credentials = Credentials::load_or_create(&Home::new(dir.path())).expect("passwords");
    let port = free_port();
    let keeper = Keeper::new(
        credentials,
        format!("nats://127.0.0.1:{port}"),
        Doors::new(store()),
    );
    keeper.repair_now("before the server").await;
    assert_eq!(keeper.summary(), None, "nothing to reach, nothing repaired");
    let keeping = keeper.spawn();
    // Its first attempts find nothing listening; it keeps trying.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let nats = TestNats::start_in(dir, port, 64 * MIB).await;
    let js = jetstream::new(nats.client().await);
    eventually("the keeper made both streams", || async {
        has_stream(&js, messaging::STREAM_NAME).await
            && has_stream(&js, messaging::DEAD_LETTER_STREAM).await
    })
    .await;
    keeping.abort();
}

#[tokio::test]
async fn a_stream_given_another_retention_is_made_anew_as_defined() {
    let nats = TestNats::start(64 * MIB).await;
    let js = jetstream::new(nats.client().await);
    make_streams(&js).await;
    // Someone replaced ROSEY with a stream that keeps everything: JetStream cannot change a
    // stream's retention in place.
    js.delete_stream(messaging::STREAM_NAME)
        .await
        .expect("delete");
    js.create_stream(stream::Config {
        retention: stream::RetentionPolicy::Limits,
        ..messaging::stream_config(&store())
    })
    .await
    .expect("a stream that keeps everything");
    let keeper = keeper_of(&nats, &Doors::new(store()));
    keeper.repair_now("test").await;
    let mut rosey = js.get_stream(messaging::STREAM_NAME).await.expect("ROSEY");
    let info = rosey.info().await.expect("stream info");
    assert_eq!(info.config.retention, stream::RetentionPolicy::Interest);
    let summary = keeper.summary().expect("a repair");
    assert!(
        summary.starts_with("repaired 1 time (last: stream ROSEY replaced at "),
        "{summary}"
    );
}

#[tokio::test]
async fn a_consumer_changed_behind_its_door_s_back_is_made_again_as_the_door_wants() {
    let nats = TestNats::start(64 * MIB).await;
    let js = jetstream::new(nats.client().await);
    make_streams(&js).await;
    let doors = Doors::new(store());
    open_door(&doors, &js, "echo", &["rosey.events.chat.message"]);
    // A door that reads nothing has no consumer to keep.
    open_door(&doors, &js, "quiet", &[]);
    let rosey = js.get_stream(messaging::STREAM_NAME).await.expect("ROSEY");
    let _: jetstream::consumer::PullConsumer = rosey
        .create_consumer(messaging::plugin_consumer_config(
            "echo",
            vec!["rosey.events.user.join".to_owned()],
            Duration::from_secs(30),
        ))
        .await
        .expect("a consumer reading something else");
    let keeper = keeper_of(&nats, &doors);
    keeper.repair_now("test").await;
    let name = messaging::consumer_name("echo");
    let info = rosey.consumer_info(&name).await.expect("consumer info");
    let mut subjects = info.config.filter_subjects.clone();
    subjects.push(info.config.filter_subject.clone());
    subjects.retain(|subject| !subject.is_empty());
    assert_eq!(subjects, ["rosey.events.chat.message"]);
    let summary = keeper.summary().expect("a repair");
    assert!(
        summary.starts_with(&format!(
            "repaired 1 time (last: consumer {name} changed at "
        )),
        "{summary}"
    );
    assert!(
        rosey
            .consumer_info(&messaging::consumer_name("quiet"))
            .await
            .is_err(),
        "no consumer made for a door that reads nothing"
    );
}

#[tokio::test]
async fn a_consumer_made_again_right_after_its_stream_is_part_of_the_same_repair() {
    let nats = TestNats::start(64 * MIB).await;
    let js = jetstream::new(nats.client().await);
    make_streams(&js).await;
    let doors = Doors::new(store());
    let keeper = keeper_of(&nats, &doors);
    js.delete_stream(messaging::STREAM_NAME)
        .await
        .expect("delete");
    keeper.repair_now("test").await;
    assert_eq!(repairs(&keeper), 1);
    // The plugin's consumer went with the stream; its repair comes a moment later.
    open_door(&doors, &js, "echo", &["rosey.events.chat.message"]);
    keeper.repair_now("test").await;
    let rosey = js.get_stream(messaging::STREAM_NAME).await.expect("ROSEY");
    assert!(
        rosey
            .consumer_info(&messaging::consumer_name("echo"))
            .await
            .is_ok(),
        "the consumer is made again"
    );
    let summary = keeper.summary().expect("a repair");
    assert!(
        summary.starts_with("repaired 1 time (last: stream ROSEY deleted at "),
        "one event, one repair: {summary}"
    );
}

#[tokio::test]
async fn someone_else_s_stream_deleted_is_no_repair_of_the_keeper_s() {
    let nats = TestNats::start(64 * MIB).await;
    let js = jetstream::new(nats.client().await);
    make_streams(&js).await;
    js.delete_stream(messaging::STREAM_NAME)
        .await
        .expect("delete");
    let keeper = keeper_of(&nats, &Doors::new(store()));
    let keeping = keeper.spawn();
    // Its first check (made once it listens to the advisories) repairs ROSEY.
    eventually("the first repair", || async { repairs(&keeper) == 1 }).await;
    js.create_stream(stream::Config {
        name: "OTHER".to_owned(),
        subjects: vec!["other.>".to_owned()],
        ..Default::default()
    })
    .await
    .expect("someone else's stream");
    js.delete_stream("OTHER").await.expect("delete theirs");
    js.delete_stream(messaging::DEAD_LETTER_STREAM)
        .await
        .expect("delete ours");
    eventually("the second repair", || async { repairs(&keeper) >= 2 }).await;
    let summary = keeper.summary().expect("repairs");
    assert!(
        summary.starts_with("repaired 2 times (last: stream ROSEY_DEADLETTER deleted at "),
        "{summary}"
    );
    assert!(has_stream(&js, messaging::DEAD_LETTER_STREAM).await);
    assert!(!has_stream(&js, "OTHER").await, "theirs is not made again");
    keeping.abort();
}

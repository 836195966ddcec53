//! End to end: the command router publishing to a real nats-server's JetStream. Commands and
//! events land on their subjects with the right payloads, and messages routed while the server
//! is down are kept and stored after it comes back: all of them, in order, none twice.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull::Config as PullConfig, consumer::PullConsumer};
use futures::StreamExt;
use rosey_core::{
    connector::Incoming,
    messaging::{self, CommandMessage, EventMessage, Source},
    router::{RouteOutcome, RouteTable, Router, RouterSettings},
};
use rosey_e2e::nats::NatsServer;

/// One stored message, as read back from the stream.
#[derive(Debug)]
struct Stored {
    subject: String,
    msg_id: String,
    payload: Vec<u8>,
}

/// A client that reconnects quickly and forever, so the outage test does not wait on backoff.
async fn connect(nats: &NatsServer) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(nats.url())
        .await
        .expect("connect to nats")
}

/// Creates the stream and a durable consumer of everything in it, before anything is routed
/// (the stream keeps messages only for consumers that exist).
async fn reader(js: &jetstream::Context) -> PullConsumer {
    let stream = js
        .get_or_create_stream(messaging::stream_config(&Default::default()))
        .await
        .expect("stream");
    stream
        .create_consumer(PullConfig {
            durable_name: Some("router-test".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("consumer")
}

/// Reads and acks up to `count` messages, giving up after `within`.
async fn read(consumer: &PullConsumer, count: usize, within: Duration) -> Vec<Stored> {
    let deadline = Instant::now() + within;
    let mut stored = Vec::new();
    while stored.len() < count && Instant::now() < deadline {
        let mut batch = consumer
            .fetch()
            .max_messages(count - stored.len())
            .expires(Duration::from_millis(300))
            .messages()
            .await
            .expect("fetch");
        while let Some(message) = batch.next().await {
            let message = message.expect("message");
            message.ack().await.expect("ack");
            stored.push(Stored {
                subject: message.subject.to_string(),
                msg_id: message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get("Nats-Msg-Id"))
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                payload: message.payload.to_vec(),
            });
        }
    }
    stored
}

fn incoming(source: Source, user: &str, text: &str, id: &str) -> Incoming {
    Incoming::new(
        source,
        user.into(),
        text.into(),
        1_700_000_000_000,
        id.into(),
    )
}

fn routes() -> RouteTable {
    let mut routes = RouteTable::new();
    routes.insert("roll", "dice-roller");
    routes
}

/// The channel `lobby`, a short publish timeout, no rate limits (one user sends dozens).
fn settings() -> RouterSettings {
    let mut settings = RouterSettings {
        channel: "lobby".into(),
        publish_timeout: Duration::from_secs(1),
        ..RouterSettings::default()
    };
    settings.rate_limit.commands = 0;
    settings.rate_limit.per_plugin = 0;
    settings
}

/// Runs a blocking server operation (killing waits for the process, restarting for the port)
/// off the runtime's only thread, so the router's publisher keeps running meanwhile.
async fn off_thread(mut nats: NatsServer, what: fn(&mut NatsServer)) -> NatsServer {
    tokio::task::spawn_blocking(move || {
        what(&mut nats);
        nats
    })
    .await
    .expect("server operation")
}

fn event(stored: &Stored) -> EventMessage {
    messaging::decode(&stored.payload).expect("an event payload")
}

fn command(stored: &Stored) -> CommandMessage {
    messaging::decode(&stored.payload).expect("a command payload")
}

#[tokio::test]
async fn commands_and_events_land_on_their_subjects() {
    let nats = NatsServer::start();
    let js = jetstream::new(connect(&nats).await);
    let consumer = reader(&js).await;
    let router = Router::new(js, routes(), settings());

    let outcomes: Vec<RouteOutcome> = [
        incoming(Source::Chat, "alice", "hello there", "m1"),
        incoming(Source::Chat, "alice", "!Roll  2d6 ", "m2"),
        incoming(Source::Pm, "bob", "!roll 1d1", "m3"),
        incoming(Source::Chat, "rosey", "!roll 9d9", "m4"),
        incoming(Source::Chat, "carol", "!nope x", "m5"),
    ]
    .iter()
    .map(|message| router.route(message).expect("route"))
    .collect();
    assert_eq!(outcomes[0], RouteOutcome::Event);
    assert!(
        matches!(&outcomes[1], RouteOutcome::Command { plugin, .. } if plugin == "dice-roller")
    );
    assert!(matches!(&outcomes[2], RouteOutcome::Command { .. }));
    assert_eq!(outcomes[3], RouteOutcome::Ignored);
    assert!(matches!(&outcomes[4], RouteOutcome::Unknown { command, .. } if command == "nope"));
    assert_eq!(router.flush(Duration::from_secs(10)).await, 0, "all stored");
    assert_eq!(router.last_error(), None);

    let stored = read(&consumer, 6, Duration::from_secs(10)).await;
    let summary: Vec<(&str, &str)> = stored
        .iter()
        .map(|message| (message.subject.as_str(), message.msg_id.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("rosey.events.chat.message", "event:m1"),
            ("rosey.events.chat.message", "event:m2"),
            ("rosey.commands.roll", "command:m2"),
            ("rosey.events.chat.pm", "event:m3"),
            ("rosey.commands.roll", "command:m3"),
            ("rosey.events.chat.message", "event:m5"),
        ]
    );

    let hello = event(&stored[0]);
    assert_eq!(hello.id, "m1");
    assert_eq!(hello.kind, "chat.message");
    assert_eq!(hello.user.as_deref(), Some("alice"));
    assert_eq!(hello.text.as_deref(), Some("hello there"));
    assert_eq!(hello.time_ms, 1_700_000_000_000);
    assert_eq!(hello.data["channel"], "lobby");
    assert!(hello.data.get("command").is_none(), "talk is not a command");
    assert_eq!(
        event(&stored[1]).data["command"],
        "roll",
        "a command line's chat event names its command, without the prefix"
    );
    assert_eq!(
        event(&stored[5]).data["command"],
        "nope",
        "even one nobody claims"
    );

    let roll = command(&stored[2]);
    assert_eq!(
        roll,
        CommandMessage {
            v: messaging::SCHEMA_VERSION,
            id: "m2".into(),
            command: "roll".into(),
            args: "2d6".into(),
            user: "alice".into(),
            channel: "lobby".into(),
            source: Source::Chat,
            time_ms: 1_700_000_000_000,
            rank: None,
        }
    );
    let pm = event(&stored[3]);
    assert_eq!(
        (pm.kind.as_str(), pm.user.as_deref()),
        ("chat.pm", Some("bob"))
    );
    let pm_roll = command(&stored[4]);
    assert_eq!((pm_roll.source, pm_roll.args.as_str()), (Source::Pm, "1d1"));

    assert!(
        read(&consumer, 1, Duration::from_millis(500))
            .await
            .is_empty(),
        "nothing else was published"
    );
}

#[tokio::test]
async fn messages_routed_while_nats_is_down_all_arrive_in_order_once() {
    let nats = NatsServer::start();
    let client = connect(&nats).await;
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_millis(500))
        .build(client);
    let consumer = reader(&js).await;
    let router = Router::new(js, routes(), settings());

    router
        .route(&incoming(Source::Chat, "alice", "before", "b0"))
        .expect("route");
    assert_eq!(router.flush(Duration::from_secs(10)).await, 0);

    let nats = off_thread(nats, NatsServer::kill).await;
    let mut expected = Vec::new();
    for i in 0..30 {
        let id = format!("d{i}");
        let text = if i % 2 == 0 {
            format!("line {i}")
        } else {
            format!("!roll {i}d6")
        };
        router
            .route(&incoming(Source::Chat, "alice", &text, &id))
            .expect("queued, not refused");
        expected.push(format!("event:{id}"));
        if i % 2 == 1 {
            expected.push(format!("command:{id}"));
        }
    }
    assert_eq!(router.pending(), expected.len(), "everything is queued");
    // Several publish attempts fail meanwhile; none may be lost or stored twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        router.pending(),
        expected.len(),
        "nothing was stored while down"
    );
    let error = router.last_error().expect("the failure is reported");
    assert!(error.contains("rosey.events.chat.message"), "{error}");

    let _nats = off_thread(nats, NatsServer::restart).await;
    assert_eq!(
        router.flush(Duration::from_secs(30)).await,
        0,
        "everything is stored once the server is back (last error: {:?})",
        router.last_error()
    );

    let stored = read(&consumer, expected.len() + 1, Duration::from_secs(20)).await;
    let ids: Vec<&str> = stored
        .iter()
        .map(|message| message.msg_id.as_str())
        .collect();
    assert_eq!(ids.first(), Some(&"event:b0"));
    assert_eq!(
        ids[1..],
        expected.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    for message in &stored[1..] {
        if message.msg_id.starts_with("command:") {
            let roll = command(message);
            assert_eq!(message.subject, "rosey.commands.roll");
            assert!(roll.args.ends_with("d6"), "{roll:?}");
        } else {
            assert_eq!(event(message).kind, "chat.message");
        }
    }
    assert!(
        read(&consumer, 1, Duration::from_millis(1000))
            .await
            .is_empty(),
        "no duplicates were stored"
    );
}

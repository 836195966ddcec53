//! Context for measure 5: what NATS itself costs on this machine, with no rosey process in the
//! path. Three floors, taken against the main home's nats-server:
//!
//! * core NATS request → reply between two connections of the harness;
//! * the stream's path (a command published through JetStream, a `ChatAction` back on
//!   `rosey.actions.chat`) with the harness standing in for the plugin actor: its own durable
//!   pull consumer, the reply published before the ack;
//! * the steady measure's path (the same, answered from the plain copy the moment NATS routes
//!   it, as a plugin's door takes an early copy; the durable copy is still pulled and acked,
//!   and answers the command itself when it comes first).
//!
//! What the steady latency adds to the third floor is the daemon's and the host's own cost.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use async_nats::jetstream::{self, consumer::PullConsumer};
use futures::StreamExt;
use rosey_benches::stats::Series;
use rosey_core::messaging::{self, ChatAction, CommandMessage};
use serde::Serialize;

use crate::{reload::ms, stack::BenchHome, wire::Wire};

/// The command the stand-in host claims.
const COMMAND: &str = "bench-floor";

/// The floors, in ms.
#[derive(Debug, Default, Serialize)]
pub struct Floor {
    /// Core NATS request → reply.
    pub core_request: Series,
    /// JetStream command → `ChatAction`, answered from the stream, the harness as the host.
    pub jetstream_command: Series,
    /// JetStream command → `ChatAction`, answered from the plain copy, the harness as the host.
    #[serde(default)]
    pub plain_copy: Series,
}

/// Takes both floors, `count` samples each after `warmup`.
pub async fn measure(home: &BenchHome, wire: &Wire, warmup: usize, count: usize) -> Result<Floor> {
    let mut floor = Floor::default();
    let responder = home.nats_client("rosey-bench-responder").await?;
    let requester = home.nats_client("rosey-bench-requester").await?;

    let mut echo = responder
        .subscribe("bench.floor.echo")
        .await
        .context("cannot subscribe")?;
    let echo_client = responder.clone();
    let echoer = tokio::spawn(async move {
        while let Some(message) = echo.next().await {
            if let Some(reply) = message.reply {
                let _ = echo_client.publish(reply, message.payload).await;
            }
        }
    });
    responder.flush().await.context("cannot flush")?;
    // On a loaded machine the server has been seen to answer the very first request with "no
    // responders" even after the flush: ask until the echo answers (at most 5 s) before timing.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let echo = tokio::time::timeout(
            Duration::from_secs(1),
            requester.request("bench.floor.echo", "ping".into()),
        )
        .await;
        match echo {
            Ok(Ok(_)) => break,
            Ok(Err(err)) if Instant::now() > deadline => {
                return Err(err).context("core request failed");
            }
            Err(_) if Instant::now() > deadline => bail!("no echo within 5 s"),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    for i in 0..warmup + count {
        let started = Instant::now();
        tokio::time::timeout(
            Duration::from_secs(5),
            requester.request("bench.floor.echo", "ping".into()),
        )
        .await
        .context("no echo within 5 s")?
        .context("core request failed")?;
        if i >= warmup {
            floor.core_request.push(ms(started.elapsed()));
        }
    }
    echoer.abort();

    let js = jetstream::new(responder.clone());
    let stream = js
        .get_stream(messaging::STREAM_NAME)
        .await
        .context("cannot find the ROSEY stream")?;
    let consumer: PullConsumer = stream
        .get_or_create_consumer(
            &messaging::consumer_name("bench-floor"),
            messaging::plugin_consumer_config(
                "bench-floor",
                vec![messaging::command_subject(COMMAND)],
                Duration::from_secs(5),
            ),
        )
        .await
        .context("cannot create the stand-in host's consumer")?;
    // One stand-in reads the consumer through both floors: a second pull subscription would
    // queue behind the first one's pull request, which the server keeps until it expires.
    let answered = Answered::default();
    let host = tokio::spawn(stand_in_host(responder.clone(), consumer, answered.clone()));
    let timed = commands(wire, "floor", warmup, count).await;
    floor.jetstream_command = Series(timed.inspect_err(|_| host.abort())?);

    let plain = responder
        .subscribe(messaging::command_subject(COMMAND))
        .await
        .context("cannot subscribe")?;
    responder.flush().await.context("cannot flush")?;
    let early = tokio::spawn(answer_plain(responder.clone(), plain, answered));
    let timed = commands(wire, "floor-plain", warmup, count).await;
    host.abort();
    early.abort();
    floor.plain_copy = Series(timed?);
    let _ = stream
        .delete_consumer(&messaging::consumer_name("bench-floor"))
        .await;
    wire.forget_replies();
    Ok(floor)
}

/// Sends `warmup` then `count` floor commands one after the other; the `count` latencies.
async fn commands(wire: &Wire, prefix: &str, warmup: usize, count: usize) -> Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(count);
    for i in 0..warmup + count {
        let id = format!("{prefix}-{i}");
        let waiting = wire.watch_reply(&id);
        let started = Instant::now();
        let ack = wire.publish(&id, COMMAND, "").await?;
        let reply = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .with_context(|| format!("the stand-in host did not answer {id} within 5 s"))?
            .context("the reply book was dropped")?;
        ack.await
            .context("the stream did not store a floor command")?;
        if i >= warmup {
            samples.push(ms(reply.at - started));
        }
    }
    Ok(samples)
}

/// The commands the stand-in answered, by id: each is answered once, from whichever copy
/// comes first, as a plugin's door hands each command to its host once.
#[derive(Clone, Default)]
struct Answered(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>);

impl Answered {
    /// Whether `id` is answered now (and by the caller): false if it was already.
    fn claim(&self, id: &str) -> bool {
        let mut ids = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        ids.insert(id.to_owned())
    }
}

/// Answers each plain copy of a floor command no durable copy answered first.
async fn answer_plain(
    client: async_nats::Client,
    mut plain: async_nats::Subscriber,
    answered: Answered,
) {
    while let Some(message) = plain.next().await {
        answer_once(&client, &answered, &message.payload).await;
    }
}

/// Answers the floor command in `payload` with a `ChatAction`, unless it was answered already.
async fn answer_once(client: &async_nats::Client, answered: &Answered, payload: &[u8]) {
    if let Ok(command) = messaging::decode::<CommandMessage>(payload) {
        if answered.claim(&command.id) {
            let _ = client
                .publish(messaging::CHAT_ACTION_SUBJECT, answer(command.id))
                .await;
        }
    }
}

fn answer(id: String) -> bytes::Bytes {
    messaging::encode(&ChatAction {
        v: messaging::SCHEMA_VERSION,
        text: "floor".to_owned(),
        to: None,
        plugin: "bench-floor".to_owned(),
        in_reply_to: Some(id),
        for_user: None,
    })
    .into()
}

/// Reads commands as a plugin's door does (one continuous pull subscription, 16 messages a
/// pull) and acks each, after answering it with a `ChatAction` unless its plain copy was
/// answered first (the reply published before the ack).
///
/// The plain copy is not always first: the server can route a command before it has taken in
/// the plain subscription made just before (a `flush` sends the `SUB` but waits for no answer),
/// and then only the durable copy can answer it, as in a door.
///
/// Not one short batch after another: a message the server delivered into a batch the client
/// had already given up on (its expiry) was read by no one and came back only after the 5 s
/// ack wait, failing the measure now and then.
async fn stand_in_host(client: async_nats::Client, consumer: PullConsumer, answered: Answered) {
    loop {
        let messages = consumer
            .stream()
            .max_messages_per_batch(16)
            .heartbeat(Duration::from_secs(1))
            .expires(Duration::from_secs(30))
            .messages()
            .await;
        let Ok(mut messages) = messages else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while let Some(message) = messages.next().await {
            // An error item (a missed heartbeat) is not the end of the subscription.
            let Ok(message) = message else { continue };
            answer_once(&client, &answered, &message.payload).await;
            let _ = message.ack().await;
        }
    }
}

//! Open-loop load, shared by the load measures (loss under reloads, loss under kills, the
//! sustained rate): commands with unique ids published at a fixed rate whatever the replies do,
//! then a bounded wait for the replies and a tally of what came back.
//!
//! Pacing: command `i` is due `i / rate` seconds after the start; each time the publisher
//! wakes it publishes every command due by then, so a late timer (tokio's resolution is 1 ms)
//! makes a short burst, never a slower rate. Each command's send time is taken just before it
//! is published, so its latency (send → first reply) never includes a wait for its turn. A
//! command the stream does not acknowledge is published again (same id, so the stream's dedupe
//! keeps one copy), up to 3 times.

use std::time::{Duration, Instant};

use anyhow::Result;
use async_nats::jetstream::{
    context::{PublishAckFuture, PublishError},
    publish::PublishAck,
};
use futures::{stream::FuturesUnordered, StreamExt};
use rosey_benches::stats::Series;
use serde::Serialize;
use tokio::time::sleep_until;

use crate::{reload::ms, wire::Wire};

/// What a paced publisher did.
#[derive(Debug, Default)]
pub struct Published {
    /// When command `i` was first published.
    pub sent_at: Vec<Instant>,
    /// Commands the stream did not acknowledge even after retries.
    pub not_stored: usize,
    /// Commands per second published, first to last.
    pub achieved_rate: f64,
}

/// Awaits the stream's acknowledgement of command `i`.
async fn settle(i: usize, ack: PublishAckFuture) -> (usize, Result<PublishAck, PublishError>) {
    (i, ack.await)
}

/// Publishes `total` commands `command args` with ids `id_of(i)` at `rate` a second; returns
/// once every one is published and its acknowledgement settled.
pub async fn publish_paced(
    wire: &Wire,
    id_of: &dyn Fn(usize) -> String,
    (command, args): (&str, &str),
    rate: f64,
    total: usize,
) -> Result<Published> {
    let mut sent_at: Vec<Instant> = Vec::with_capacity(total);
    let start = tokio::time::Instant::now();
    let mut acks = FuturesUnordered::new();
    let mut retries = vec![0u8; total];
    let mut not_stored = 0;
    let mut next = 0;
    loop {
        let due_next = start + Duration::from_secs_f64(next as f64 / rate);
        tokio::select! {
            biased;
            Some((i, stored)) = acks.next(), if !acks.is_empty() => {
                let stored: Result<PublishAck, PublishError> = stored;
                if stored.is_err() {
                    if retries[i] < 3 {
                        retries[i] += 1;
                        acks.push(settle(i, wire.publish(&id_of(i), command, args).await?));
                    } else {
                        not_stored += 1;
                    }
                }
            }
            _ = sleep_until(due_next), if next < total => {
                let due = (start.elapsed().as_secs_f64() * rate).floor() as usize + 1;
                while next < due.min(total) {
                    sent_at.push(Instant::now());
                    acks.push(settle(next, wire.publish(&id_of(next), command, args).await?));
                    next += 1;
                }
            }
            else => break,
        }
    }
    let mut achieved_rate = 0.0;
    if let (Some(first), Some(last)) = (sent_at.first(), sent_at.last()) {
        let span = (*last - *first).as_secs_f64();
        if span > 0.0 {
            achieved_rate = (sent_at.len() - 1) as f64 / span;
        }
    }
    Ok(Published {
        sent_at,
        not_stored,
        achieved_rate,
    })
}

/// Waits until each of the `total` commands `id_of(i)` has a reply, or `limit` has passed;
/// `true` when all have.
pub async fn drain(
    wire: &Wire,
    id_of: &dyn Fn(usize) -> String,
    total: usize,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    // Answered commands stay answered: only the first unanswered one and later are checked.
    let mut first_open = 0;
    loop {
        while first_open < total && wire.reply_count(&id_of(first_open)) > 0 {
            first_open += 1;
        }
        if first_open == total {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until no reply has arrived for `quiet`, or `limit` has passed; `true` when it went
/// quiet (whatever was still coming has come, or will not).
pub async fn quiet(wire: &Wire, quiet: Duration, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut seen = wire.replies_received();
    let mut last_change = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = wire.replies_received();
        if now != seen {
            seen = now;
            last_change = Instant::now();
        } else if last_change.elapsed() >= quiet {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

/// What came back for a load.
#[derive(Debug, Default, Serialize)]
pub struct Tally {
    /// Commands with no reply.
    pub lost: usize,
    /// Commands with more than one reply.
    pub duplicated: usize,
    /// Replies beyond the first, summed over all commands.
    pub extra_replies: usize,
    /// A few of the lost ids.
    pub lost_examples: Vec<String>,
    /// Send → first reply of every answered command, in ms.
    pub latency: Series,
}

/// Counts the replies so far to the commands sent at `sent_at` (command `i` is `id_of(i)`).
pub fn tally(wire: &Wire, id_of: &dyn Fn(usize) -> String, sent_at: &[Instant]) -> Tally {
    let mut tally = Tally::default();
    for (i, sent) in sent_at.iter().enumerate() {
        let id = id_of(i);
        match wire.reply_count(&id) {
            0 => {
                tally.lost += 1;
                if tally.lost_examples.len() < 10 {
                    tally.lost_examples.push(id);
                }
            }
            count => {
                if count > 1 {
                    tally.duplicated += 1;
                    tally.extra_replies += count - 1;
                }
                if let Some(first) = wire.first_reply(&id) {
                    tally
                        .latency
                        .push(ms(first.at.saturating_duration_since(*sent)));
                }
            }
        }
    }
    tally
}

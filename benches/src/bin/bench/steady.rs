//! Measure 5: steady command → reply latency. One command at a time is published through
//! JetStream, as the bot publishes chat commands, and timed until the plugin's `ChatAction`
//! answering it arrives; warm-up commands are not counted.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::{reload::ms, wire::Wire};

/// Sends `warmup` then `count` commands one after the other; returns the `count` latencies in
/// ms.
pub async fn latency(
    wire: &Wire,
    (command, args): (&str, &str),
    warmup: usize,
    count: usize,
) -> Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(count);
    for i in 0..warmup + count {
        let id = format!("steady-{i}");
        let waiting = wire.watch_reply(&id);
        let started = Instant::now();
        let ack = wire.publish(&id, command, args).await?;
        let reply = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .with_context(|| format!("no reply to steady command {i} within 10 s"))?
            .context("the reply book was dropped")?;
        ack.await
            .with_context(|| format!("the stream did not store steady command {i}"))?;
        if i >= warmup {
            samples.push(ms(reply.at - started));
        }
    }
    wire.forget_replies();
    Ok(samples)
}

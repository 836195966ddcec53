//! The actor's end of a host's service channel: the plugin's questions about the chat channel
//! (who is in it, what plays), asked from any of its threads, answered here without going
//! through the serving loop. The answer comes from the bot, which follows the channel, by a
//! NATS request.
//!
//! The host is untrusted: anything but a `Query` ends the service (the host's questions then
//! fail), a host that asks faster than answers come is served one at a time, and one that asks
//! in a loop is answered at a bounded pace.

use std::time::Duration;

use rosey_core::messaging;
use rosey_host::wire::{FromHost, ToHost};
use tokio::{io::AsyncWriteExt, net::UnixStream};

use super::frames::FrameReader;

/// How long the bot may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// The least time between two questions of one host: a plugin asking in a loop gets its
/// answers at this pace (50 a second), so it cannot make the bot do nothing else.
const MIN_GAP: Duration = Duration::from_millis(20);

/// Serves `stream` for plugin `plugin` until the host closes it (it exited) or breaks the rules.
pub fn serve(plugin: String, stream: UnixStream, client: async_nats::Client) {
    tokio::spawn(async move {
        let (read, mut write) = stream.into_split();
        let mut frames = FrameReader::new(read);
        let mut next_allowed = tokio::time::Instant::now();
        while let Some(frame) = frames.recv().await {
            let FromHost::Query = frame else {
                tracing::warn!(%plugin, "a plugin host sent {frame:?} on its service channel; ending the service");
                return;
            };
            tokio::time::sleep_until(next_allowed).await;
            next_allowed = tokio::time::Instant::now() + MIN_GAP;
            let answer = ToHost::Answer(ask(&client).await);
            if write.write_all(&answer.encode()).await.is_err() {
                return;
            }
        }
    });
}

/// The channel's state as the bot knows it, as JSON.
async fn ask(client: &async_nats::Client) -> Result<String, String> {
    let request = client.request(messaging::CHANNEL_STATE_SUBJECT, Vec::new().into());
    match tokio::time::timeout(ANSWER_TIMEOUT, request).await {
        Ok(Ok(reply)) => String::from_utf8(reply.payload.to_vec())
            .map_err(|_| "the bot's answer is not UTF-8".to_owned()),
        Ok(Err(err)) => Err(format!("the bot did not answer: {err}")),
        Err(_) => Err(format!("the bot did not answer within {ANSWER_TIMEOUT:?}")),
    }
}

//! The router's background publisher: stores the queue's head in the `ROSEY` stream, in
//! order, retrying with a growing delay while NATS cannot take it (and asking for the stream
//! to be made again when it is gone), so the connector never waits for NATS.

use std::sync::Arc;

use async_nats::jetstream;

use super::{RouterSettings, Shared, StreamRepair};
use crate::messaging;

/// The background publisher: stores the queue's head, in order, forever.
pub(super) async fn publish_queue(
    js: jetstream::Context,
    shared: Arc<Shared>,
    settings: RouterSettings,
    repair: Option<StreamRepair>,
) {
    let mut stream_ready = false;
    let mut stream_lost = false;
    let mut delay = settings.retry_initial;
    loop {
        let head = shared.queue().front().cloned();
        let Some(head) = head else {
            shared.queued.notified().await;
            continue;
        };
        let attempt = async {
            if !stream_ready {
                js.get_or_create_stream(messaging::stream_config(&settings.store))
                    .await
                    .map_err(|err| {
                        format!("cannot create the {} stream: {err}", messaging::STREAM_NAME)
                    })?;
                stream_ready = true;
            }
            let ack = js
                .send_publish(head.subject.clone(), head.publish.clone())
                .await
                .map_err(|err| err.to_string())?;
            ack.await.map(|_| ()).map_err(|err| {
                if err.kind() == jetstream::context::PublishErrorKind::StreamNotFound {
                    // The stream may have been deleted, or JetStream is still starting.
                    stream_ready = false;
                    stream_lost = true;
                }
                err.to_string()
            })
        };
        let result = match tokio::time::timeout(settings.publish_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(format!("no ack within {:?}", settings.publish_timeout)),
        };
        match result {
            Ok(()) => {
                shared.queue().pop_front();
                shared.set_error(None);
                shared.stored.notify_waiters();
                delay = settings.retry_initial;
            }
            Err(error) => {
                let error = format!("publishing to {}: {error}", head.subject);
                shared.set_error(Some(error.clone()));
                if let (true, Some(repair)) = (std::mem::take(&mut stream_lost), &repair) {
                    let _ = tokio::time::timeout(settings.publish_timeout, repair(error)).await;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(settings.retry_max);
            }
        }
    }
}

//! Supervision notices (a unit started, exited, was reloaded …): each is logged (to the unit's
//! own log too), kept for the dashboard's feed, and published on `rosey.supervision.<event>`.
//!
//! Publishing goes through one queue and one task, so notices reach NATS in the order they
//! happened (a `stopped` never after the `started` that followed it); those announced before the
//! stack's NATS connection is up wait in the queue and are published once it is.

use rosey_actors::SupervisionNotice;
use rosey_core::messaging::{self, SupervisionEvent};
use tokio::sync::mpsc;

/// Where notices go. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Notices {
    queue: mpsc::UnboundedSender<SupervisionEvent>,
    pub(crate) feed: crate::web::Feed,
}

/// The other end of the queue: publishes once it has a connection.
pub(crate) struct NoticePublisher {
    queue: mpsc::UnboundedReceiver<SupervisionEvent>,
}

impl Notices {
    /// The notices, and the publisher to start once NATS is reachable.
    pub(crate) fn new() -> (Notices, NoticePublisher) {
        let (queue, receiver) = mpsc::unbounded_channel();
        (
            Notices {
                queue,
                feed: crate::web::Feed::default(),
            },
            NoticePublisher { queue: receiver },
        )
    }

    /// Logs `text` and publishes it as event `what` of `unit` (under `supervisor`) on
    /// `rosey.supervision.<what>` and in the dashboard's feed.
    pub(crate) fn announce(
        &self,
        what: &str,
        supervisor: &str,
        unit: &str,
        text: String,
        error: bool,
    ) {
        // The `unit` field sends the line to the unit's own log too (see `logging`).
        let unit_id = if supervisor == rosey_core::units::PLUGINS {
            rosey_actors::stack::unit_name(unit)
        } else {
            unit.to_owned()
        };
        if error {
            tracing::error!(unit = %unit_id, "{text}");
        } else {
            tracing::info!(unit = %unit_id, "{text}");
        }
        let notice = SupervisionEvent::new(supervisor, unit, what, text);
        self.feed.push(notice.clone());
        // Fails only once the publisher is gone (the daemon is stopping): the log has it.
        let _ = self.queue.send(notice);
    }

    /// Logs and publishes a notice of the supervision tree.
    pub(crate) fn supervision(&self, notice: &SupervisionNotice) {
        let unit = if notice.supervisor == rosey_core::units::PLUGINS {
            format!("plugin {}", notice.child)
        } else {
            notice.child.clone()
        };
        let text = format!("{unit} {}", notice.kind);
        let error = notice.kind.is_failure();
        self.announce(
            notice.kind.name(),
            &notice.supervisor,
            &notice.child,
            text,
            error,
        );
    }
}

impl NoticePublisher {
    /// Publishes every queued notice, in order, on `client`.
    pub(crate) fn start(mut self, client: async_nats::Client) {
        tokio::spawn(async move {
            while let Some(notice) = self.queue.recv().await {
                if let Err(err) = client
                    .publish(notice.subject(), messaging::encode(&notice).into())
                    .await
                {
                    tracing::debug!("a supervision notice was not published: {err}");
                }
            }
        });
    }
}

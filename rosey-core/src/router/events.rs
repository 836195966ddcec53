//! The router's side of channel events (joins, leaves, media changes, …: published as they
//! are, their ranks noted) and the one way anything enters the publish queue.

use super::{queued, Queued, RouteError, RouteOutcome, Router};
use crate::{
    connector::ChannelEvent,
    messaging::{self, EventMessage, SCHEMA_VERSION},
};

impl Router {
    /// Who is in the channel and what plays, as the routed events told it.
    pub fn channel_state(&self) -> messaging::ChannelState {
        self.roster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .state()
    }

    /// `user` (the bot too) as the routed events described them, if present.
    pub fn channel_user(&self, user: &str) -> Option<messaging::ChannelUser> {
        self.roster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .user(user)
    }

    /// A channel event: published as it is, never a command, whoever it concerns.
    /// Ranks it announces are noted (for the rate limits, `min_rank` and plugins), and the
    /// rank of the user it concerns goes with it.
    pub(super) fn route_event(&self, event: &ChannelEvent) -> Result<RouteOutcome, RouteError> {
        let rank = {
            let mut ranks = self
                .roster
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            ranks.note(event);
            event.user.as_deref().and_then(|user| ranks.of(user))
        };
        let mut data = event.data.clone();
        if let serde_json::Value::Object(map) = &mut data {
            map.entry("channel")
                .or_insert_with(|| self.settings.channel.clone().into());
        }
        let message = EventMessage {
            v: SCHEMA_VERSION,
            id: event.id.clone(),
            kind: event.kind.clone(),
            user: event.user.clone(),
            text: None,
            time_ms: event.time_ms,
            data,
            rank,
        };
        let batch = vec![queued(
            messaging::event_subject(&event.kind),
            format!("event:{}", event.id),
            messaging::encode(&message),
        )];
        self.enqueue(batch, &event.id)?;
        Ok(RouteOutcome::Event)
    }

    /// Appends `batch` (all of it or, when the queue has no room, none) and wakes the publisher.
    pub(super) fn enqueue(&self, batch: Vec<Queued>, id: &str) -> Result<(), RouteError> {
        {
            let mut queue = self.shared.queue();
            if queue.len() + batch.len() > self.settings.queue_capacity {
                return Err(RouteError::QueueFull {
                    capacity: self.settings.queue_capacity,
                    id: id.to_owned(),
                    last_error: self
                        .shared
                        .last_error()
                        .unwrap_or_else(|| "none yet".to_owned()),
                });
            }
            queue.extend(batch);
        }
        self.shared.queued.notify_one();
        Ok(())
    }
}

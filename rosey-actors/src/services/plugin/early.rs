//! Early copies: a message reaches the plugin as soon as NATS routes it, not only once the
//! stream has stored it and the consumer has delivered it.
//!
//! A JetStream publish is also a plain NATS message: every subscriber of its subject gets it
//! when the server routes it, while the stream's copy reaches the plugin's pull consumer a
//! store and a delivery later (about a quarter of a millisecond on a small machine, most of
//! the steady command → reply time). The door therefore also subscribes to the plugin's
//! subjects and may hand the host that *early copy*; the stream's *durable copy* stays the
//! record: it is acked only when it arrives, after the early copy was handled and its reply
//! published, so a reply still goes out before its message is acked.
//!
//! The rules that keep this from losing, repeating or reordering anything:
//!
//! * Only messages with a `Nats-Msg-Id` (every message the router publishes) are taken
//!   early; the id is how the two copies of one message meet.
//! * Early copies are taken only while the door is *caught up*: every message the last
//!   durable copy said was pending behind it for the consumer has reached the door as an early
//!   copy already (or the consumer was new and empty). The server routes a message's plain copy
//!   before it stores it, so a durable copy that counts a message as pending arrives after that
//!   message's plain copy, and the door reads plain copies first; every message stored later
//!   reaches the subscription too, in the same order. So an early copy never overtakes an older
//!   message. Any sign of a backlog (more pending than the door has seen, a message without an
//!   id, a full queue) stops early copies until the door catches up.
//! * An early copy gets one attempt. If its host dies with it, the durable copy carries the
//!   retries (counted as poison like any other); an early copy is never dead-lettered.
//! * Each subject has a subscription of its own, and the server's order holds within one
//!   subscription, not across them: plain copies of several subjects received together are
//!   not taken early (the stream orders them), which stops early copies until the door
//!   catches up again.
//! * An id seen lately (early or durable) is never taken early again, so a republished
//!   duplicate, which the stream drops, is not handled twice either.
//! * What waits for a durable copy (handled early, or crashed early) is forgotten after the
//!   stream's duplicate window: a message the stream refused has no durable copy to wait for.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

use async_nats::{header::NATS_MESSAGE_ID, jetstream::Message};
use bytes::Bytes;

/// Early copies queued ahead of the host at most; past that the door reads durable copies.
const MAX_QUEUED: usize = 64;

/// Ids remembered for dropping a copy seen before.
const KNOWN: usize = 4096;

/// How long a handled or crashed early copy waits for its durable copy (the stream's
/// duplicate window: after it, a republish would be stored anew anyway).
const WAIT_FOR_DURABLE: Duration = Duration::from_secs(120);

/// How long an early copy counts as a message the stream has yet to deliver: a durable copy
/// comes within milliseconds, so one still missing after this may never come (the stream
/// refused it), and counting it could hide a message the door has not seen.
const COUNTS_AS_PENDING: Duration = Duration::from_secs(1);

/// A message that arrived on the plugin's subjects before the stream delivered it.
#[derive(Debug, Clone)]
pub struct EarlyCopy {
    /// Its `Nats-Msg-Id`.
    pub id: String,
    /// The subject it was published on (a replayed dead letter's is its replay subject; see
    /// [`Taken::replayed`]).
    pub subject: String,
    /// The payload.
    pub payload: Bytes,
    /// When the door received it (ms since the epoch, this machine's clock).
    pub arrived_ms: u64,
}

/// A message taken from the door for the host.
#[derive(Debug)]
pub struct Taken {
    /// The subject it was published on (a replayed dead letter's is its replay subject; see
    /// [`Taken::replayed`]).
    pub subject: String,
    /// The payload.
    pub payload: Bytes,
    /// Which copy it is.
    pub copy: Copy,
    /// Since when it has been waiting for the plugin (ms since the epoch, this machine's
    /// clock): when the stream stored it, or when the door received its early copy.
    pub waiting_since_ms: u64,
}

/// Which copy of a message was taken.
#[derive(Debug)]
pub enum Copy {
    /// The stream's copy: acked (or termed, or dead-lettered) when done.
    Durable(Box<Message>),
    /// The plain copy, by its `Nats-Msg-Id`: its durable copy is acked when it arrives.
    Early(String),
}

impl Taken {
    pub(super) fn durable(message: Message) -> Taken {
        let waiting_since_ms = message
            .info()
            .ok()
            .and_then(|info| u64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).ok())
            .unwrap_or_else(rosey_core::messaging::now_ms);
        Taken {
            subject: message.subject.to_string(),
            payload: message.payload.clone(),
            copy: Copy::Durable(Box::new(message)),
            waiting_since_ms,
        }
    }

    pub(super) fn early(copy: EarlyCopy) -> Taken {
        Taken {
            subject: copy.subject,
            payload: copy.payload,
            copy: Copy::Early(copy.id),
            waiting_since_ms: copy.arrived_ms,
        }
    }

    /// Whether it is a dead letter the operator replayed: the plugin handles it as if it came
    /// on [`rosey_core::messaging::original_subject`], but it gets one host, not
    /// `max_attempts`, and is not held back with its sender's other commands.
    pub fn replayed(&self) -> bool {
        rosey_core::messaging::is_replay_subject(&self.subject)
    }

    /// The stream sequence; 0 for an early copy, which has none yet (it is also the host's
    /// handle on the message, and one message is in a host at a time).
    pub fn seq(&self) -> u64 {
        match &self.copy {
            Copy::Durable(message) => super::door::sequence(message),
            Copy::Early(_) => 0,
        }
    }
}

/// A message's `Nats-Msg-Id`, if it has one.
pub(super) fn message_id(headers: Option<&async_nats::HeaderMap>) -> Option<String> {
    headers
        .and_then(|headers| headers.get(NATS_MESSAGE_ID))
        .map(|id| id.as_str().to_owned())
}

/// What to do with a durable copy that just arrived.
#[derive(Debug, PartialEq, Eq)]
pub enum DurableFate {
    /// Its early copy was handled: ack it, hand it to nobody.
    Ack,
    /// Hand it to the plugin; `crashed` hosts already died on its early copy (add them to its
    /// poison count).
    Deliver {
        /// Hosts that died holding the early copy.
        crashed: u32,
    },
}

/// The door's book of early copies.
#[derive(Debug, Default)]
pub struct EarlyCopies {
    caught_up: bool,
    /// The first stream sequence whose durable copy was delivered after the subscription was
    /// made: only such a copy's pending count covers what the subscription has seen.
    trust_from: u64,
    queue: VecDeque<EarlyCopy>,
    /// Early copies handled, whose durable copy is still to be acked.
    settled: HashMap<String, Instant>,
    /// Early copies a host died holding, whose durable copy is still to come.
    crashed: HashMap<String, (u32, Instant)>,
    /// Plain copies passed over (not caught up, a full queue, an unknown order), whose durable
    /// copy is still to come: while one is, the door is not caught up, whatever a durable
    /// copy delivered before it said was pending.
    passed_over: HashMap<String, Instant>,
    /// The same, oldest first, so expiry looks only at the front.
    passed_over_order: VecDeque<(Instant, String)>,
    known: HashSet<String>,
    known_order: VecDeque<String>,
}

impl EarlyCopies {
    /// Whether nothing is known to be pending for the consumer behind what the door has seen.
    #[cfg(test)]
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    /// Sets whether the door is caught up: from a new consumer's counts, or false when its
    /// subscription is made anew.
    pub fn set_caught_up(&mut self, caught_up: bool) {
        self.caught_up = caught_up;
    }

    /// A plain copy of a message on the plugin's subjects arrived.
    pub fn offer(&mut self, copy: EarlyCopy) {
        if !self.remember(&copy.id) {
            return;
        }
        if self.caught_up && self.queue.len() >= MAX_QUEUED {
            // The host is behind: the stream delivers from here on, in its order.
            self.caught_up = false;
        }
        if !self.caught_up {
            self.pass_over(copy.id);
            return;
        }
        self.queue.push_back(copy);
    }

    /// Copies `ids` arrived whose order among themselves is unknown (several subscriptions
    /// at once): none of them is taken early, and nothing after them until the door catches
    /// up.
    pub fn lose_order(&mut self, ids: Vec<String>) {
        self.caught_up = false;
        for id in ids {
            if self.remember(&id) {
                self.pass_over(id);
            }
        }
    }

    /// The next early copy for the host, oldest first.
    pub fn take(&mut self) -> Option<EarlyCopy> {
        self.queue.pop_front()
    }

    /// An early copy taken but not handed to a host (or whose host went away before it ran
    /// the handler): it is next again.
    pub fn put_back(&mut self, copy: EarlyCopy) {
        self.queue.push_front(copy);
    }

    /// The durable copy of message `id` (`None`: it has no id), stream sequence `seq`,
    /// arrived, with `pending` messages behind it for the consumer.
    pub fn on_durable(&mut self, id: Option<&str>, seq: u64, pending: u64) -> DurableFate {
        let fate = match id {
            None => DurableFate::Deliver { crashed: 0 },
            Some(id) => {
                self.remember(id);
                self.passed_over.remove(id);
                if self.settled.remove(id).is_some() {
                    DurableFate::Ack
                } else {
                    if let Some(at) = self.queue.iter().position(|copy| copy.id == id) {
                        self.queue.remove(at);
                    }
                    let crashed = self.crashed.remove(id).map_or(0, |(count, _)| count);
                    DurableFate::Deliver { crashed }
                }
            }
        };
        let now = Instant::now();
        while let Some((at, id)) = self.passed_over_order.front() {
            if now.duration_since(*at) < COUNTS_AS_PENDING {
                break;
            }
            if self.passed_over.get(id) == Some(at) {
                self.passed_over.remove(id);
            }
            self.passed_over_order.pop_front();
        }
        self.caught_up =
            seq >= self.trust_from && self.passed_over.is_empty() && self.seen_ahead() >= pending;
        fate
    }

    /// Messages seen early whose durable copy is still to come: the ones a durable copy's
    /// pending count may be counting.
    fn seen_ahead(&self) -> u64 {
        let now = Instant::now();
        let recent = |at: &Instant| now.duration_since(*at) < COUNTS_AS_PENDING;
        let settled = self.settled.values().filter(|at| recent(at)).count();
        let crashed = self.crashed.values().filter(|(_, at)| recent(at)).count();
        (self.queue.len() + settled + crashed) as u64
    }

    /// Early copy `id` was handled; its durable copy is acked when it comes.
    pub fn settle(&mut self, id: String) {
        self.expire();
        self.settled.insert(id, Instant::now());
    }

    /// A host died holding early copy `id`; its durable copy carries the retries.
    pub fn crashed(&mut self, id: String) {
        self.expire();
        let entry = self.crashed.entry(id).or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    /// Forgets the queue (the subscription is made anew, perhaps for other subjects, with a
    /// new consumer subscription): what was queued comes as durable copies.
    pub fn reset(&mut self) {
        self.rearm(0);
    }

    /// The subscription was made anew while durable copies delivered before it may still be
    /// on their way; only one from stream sequence `trust_from` on can say the door caught up.
    pub fn rearm(&mut self, trust_from: u64) {
        self.queue.clear();
        self.caught_up = false;
        self.trust_from = trust_from;
    }

    /// Early copies waiting for the host.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Records a plain copy passed over: its durable copy is still to come.
    fn pass_over(&mut self, id: String) {
        let now = Instant::now();
        self.passed_over.insert(id.clone(), now);
        self.passed_over_order.push_back((now, id));
    }

    /// Records `id` as seen; false if it was already.
    fn remember(&mut self, id: &str) -> bool {
        if self.known.contains(id) {
            return false;
        }
        self.known.insert(id.to_owned());
        self.known_order.push_back(id.to_owned());
        if self.known_order.len() > KNOWN {
            if let Some(old) = self.known_order.pop_front() {
                self.known.remove(&old);
            }
        }
        true
    }

    fn expire(&mut self) {
        let now = Instant::now();
        self.settled
            .retain(|_, at| now.duration_since(*at) < WAIT_FOR_DURABLE);
        self.crashed
            .retain(|_, (_, at)| now.duration_since(*at) < WAIT_FOR_DURABLE);
    }
}

#[cfg(test)]
mod tests;

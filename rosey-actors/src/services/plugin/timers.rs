//! The timers one plugin instance armed: kept by its actor, fired by the serving loop when no
//! message is in the host, so a timer's hook is seen through (deadline, heartbeats, a crash)
//! like a message's. They end with the instance (a reload's next instance re-arms its own).
//!
//! The host asks with `SetTimer` and `CancelTimer` frames, which the actor's frame reader
//! notes as they arrive. The host is untrusted: its requests are checked against the same
//! limits the host applies for the plugin (a refused one is logged and dropped).

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use rosey_core::messaging;
use rosey_host::wire::{self, FromHost};
use tokio::time::Instant;

/// The least time between two firings of one instance's timers (at most 200 a second): due
/// timers past that pace wait their turn.
pub const MIN_GAP: Duration = Duration::from_millis(5);

/// One armed timer.
struct Armed {
    id: u64,
    due: Instant,
    due_ms: u64,
    every: Option<Duration>,
}

/// A timer that is due, to hand to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// Its name.
    pub name: String,
    /// The arming it belongs to.
    pub id: u64,
    /// When it was due, ms since the Unix epoch.
    pub due_ms: u64,
}

/// An instance's timers.
#[derive(Default)]
pub struct Timers {
    by_name: HashMap<String, Armed>,
    /// Due time and arming id → name: the earliest first.
    queue: BTreeMap<(Instant, u64), String>,
}

impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timers")
            .field("armed", &self.by_name.keys())
            .field("next_due", &self.next_due())
            .finish_non_exhaustive()
    }
}

impl Timers {
    /// Takes in a `SetTimer` or `CancelTimer`; `false` for any other frame (left alone). A
    /// request past the limits is dropped (the host should have refused it).
    pub fn note(&mut self, frame: &FromHost) -> bool {
        match frame {
            FromHost::SetTimer {
                id,
                name,
                after_ms,
                every_ms,
            } => {
                if let Some(reason) = wire::timer_refusal(name, *after_ms, *every_ms) {
                    tracing::warn!(
                        "a plugin host asked for a timer it should have refused: {reason}"
                    );
                } else if self.by_name.len() >= wire::MAX_TIMERS && !self.by_name.contains_key(name)
                {
                    tracing::warn!(
                        "a plugin host asked for more than {} timers",
                        wire::MAX_TIMERS
                    );
                } else {
                    self.cancel(name);
                    let after = Duration::from_millis(*after_ms);
                    let armed = Armed {
                        id: *id,
                        due: Instant::now() + after,
                        due_ms: messaging::now_ms().saturating_add(*after_ms),
                        every: (*every_ms > 0).then(|| Duration::from_millis(*every_ms)),
                    };
                    self.queue.insert((armed.due, armed.id), name.clone());
                    self.by_name.insert(name.clone(), armed);
                }
                true
            }
            FromHost::CancelTimer { name } => {
                self.cancel(name);
                true
            }
            _ => false,
        }
    }

    fn cancel(&mut self, name: &str) {
        if let Some(armed) = self.by_name.remove(name) {
            self.queue.remove(&(armed.due, armed.id));
        }
    }

    /// When the earliest timer is due, if any is armed.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(due, _)| *due)
    }

    /// The earliest timer, if it is due at `now`; a repeating one is armed again, one period
    /// after it was due (or one period from now, if it fell a whole period behind).
    pub fn take_due(&mut self, now: Instant) -> Option<Firing> {
        let (&(due, id), _) = self
            .queue
            .iter()
            .next()
            .filter(|((due, _), _)| *due <= now)?;
        let name = self.queue.remove(&(due, id))?;
        let armed = self.by_name.get_mut(&name)?;
        let firing = Firing {
            name: name.clone(),
            id,
            due_ms: armed.due_ms,
        };
        match armed.every {
            Some(every) => {
                let mut next = due + every;
                let mut next_ms = armed.due_ms.saturating_add(every.as_millis() as u64);
                if next <= now {
                    next = now + every;
                    next_ms = messaging::now_ms().saturating_add(every.as_millis() as u64);
                }
                armed.due = next;
                armed.due_ms = next_ms;
                self.queue.insert((next, id), name);
            }
            None => {
                self.by_name.remove(&name);
            }
        }
        Some(firing)
    }

    /// How many are armed.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_name.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(id: u64, name: &str, after_ms: u64, every_ms: u64) -> FromHost {
        FromHost::SetTimer {
            id,
            name: name.to_owned(),
            after_ms,
            every_ms,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn timers_fire_in_due_order_repeat_and_are_replaced_or_cancelled_by_name() {
        let mut timers = Timers::default();
        let start = Instant::now();
        assert!(timers.note(&set(1, "slow", 300, 0)));
        assert!(timers.note(&set(2, "tick", 100, 100)));
        assert!(timers.note(&set(3, "gone", 50, 0)));
        assert!(timers.note(&FromHost::CancelTimer {
            name: "gone".to_owned()
        }));
        assert_eq!(timers.next_due(), Some(start + Duration::from_millis(100)));
        assert_eq!(timers.take_due(start), None, "nothing is due yet");
        let at = |ms| start + Duration::from_millis(ms);
        let mut fired = |now| -> Vec<String> {
            std::iter::from_fn(|| timers.take_due(now))
                .take(10)
                .map(|firing| firing.name)
                .collect()
        };
        assert_eq!(fired(at(100)), ["tick"]);
        assert_eq!(fired(at(150)), Vec::<String>::new());
        assert_eq!(fired(at(200)), ["tick"], "one period after it was due");
        assert_eq!(
            fired(at(500)),
            ["slow", "tick"],
            "both due at 300, in arming order; a repeating timer a whole period behind fires once, not in a burst"
        );
        assert_eq!(
            fired(at(599)),
            Vec::<String>::new(),
            "next one period from 500"
        );
        assert_eq!(fired(at(600)), ["tick"]);
        assert_eq!(
            timers.len(),
            1,
            "the one-off is gone, the repeating one stays"
        );
        assert!(timers.note(&set(4, "tick", 1000, 0)));
        // The clock is paused: re-armed at `start`, due at 1000.
        assert_eq!(
            timers.take_due(at(999)),
            None,
            "replaced: the old arming is gone"
        );
        assert_eq!(timers.take_due(at(1000)).map(|firing| firing.id), Some(4));
        assert_eq!(timers.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_past_the_limits_are_dropped() {
        let mut timers = Timers::default();
        timers.note(&set(1, "fast", 10, 1));
        timers.note(&set(2, "", 10, 0));
        assert_eq!(timers.len(), 0);
        for n in 0..wire::MAX_TIMERS as u64 + 5 {
            timers.note(&set(n + 10, &format!("t{n}"), 1000, 0));
        }
        assert_eq!(timers.len(), wire::MAX_TIMERS);
    }
}

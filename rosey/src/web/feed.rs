//! The supervision event feed the dashboard shows: the last notices (for a page that just
//! opened) and a broadcast of each new one (for the live stream).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use rosey_core::messaging::SupervisionEvent;
use tokio::sync::broadcast;

/// How many notices `/api/events/recent` keeps.
pub const RECENT: usize = 200;

/// Shared, cheap to clone: the daemon pushes, every event stream subscribes.
#[derive(Clone)]
pub struct Feed {
    recent: Arc<Mutex<VecDeque<SupervisionEvent>>>,
    live: broadcast::Sender<SupervisionEvent>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            recent: Arc::default(),
            live: broadcast::channel(RECENT).0,
        }
    }
}

impl Feed {
    /// Records a notice (as published on `rosey.supervision.<event>`) and sends it to
    /// every open stream.
    pub fn push(&self, notice: SupervisionEvent) {
        {
            let mut recent = self.lock();
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(notice.clone());
        }
        // No stream open is fine: the notice is in `recent`.
        let _ = self.live.send(notice);
    }

    /// The last [`RECENT`] notices, oldest first.
    pub fn recent(&self) -> Vec<SupervisionEvent> {
        self.lock().iter().cloned().collect()
    }

    /// Every notice pushed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.live.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<SupervisionEvent>> {
        match self.recent.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(n: impl ToString) -> SupervisionEvent {
        SupervisionEvent::new("plugins", "chaos", "started", n.to_string())
    }

    #[test]
    fn keeps_the_last_notices_and_broadcasts_new_ones() {
        let feed = Feed::default();
        let mut live = feed.subscribe();
        for n in 0..RECENT + 5 {
            feed.push(notice(n));
        }
        let recent = feed.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].text, "5");
        assert_eq!(recent[RECENT - 1].text, (RECENT + 4).to_string());
        let first = live.try_recv().expect("a live notice");
        assert!(first.text.parse::<u64>().is_ok(), "{first:?}");
        // A stream that falls far behind is told so (it then shows a fresh status) and reads
        // on from the oldest notice still buffered.
        for n in 0..4 * RECENT {
            feed.push(notice(n));
        }
        let mut lagging = feed.subscribe();
        feed.push(notice("new"));
        assert_eq!(lagging.try_recv().expect("new").text, "new");
        assert!(matches!(
            live.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        let next = live.try_recv().expect("after the lag");
        assert!(next.text.parse::<u64>().is_ok_and(|n| n > 0), "{next:?}");
    }
}

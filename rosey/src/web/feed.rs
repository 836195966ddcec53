//! The supervision event feed the dashboard shows: the last notices (for a page that just
//! opened) and a broadcast of each new one (for the live stream).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use tokio::sync::broadcast;

/// How many notices `/api/events/recent` keeps.
pub const RECENT: usize = 200;

/// Shared, cheap to clone: the daemon pushes, every event stream subscribes.
#[derive(Clone)]
pub struct Feed {
    recent: Arc<Mutex<VecDeque<serde_json::Value>>>,
    live: broadcast::Sender<serde_json::Value>,
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
    /// Records a notice (the JSON published on `rosey.supervision.<event>`) and sends it to
    /// every open stream.
    pub fn push(&self, notice: serde_json::Value) {
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
    pub fn recent(&self) -> Vec<serde_json::Value> {
        self.lock().iter().cloned().collect()
    }

    /// Every notice pushed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<serde_json::Value> {
        self.live.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<serde_json::Value>> {
        match self.recent.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_notices_and_broadcasts_new_ones() {
        let feed = Feed::default();
        let mut live = feed.subscribe();
        for n in 0..RECENT + 5 {
            feed.push(serde_json::json!({ "n": n }));
        }
        let recent = feed.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0]["n"], 5);
        assert_eq!(recent[RECENT - 1]["n"], RECENT + 4);
        let first = live.try_recv().expect("a live notice");
        assert!(first["n"].as_u64().is_some(), "{first}");
        // A stream that falls far behind is told so (it then shows a fresh status) and reads
        // on from the oldest notice still buffered.
        for n in 0..4 * RECENT {
            feed.push(serde_json::json!({ "n": n }));
        }
        let mut lagging = feed.subscribe();
        feed.push(serde_json::json!({ "n": "new" }));
        assert_eq!(lagging.try_recv().expect("new")["n"], "new");
        assert!(matches!(
            live.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        let next = live.try_recv().expect("after the lag");
        assert!(next["n"].as_u64().is_some_and(|n| n > 0), "{next}");
    }
}

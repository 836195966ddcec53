//! The daemon's metrics: the recorder every library records into (`recorder.rs`), the
//! values read when Prometheus scrapes (each unit's state, memory and restarts, each plugin's
//! dead letters: `scrape.rs`), and the last hour the dashboard charts (`history.rs`).
//!
//! One per process, made when the daemon starts ([`install`]) and found by the dashboard's
//! routes with [`get`].

use std::sync::{Arc, OnceLock};

mod history;
mod recorder;
mod scrape;

pub use history::{History, INTERVAL};
pub use recorder::Recording;
pub use scrape::Scraped;

/// What the dashboard reads.
#[derive(Debug)]
pub struct Metrics {
    /// The registry.
    pub recording: Recording,
    /// The values read at each scrape.
    pub scraped: Arc<Scraped>,
    /// The last hour.
    pub history: History,
    /// One scrape at a time: each reads status into `scraped`, then renders.
    pub scrape_lock: tokio::sync::Mutex<()>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Installs the process's recorder (once; later calls find the first one) and returns it.
pub fn install() -> &'static Metrics {
    METRICS.get_or_init(|| {
        let recording = Recording::install().unwrap_or_default();
        let scraped = Arc::new(Scraped::default());
        recording.register_collector(Box::new(scraped.clone()));
        Metrics {
            recording,
            scraped,
            history: History::default(),
            scrape_lock: tokio::sync::Mutex::new(()),
        }
    })
}

/// The installed metrics, if the daemon installed them.
pub fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Takes a point of the last hour every [`INTERVAL`], for the daemon's life.
pub async fn sample_history(metrics: &'static Metrics) {
    let mut every = tokio::time::interval(INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        metrics.history.sample(
            &metrics.recording.charted(),
            rosey_core::messaging::now_ms(),
        );
    }
}

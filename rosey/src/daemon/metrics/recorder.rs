//! The daemon's `metrics` recorder: what the libraries record through the facade (see
//! `rosey_core::metrics`) lands in a prometheus-client registry, rendered in the Prometheus
//! text format for `GET /metrics`; the values the dashboard charts are also kept at hand for
//! the history sampler (see `history.rs`).
//!
//! Each metric name is one family; a label set seen for the first time becomes a series of it
//! and stays for the daemon's life (the labels are plugin and unit names and fixed words, so
//! their number stays small).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use prometheus_client::{
    metrics::{
        counter::Counter as PromCounter, family::Family, gauge::Gauge as PromGauge,
        histogram::Histogram as PromHistogram,
    },
    registry::Registry,
};
use rosey_core::metrics as names;

/// A series' labels, in the order the code gave them.
pub type Labels = Vec<(String, String)>;

type CounterFamily = Family<Labels, PromCounter>;
type GaugeFamily = Family<Labels, PromGauge<f64, std::sync::atomic::AtomicU64>>;
type HistogramFamily = Family<Labels, PromHistogram, fn() -> PromHistogram>;

/// The recorder; installed once per process ([`Recording::install`]).
#[derive(Debug, Clone, Default)]
pub struct Recording {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    registry: Mutex<Registry>,
    counters: Mutex<HashMap<String, CounterFamily>>,
    gauges: Mutex<HashMap<String, GaugeFamily>>,
    histograms: Mutex<HashMap<String, HistogramFamily>>,
    /// The series the dashboard charts, by name: counters' and histograms' handles.
    charted: Mutex<Charted>,
}

/// The charted series' handles (they share their values with the registry's).
#[derive(Debug, Default, Clone)]
pub struct Charted {
    /// Counters by name and labels.
    pub counters: Vec<(&'static str, Labels, PromCounter)>,
    /// Histograms by name and labels: their sum and count.
    pub histograms: Vec<(&'static str, Labels, Arc<Tally>)>,
}

/// A charted histogram's sum and count (prometheus-client's histogram does not tell them).
#[derive(Debug, Default)]
pub struct Tally(Mutex<(f64, u64)>);

impl Tally {
    fn add(&self, value: f64) {
        let mut tally = lock(&self.0);
        tally.0 += value;
        tally.1 += 1;
    }

    /// The sum of the observations and how many there were.
    pub fn get(&self) -> (f64, u64) {
        *lock(&self.0)
    }
}

/// The names whose series the dashboard charts.
const CHARTED: &[&str] = &[
    names::COMMANDS_ROUTED,
    names::COMMANDS_ANSWERED,
    names::REPLY_SECONDS,
    names::SUPERVISION_EVENTS,
];

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn reply_histogram() -> PromHistogram {
    PromHistogram::new(names::REPLY_BUCKETS.iter().copied())
}

fn operation_histogram() -> PromHistogram {
    PromHistogram::new(names::OPERATION_BUCKETS.iter().copied())
}

/// The help text of `name` (Prometheus' `# HELP`), without the final period the encoder adds.
fn help(name: &str) -> String {
    names::DESCRIPTIONS
        .iter()
        .find(|(known, _, _)| *known == name)
        .map_or(name, |(_, _, help)| help)
        .trim_end_matches('.')
        .to_owned()
}

fn labels_of(key: &Key) -> Labels {
    key.labels()
        .map(|label| (label.key().to_owned(), label.value().to_owned()))
        .collect()
}

/// The charted name `name` is, as a `'static` one.
fn charted(name: &str) -> Option<&'static str> {
    CHARTED.iter().copied().find(|known| *known == name)
}

impl Recording {
    /// Makes this process's global recorder; `None` when one is installed already (a second
    /// daemon in one process: it records into the first one's).
    pub fn install() -> Option<Recording> {
        let recording = Recording::default();
        metrics::set_global_recorder(recording.clone())
            .ok()
            .map(|()| recording)
    }

    /// Adds a collector of values read when scraped (unit memory, dead letters…).
    pub fn register_collector(&self, collector: Box<dyn prometheus_client::collector::Collector>) {
        lock(&self.inner.registry).register_collector(collector);
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(
            &mut text,
            &lock(&self.inner.registry),
        )?;
        Ok(text)
    }

    /// The charted series as they are now.
    pub fn charted(&self) -> Charted {
        lock(&self.inner.charted).clone()
    }

    fn counter_family(&self, name: &str) -> CounterFamily {
        lock(&self.inner.counters)
            .entry(name.to_owned())
            .or_insert_with(|| {
                let family = CounterFamily::default();
                lock(&self.inner.registry).register(name, help(name), family.clone());
                family
            })
            .clone()
    }

    fn gauge_family(&self, name: &str) -> GaugeFamily {
        lock(&self.inner.gauges)
            .entry(name.to_owned())
            .or_insert_with(|| {
                let family = GaugeFamily::default();
                lock(&self.inner.registry).register(name, help(name), family.clone());
                family
            })
            .clone()
    }

    fn histogram_family(&self, name: &str) -> HistogramFamily {
        lock(&self.inner.histograms)
            .entry(name.to_owned())
            .or_insert_with(|| {
                let constructor: fn() -> PromHistogram = if name == names::REPLY_SECONDS {
                    reply_histogram
                } else {
                    operation_histogram
                };
                let family = HistogramFamily::new_with_constructor(constructor);
                lock(&self.inner.registry).register(name, help(name), family.clone());
                family
            })
            .clone()
    }
}

/// A counter as the facade sees it.
#[derive(Debug)]
struct CounterHandle(PromCounter);

impl CounterFn for CounterHandle {
    fn increment(&self, value: u64) {
        self.0.inc_by(value);
    }

    /// Prometheus counters only go up: an absolute value below the count is ignored.
    fn absolute(&self, value: u64) {
        let now = self.0.get();
        if value > now {
            self.0.inc_by(value - now);
        }
    }
}

/// A gauge as the facade sees it.
#[derive(Debug)]
struct GaugeHandle(PromGauge<f64, std::sync::atomic::AtomicU64>);

impl GaugeFn for GaugeHandle {
    fn increment(&self, value: f64) {
        self.0.inc_by(value);
    }

    fn decrement(&self, value: f64) {
        self.0.dec_by(value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

/// A histogram as the facade sees it (and its tally, when charted).
#[derive(Debug)]
struct HistogramHandle(PromHistogram, Option<Arc<Tally>>);

impl HistogramFn for HistogramHandle {
    fn record(&self, value: f64) {
        self.0.observe(value);
        if let Some(tally) = &self.1 {
            tally.add(value);
        }
    }
}

impl Recorder for Recording {
    fn describe_counter(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn describe_gauge(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn describe_histogram(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        let labels = labels_of(key);
        let counter = self.counter_family(key.name()).get_or_create_owned(&labels);
        if let Some(name) = charted(key.name()) {
            let mut charted = lock(&self.inner.charted);
            if !charted
                .counters
                .iter()
                .any(|(known, known_labels, _)| *known == name && *known_labels == labels)
            {
                charted.counters.push((name, labels, counter.clone()));
            }
        }
        Counter::from_arc(Arc::new(CounterHandle(counter)))
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        let gauge = self
            .gauge_family(key.name())
            .get_or_create_owned(&labels_of(key));
        Gauge::from_arc(Arc::new(GaugeHandle(gauge)))
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        let labels = labels_of(key);
        let histogram = self
            .histogram_family(key.name())
            .get_or_create_owned(&labels);
        let tally = charted(key.name()).map(|name| {
            let mut charted = lock(&self.inner.charted);
            let known = charted
                .histograms
                .iter()
                .find(|(known, known_labels, _)| *known == name && *known_labels == labels)
                .map(|(_, _, tally)| tally.clone());
            known.unwrap_or_else(|| {
                let tally = Arc::new(Tally::default());
                charted.histograms.push((name, labels, tally.clone()));
                tally
            })
        });
        Histogram::from_arc(Arc::new(HistogramHandle(histogram, tally)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_libraries_record_renders_as_prometheus_text_and_the_charted_series_are_kept() {
        let recording = Recording::default();
        metrics::with_local_recorder(&recording, || {
            rosey_core::metrics::command_routed("dice-roller");
            rosey_core::metrics::command_routed("dice-roller");
            let meters = rosey_core::metrics::PluginMeters::new("dice-roller");
            meters.answered(std::time::Duration::from_micros(700));
            meters.handled(false, rosey_core::metrics::Handled::Stale);
            rosey_core::metrics::connector_connected(true);
            rosey_core::metrics::supervision_event("bot", "exited", Some("failed"));
        });
        let text = recording.render().expect("rendered");
        for line in [
            "# HELP rosey_commands_routed_total Commands the router stored for a plugin.",
            "# TYPE rosey_commands_routed_total counter",
            "rosey_commands_routed_total{plugin=\"dice-roller\"} 2",
            "rosey_commands_answered_total{plugin=\"dice-roller\"} 1",
            "# TYPE rosey_reply_seconds histogram",
            "rosey_reply_seconds_bucket{plugin=\"dice-roller\",le=\"0.001\"} 1",
            "rosey_reply_seconds_bucket{plugin=\"dice-roller\",le=\"0.0005\"} 0",
            "rosey_reply_seconds_count{plugin=\"dice-roller\"} 1",
            "rosey_connector_connected 1",
            "rosey_messages_handled_total{plugin=\"dice-roller\",kind=\"event\",outcome=\"stale\"} 1",
            "rosey_messages_handled_total{plugin=\"dice-roller\",kind=\"command\",outcome=\"ok\"} 0",
            "rosey_unit_exits_total{unit=\"bot\",cause=\"failed\"} 1",
        ] {
            assert!(text.contains(line), "{line:?} in:\n{text}");
        }
        let charted = recording.charted();
        assert_eq!(
            charted
                .counters
                .iter()
                .filter(|(name, _, _)| *name == names::COMMANDS_ROUTED)
                .map(|(_, labels, counter)| (labels.clone(), counter.get()))
                .collect::<Vec<_>>(),
            vec![(vec![("plugin".to_owned(), "dice-roller".to_owned())], 2)]
        );
        assert_eq!(charted.histograms.len(), 1);
    }
}

//! The values read when Prometheus scrapes rather than counted as they happen: whether each
//! unit runs, its memory and its automatic restarts (the supervisors' own counts), and each
//! plugin's dead letters parked now. The `/metrics` route reads status into [`Scraped`] just
//! before rendering; a unit or plugin that is gone is gone from the next scrape.

use std::sync::{Mutex, PoisonError};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType},
};
use rosey_core::metrics as names;

use crate::control::StatusReport;

/// The values of the last status read.
#[derive(Debug, Default)]
pub struct Scraped {
    snapshot: Mutex<Snapshot>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Snapshot {
    /// Unit name, running, resident bytes (when known), automatic restarts.
    units: Vec<(String, bool, Option<u64>, u32)>,
    /// Plugin and dead letters, for the plugins whose count is known.
    dead_letters: Vec<(String, u64)>,
}

impl Scraped {
    /// Takes the values of `report`.
    pub fn update(&self, report: &StatusReport) {
        let units = report
            .services
            .iter()
            .chain(&report.plugins)
            .map(|unit| {
                (
                    unit.name.clone(),
                    unit.state == "running",
                    unit.memory_bytes,
                    unit.restarts,
                )
            })
            .collect();
        let dead_letters = report
            .plugins
            .iter()
            .filter_map(|plugin| Some((plugin.name.clone(), plugin.dead_letters?)))
            .collect();
        *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = Snapshot {
            units,
            dead_letters,
        };
    }
}

fn help(name: &str) -> &'static str {
    names::DESCRIPTIONS
        .iter()
        .find(|(known, _, _)| *known == name)
        .map_or("", |(_, _, help)| help.trim_end_matches('.'))
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let unit = |name: &str| [("unit".to_owned(), name.to_owned())];
        {
            let mut family = encoder.encode_descriptor(
                names::UNIT_UP,
                help(names::UNIT_UP),
                None,
                MetricType::Gauge,
            )?;
            for (name, up, _, _) in &snapshot.units {
                let labels = unit(name);
                ConstGauge::new(i64::from(*up)).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                names::UNIT_MEMORY_BYTES,
                help(names::UNIT_MEMORY_BYTES),
                None,
                MetricType::Gauge,
            )?;
            for (name, _, memory, _) in &snapshot.units {
                if let Some(bytes) = memory {
                    let labels = unit(name);
                    let bytes = i64::try_from(*bytes).unwrap_or(i64::MAX);
                    ConstGauge::new(bytes).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                names::UNIT_RESTARTS,
                help(names::UNIT_RESTARTS),
                None,
                MetricType::Counter,
            )?;
            for (name, _, _, restarts) in &snapshot.units {
                let labels = unit(name);
                ConstCounter::new(u64::from(*restarts)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            names::DEAD_LETTERS,
            help(names::DEAD_LETTERS),
            None,
            MetricType::Gauge,
        )?;
        for (plugin, count) in &snapshot.dead_letters {
            let labels = [("plugin".to_owned(), plugin.clone())];
            let count = i64::try_from(*count).unwrap_or(i64::MAX);
            ConstGauge::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

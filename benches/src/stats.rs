//! Latency statistics and target checks for the benchmark report.
//!
//! Percentiles use the nearest-rank method on the sorted samples: p50 of `[1, 2, 3, 4]` is 2,
//! p99 of 200 samples is the 198th smallest. No interpolation, so every figure reported is a
//! latency that was really measured.

use serde::{Serialize, Serializer};

/// The summary of a set of latency samples, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Smallest.
    pub min_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl Summary {
    /// Summarizes `samples` (milliseconds, any order); `None` when there are none, or when one
    /// is not a finite number.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() || samples.iter().any(|sample| !sample.is_finite()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            count: sorted.len(),
            p50_ms: percentile(&sorted, 50.0),
            p99_ms: percentile(&sorted, 99.0),
            min_ms: sorted[0],
            max_ms: sorted[sorted.len() - 1],
            mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
        })
    }
}

/// Latency samples in milliseconds, in the order taken. Serializes as its [`Summary`] (null
/// fields when empty) plus the samples themselves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series(pub Vec<f64>);

impl Series {
    /// Adds a sample.
    pub fn push(&mut self, ms: f64) {
        self.0.push(ms);
    }

    /// The summary, when there are samples.
    pub fn summary(&self) -> Option<Summary> {
        Summary::of(&self.0)
    }
}

impl Serialize for Series {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            summary: Option<Summary>,
            samples_ms: &'a [f64],
        }
        Shown {
            summary: self.summary(),
            samples_ms: &self.0,
        }
        .serialize(serializer)
    }
}

/// The nearest-rank `p`th percentile (0 < p ≤ 100) of `sorted`, which must be sorted
/// ascending and not empty (0.0 when it is empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A target the issue sets: a measured figure must be at most `limit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// What is measured, as the report names it (`reload p50`).
    pub what: String,
    /// The figure measured, when it could be.
    pub measured: Option<f64>,
    /// The largest acceptable figure.
    pub limit: f64,
    /// Unit of both (`ms`, `MB`, `commands`).
    pub unit: String,
}

impl Target {
    /// A target of `what` at most `limit` `unit`, with the figure `measured`.
    pub fn at_most(what: &str, measured: Option<f64>, limit: f64, unit: &str) -> Target {
        Target {
            what: what.to_owned(),
            measured,
            limit,
            unit: unit.to_owned(),
        }
    }

    /// `Some(true)` when met, `Some(false)` when missed, `None` when not measured.
    pub fn met(&self) -> Option<bool> {
        self.measured.map(|measured| measured <= self.limit)
    }

    /// ✓, ✗, or `-` when not measured.
    pub fn mark(&self) -> &'static str {
        match self.met() {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "-",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&sorted, 50.0), 2.0);
        assert_eq!(percentile(&sorted, 99.0), 4.0);
        assert_eq!(percentile(&sorted, 100.0), 4.0);
        assert_eq!(percentile(&sorted, 0.1), 1.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        let hundreds: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&hundreds, 99.0), 198.0);
        assert_eq!(percentile(&hundreds, 50.0), 100.0);
    }

    #[test]
    fn summaries_sort_and_refuse_nonsense() {
        let summary = Summary::of(&[3.0, 1.0, 2.0]).expect("three samples");
        assert_eq!(summary.count, 3);
        assert_eq!(summary.p50_ms, 2.0);
        assert_eq!(summary.min_ms, 1.0);
        assert_eq!(summary.max_ms, 3.0);
        assert_eq!(summary.mean_ms, 2.0);
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn series_serialize_with_their_summary() {
        let json = serde_json::to_value(Series(vec![2.0, 1.0])).expect("serializes");
        assert_eq!(json["summary"]["count"], 2);
        assert_eq!(json["summary"]["p50_ms"], 1.0);
        assert_eq!(json["samples_ms"][0], 2.0);
        let empty = serde_json::to_value(Series::default()).expect("serializes");
        assert!(empty["summary"].is_null());
    }

    #[test]
    fn targets_mark_met_missed_and_unmeasured() {
        assert_eq!(Target::at_most("a", Some(5.0), 5.0, "ms").mark(), "✓");
        assert_eq!(Target::at_most("a", Some(5.1), 5.0, "ms").mark(), "✗");
        assert_eq!(Target::at_most("a", None, 5.0, "ms").mark(), "-");
    }
}

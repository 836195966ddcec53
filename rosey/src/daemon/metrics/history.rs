//! The last hour, for the dashboard's charts: every [`INTERVAL`] the sampler reads the
//! charted series (commands routed and answered and reply latency per plugin, restarts per
//! unit) and keeps what changed since the previous sample, up to [`POINTS`] samples, in
//! memory. Nothing is written anywhere: a daemon restart starts an empty hour.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Mutex, PoisonError},
    time::Duration,
};

use rosey_core::metrics as names;
use serde::Serialize;

use super::recorder::{Charted, Labels};

/// How often a point is taken.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// How many points are kept: an hour.
pub const POINTS: usize = 360;

/// One interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// When it ended, ms since the Unix epoch.
    pub at_ms: u64,
    /// Per plugin, the plugins that did anything in it.
    pub plugins: BTreeMap<String, PluginPoint>,
    /// Automatic restarts per unit in it (units that had none are left out).
    pub restarts: BTreeMap<String, u64>,
}

/// One plugin in one interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PluginPoint {
    /// Commands routed to it.
    pub commands: u64,
    /// Commands it answered.
    pub answered: u64,
    /// The mean time to its first reply, in ms, when it answered any.
    pub reply_ms: Option<f64>,
}

/// The totals at a sample, to subtract from the next.
#[derive(Debug, Default, Clone, PartialEq)]
struct Totals {
    routed: HashMap<String, u64>,
    answered: HashMap<String, u64>,
    /// Reply latency: sum of seconds and count.
    replies: HashMap<String, (f64, u64)>,
    restarts: HashMap<String, u64>,
}

/// The hour kept.
#[derive(Debug, Default)]
pub struct History {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    points: VecDeque<Point>,
    last: Option<Totals>,
}

fn label<'a>(labels: &'a Labels, key: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(known, _)| known == key)
        .map(|(_, value)| value.as_str())
}

impl Totals {
    fn read(charted: &Charted) -> Totals {
        let mut totals = Totals::default();
        for (name, labels, counter) in &charted.counters {
            let value = counter.get();
            match *name {
                names::COMMANDS_ROUTED | names::COMMANDS_ANSWERED => {
                    let Some(plugin) = label(labels, "plugin") else {
                        continue;
                    };
                    let into = if *name == names::COMMANDS_ROUTED {
                        &mut totals.routed
                    } else {
                        &mut totals.answered
                    };
                    *into.entry(plugin.to_owned()).or_default() += value;
                }
                names::SUPERVISION_EVENTS if label(labels, "event") == Some("restarting") => {
                    if let Some(unit) = label(labels, "unit") {
                        *totals.restarts.entry(unit.to_owned()).or_default() += value;
                    }
                }
                _ => {}
            }
        }
        for (name, labels, tally) in &charted.histograms {
            if *name != names::REPLY_SECONDS {
                continue;
            }
            if let Some(plugin) = label(labels, "plugin") {
                let (sum, count) = tally.get();
                let entry = totals.replies.entry(plugin.to_owned()).or_default();
                entry.0 += sum;
                entry.1 += count;
            }
        }
        totals
    }

    /// What changed from `before` to `self`, as the point ending at `at_ms`.
    fn since(&self, before: &Totals, at_ms: u64) -> Point {
        let delta = |now: &HashMap<String, u64>, then: &HashMap<String, u64>, key: &str| {
            now.get(key)
                .copied()
                .unwrap_or(0)
                .saturating_sub(then.get(key).copied().unwrap_or(0))
        };
        let mut plugins = BTreeMap::new();
        let names = self.routed.keys().chain(self.answered.keys());
        for plugin in names {
            let commands = delta(&self.routed, &before.routed, plugin);
            let answered = delta(&self.answered, &before.answered, plugin);
            let (sum, count) = self.replies.get(plugin).copied().unwrap_or_default();
            let (sum_before, count_before) =
                before.replies.get(plugin).copied().unwrap_or_default();
            let replies = count.saturating_sub(count_before);
            let reply_ms =
                (replies > 0).then(|| (sum - sum_before).max(0.0) / replies as f64 * 1000.0);
            if commands > 0 || answered > 0 {
                plugins.insert(
                    plugin.clone(),
                    PluginPoint {
                        commands,
                        answered,
                        reply_ms,
                    },
                );
            }
        }
        let restarts = self
            .restarts
            .keys()
            .filter_map(|unit| {
                let restarts = delta(&self.restarts, &before.restarts, unit);
                (restarts > 0).then(|| (unit.clone(), restarts))
            })
            .collect();
        Point {
            at_ms,
            plugins,
            restarts,
        }
    }
}

impl History {
    /// Takes a point from `charted` as it is at `at_ms` (the first sample only sets the
    /// baseline).
    pub fn sample(&self, charted: &Charted, at_ms: u64) {
        let totals = Totals::read(charted);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(before) = state.last.replace(totals.clone()) {
            state.points.push_back(totals.since(&before, at_ms));
            while state.points.len() > POINTS {
                state.points.pop_front();
            }
        }
    }

    /// The points kept, oldest first.
    pub fn points(&self) -> Vec<Point> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.points.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::recorder::Recording;
    use super::*;

    #[test]
    fn each_point_holds_what_changed_in_its_interval_and_an_hour_is_kept() {
        let recording = Recording::default();
        let history = History::default();
        let record = |f: &dyn Fn()| metrics::with_local_recorder(&recording, f);
        record(&|| rosey_core::metrics::command_routed("dice"));
        history.sample(&recording.charted(), 1_000);
        assert!(
            history.points().is_empty(),
            "the first sample is the baseline"
        );
        record(&|| {
            rosey_core::metrics::command_routed("dice");
            rosey_core::metrics::command_routed("dice");
            let dice = rosey_core::metrics::PluginMeters::new("dice");
            dice.answered(Duration::from_millis(2));
            dice.answered(Duration::from_millis(4));
            rosey_core::metrics::supervision_event("plugin:dice", "restarting", None);
        });
        history.sample(&recording.charted(), 11_000);
        history.sample(&recording.charted(), 21_000);
        let points = history.points();
        assert_eq!(points.len(), 2);
        let dice = &points[0].plugins["dice"];
        assert_eq!((dice.commands, dice.answered), (2, 2));
        let mean = dice.reply_ms.expect("a mean");
        assert!((mean - 3.0).abs() < 0.01, "{mean}");
        assert_eq!(points[0].restarts["plugin:dice"], 1);
        assert_eq!(points[0].at_ms, 11_000);
        assert!(points[1].plugins.is_empty() && points[1].restarts.is_empty());
        for at in 0..POINTS as u64 + 5 {
            history.sample(&recording.charted(), 30_000 + at);
        }
        assert_eq!(history.points().len(), POINTS);
    }
}

//! What the running units report about themselves (pid, version, a detail line), for status.
//!
//! The supervisors know each unit's state, restarts and last exit; the units themselves know
//! their process id and what they run. Status merges the two.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, TryLockError},
};

/// A unit's own report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitReport {
    /// The OS process running it, when it is a child process.
    pub pid: Option<u32>,
    /// What version it runs (plugins).
    pub version: Option<String>,
    /// A short note: `degraded: reconnecting`, `handler busy 12 s`, …
    pub detail: Option<String>,
    /// What the plugin actor refused to send for it since it started, by the manifest key
    /// it lacked (`send_pms`, `publish_events`, `publishes`).
    pub refused: BTreeMap<String, u64>,
    /// A plugin host's sandbox: `full`, or `partial (…why…)`.
    pub sandbox: Option<String>,
}

/// Shared, cheap to clone.
#[derive(Clone, Default)]
pub struct Board {
    units: Arc<Mutex<BTreeMap<String, UnitReport>>>,
}

/// Never waits for the lock: `<locked>` while someone holds it.
impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Board");
        match self.units.try_lock() {
            Ok(units) => debug.field("units", &*units),
            Err(TryLockError::Poisoned(poisoned)) => debug.field("units", &*poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => debug.field("units", &format_args!("<locked>")),
        };
        debug.finish()
    }
}

impl Board {
    /// Replaces `unit`'s report.
    pub fn set(&self, unit: &str, report: UnitReport) {
        self.lock().insert(unit.to_owned(), report);
    }

    /// Updates `unit`'s report in place.
    pub fn update(&self, unit: &str, change: impl FnOnce(&mut UnitReport)) {
        change(self.lock().entry(unit.to_owned()).or_default());
    }

    /// Forgets `unit` (it stopped).
    pub fn clear(&self, unit: &str) {
        self.lock().remove(unit);
    }

    /// Every unit whose prefix is `prefix` (`plugin:`) that reported a process, with its pid.
    pub fn pids(&self, prefix: &str) -> Vec<(String, u32)> {
        self.lock()
            .iter()
            .filter(|(unit, _)| unit.starts_with(prefix))
            .filter_map(|(unit, report)| Some((unit.clone(), report.pid?)))
            .collect()
    }

    /// `unit`'s report, if it made one.
    pub fn get(&self, unit: &str) -> Option<UnitReport> {
        self.lock().get(unit).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, UnitReport>> {
        match self.units.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

//! Plugins that are down for a while, and who was told so.
//!
//! The supervisor knows when it gave up on a plugin (it is `crashed` until its retry, an
//! update or a restart); the router needs to know at once, to tell the users who ask that the
//! command is unavailable instead of leaving them without an answer. [`PluginsDown`] is the
//! shared note between the two. [`Told`] keeps the telling to once per user and plugin per
//! [`TELL_AGAIN_AFTER`], so a user who repeats a command during an outage (or many users
//! asking) does not turn into a flood of the same answer.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

/// How long a user told that a plugin is unavailable is not told again.
pub const TELL_AGAIN_AFTER: Duration = Duration::from_secs(300);

/// The plugins the supervisor gave up on for now. Cheap to clone; every clone is the same set.
#[derive(Debug, Clone, Default)]
pub struct PluginsDown {
    crashed: Arc<RwLock<BTreeSet<String>>>,
}

impl PluginsDown {
    /// An empty set: every plugin is taken as up.
    pub fn new() -> PluginsDown {
        PluginsDown::default()
    }

    /// `plugin` crashed and is not being restarted (for now).
    pub fn mark_crashed(&self, plugin: &str) {
        self.write().insert(plugin.to_owned());
    }

    /// `plugin` is up again (started), or gone (removed).
    pub fn mark_up(&self, plugin: &str) {
        if self.is_crashed(plugin) {
            self.write().remove(plugin);
        }
    }

    /// Whether `plugin` is crashed now.
    pub fn is_crashed(&self, plugin: &str) -> bool {
        self.crashed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(plugin)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeSet<String>> {
        self.crashed.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Who was told that which plugin is unavailable, and when.
#[derive(Debug)]
pub struct Told {
    at: HashMap<(String, String), Instant>,
    last_sweep: Instant,
}

impl Default for Told {
    fn default() -> Self {
        Told {
            at: HashMap::new(),
            last_sweep: Instant::now(),
        }
    }
}

impl Told {
    /// Whether `user` is to be told about `plugin` now (and notes that they were).
    pub fn first(&mut self, user: &str, plugin: &str, now: Instant) -> bool {
        if now.saturating_duration_since(self.last_sweep) >= TELL_AGAIN_AFTER {
            self.last_sweep = now;
            self.at
                .retain(|_, at| now.saturating_duration_since(*at) < TELL_AGAIN_AFTER);
        }
        let key = (user.to_lowercase(), plugin.to_owned());
        match self.at.get(&key) {
            Some(at) if now.saturating_duration_since(*at) < TELL_AGAIN_AFTER => false,
            _ => {
                self.at.insert(key, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_told_once_per_plugin_until_the_pause_is_over() {
        let mut told = Told::default();
        let t0 = Instant::now();
        assert!(told.first("alice", "karma", t0));
        assert!(!told.first("Alice", "karma", t0 + Duration::from_secs(1)));
        assert!(told.first("alice", "quotes", t0), "another plugin");
        assert!(told.first("bob", "karma", t0), "another user");
        assert!(told.first("alice", "karma", t0 + TELL_AGAIN_AFTER));
    }

    #[test]
    fn the_down_set_is_shared_by_its_clones() {
        let down = PluginsDown::new();
        let seen = down.clone();
        down.mark_crashed("karma");
        assert!(seen.is_crashed("karma"));
        seen.mark_up("karma");
        assert!(!down.is_crashed("karma"));
        down.mark_up("never-down");
        assert!(!down.is_crashed("never-down"));
    }
}

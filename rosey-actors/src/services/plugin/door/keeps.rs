//! What a door keeps besides messages: the standby host a reload left for the running
//! version, the serving loop of the actor reading it, whether its hosts churn, the users held
//! back from the plugin, and what its hosts handled.

use std::time::Duration;

use super::super::holds::{HeldUser, HoldRules};
use super::{Copy, Door, Handled, Taken};

impl Door {
    /// Keeps `host` (its library for `version` open) for the next start.
    pub fn keep_standby(&self, version: &str, host: super::super::link::Host) {
        self.lock().standby = Some((version.to_owned(), host));
    }

    /// The standby host, if it is for `version` and alive (any other is dropped: killed).
    pub fn take_standby(&self, version: &str) -> Option<super::super::link::Host> {
        let standby = self.lock().standby.take()?;
        match standby {
            (kept, host) if kept == version && host.child.exited().is_none() => Some(host),
            _ => None,
        }
    }

    /// Notes the serving loop of the instance that starts (`Some`) or stops (`None`).
    pub(in crate::services::plugin) fn set_serving(
        &self,
        serving: Option<tokio::sync::mpsc::UnboundedSender<super::super::serve::Control>>,
    ) {
        self.lock().serving = serving;
    }

    /// The serving loop of the running instance, if one runs.
    pub(in crate::services::plugin) fn serving(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedSender<super::super::serve::Control>> {
        self.lock().serving.clone()
    }

    /// Notes that the plugin crashed, hung or was reloaded: from now on it keeps a standby.
    pub fn mark_churned(&self) {
        self.lock().churned = true;
    }

    /// Whether the plugin has crashed or been reloaded since the daemon started.
    pub fn churned(&self) -> bool {
        self.lock().churned
    }

    /// Whether a standby is kept (so none needs opening).
    pub fn has_standby(&self) -> bool {
        self.lock().standby.is_some()
    }

    /// Ends the standby host, if any (the plugin stops, or is removed).
    pub fn drop_standby(&self) {
        let standby = self.lock().standby.take();
        drop(standby);
    }

    /// The stream was made anew (deleted behind the stack's back): its sequences start from 1
    /// again, so what the door knows by sequence (acked lately, poison counts) is forgotten.
    pub fn forget_sequences(&self) {
        let mut state = self.lock();
        state.recent.clear();
        state.recent_ids.clear();
        if !state.attempts.is_empty() {
            state.attempts.clear();
            self.save_attempts(&state.attempts);
        }
    }

    /// Records that `taken` is now in a host's hands.
    pub fn hold(&self, taken: Taken) {
        self.lock().held = Some(taken);
    }

    /// Takes the message in hand back (its handler finished), and counts it.
    pub fn release(&self) -> Option<Taken> {
        let mut state = self.lock();
        let taken = state.held.take()?;
        state.handled.total += 1;
        if matches!(taken.copy, Copy::Early(_)) {
            state.handled.early += 1;
        }
        Some(taken)
    }

    /// A command of `user` (`why`: what it was) was dead-lettered; `Some(duration)` when that
    /// holds them back from the plugin, for that long.
    pub fn strike(&self, user: &str, why: &str, rules: &HoldRules) -> Option<Duration> {
        self.lock().holds.strike(user, why, rules)
    }

    /// Whether `user` is held back from the plugin now (the command is counted as refused);
    /// `Some(true)` for the first refusal of a hold.
    pub fn held_back(&self, user: &str) -> Option<bool> {
        self.lock().holds.refuse(user)
    }

    /// Who is held back from the plugin now.
    pub fn held_users(&self) -> Vec<HeldUser> {
        self.lock().holds.list()
    }

    /// Counts a message not handled because it was too old.
    pub fn count_stale(&self) {
        self.lock().handled.stale += 1;
    }

    /// What the plugin's hosts handled since the daemon started.
    pub fn handled(&self) -> Handled {
        self.lock().handled
    }
}

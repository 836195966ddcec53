//! The supervisor's first start: every child in order as a restart plan would start them, or,
//! all or nothing, OTP's `init`; and marking a start that is not retried as failed for good.

use super::{Engine, Escalation};
use crate::child::Exit;
use crate::error::SupervisorError;
use crate::events::{ChildState, SupervisionEventKind};

impl Engine {
    /// Starts every child in order, exactly as a restart plan would (a failed start is a
    /// failure: backoff, intensity and give-up apply); under
    /// [`crate::SupervisorSpec::all_or_nothing`] the first failed start instead stops the
    /// children started before it, in reverse order, and is the error (OTP's `init`).
    pub async fn boot(&mut self) -> Result<(), SupervisorError> {
        let token = self.new_token();
        for child in &mut self.children {
            child.pending = Some(token);
            child.state = ChildState::Starting;
        }
        self.publish();
        if !self.spec.all_or_nothing {
            return self
                .run_plan(token)
                .await
                .map_err(|Escalation(reason)| SupervisorError::Escalated { reason });
        }
        for idx in 0..self.children.len() {
            if let Some(child) = self.children.get_mut(idx) {
                child.pending = None;
            }
            if let Err(reason) = self.start_one(idx).await {
                let failed = self.start_failed_for_good(idx, reason);
                for later in self.children.iter_mut().skip(idx + 1) {
                    later.pending = None;
                    later.state = ChildState::Stopped;
                }
                let started: Vec<usize> = (0..idx).collect();
                self.stop_running_reverse(&started).await;
                self.publish();
                return Err(failed);
            }
        }
        Ok(())
    }

    /// Child `idx`'s start failed with `reason` and is not retried (an operator's start, an
    /// all-or-nothing first start): it is left `Crashed` with that exit, notified, and the
    /// error to answer with is returned.
    pub(super) fn start_failed_for_good(&mut self, idx: usize, reason: String) -> SupervisorError {
        let exit = Exit::failed_start(&reason);
        let child = match self.children.get_mut(idx) {
            Some(child) => {
                child.state = ChildState::Crashed;
                child.last_exit = Some(exit.reason.clone());
                child.spec.name.clone()
            }
            None => String::new(),
        };
        self.notify(
            idx,
            SupervisionEventKind::Exited {
                reason: exit.reason,
                abnormal: true,
            },
        );
        SupervisorError::StartFailed { child, reason }
    }
}

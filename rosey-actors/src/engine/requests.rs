//! The operator's requests: add, remove, stop, start and restart one child.
//!
//! They act on the named child only, whatever the strategy, and never count toward intensity;
//! an operator's start also gives the child a fresh restart history.

use super::Engine;
use crate::child::{Child, Exit};
use crate::error::SupervisorError;
use crate::events::{ChildState, SupervisionEventKind};
use crate::spec::ChildSpec;

impl Engine {
    /// Adds a child at the end of the start order and starts it; on a failed start it is
    /// forgotten and the error returned.
    pub async fn add_child(&mut self, spec: ChildSpec) -> Result<(), SupervisorError> {
        if self.index_of(&spec.name).is_some() {
            return Err(SupervisorError::NameTaken {
                supervisor: self.spec.name.clone(),
                child: spec.name,
            });
        }
        let name = spec.name.clone();
        self.children.push(Child::new(spec));
        let idx = self.children.len() - 1;
        if let Err(error) = self.start_one(idx).await {
            let exit = Exit::failed_start(&error);
            self.notify(
                idx,
                SupervisionEventKind::Exited {
                    reason: exit.reason,
                    abnormal: true,
                },
            );
            self.children.truncate(idx);
            return Err(SupervisorError::StartFailed {
                child: name,
                reason: error,
            });
        }
        Ok(())
    }

    /// Stops the child (if running or pending) and forgets it.
    pub async fn remove_child(&mut self, name: &str) -> Result<(), SupervisorError> {
        let idx = self.find(name)?;
        self.stop_one(idx, ChildState::Stopped).await;
        self.notify(idx, SupervisionEventKind::Removed);
        self.children.remove(idx);
        self.prune_timers();
        Ok(())
    }

    /// Stops the child and keeps it `Stopped`; a child already down is left as it is.
    pub async fn stop_child(&mut self, name: &str) -> Result<(), SupervisorError> {
        let idx = self.find(name)?;
        self.stop_one(idx, ChildState::Stopped).await;
        Ok(())
    }

    /// Starts a child that is not running (a pending restart is done now) with a fresh
    /// restart history.
    pub async fn start_child(&mut self, name: &str) -> Result<(), SupervisorError> {
        let idx = self.find(name)?;
        if self.children.get(idx).is_some_and(|c| c.cell.is_some()) {
            return Err(SupervisorError::AlreadyRunning {
                child: name.to_owned(),
            });
        }
        self.operator_start(idx).await
    }

    /// Stops the child if it runs, then starts it with a fresh restart history; not an
    /// automatic restart, so it counts toward nothing.
    pub async fn restart_child(&mut self, name: &str) -> Result<(), SupervisorError> {
        let idx = self.find(name)?;
        if self.children.get(idx).is_some_and(|c| c.cell.is_some()) {
            self.stop_one(idx, ChildState::Stopped).await;
        }
        self.operator_start(idx).await
    }

    async fn operator_start(&mut self, idx: usize) -> Result<(), SupervisorError> {
        if let Some(child) = self.children.get_mut(idx) {
            child.pending = None;
            child.reset_history();
        }
        self.prune_timers();
        match self.start_one(idx).await {
            Ok(()) => Ok(()),
            Err(reason) => Err(self.start_failed_for_good(idx, reason)),
        }
    }
}

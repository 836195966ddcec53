//! Why a supervisor (or a request to one) failed, as a type an embedder can match on.
//!
//! The `Display` of each variant is the sentence operators see (the daemon prints it as is),
//! so the variants carry the names it needs.

use std::time::Duration;

/// Why a supervisor request, or a supervisor's start, failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// The request named a child the supervisor does not have.
    #[error("supervisor '{supervisor}' has no child named '{child}'")]
    NoSuchChild {
        /// The supervisor's name.
        supervisor: String,
        /// The name asked for.
        child: String,
    },
    /// A child of that name exists already (an add, or two initial children sharing it).
    #[error("supervisor '{supervisor}' already has a child named '{child}'")]
    NameTaken {
        /// The supervisor's name.
        supervisor: String,
        /// The name given twice.
        child: String,
    },
    /// A start was asked of a child that runs.
    #[error("child '{child}' is already running")]
    AlreadyRunning {
        /// The child's name.
        child: String,
    },
    /// The child's factory failed (an added child is then forgotten; an operator's start
    /// leaves it crashed; a first start under [`crate::SupervisorSpec::all_or_nothing`]
    /// stops the supervisor's start).
    #[error("child '{child}' failed to start: {reason}")]
    StartFailed {
        /// The child's name.
        child: String,
        /// What its factory said.
        reason: String,
    },
    /// A child's failures went past its budget under [`crate::GiveUp::Escalate`] during the
    /// supervisor's first start sequence: everything it started is stopped again.
    #[error("{reason}")]
    Escalated {
        /// `supervisor '<name>' gave up: child '<child>' exceeded …; last exit: …`.
        reason: String,
    },
    /// The supervisor is not running (it stopped, failed, or was never started).
    #[error("the supervisor is not running")]
    NotRunning,
    /// The supervisor stopped while the request waited for its answer.
    #[error("the supervisor stopped before answering")]
    StoppedBeforeAnswering,
    /// [`crate::shutdown`]: the supervisor took longer than allowed and was killed.
    #[error("the supervisor did not stop within {0:?} and was killed")]
    KilledAfter(Duration),
}

//! Why an operation on a running [`super::Stack`] failed.

use rosey_core::bus::BusError;

use crate::SupervisorError;

/// Why a stack operation failed: what an embedder can match on, and, through `Display`, the
/// sentence an operator reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// A supervisor refused or could not answer the request.
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    /// The stack's NATS could not be reached (stopped, restarting, or refusing the daemon).
    #[error(transparent)]
    Nats(#[from] BusError),
    /// The plugin supervisor is stopped (`rosey stop plugins`) or restarting.
    #[error("the plugin supervisor is not running")]
    PluginsNotRunning,
    /// The bot service is stopped or restarting.
    #[error("the bot is not running")]
    BotNotRunning,
    /// The bot's actor did not take the message.
    #[error("cannot reach the bot: {0}")]
    BotUnreachable(String),
    /// A plugin could not be specified, started, swapped or configured; the reason says
    /// which and what was done about it (a rollback, say).
    #[error("{reason}")]
    Plugin {
        /// The plugin.
        plugin: String,
        /// What happened, in the operator's words.
        reason: String,
    },
}

impl StackError {
    /// A [`StackError::Plugin`] for `plugin`.
    pub(crate) fn plugin(plugin: &str, reason: impl Into<String>) -> StackError {
        StackError::Plugin {
            plugin: plugin.to_owned(),
            reason: reason.into(),
        }
    }
}

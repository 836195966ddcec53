//! The connector `bot.connector` in `rosey.yaml` names, made from the configuration: what a
//! stack talks to unless its embedder brings a connector of its own.

use std::sync::Arc;

use crate::config::{BotConfig, ConnectorKind};

use super::{Connector, CytubeConnector, CytubeSettings, CytubeSettingsError, LocalConnector};

/// The environment variable that gives the CyTube account's password (instead of
/// `bot.cytube.password` in the file, which then need not hold a secret).
pub const CYTUBE_PASSWORD_ENV: &str = "ROSEY_CYTUBE_PASSWORD";

/// The configured connector, started, and the local one as itself when that is the one (for
/// what only it has: injecting chat, as `rosey say` and a terminal do).
#[derive(Clone)]
pub struct Configured {
    /// The connector the bot drives.
    pub connector: Arc<dyn Connector>,
    /// The same connector when it is the local one.
    pub local: Option<Arc<LocalConnector>>,
}

/// Names the connector only: its settings hold the account's password.
impl std::fmt::Debug for Configured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Configured")
            .field("connector", &self.connector.name())
            .finish_non_exhaustive()
    }
}

/// Why the configured connector cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfiguredError {
    /// `bot.cytube` does not say where to connect.
    #[error(transparent)]
    Cytube(#[from] CytubeSettingsError),
}

/// Makes and starts the connector `bot` names; `password` is the CyTube account's (usually
/// from [`CYTUBE_PASSWORD_ENV`]; `None` falls back to the file's, or a guest login).
pub fn from_config(
    bot: &BotConfig,
    password: Option<String>,
) -> Result<Configured, ConfiguredError> {
    match bot.connector {
        ConnectorKind::Local => {
            let local = Arc::new(LocalConnector::new());
            Ok(Configured {
                connector: local.clone(),
                local: Some(local),
            })
        }
        ConnectorKind::Cytube => {
            let settings = CytubeSettings::from_config(bot, password)?;
            Ok(Configured {
                connector: CytubeConnector::start(settings),
                local: None,
            })
        }
    }
}

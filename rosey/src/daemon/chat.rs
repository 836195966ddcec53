//! The chat the daemon's bot talks to, chosen by `bot.connector` in rosey.yaml: the local one
//! (fed by the terminal and `rosey say`) or a CyTube channel. The account password may come
//! from `ROSEY_CYTUBE_PASSWORD` instead of the file.

use std::sync::Arc;

use rosey_core::{
    config::{BotConfig, ConnectorKind},
    connector::{Connector, ConnectorStatus, CytubeConnector, CytubeSettings, LocalConnector},
};

/// The environment variable that gives the CyTube account's password.
const PASSWORD_ENV: &str = "ROSEY_CYTUBE_PASSWORD";

/// The connector as the bot drives it, and the local one as itself when that is the one.
pub type Connectors = (Arc<dyn Connector>, Option<Arc<LocalConnector>>);

/// The configured connector, started; with the local connector also returned as itself, for
/// the features only it has (`rosey say`, chat typed in the terminal).
pub fn connect(bot: &BotConfig) -> Result<Connectors, String> {
    match bot.connector {
        ConnectorKind::Local => {
            let local = Arc::new(LocalConnector::new());
            Ok((local.clone(), Some(local)))
        }
        ConnectorKind::Cytube => {
            let password = std::env::var(PASSWORD_ENV).ok();
            let settings =
                CytubeSettings::from_config(bot, password).map_err(|err| err.to_string())?;
            tracing::info!(
                "connecting to CyTube channel {} on {} as {}{}",
                settings.channel,
                settings.server,
                settings.user,
                if settings.password.is_some() {
                    ""
                } else {
                    " (guest)"
                }
            );
            Ok((CytubeConnector::start(settings), None))
        }
        other => Err(format!(
            "bot.connector {other:?} is not supported by this rosey; use local or cytube"
        )),
    }
}

/// The server's reason when `connector` was refused for good (a wrong password, a kick for a
/// duplicate login).
pub fn refused(connector: &dyn Connector) -> Option<String> {
    match &*connector.status().borrow() {
        ConnectorStatus::Failed(reason) => Some(reason.clone()),
        _ => None,
    }
}

//! The daemon's view of its chat: whether the server refused the bot for good. (The chat
//! itself is the one `bot.connector` names, made by the stack builder.)

use rosey_core::connector::{Connector, ConnectorStatus};

/// The server's reason when `connector` was refused for good (a wrong password, a kick for a
/// duplicate login).
pub fn refused(connector: &dyn Connector) -> Option<String> {
    match &*connector.status().borrow() {
        ConnectorStatus::Failed(reason) => Some(reason.clone()),
        _ => None,
    }
}

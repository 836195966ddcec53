//! `bot.cytube:`: how the bot sits in a CyTube channel (used when `bot.connector: cytube`).
//!
//! ```yaml
//! bot:
//!   connector: cytube
//!   name: rosey-bot          # the account (or guest name) the bot logs in as
//!   channel: mychannel
//!   cytube:
//!     server: https://cytu.be
//!     password: hunter2      # or ROSEY_CYTUBE_PASSWORD; neither = guest login
//!     channel_password: ...  # only for a channel that has one
//! ```

use serde::{Deserialize, Serialize};

use super::{validate::Invalid, BotConfig, ConnectorKind};

/// `bot.cytube:`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CytubeConfig {
    /// The site's base URL (`https://cytu.be`); required for the cytube connector.
    pub server: Option<String>,
    /// The account's password; without one (and without `ROSEY_CYTUBE_PASSWORD`) the bot logs
    /// in as a guest.
    pub password: Option<String>,
    /// The channel's password, for a channel that has one.
    pub channel_password: Option<String>,
    /// Messages said at once before pacing starts (CyTube drops past a burst of 20).
    pub chat_burst: u32,
    /// Messages a second after the burst (CyTube drops past 10 a second).
    pub chat_per_sec: u32,
    /// The first wait before reconnecting, in ms; it doubles with each failure.
    pub reconnect_initial_ms: u64,
    /// The longest wait between reconnects, in ms.
    pub reconnect_max_ms: u64,
    /// How long each connection step (socketconfig, WebSocket, login answer) may take, in ms.
    pub connect_timeout_ms: u64,
}

/// Passwords stay out of logs: only whether one is set is shown.
impl std::fmt::Debug for CytubeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CytubeConfig")
            .field("server", &self.server)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field(
                "channel_password",
                &self.channel_password.as_ref().map(|_| "<hidden>"),
            )
            .field("chat_burst", &self.chat_burst)
            .field("chat_per_sec", &self.chat_per_sec)
            .field("reconnect_initial_ms", &self.reconnect_initial_ms)
            .field("reconnect_max_ms", &self.reconnect_max_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .finish()
    }
}

impl Default for CytubeConfig {
    fn default() -> Self {
        CytubeConfig {
            server: None,
            password: None,
            channel_password: None,
            chat_burst: 10,
            chat_per_sec: 5,
            reconnect_initial_ms: 1000,
            reconnect_max_ms: 60_000,
            connect_timeout_ms: 15_000,
        }
    }
}

fn invalid(key: &str, problem: impl Into<String>) -> Invalid {
    (key.to_owned(), problem.into())
}

/// CyTube's rule for channel names and user names: letters, digits, `_` and `-`.
fn is_cytube_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.chars().count() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The rules of `bot.cytube`, checked when the bot connects to CyTube.
pub(super) fn check(bot: &BotConfig) -> Result<(), Invalid> {
    if bot.connector != ConnectorKind::Cytube {
        return Ok(());
    }
    let cytube = &bot.cytube;
    let Some(server) = &cytube.server else {
        return Err(invalid(
            "bot.cytube.server",
            "is required with connector cytube: give the CyTube site's address, e.g. https://cytu.be",
        ));
    };
    let scheme_ok = url::Url::parse(server)
        .map(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
        .unwrap_or(false);
    if !scheme_ok {
        return Err(invalid(
            "bot.cytube.server",
            format!("{server:?} is not an http:// or https:// address, e.g. https://cytu.be"),
        ));
    }
    if !is_cytube_name(&bot.channel, 30) {
        return Err(invalid(
            "bot.channel",
            format!(
                "{:?} is not a CyTube channel name: 1 to 30 letters, digits, _ or -",
                bot.channel
            ),
        ));
    }
    if !is_cytube_name(&bot.name, 20) {
        return Err(invalid(
            "bot.name",
            format!(
                "{:?} is not a CyTube user name: 1 to 20 letters, digits, _ or -",
                bot.name
            ),
        ));
    }
    if !(1..=20).contains(&cytube.chat_burst) {
        return Err(invalid(
            "bot.cytube.chat_burst",
            format!(
                "{} is outside 1 to 20 (CyTube drops messages past a burst of 20)",
                cytube.chat_burst
            ),
        ));
    }
    if !(1..=10).contains(&cytube.chat_per_sec) {
        return Err(invalid(
            "bot.cytube.chat_per_sec",
            format!(
                "{} is outside 1 to 10 (CyTube drops messages past 10 a second)",
                cytube.chat_per_sec
            ),
        ));
    }
    for (key, value) in [
        (
            "bot.cytube.reconnect_initial_ms",
            cytube.reconnect_initial_ms,
        ),
        ("bot.cytube.connect_timeout_ms", cytube.connect_timeout_ms),
    ] {
        if value == 0 {
            return Err(invalid(key, "must be more than 0"));
        }
    }
    if cytube.reconnect_max_ms < cytube.reconnect_initial_ms {
        return Err(invalid(
            "bot.cytube.reconnect_max_ms",
            format!(
                "{} is less than bot.cytube.reconnect_initial_ms ({}): make it at least that",
                cytube.reconnect_max_ms, cytube.reconnect_initial_ms
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn error(yaml: &str) -> String {
        Config::parse(yaml).expect_err("invalid").to_string()
    }

    #[test]
    fn a_cytube_bot_parses_with_defaults() {
        let config = Config::parse(
            "bot: { connector: cytube, name: rosey-bot, channel: test, cytube: { server: 'http://127.0.0.1:8080' } }",
        )
        .expect("valid");
        assert_eq!(config.bot.cytube.chat_burst, 10);
        assert_eq!(config.bot.cytube.password, None);
    }

    #[test]
    fn cytube_rules_name_the_key() {
        let err = error("bot: { connector: cytube, channel: test }");
        assert!(
            err.contains("bot.cytube.server") && err.contains("https://cytu.be"),
            "{err}"
        );
        let err = error("bot: { connector: cytube, channel: test, cytube: { server: 'ftp://x' } }");
        assert!(err.contains("not an http:// or https://"), "{err}");
        let err =
            error("bot: { connector: cytube, channel: 'a b', cytube: { server: 'https://x' } }");
        assert!(err.contains("bot.channel"), "{err}");
        let err = error("bot: { connector: cytube, channel: t, cytube: { server: 'https://x', chat_per_sec: 11 } }");
        assert!(
            err.contains("bot.cytube.chat_per_sec") && err.contains("10 a second"),
            "{err}"
        );
        let err = error("bot: { connector: cytube, channel: t, cytube: { server: 'https://x', reconnect_initial_ms: 5000, reconnect_max_ms: 10 } }");
        assert!(err.contains("bot.cytube.reconnect_max_ms"), "{err}");
        let err = error("bot: { cytube: { sever: 'https://x' } }");
        assert!(
            err.contains("unknown field") && err.contains("sever"),
            "{err}"
        );
    }

    #[test]
    fn the_bot_name_burst_and_timings_are_checked_with_their_keys() {
        let cytube = |extra: &str| {
            error(&format!(
                "bot: {{ connector: cytube, channel: t, name: rosey-bot, cytube: {{ server: 'https://x'{extra} }} }}"
            ))
        };
        let err = error(
            "bot: { connector: cytube, channel: t, name: rosey.bot, cytube: { server: 'https://x' } }",
        );
        assert_eq!(
            err,
            "rosey.yaml: bot.name: \"rosey.bot\" is not a CyTube user name: 1 to 20 letters, digits, _ or -"
        );
        assert_eq!(
            cytube(", chat_burst: 21"),
            "rosey.yaml: bot.cytube.chat_burst: 21 is outside 1 to 20 (CyTube drops messages past a burst of 20)"
        );
        assert_eq!(
            cytube(", chat_burst: 0"),
            "rosey.yaml: bot.cytube.chat_burst: 0 is outside 1 to 20 (CyTube drops messages past a burst of 20)"
        );
        assert_eq!(
            cytube(", reconnect_initial_ms: 0"),
            "rosey.yaml: bot.cytube.reconnect_initial_ms: must be more than 0"
        );
        assert_eq!(
            cytube(", connect_timeout_ms: 0"),
            "rosey.yaml: bot.cytube.connect_timeout_ms: must be more than 0"
        );
    }

    #[test]
    fn the_local_connector_ignores_the_cytube_section() {
        Config::parse("bot: { cytube: { chat_per_sec: 99 } }").expect("valid for local");
    }
}

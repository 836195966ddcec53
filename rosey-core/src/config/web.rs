//! `web:`: the status dashboard and its JSON API.
//!
//! ```yaml
//! web: { enabled: true, host: 127.0.0.1, port: 8080, token: null }
//! ```
//!
//! The dashboard can restart, reload, enable and disable plugins and talk as any user, so it
//! listens on loopback unless a token is configured; with a token every request must carry it.

use serde::{Deserialize, Serialize};

use super::validate::{invalid, Invalid};

/// `web:`: where the dashboard listens and who may use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Whether the daemon runs the `web` service at all.
    pub enabled: bool,
    /// Listen address. Loopback unless [`WebConfig::token`] is set: the dashboard drives the
    /// whole bot.
    pub host: String,
    /// Listen port; 0 picks a free port at start (what tests use). Status shows the URL.
    #[serde(deserialize_with = "super::port")]
    pub port: u16,
    /// A shared secret every request must carry (`Authorization: Bearer <token>`, or
    /// `?token=<token>` on the page, which sets a cookie). Required for a non-loopback host.
    pub token: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            host: "127.0.0.1".to_owned(),
            port: 8080,
            token: None,
        }
    }
}

/// Checks `web:`: a usable host, a non-empty token, and no open dashboard off loopback.
pub(super) fn check(web: &WebConfig) -> Result<(), Invalid> {
    if web.host.trim().is_empty() {
        return Err(invalid("web.host", "must not be empty: use 127.0.0.1"));
    }
    if let Some(token) = &web.token {
        if token.trim().is_empty() || token.chars().any(char::is_whitespace) {
            return Err(invalid(
                "web.token",
                "must be a non-empty secret without spaces (or remove the key for a loopback-only dashboard)",
            ));
        }
    }
    if web.token.is_none() && !super::is_loopback(&web.host) {
        return Err(invalid(
            "web.host",
            format!(
                "{} is not a loopback address, and without a token anyone who can reach this machine could drive the bot from the dashboard; use 127.0.0.1, or set web.token to a secret that every request must carry",
                web.host
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    #[test]
    fn defaults_listen_on_loopback_8080_without_a_token() {
        let web = Config::parse("hot_reload: true\n").expect("defaults").web;
        assert!(web.enabled);
        assert_eq!(
            (web.host.as_str(), web.port, web.token),
            ("127.0.0.1", 8080, None)
        );
        let web = Config::parse("web:\n").expect("bare section").web;
        assert_eq!(web, super::WebConfig::default());
    }

    #[test]
    fn a_remote_host_needs_a_token() {
        let err = Config::parse("web: { host: 0.0.0.0 }\n").expect_err("open dashboard");
        let message = err.to_string();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "web.host"),
            "{message}"
        );
        assert!(message.contains("not a loopback address"), "{message}");
        assert!(message.contains("set web.token"), "{message}");
        let config = Config::parse("web: { host: 0.0.0.0, token: s3cret }\n").expect("with token");
        assert_eq!(config.web.token.as_deref(), Some("s3cret"));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("web: { token: \"\" }\n", "web.token"),
            ("web: { token: \"a b\" }\n", "web.token"),
            ("web: { host: \"\" }\n", "web.host"),
        ] {
            let err = Config::parse(text).expect_err(text);
            assert!(
                matches!(&err, ConfigError::Invalid { key: found, .. } if found == key),
                "{text}: {err}"
            );
        }
        let err = Config::parse("web: { port: 70000 }\n")
            .expect_err("port")
            .to_string();
        assert!(
            err.contains("web.port") && err.contains("not a port"),
            "{err}"
        );
        let err = Config::parse("web: { prot: 1 }\n")
            .expect_err("typo")
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
    }
}

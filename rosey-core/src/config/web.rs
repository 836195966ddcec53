//! `web:`: the status dashboard and its JSON API.
//!
//! ```yaml
//! web: { enabled: true, host: 127.0.0.1, port: 8080, token: null }
//! ```
//!
//! The dashboard can restart, reload, enable and disable plugins and talk as any user, so every
//! request must carry a token: the one set in `web.token` (at least [`MIN_TOKEN_LEN`]
//! characters), or, when the key is unset, one the daemon generates at its first start and
//! keeps in the home (`Home::web_token_file`). `web.token: none` turns the token off, which
//! only a loopback dashboard may do.

use serde::{Deserialize, Serialize};

use super::validate::{invalid, Invalid};

/// `web:`: where the dashboard listens and who may use it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// `?token=<token>` on the page, which sets a cookie). Unset: a generated one; `none`: no
    /// token (loopback only). See [`WebConfig::token_setting`].
    pub token: Option<String>,
}

/// The token stays out of logs: only whether one is set (or `none`) is shown.
impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = self.token.as_deref().map(|token| match token {
            TOKEN_NONE => TOKEN_NONE,
            _ => "<hidden>",
        });
        f.debug_struct("WebConfig")
            .field("enabled", &self.enabled)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("token", &token)
            .finish()
    }
}

/// The value of `web.token` that turns the token off.
pub const TOKEN_NONE: &str = "none";

/// The shortest token `web.token` may set (a generated one is 64 hex digits).
pub const MIN_TOKEN_LEN: usize = 24;

/// What `web.token` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSetting<'a> {
    /// Unset: the token generated at the first start and kept in the home.
    Generated,
    /// `none`: no token (a loopback dashboard only).
    Off,
    /// This token.
    Given(&'a str),
}

impl WebConfig {
    /// What `web.token` asks for.
    pub fn token_setting(&self) -> TokenSetting<'_> {
        match self.token.as_deref() {
            None => TokenSetting::Generated,
            Some(TOKEN_NONE) => TokenSetting::Off,
            Some(token) => TokenSetting::Given(token),
        }
    }
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

/// Checks `web:`: a usable host, a long enough token, and no open dashboard off loopback.
pub(super) fn check(web: &WebConfig) -> Result<(), Invalid> {
    if web.host.trim().is_empty() {
        return Err(invalid("web.host", "must not be empty: use 127.0.0.1"));
    }
    match web.token_setting() {
        TokenSetting::Generated => {}
        TokenSetting::Given(token) => {
            if token.chars().count() < MIN_TOKEN_LEN || !token.chars().all(|c| c.is_ascii_graphic())
            {
                return Err(invalid(
                    "web.token",
                    format!(
                        "must be a secret of at least {MIN_TOKEN_LEN} printable characters without spaces (remove the key and rosey generates a strong one)"
                    ),
                ));
            }
        }
        TokenSetting::Off => {
            if !super::is_loopback(&web.host) {
                return Err(invalid(
                    "web.token",
                    format!(
                        "none turns the dashboard's token off, which only a loopback dashboard may do, and web.host {} is not loopback: anyone who can reach this machine could drive the bot; remove web.token (rosey generates one) or use web.host: 127.0.0.1",
                        web.host
                    ),
                ));
            }
        }
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
    fn no_token_only_on_loopback() {
        let err = Config::parse("web: { host: 0.0.0.0, token: none }\n").expect_err("open");
        let message = err.to_string();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "web.token"),
            "{message}"
        );
        assert!(message.contains("not loopback"), "{message}");
        let config = Config::parse("web: { token: none }\n").expect("loopback, no token");
        assert_eq!(config.web.token_setting(), super::TokenSetting::Off);
        let config = Config::parse("web: { host: 0.0.0.0 }\n").expect("generated token");
        assert_eq!(config.web.token_setting(), super::TokenSetting::Generated);
        let token = "a-long-enough-secret-of-30-chars";
        let config = Config::parse(&format!("web: {{ host: 0.0.0.0, token: {token} }}\n"))
            .expect("with token");
        assert_eq!(
            config.web.token_setting(),
            super::TokenSetting::Given(token)
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("web: { token: \"\" }\n", "web.token"),
            ("web: { token: \"a b\" }\n", "web.token"),
            ("web: { token: s3cret }\n", "web.token"),
            ("plugins: { bot: { max_restarts: 2 } }\n", "plugins.bot"),
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

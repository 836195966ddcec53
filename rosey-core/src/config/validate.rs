//! The rules of `rosey.yaml` that types cannot say: non-zero timeouts, restart intensities of
//! at least one, a loopback NATS address unless remote access is asked for. (Whether a
//! `services.<name>` names a service that runs is the stack's check: an embedder adds its own.)
//! Each failure is a key path and a problem that says how to fix it.

use std::net::IpAddr;

use super::{
    BotConfig, Config, NatsConfig, PluginHostConfig, SupervisionOverrides, SupervisionSettings,
};
use crate::manifest::is_valid_plugin_name;

/// A broken rule: the key path and what is wrong with it.
pub(super) type Invalid = (String, String);

pub(super) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Invalid {
    (key.into(), problem.into())
}

impl Config {
    /// Checks every rule; the first broken one is returned.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        check_nats(&self.nats)?;
        if let Some(cluster) = &self.nats.cluster {
            super::cluster::check_cluster(cluster)?;
        }
        super::cluster::check_node(&self.node)?;
        check_bot(&self.bot)?;
        for (prefix, settings) in [
            ("supervision.services", &self.supervision.services),
            ("supervision.plugins", &self.supervision.plugins),
        ] {
            check_supervision(settings, prefix, &SupervisionOverrides::default())?;
        }
        for (name, overrides) in &self.services {
            // Whether a service of that name runs is the stack's to say (an embedder adds its
            // own): see `Config::check_service_names`.
            let prefix = format!("services.{name}");
            if overrides.strategy.is_some() {
                return Err(invalid(
                    format!("{prefix}.strategy"),
                    "a strategy belongs to the whole group: set supervision.services.strategy instead",
                ));
            }
            check_supervision(
                &self.supervision.services.merged(overrides),
                &prefix,
                overrides,
            )?;
        }
        check_host(&self.plugin_host, "plugin_host", &|_| false)?;
        positive("dev.debounce_ms", self.dev.debounce_ms)?;
        self.logs.check()?;
        super::web::check(&self.web)?;
        for (name, overrides) in &self.plugins {
            let prefix = format!("plugins.{name}");
            if !is_valid_plugin_name(name) {
                return Err(invalid(
                    prefix,
                    format!("{name:?} is not a plugin name: plugin names are 3 to 50 characters of a-z, 0-9 and -"),
                ));
            }
            if crate::units::is_reserved(name) {
                return Err(invalid(
                    prefix,
                    format!("{name:?} is a part of rosey, not a plugin (no plugin may take that name); its settings go under services.{name} or supervision"),
                ));
            }
            if let Some(node) = overrides.node.as_deref() {
                if node != super::ANY_NODE && !super::is_valid_name(node) {
                    return Err(invalid(
                        format!("{prefix}.node"),
                        format!("{node:?} is not a node name: use the node.name of a rosey node (1 to 64 letters, digits, - or _), any, or main"),
                    ));
                }
                if self.nats.cluster.is_none() {
                    return Err(invalid(
                        format!("{prefix}.node"),
                        "places the plugin on another machine, but nats.cluster is not set: set it (see OPERATORS.md, \"Running across machines\"), or remove this key to run the plugin here",
                    ));
                }
            }
            let supervision = overrides.supervision();
            check_supervision(
                &self.supervision.plugins.merged(&supervision),
                &prefix,
                &supervision,
            )?;
            let host = self.plugin_host.merged(overrides);
            check_host(&host, &prefix, &|field| match field {
                "heartbeat_ms" => overrides.heartbeat_ms.is_some(),
                _ => false,
            })?;
        }
        Ok(())
    }
}

/// `true` for `localhost` and loopback IP addresses (`127.0.0.0/8`, `::1`).
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_nats(nats: &NatsConfig) -> Result<(), Invalid> {
    let minimum = crate::messaging::StoreBudget::MINIMUM;
    if let Some(size) = nats.max_storage.filter(|size| *size < minimum) {
        return Err(invalid(
            "nats.max_storage",
            format!(
                "{size} bytes is too small for the message store: use at least {minimum} (\"{}MiB\"), or leave it out to fit the disk",
                minimum / 1024 / 1024
            ),
        ));
    }
    if nats.host.trim().is_empty() {
        return Err(invalid("nats.host", "must not be empty: use 127.0.0.1"));
    }
    if !nats.allow_remote && !is_loopback(&nats.host) {
        return Err(invalid(
            "nats.host",
            format!(
                "{} is not a loopback address, so anyone who can reach this machine could drive the bot and its plugins; use 127.0.0.1, or set nats.allow_remote: true if that is what you want",
                nats.host
            ),
        ));
    }
    Ok(())
}

fn check_bot(bot: &BotConfig) -> Result<(), Invalid> {
    if bot.name.trim().is_empty() || bot.name.contains(char::is_whitespace) {
        return Err(invalid(
            "bot.name",
            format!(
                "{:?} is not a user name: use the bot's chat name, without spaces",
                bot.name
            ),
        ));
    }
    if bot.channel.trim().is_empty() {
        return Err(invalid(
            "bot.channel",
            "must not be empty: name the channel the bot sits in",
        ));
    }
    if bot.command_prefix.is_empty() || bot.command_prefix.contains(char::is_whitespace) {
        return Err(invalid(
            "bot.command_prefix",
            format!(
                "{:?} cannot start a command: use one or more characters without spaces, such as \"!\"",
                bot.command_prefix
            ),
        ));
    }
    positive("bot.say_timeout_ms", bot.say_timeout_ms)?;
    super::cytube::check(bot)
}

fn positive(key: impl Into<String>, value: u64) -> Result<(), Invalid> {
    if value == 0 {
        return Err(invalid(key, "must be more than 0"));
    }
    Ok(())
}

/// Checks effective settings; keys are reported under `prefix`. For a child's entry, a
/// setting it does not override was already checked in its group's section, so any failure is
/// its own; `overrides` says which of two related keys it set.
fn check_supervision(
    settings: &SupervisionSettings,
    prefix: &str,
    overrides: &SupervisionOverrides,
) -> Result<(), Invalid> {
    let key = |field: &str| format!("{prefix}.{field}");
    if settings.max_restarts == 0 {
        return Err(invalid(
            key("max_restarts"),
            "must be at least 1; for a child that must never be restarted, use restart: temporary",
        ));
    }
    positive(key("within_secs"), settings.within_secs)?;
    // 0 is allowed: restart at once, as OTP does (the intensity still bounds a crash loop).
    positive(key("backoff_reset_secs"), settings.backoff_reset_secs)?;
    positive(key("shutdown_timeout_ms"), settings.shutdown_timeout_ms)?;
    if settings.backoff_max_ms < settings.backoff_initial_ms {
        let field = if overrides.backoff_initial_ms.is_some() && overrides.backoff_max_ms.is_none()
        {
            "backoff_initial_ms"
        } else {
            "backoff_max_ms"
        };
        return Err(invalid(
            key(field),
            format!(
                "backoff_max_ms ({}) is below backoff_initial_ms ({}): the cap must be at least the first delay",
                settings.backoff_max_ms, settings.backoff_initial_ms
            ),
        ));
    }
    Ok(())
}

/// Checks plugin host timings under `prefix`; `overridden("heartbeat_ms")` says whether the
/// entry set the heartbeat (rather than the timeout) when the two disagree.
fn check_host(
    host: &PluginHostConfig,
    prefix: &str,
    overridden: &dyn Fn(&str) -> bool,
) -> Result<(), Invalid> {
    let key = |field: &str| format!("{prefix}.{field}");
    positive(key("heartbeat_ms"), host.heartbeat_ms)?;
    positive(key("ready_timeout_ms"), host.ready_timeout_ms)?;
    if host.ack_wait_ms < 100 {
        return Err(invalid(
            key("ack_wait_ms"),
            format!(
                "{} is too short: JetStream would offer messages again while they are handled; use 100 or more (default 5000)",
                host.ack_wait_ms
            ),
        ));
    }
    if host.spares > 16 {
        return Err(invalid(
            key("spares"),
            format!(
                "{} spare hosts is more than any stack needs; use 0 to 16 (default 1)",
                host.spares
            ),
        ));
    }
    positive(key("max_attempts"), u64::from(host.max_attempts))?;
    if host.heartbeat_timeout_ms <= host.heartbeat_ms {
        let field = if overridden("heartbeat_ms") {
            "heartbeat_ms"
        } else {
            "heartbeat_timeout_ms"
        };
        return Err(invalid(
            key(field),
            format!(
                "heartbeat_timeout_ms ({}) must be longer than heartbeat_ms ({}), or every host counts as hung; a few heartbeats' worth is right",
                host.heartbeat_timeout_ms, host.heartbeat_ms
            ),
        ));
    }
    Ok(())
}

//! The supervision part of `rosey.yaml`: restart strategies, restart types, intensity, backoff
//! and shutdown timeouts, as plain data the daemon turns into its supervisor's types.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::PluginHostConfig;

/// How a supervisor reacts when one of its children fails (OTP's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Restart only the child that failed: children are independent.
    #[default]
    OneForOne,
    /// Restart every child: they only work together.
    OneForAll,
    /// Restart the failed child and every child started after it: later ones depend on
    /// earlier ones.
    RestForOne,
}

/// When a child that exited is restarted (OTP's restart types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartType {
    /// Always: it should run as long as its supervisor does.
    #[default]
    Permanent,
    /// Only after an abnormal exit: a clean exit means its work is done.
    Transient,
    /// Never: it runs once.
    Temporary,
}

/// The effective supervision settings of one group or one child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisionSettings {
    /// The group's strategy (a child's own entry cannot change it).
    pub strategy: Strategy,
    /// When the child is restarted.
    pub restart: RestartType,
    /// At most this many restarts within [`SupervisionSettings::within_secs`]; one more and the
    /// child is given up on (plugins) or the failure escalates (services).
    pub max_restarts: u32,
    /// The window of the restart intensity, in seconds.
    pub within_secs: u64,
    /// The first delay before a restart, in ms; it doubles with each restart. 0 restarts at
    /// once every time (the restart intensity still bounds a crash loop).
    pub backoff_initial_ms: u64,
    /// The longest delay before a restart, in ms.
    pub backoff_max_ms: u64,
    /// After running this long without failing, the delay is back to the initial one, in s.
    pub backoff_reset_secs: u64,
    /// How long a graceful stop may take before the child is killed, in ms.
    pub shutdown_timeout_ms: u64,
    /// A plugin given up on (past `max_restarts`) is started again this long after, with a
    /// fresh budget, in s; 0 leaves it down until an operator acts. Services escalate instead.
    pub retry_after_secs: u64,
}

impl SupervisionSettings {
    /// The defaults of the services group (nats, bot, web).
    pub fn services_default() -> SupervisionSettings {
        SupervisionSettings {
            strategy: Strategy::OneForOne,
            restart: RestartType::Permanent,
            max_restarts: 5,
            within_secs: 60,
            backoff_initial_ms: 100,
            backoff_max_ms: 5000,
            backoff_reset_secs: 30,
            shutdown_timeout_ms: 5000,
            retry_after_secs: 0,
        }
    }

    /// The defaults of the plugins group: fewer restarts, since a plugin that keeps crashing
    /// should be marked crashed quickly rather than spam the chat with restarts.
    pub fn plugins_default() -> SupervisionSettings {
        SupervisionSettings {
            max_restarts: 3,
            retry_after_secs: 300,
            ..SupervisionSettings::services_default()
        }
    }

    /// These settings with every key `overrides` sets replaced.
    pub fn merged(&self, overrides: &SupervisionOverrides) -> SupervisionSettings {
        SupervisionSettings {
            strategy: overrides.strategy.unwrap_or(self.strategy),
            restart: overrides.restart.unwrap_or(self.restart),
            max_restarts: overrides.max_restarts.unwrap_or(self.max_restarts),
            within_secs: overrides.within_secs.unwrap_or(self.within_secs),
            backoff_initial_ms: overrides
                .backoff_initial_ms
                .unwrap_or(self.backoff_initial_ms),
            backoff_max_ms: overrides.backoff_max_ms.unwrap_or(self.backoff_max_ms),
            backoff_reset_secs: overrides
                .backoff_reset_secs
                .unwrap_or(self.backoff_reset_secs),
            shutdown_timeout_ms: overrides
                .shutdown_timeout_ms
                .unwrap_or(self.shutdown_timeout_ms),
            retry_after_secs: overrides.retry_after_secs.unwrap_or(self.retry_after_secs),
        }
    }

    /// [`SupervisionSettings::within_secs`] as a duration.
    pub fn within(&self) -> Duration {
        Duration::from_secs(self.within_secs)
    }

    /// [`SupervisionSettings::backoff_initial_ms`] as a duration.
    pub fn backoff_initial(&self) -> Duration {
        Duration::from_millis(self.backoff_initial_ms)
    }

    /// [`SupervisionSettings::backoff_max_ms`] as a duration.
    pub fn backoff_max(&self) -> Duration {
        Duration::from_millis(self.backoff_max_ms)
    }

    /// [`SupervisionSettings::backoff_reset_secs`] as a duration.
    pub fn backoff_reset(&self) -> Duration {
        Duration::from_secs(self.backoff_reset_secs)
    }

    /// [`SupervisionSettings::shutdown_timeout_ms`] as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    /// [`SupervisionSettings::retry_after_secs`] as a duration (zero: never).
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs(self.retry_after_secs)
    }
}

/// Supervision keys as written in a section or a service's entry: each one set replaces the
/// value beneath it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisionOverrides {
    /// See [`SupervisionSettings::strategy`]; only in `supervision.*` sections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// See [`SupervisionSettings::restart`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartType>,
    /// See [`SupervisionSettings::max_restarts`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<u32>,
    /// See [`SupervisionSettings::within_secs`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_secs: Option<u64>,
    /// See [`SupervisionSettings::backoff_initial_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_initial_ms: Option<u64>,
    /// See [`SupervisionSettings::backoff_max_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_max_ms: Option<u64>,
    /// See [`SupervisionSettings::backoff_reset_secs`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_reset_secs: Option<u64>,
    /// See [`SupervisionSettings::shutdown_timeout_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_timeout_ms: Option<u64>,
    /// See [`SupervisionSettings::retry_after_secs`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// One plugin's entry under `plugins:`: its supervision keys and its host timings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginOverrides {
    /// See [`SupervisionSettings::restart`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartType>,
    /// See [`SupervisionSettings::max_restarts`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<u32>,
    /// See [`SupervisionSettings::within_secs`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_secs: Option<u64>,
    /// See [`SupervisionSettings::backoff_initial_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_initial_ms: Option<u64>,
    /// See [`SupervisionSettings::backoff_max_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_max_ms: Option<u64>,
    /// See [`SupervisionSettings::backoff_reset_secs`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_reset_secs: Option<u64>,
    /// See [`SupervisionSettings::shutdown_timeout_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_timeout_ms: Option<u64>,
    /// See [`PluginHostConfig::heartbeat_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    /// See [`PluginHostConfig::heartbeat_timeout_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout_ms: Option<u64>,
    /// See [`PluginHostConfig::ready_timeout_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_timeout_ms: Option<u64>,
    /// See [`PluginHostConfig::max_attempts`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// See [`SupervisionSettings::retry_after_secs`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// See [`PluginHostConfig::max_command_age_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_command_age_ms: Option<u64>,
    /// See [`PluginHostConfig::max_event_age_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_event_age_ms: Option<u64>,
    /// Where the plugin runs when the bot spans machines (`nats.cluster`): a node's name
    /// (`node.name` of a `rosey node`), [`ANY_NODE`] for a node with room running fewest
    /// plugins, or [`MAIN_NODE`] for the main daemon always. Unset: where there is room (the
    /// main daemon while its machine has room for the plugin, else the node with most). When
    /// no such node is up: the main daemon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// `plugins.<name>.node: any`: whichever node with room runs fewest plugins.
pub const ANY_NODE: &str = "any";

/// `plugins.<name>.node: main`: the main daemon, whatever room the nodes have.
pub const MAIN_NODE: &str = "main";

impl PluginOverrides {
    /// The supervision part of the entry.
    pub fn supervision(&self) -> SupervisionOverrides {
        SupervisionOverrides {
            strategy: None,
            restart: self.restart,
            max_restarts: self.max_restarts,
            within_secs: self.within_secs,
            backoff_initial_ms: self.backoff_initial_ms,
            backoff_max_ms: self.backoff_max_ms,
            backoff_reset_secs: self.backoff_reset_secs,
            shutdown_timeout_ms: self.shutdown_timeout_ms,
            retry_after_secs: self.retry_after_secs,
        }
    }
}

/// Everything the daemon needs to supervise one plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginSettings {
    /// Restart type, intensity, backoff, shutdown timeout.
    pub supervision: SupervisionSettings,
    /// Heartbeat, ready and NATS timings of its host process.
    pub host: PluginHostConfig,
}

/// `supervision:`: the settings of the services group and of the plugins group, each the
/// group's defaults with what the file sets on top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SupervisionSections")]
pub struct SupervisionConfig {
    /// `supervision.services`.
    pub services: SupervisionSettings,
    /// `supervision.plugins`.
    pub plugins: SupervisionSettings,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        SupervisionConfig {
            services: SupervisionSettings::services_default(),
            plugins: SupervisionSettings::plugins_default(),
        }
    }
}

/// `supervision:` as written: partial sections, completed by each group's own defaults (a
/// plain `#[serde(default)]` would fill a plugins section from the services defaults).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SupervisionSections {
    #[serde(deserialize_with = "super::section")]
    services: SupervisionOverrides,
    #[serde(deserialize_with = "super::section")]
    plugins: SupervisionOverrides,
}

impl From<SupervisionSections> for SupervisionConfig {
    fn from(sections: SupervisionSections) -> Self {
        SupervisionConfig {
            services: SupervisionSettings::services_default().merged(&sections.services),
            plugins: SupervisionSettings::plugins_default().merged(&sections.plugins),
        }
    }
}

//! `rosey.yaml`: the operator's settings for the whole stack.
//!
//! Every key is optional and the defaults work out of the box, so a home without the file runs.
//! Unknown keys are errors (a misspelt key silently ignored is a setting the operator believes
//! is in force and is not), and every error names the file and the key path.
//!
//! The types here are plain data: `rosey-core` does not depend on the supervision tree, so the
//! daemon converts [`SupervisionSettings`] into the supervisor's own types. The effective
//! settings of one child are the group's defaults, overridden by the group's section
//! (`supervision.services` / `supervision.plugins`), overridden by the child's own entry
//! (`services.<name>` / `plugins.<name>`): see [`Config::service_settings`] and
//! [`Config::plugin_settings`].
//!
//! ```yaml
//! nats: { host: 127.0.0.1, port: 4222, allow_remote: false }
//! bot: { connector: local, name: rosey, channel: local, command_prefix: "!" }
//! supervision:
//!   services: { strategy: one_for_one, max_restarts: 5, within_secs: 60 }
//!   plugins: { strategy: one_for_one, max_restarts: 3, within_secs: 60 }
//! services: { nats: { restart: permanent } }
//! plugins: { dice-roller: { restart: permanent, heartbeat_timeout_ms: 3000 } }
//! plugin_host: { heartbeat_ms: 1000, heartbeat_timeout_ms: 5000, sandbox: best_effort }
//! dev: { watch: [../plugins/dice-roller], debounce_ms: 300 }
//! logs: { max_size: 10MiB, keep: 5 }
//! web: { enabled: true, host: 127.0.0.1, port: 8080 }
//! ```

mod cluster;
mod cytube;
mod de;
mod dev;
mod logs;
mod nats;
mod supervision;
mod template;
mod users;
mod validate;
mod web;

#[cfg(test)]
mod tests;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::paths::Home;

pub use cluster::{
    is_valid_name, ClusterConfig, ClusterTls, NodeConfig, MAIN_SERVER_NAME, MAX_REPLICAS,
};
pub use cytube::CytubeConfig;
use de::{port, section};
pub use dev::DevConfig;
pub use logs::{parse_byte_size, LogsConfig, PluginLogLevel};
pub use nats::{NatsConfig, NatsTls};
pub use template::{commented_config, InitChoices};
pub use users::{fill_reply, RateLimitConfig, RepliesConfig};
pub use validate::is_loopback;
pub use web::{TokenSetting, WebConfig, MIN_TOKEN_LEN, TOKEN_NONE};

pub use supervision::{
    PluginOverrides, PluginSettings, RestartType, Strategy, SupervisionConfig,
    SupervisionOverrides, SupervisionSettings, ANY_NODE, MAIN_NODE,
};

/// The services the daemon runs (an embedder may add its own; see
/// [`Config::check_service_names`]).
pub use crate::units::SERVICES;

/// The whole of `rosey.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Whether plugin installs, updates, removals, enables and disables take effect in the
    /// running stack at once (`true`), or wait for its next restart.
    pub hot_reload: bool,
    /// The NATS server the daemon starts.
    #[serde(deserialize_with = "section")]
    pub nats: NatsConfig,
    /// The bot: which chat it connects to and how it reads commands.
    #[serde(deserialize_with = "section")]
    pub bot: BotConfig,
    /// Restart strategies and intensities of the two supervised groups.
    #[serde(deserialize_with = "section")]
    pub supervision: SupervisionConfig,
    /// Per-service overrides, keyed by service name ([`SERVICES`]).
    #[serde(deserialize_with = "section")]
    pub services: BTreeMap<String, SupervisionOverrides>,
    /// Per-plugin overrides, keyed by plugin name (the plugin need not be installed yet).
    #[serde(deserialize_with = "section")]
    pub plugins: BTreeMap<String, PluginOverrides>,
    /// Timings of plugin host processes.
    #[serde(deserialize_with = "section")]
    pub plugin_host: PluginHostConfig,
    /// What `rosey dev` watches.
    #[serde(deserialize_with = "section")]
    pub dev: DevConfig,
    /// Log rotation.
    #[serde(deserialize_with = "section")]
    pub logs: LogsConfig,
    /// The status dashboard.
    #[serde(deserialize_with = "section")]
    pub web: WebConfig,
    /// This machine's name as a plugin node, and how nodes are watched.
    #[serde(deserialize_with = "section")]
    pub node: NodeConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hot_reload: true,
            nats: NatsConfig::default(),
            bot: BotConfig::default(),
            supervision: SupervisionConfig::default(),
            services: BTreeMap::new(),
            plugins: BTreeMap::new(),
            plugin_host: PluginHostConfig::default(),
            dev: DevConfig::default(),
            logs: LogsConfig::default(),
            web: WebConfig::default(),
            node: NodeConfig::default(),
        }
    }
}

/// Which kind of chat the bot connects to. More kinds may come, so matches on it need a
/// fallback arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectorKind {
    /// The in-process chat fed from the terminal and `rosey say`.
    #[default]
    Local,
    /// A CyTube channel (`bot.cytube`).
    Cytube,
}

/// `bot:`: the chat connection and command reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotConfig {
    /// Which chat to connect to.
    pub connector: ConnectorKind,
    /// The bot's own user name; its own messages are never routed, so it cannot answer itself.
    pub name: String,
    /// The channel it sits in (carried in every command, for plugins that care).
    pub channel: String,
    /// What starts a command (`!` in `!roll 2d6`).
    pub command_prefix: String,
    /// Whether an unclaimed command is answered with the list of known ones.
    pub unknown_command_reply: bool,
    /// How long `rosey say` waits for replies, in ms.
    pub say_timeout_ms: u64,
    /// The CyTube connection, for `connector: cytube`.
    #[serde(deserialize_with = "section")]
    pub cytube: CytubeConfig,
    /// What the bot itself says to users.
    #[serde(deserialize_with = "section")]
    pub replies: RepliesConfig,
    /// How many commands one user may send.
    #[serde(deserialize_with = "section")]
    pub rate_limit: RateLimitConfig,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            connector: ConnectorKind::Local,
            name: "rosey".to_owned(),
            channel: "local".to_owned(),
            command_prefix: "!".to_owned(),
            unknown_command_reply: true,
            say_timeout_ms: 5000,
            cytube: CytubeConfig::default(),
            replies: RepliesConfig::default(),
            rate_limit: RateLimitConfig::default(),
        }
    }
}

impl BotConfig {
    /// [`BotConfig::say_timeout_ms`] as a duration.
    pub fn say_timeout(&self) -> Duration {
        Duration::from_millis(self.say_timeout_ms)
    }
}

/// `plugin_host:`: how plugin host processes are watched. Each key may be overridden per
/// plugin under `plugins.<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginHostConfig {
    /// How often a host sends a heartbeat, in ms.
    pub heartbeat_ms: u64,
    /// No heartbeat for this long means the host is hung, in ms.
    pub heartbeat_timeout_ms: u64,
    /// A starting host must announce it is ready within this, in ms.
    pub ready_timeout_ms: u64,
    /// Warm spare hosts kept started (nothing loaded) so a crash replacement or an install
    /// skips fork and exec; 0 turns them off. Global only.
    pub spares: u32,
    /// How long JetStream waits for a message's ack before it offers the message again, in
    /// ms. The daemon owns every delivery, so this matters only after the daemon itself died
    /// holding messages. Global only.
    pub ack_wait_ms: u64,
    /// How many times one message may be delivered to a plugin (each crash mid-message means
    /// one more delivery) before it is moved to the dead-letter stream instead.
    pub max_attempts: u32,
    /// A command that waited in the stream longer than this before its plugin got it (it
    /// waited out an outage) is not handled: acked, counted and logged, in ms; 0 handles any
    /// age. Measured by the stream's clock (this machine's), not the chat server's.
    pub max_command_age_ms: u64,
    /// The same for events; 0 (the default) handles any age, so a plugin that learns from
    /// chat still sees what was said while it was down.
    pub max_event_age_ms: u64,
    /// A user whose commands crashed a plugin until they were dead-lettered this many times
    /// within `hold_window_secs` is held back from that plugin. Global only.
    pub hold_strikes: u32,
    /// The window `hold_strikes` are counted in, in s. Global only.
    pub hold_window_secs: u64,
    /// How long such a user gets no command through to that plugin, in s; 0 never holds
    /// anyone back. Global only.
    pub hold_secs: u64,
    /// What to do when this kernel cannot apply the whole plugin sandbox. Global only.
    pub sandbox: SandboxMode,
}

/// `plugin_host.sandbox`: whether a plugin may run in a partial sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxMode {
    /// Run with what the kernel can apply; `rosey status` says `sandbox: partial (…)`.
    #[default]
    BestEffort,
    /// Refuse to load a plugin whose sandbox would be partial.
    Required,
}

impl Default for PluginHostConfig {
    fn default() -> Self {
        PluginHostConfig {
            heartbeat_ms: 1000,
            heartbeat_timeout_ms: 5000,
            ready_timeout_ms: 10_000,
            spares: 1,
            ack_wait_ms: 5000,
            max_attempts: 2,
            max_command_age_ms: 60_000,
            max_event_age_ms: 0,
            hold_strikes: 2,
            hold_window_secs: 600,
            hold_secs: 600,
            sandbox: SandboxMode::BestEffort,
        }
    }
}

impl PluginHostConfig {
    /// These settings with a plugin's own overrides applied.
    pub fn merged(&self, overrides: &PluginOverrides) -> PluginHostConfig {
        PluginHostConfig {
            heartbeat_ms: overrides.heartbeat_ms.unwrap_or(self.heartbeat_ms),
            heartbeat_timeout_ms: overrides
                .heartbeat_timeout_ms
                .unwrap_or(self.heartbeat_timeout_ms),
            ready_timeout_ms: overrides.ready_timeout_ms.unwrap_or(self.ready_timeout_ms),
            spares: self.spares,
            ack_wait_ms: self.ack_wait_ms,
            max_attempts: overrides.max_attempts.unwrap_or(self.max_attempts),
            max_command_age_ms: overrides
                .max_command_age_ms
                .unwrap_or(self.max_command_age_ms),
            max_event_age_ms: overrides.max_event_age_ms.unwrap_or(self.max_event_age_ms),
            hold_strikes: self.hold_strikes,
            hold_window_secs: self.hold_window_secs,
            hold_secs: self.hold_secs,
            sandbox: self.sandbox,
        }
    }

    /// [`PluginHostConfig::heartbeat_ms`] as a duration.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// [`PluginHostConfig::heartbeat_timeout_ms`] as a duration.
    pub fn heartbeat_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_timeout_ms)
    }

    /// [`PluginHostConfig::ready_timeout_ms`] as a duration.
    pub fn ready_timeout(&self) -> Duration {
        Duration::from_millis(self.ready_timeout_ms)
    }

    /// [`PluginHostConfig::max_command_age_ms`] as a limit (`None`: any age).
    pub fn max_command_age(&self) -> Option<Duration> {
        (self.max_command_age_ms > 0).then(|| Duration::from_millis(self.max_command_age_ms))
    }

    /// [`PluginHostConfig::max_event_age_ms`] as a limit (`None`: any age).
    pub fn max_event_age(&self) -> Option<Duration> {
        (self.max_event_age_ms > 0).then(|| Duration::from_millis(self.max_event_age_ms))
    }

    /// [`PluginHostConfig::ack_wait_ms`] as a duration.
    pub fn ack_wait(&self) -> Duration {
        Duration::from_millis(self.ack_wait_ms)
    }
}

/// What to do about a `rosey.yaml` that cannot be read, by why.
fn read_fix(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::InvalidData => {
            "save it as UTF-8 text, or move it aside to run with the defaults"
        }
        std::io::ErrorKind::IsADirectory => {
            "it must be a file: move the folder aside (`rosey init` writes a commented one)"
        }
        _ => "check its permissions, or move it aside to run with the defaults",
    }
}

/// Why `rosey.yaml` cannot be used. Every message names the file, and the key when there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {}: {error}; {}", path.display(), read_fix(error))]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// Not YAML, an unknown key, or a value of the wrong type.
    #[error("{}: {reason}; {hint}", file.display())]
    Parse {
        /// The file (`rosey.yaml` when parsing text).
        file: PathBuf,
        /// What the parser found, starting with the key path when not at the top.
        reason: String,
        /// How to fix it.
        hint: &'static str,
    },
    /// A value of the right type that breaks a rule.
    #[error("{}: {key}: {problem}", file.display())]
    Invalid {
        /// The file (`rosey.yaml` when parsing text).
        file: PathBuf,
        /// The key path, e.g. `plugins.dice-roller.max_restarts`.
        key: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

impl Config {
    /// Reads and validates `rosey.yaml` of `home`; a home without one gets the defaults.
    pub fn load(home: &Home) -> Result<Config, ConfigError> {
        let path = home.config_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse_file(&text, &path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(error) => Err(ConfigError::Read { path, error }),
        }
    }

    /// Parses and validates `rosey.yaml` text; errors name the file `rosey.yaml`.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse_file(text, Path::new(crate::paths::CONFIG_FILE_NAME))
    }

    /// Parses and validates text read from `file` (named in errors).
    pub fn parse_file(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let parse_error = |err: serde_yaml_ng::Error| {
            let reason = err.to_string();
            let hint = if reason.contains("unknown field") {
                "remove the key or fix its spelling"
            } else if reason.contains("unknown variant") {
                "use one of the values listed"
            } else if reason.contains("duplicate entry") {
                "the key is written twice at the same level: keep one (`rosey init` in an empty folder writes every key once, commented out)"
            } else {
                "fix the value (every key is optional: delete it to use the default)"
            };
            ConfigError::Parse {
                file: file.to_path_buf(),
                reason,
                hint,
            }
        };
        // An empty file, or one whose every line is commented out, is a null document.
        let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(parse_error)?;
        if document.is_null() {
            return Ok(Config::default());
        }
        let config: Config = serde_yaml_ng::from_str(text).map_err(parse_error)?;
        config
            .validate()
            .map_err(|(key, problem)| ConfigError::Invalid {
                file: file.to_path_buf(),
                key,
                problem,
            })?;
        Ok(config)
    }

    /// Refuses a `services.<name>` section for a service the stack does not run, a typo most
    /// likely: `known` is every service it runs, rosey's own ([`SERVICES`]) and an
    /// embedder's. Checked when the stack starts rather than when the file is read, since only
    /// the stack knows an embedder's services; `file` is where the config came from.
    pub fn check_service_names(&self, known: &[&str], file: &Path) -> Result<(), ConfigError> {
        match self
            .services
            .keys()
            .find(|name| !known.contains(&name.as_str()))
        {
            None => Ok(()),
            Some(name) => Err(ConfigError::Invalid {
                file: file.to_path_buf(),
                key: format!("services.{name}"),
                problem: format!(
                    "there is no service {name:?}; the services are {}",
                    known.join(", ")
                ),
            }),
        }
    }

    /// The effective supervision settings of service `name` (`nats`, `bot`, `web`): defaults,
    /// then `supervision.services`, then `services.<name>`.
    pub fn service_settings(&self, name: &str) -> SupervisionSettings {
        match self.services.get(name) {
            Some(overrides) => self.supervision.services.merged(overrides),
            None => self.supervision.services.clone(),
        }
    }

    /// The effective settings of plugin `name`: supervision from defaults, then
    /// `supervision.plugins`, then `plugins.<name>`; host timings from `plugin_host`, then
    /// `plugins.<name>`.
    pub fn plugin_settings(&self, name: &str) -> PluginSettings {
        let overrides = self.plugins.get(name).cloned().unwrap_or_default();
        PluginSettings {
            supervision: self.supervision.plugins.merged(&overrides.supervision()),
            host: self.plugin_host.merged(&overrides),
        }
    }
}

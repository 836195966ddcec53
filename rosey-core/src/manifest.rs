//! The plugin manifest (`manifest.yaml` inside every `.roseyplug`): the one type that says what
//! a plugin is, what it claims and what it may use.

use std::{fmt, path::Path};

use serde::{Deserialize, Serialize};

mod commands;
pub use commands::{
    names as command_names, CommandSpec, CommandTextError, TextProblem, MAX_HELP_CHARS,
};

/// The permission a plugin's chat messages need (the plugin actor refuses them otherwise).
pub const SEND_MESSAGES: &str = "send_messages";
/// The permission a plugin's private messages need.
pub const SEND_PMS: &str = "send_pms";
/// The permission a plugin's events need, besides their kind in [`Manifest::publishes`].
pub const PUBLISH_EVENTS: &str = "publish_events";

/// Permissions a manifest may declare, shown to the operator at install and update. The plugin
/// actor enforces [`SEND_MESSAGES`], [`SEND_PMS`] and [`PUBLISH_EVENTS`]; the others
/// (`read_messages`, `storage`, `network`) are shown only: the sandbox enforces the
/// [`Manifest::network`] key, and every plugin gets its own storage folder.
pub const KNOWN_PERMISSIONS: &[&str] = &[
    "read_messages",
    SEND_MESSAGES,
    SEND_PMS,
    PUBLISH_EVENTS,
    "storage",
    "network",
];

/// The most commands one plugin may claim.
pub const MAX_COMMANDS: usize = 64;

/// The manifest of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name: `^[a-z0-9-]{3,50}$`.
    pub name: String,
    /// Semantic version.
    pub version: semver::Version,
    /// One line saying what it does.
    pub description: String,
    /// Who wrote it.
    pub author: String,
    /// File name of the shared library inside the archive (a plain name, no folders).
    pub library: String,
    /// The rosey plugin ABI version the library was built against.
    pub abi: u32,
    /// The commands the plugin handles (`roll` for `!roll`), each with what `!help` says
    /// about it and who may use it.
    #[serde(default)]
    pub commands: Vec<CommandSpec>,
    /// Event kinds it wants (`chat.message`, `user.*`, `>` for all).
    #[serde(default)]
    pub events: Vec<String>,
    /// Permissions it asks for, from [`KNOWN_PERMISSIONS`].
    #[serde(default)]
    pub permissions: Vec<String>,
    /// What it may do to the chat channel (`playlist`, `skip`, `moderate`, `poll`: see
    /// [`rosey_abi::channel::ChannelPermission`]); the plugin actor refuses any other action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel: Vec<String>,
    /// Event kinds it may publish (`quote.added`; `*` for one word, a final `>` for the rest),
    /// with [`PUBLISH_EVENTS`]: the plugin actor refuses any other kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publishes: Vec<String>,
    /// Resource limits for its host process.
    #[serde(default)]
    pub limits: Limits,
    /// The network it may reach (none when absent): a list of `host:port`, or `any`. The
    /// sandbox enforces the ports (TCP connect), not the hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkAccess>,
    /// Whether the bot tells a user whose command failed here (the handler returned an error,
    /// or crashed on it until it was dead-lettered). A plugin that words its own failures
    /// turns this off.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub failure_reply: bool,
}

fn yes() -> bool {
    true
}

fn is_yes(value: &bool) -> bool {
    *value
}

/// `network:` in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NetworkAccess {
    /// The single word `any`.
    Word(String),
    /// `host:port` entries (`api.example.org:443`, `127.0.0.1:8080`, `[::1]:80`).
    Endpoints(Vec<String>),
}

/// The most `host:port` entries one manifest may list.
pub const MAX_ENDPOINTS: usize = 32;

impl NetworkAccess {
    /// What the host's sandbox enforces: the ports (sorted, once each), or anything.
    pub fn to_wire(&self) -> rosey_host::wire::Network {
        match self {
            NetworkAccess::Word(_) => rosey_host::wire::Network::Any,
            NetworkAccess::Endpoints(endpoints) => {
                let mut ports: Vec<u16> = endpoints
                    .iter()
                    .filter_map(|endpoint| parse_endpoint(endpoint).ok())
                    .map(|(_, port)| port)
                    .collect();
                ports.sort_unstable();
                ports.dedup();
                rosey_host::wire::Network::Ports(ports)
            }
        }
    }

    fn validate(&self) -> Result<(), ManifestError> {
        match self {
            NetworkAccess::Word(word) if word == "any" => Ok(()),
            NetworkAccess::Word(word) => Err(invalid(
                "network",
                format!("{word:?}: use a list of host:port entries, or the single word any"),
            )),
            NetworkAccess::Endpoints(endpoints) if endpoints.is_empty() => Err(invalid(
                "network",
                "an empty list: leave network out for a plugin without network access",
            )),
            NetworkAccess::Endpoints(endpoints) if endpoints.len() > MAX_ENDPOINTS => Err(invalid(
                "network",
                format!("at most {MAX_ENDPOINTS} host:port entries"),
            )),
            NetworkAccess::Endpoints(endpoints) => endpoints.iter().try_for_each(|endpoint| {
                parse_endpoint(endpoint)
                    .map(drop)
                    .map_err(|problem| invalid("network", format!("{endpoint:?}: {problem}")))
            }),
        }
    }
}

/// Why a `network:` entry is not a `host:port` the sandbox can allow, so a tool can point at
/// the half to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No `:` separates a host from a port.
    #[error("not host:port (e.g. api.example.org:443)")]
    NotHostPort,
    /// The part after the last `:` is not a TCP port.
    #[error("{port:?} is not a port: use 1 to 65535")]
    BadPort {
        /// The text after the last `:`.
        port: String,
    },
    /// The part before it is neither a host name nor a bracketed IPv6 address.
    #[error("{host:?} is not a host name or address (IPv6 goes in brackets: [::1]:80)")]
    BadHost {
        /// The text before the last `:`.
        host: String,
    },
}

/// Splits `host:port` (IPv6 in brackets), checking both halves.
pub fn parse_endpoint(endpoint: &str) -> Result<(&str, u16), EndpointError> {
    let (host, port) = endpoint
        .rsplit_once(':')
        .ok_or(EndpointError::NotHostPort)?;
    let port: u16 = match port.parse() {
        Ok(port) if port > 0 => port,
        _ => {
            return Err(EndpointError::BadPort {
                port: port.to_owned(),
            })
        }
    };
    let valid_host = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !host.starts_with(['.', '-'])
    };
    if !valid_host {
        return Err(EndpointError::BadHost {
            host: host.to_owned(),
        });
    }
    Ok((host, port))
}

/// Resource limits applied to a plugin's host process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Address-space limit of the host process in MiB (0: none).
    pub memory_mb: u64,
    /// How long one command or event may take before the plugin counts as hung, in ms.
    pub handler_timeout_ms: u64,
    /// Open file descriptors of the host process (`RLIMIT_NOFILE`).
    pub open_files: u64,
}

/// The most open files a manifest may ask for.
pub const MAX_OPEN_FILES: u64 = 65_536;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 512,
            handler_timeout_ms: 10_000,
            open_files: 256,
        }
    }
}

/// Why a manifest is not acceptable. Every message names the field and what would fix it.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not YAML, or fields of the wrong type or unknown.
    #[error("manifest.yaml does not parse: {0}")]
    Parse(String),
    /// A field breaks a rule.
    #[error("manifest.yaml: {field}: {problem}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

fn invalid(field: &'static str, problem: impl fmt::Display) -> ManifestError {
    ManifestError::Invalid {
        field,
        problem: problem.to_string(),
    }
}

/// `true` when `name` is a valid plugin name (`^[a-z0-9-]{3,50}$`).
pub fn is_valid_plugin_name(name: &str) -> bool {
    (3..=50).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `true` when `word` may be a command: the SDK's rule ([`rosey_abi::limits::is_valid_command`]),
/// which the router and the testing kit read commands by too.
pub use rosey_abi::limits::is_valid_command;

/// `true` when `pattern` is a valid event-kind pattern: dot-separated tokens of `[a-z0-9_-]`,
/// where a token may be `*`, and a last token may be `>`.
pub fn is_valid_event_pattern(pattern: &str) -> bool {
    let tokens: Vec<&str> = pattern.split('.').collect();
    tokens.iter().enumerate().all(|(i, token)| {
        (*token == ">" && i == tokens.len() - 1)
            || *token == "*"
            || rosey_host::wire::is_event_word(token)
    })
}

/// `true` when event kind `kind` (dot-separated words) matches `pattern` (words, `*` for any
/// one word, a final `>` for one or more).
pub fn event_pattern_matches(pattern: &str, kind: &str) -> bool {
    let mut kind_words = kind.split('.');
    for token in pattern.split('.') {
        if token == ">" {
            return kind_words.next().is_some();
        }
        match kind_words.next() {
            Some(word) if token == "*" || token == word => {}
            _ => return false,
        }
    }
    kind_words.next().is_none()
}

impl Manifest {
    /// Whether the manifest asks for `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// Whether the manifest's `channel:` list allows `permission`.
    pub fn may_act(&self, permission: rosey_abi::channel::ChannelPermission) -> bool {
        self.channel.iter().any(|p| p == permission.name())
    }

    /// Whether the plugin may publish an event of `kind`: [`PUBLISH_EVENTS`] and a matching
    /// pattern in [`Manifest::publishes`].
    pub fn may_publish(&self, kind: &str) -> bool {
        self.has_permission(PUBLISH_EVENTS)
            && self
                .publishes
                .iter()
                .any(|pattern| event_pattern_matches(pattern, kind))
    }

    /// Parses and validates manifest text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest =
            serde_yaml_ng::from_str(text).map_err(|err| ManifestError::Parse(err.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Reads and validates `manifest.yaml` at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            ManifestError::Parse(format!("cannot read {}: {err}", path.display()))
        })?;
        Manifest::parse(&text)
    }

    /// The manifest as YAML text.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }

    /// Checks every rule a manifest must keep.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !is_valid_plugin_name(&self.name) {
            return Err(invalid(
                "name",
                format!(
                    "{:?} is not a valid plugin name: use 3 to 50 characters of a-z, 0-9 and -",
                    self.name
                ),
            ));
        }
        if crate::units::is_reserved(&self.name) {
            return Err(invalid(
                "name",
                format!(
                    "{:?} is the name of a part of rosey itself ({}): rename the plugin in its manifest.yaml (for example {:?})",
                    self.name,
                    crate::units::RESERVED_NAMES.join(", "),
                    format!("{}-plugin", self.name)
                ),
            ));
        }
        if self.description.trim().is_empty() {
            return Err(invalid("description", "must not be empty"));
        }
        if self.author.trim().is_empty() {
            return Err(invalid("author", "must not be empty"));
        }
        if self.library.is_empty()
            || self.library.contains(['/', '\\'])
            || self.library.starts_with('.')
        {
            return Err(invalid(
                "library",
                format!(
                    "{:?} must be a plain file name at the archive's top level",
                    self.library
                ),
            ));
        }
        if self.abi != rosey_abi::ABI_VERSION {
            return Err(invalid(
                "abi",
                format!(
                    "the plugin targets rosey ABI v{}, this rosey speaks v{}: rebuild it against rosey-abi {}",
                    self.abi,
                    rosey_abi::ABI_VERSION,
                    rosey_abi::SDK_VERSION
                ),
            ));
        }
        if self.commands.len() > MAX_COMMANDS {
            return Err(invalid(
                "commands",
                format!("at most {MAX_COMMANDS} commands"),
            ));
        }
        for (i, command) in self.commands.iter().enumerate() {
            let word = &command.name;
            if !is_valid_command(word) {
                return Err(invalid(
                    "commands",
                    format!("{word:?} is not a valid command: use up to 32 characters of a-z, 0-9, _ and -, starting with a letter or digit"),
                ));
            }
            if self.commands[..i]
                .iter()
                .any(|earlier| earlier.name == *word)
            {
                return Err(invalid("commands", format!("{word:?} is listed twice")));
            }
            if let Err(err) = command.check_texts() {
                return Err(invalid(err.key, err.to_string()));
            }
        }
        for pattern in &self.events {
            if !is_valid_event_pattern(pattern) {
                return Err(invalid(
                    "events",
                    format!("{pattern:?} is not a valid event kind: dot-separated words of a-z, 0-9, _ and -, with * for one word or a final > for the rest"),
                ));
            }
        }
        for pattern in &self.publishes {
            if !is_valid_event_pattern(pattern) {
                return Err(invalid(
                    "publishes",
                    format!("{pattern:?} is not a valid event kind: dot-separated words of a-z, 0-9, _ and -, with * for one word or a final > for the rest"),
                ));
            }
        }
        for permission in &self.permissions {
            if !KNOWN_PERMISSIONS.contains(&permission.as_str()) {
                return Err(invalid(
                    "permissions",
                    format!(
                        "unknown permission {permission:?}; known: {}",
                        KNOWN_PERMISSIONS.join(", ")
                    ),
                ));
            }
        }
        for (i, permission) in self.channel.iter().enumerate() {
            if rosey_abi::channel::ChannelPermission::from_name(permission).is_none() {
                return Err(invalid(
                    "channel",
                    format!(
                        "unknown channel permission {permission:?}; known: {}",
                        rosey_abi::channel::ChannelPermission::names()
                    ),
                ));
            }
            if self.channel[..i].contains(permission) {
                return Err(invalid(
                    "channel",
                    format!("{permission:?} is listed twice"),
                ));
            }
        }
        if self.limits.handler_timeout_ms == 0 {
            return Err(invalid("limits.handler_timeout_ms", "must be more than 0"));
        }
        if !(16..=MAX_OPEN_FILES).contains(&self.limits.open_files) {
            return Err(invalid(
                "limits.open_files",
                format!(
                    "{} is out of range: use 16 to {MAX_OPEN_FILES} (default 256)",
                    self.limits.open_files
                ),
            ));
        }
        if let Some(network) = &self.network {
            network.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

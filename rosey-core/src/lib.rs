//! # rosey-core
//!
//! The embeddable heart of rosey, for the `rosey` binary and for other bots alike: the home
//! layout ([`paths`]), plugin manifests ([`manifest`]), `.roseyplug` archives ([`archive`]), the
//! registry of installed plugins ([`registry`]) and the install/remove operations on it
//! ([`install`]), per-plugin storage and configuration ([`plugin_config`]) and everything said on NATS
//! ([`messaging`]) and who may connect to it ([`bus`]); the operator's `rosey.yaml` ([`config`]), the connections to a chat
//! ([`connector`]) and the command router that turns what a chat says into NATS messages
//! without losing any while NATS is down ([`router`]); the log layout, rotation and reading
//! ([`logs`]).
//!
//! Nothing here assumes a CLI, a terminal, fixed paths or a global logger: every function takes
//! the [`paths::Home`] it works on and returns errors that name the problem and its fix.
//!
//! ```
//! use rosey_core::{config::Config, connector::LocalConnector, messaging::Source};
//! use rosey_core::connector::Connector;
//!
//! // rosey.yaml as an operator writes it; a mistake is refused naming the key and the fix.
//! let config = Config::parse("bot:\n  name: rosey\n  command_prefix: \"!\"\n").unwrap();
//! assert_eq!(config.bot.command_prefix, "!");
//! let typo = Config::parse("bot:\n  nmae: rosey\n").unwrap_err().to_string();
//! assert!(typo.contains("nmae"), "{typo}");
//!
//! // The local chat: what a user says comes out of the connector's incoming queue, where
//! // the bot (the router) reads it.
//! let chat = LocalConnector::new();
//! let mut heard = chat.incoming().unwrap();
//! chat.inject("alice", "!roll 2d6", Source::Chat).unwrap();
//! let message = heard.try_recv().unwrap();
//! assert_eq!((message.user(), message.text()), ("alice", "!roll 2d6"));
//! ```

#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod archive;
pub mod bus;
pub mod config;
pub mod connector;
pub mod dead_letters;
/// Exit codes of a plugin host (they live with the host; re-exported for the supervisor).
pub use rosey_host::exit_codes;
pub mod fsutil;
pub mod install;
pub mod logs;
pub mod manifest;
pub mod messaging;
pub mod metrics;
pub mod paths;
pub mod plugin_config;
pub mod registry;
pub mod router;
pub mod units;

/// Chat ranks: the type plugins see too, from the SDK crate.
pub use rosey_abi::rank;

/// Channel actions (queue, skip, kick, polls…) and their errors: the vocabulary plugins use
/// too, from the SDK crate.
pub use rosey_abi::channel;

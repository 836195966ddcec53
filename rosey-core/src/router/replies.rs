//! Whether a claimed command goes to its plugin, and what the bot itself answers when it does
//! not: the command list for an unknown command, "unavailable" for a plugin that is down,
//! "slow down" for a user past the rate limit.
//!
//! The order of the checks matters: the rate limit comes first, so a user flooding a crashed
//! plugin is limited like any other flood, and the unavailable answer is given once per user
//! and plugin (see [`super::TELL_AGAIN_AFTER`]), never once per command.

use std::{sync::PoisonError, time::Instant};

use super::{limits::Verdict, RouteOutcome, RouteTable, Router, Unavailable};
use crate::connector::{Incoming, Outgoing};

/// The answer to a command nobody claims: `Unknown command !x. Commands: !a, !b`.
pub fn unknown_command_text(prefix: &str, command: &str, known: &[String]) -> String {
    if known.is_empty() {
        return format!("Unknown command {prefix}{command}. No commands are installed.");
    }
    let list: Vec<String> = known.iter().map(|word| format!("{prefix}{word}")).collect();
    format!(
        "Unknown command {prefix}{command}. Commands: {}",
        list.join(", ")
    )
}

impl Router {
    /// What becomes of `command` from `incoming`, claimed by `plugin`.
    pub(super) fn decide(
        &self,
        incoming: &Incoming,
        routes: &RouteTable,
        command: String,
        plugin: &str,
    ) -> RouteOutcome {
        let user = incoming.user();
        let rank = self
            .ranks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .of(user);
        let verdict = self
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(user, rank, plugin);
        if let Verdict::Refused { first } = verdict {
            return RouteOutcome::Limited {
                command,
                plugin: plugin.to_owned(),
                first,
            };
        }
        let why = if routes.is_disabled(plugin) {
            Unavailable::Disabled
        } else if self.down.is_crashed(plugin) {
            Unavailable::Crashed
        } else {
            return RouteOutcome::Command {
                command,
                plugin: plugin.to_owned(),
            };
        };
        let tell = self
            .told
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .first(user, plugin, Instant::now());
        RouteOutcome::Unavailable {
            command,
            plugin: plugin.to_owned(),
            why,
            tell,
        }
    }

    /// The answer the bot itself gives to `incoming` after [`Router::route`] returned
    /// `outcome`, by PM when the command came by PM: the list of commands for an unknown one
    /// (when `unknown_command_reply` is on), `bot.replies.unavailable` the first time a user
    /// asks a plugin that is down, `bot.replies.slow_down` at the first refusal of a flood.
    /// `None` when the plugin answers, or the wording is empty.
    pub fn reply_to(&self, incoming: &Incoming, outcome: &RouteOutcome) -> Option<Outgoing> {
        let prefix = &self.settings.command_prefix;
        let replies = &self.settings.replies;
        let fill = |template: &str, command: &str| {
            (!template.trim().is_empty()).then(|| {
                template
                    .replace("{user}", incoming.user())
                    .replace("{command}", &format!("{prefix}{command}"))
            })
        };
        let text = match outcome {
            RouteOutcome::Unknown { command, known } if self.settings.unknown_command_reply => {
                unknown_command_text(prefix, command, known)
            }
            RouteOutcome::Unavailable {
                command,
                tell: true,
                ..
            } => fill(&replies.unavailable, command)?,
            RouteOutcome::Limited {
                command,
                first: true,
                ..
            } => fill(&replies.slow_down, command)?,
            _ => return None,
        };
        Some(match incoming {
            Incoming::Chat { .. } | Incoming::Event(_) => Outgoing::Chat { text },
            Incoming::Pm { user, .. } => Outgoing::Pm {
                to: user.clone(),
                text,
            },
        })
    }
}

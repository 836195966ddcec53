//! Whether a claimed command goes to its plugin, and what the bot itself answers when it does
//! not: the command list for an unknown command, `!help`, "needs rank moderator" for a user
//! below a command's `min_rank`, "unavailable" for a plugin that is down, "slow down" for a
//! user past the rate limit.
//!
//! The order of the checks matters: the rate limit comes first, so a user flooding a crashed
//! plugin (or a command above their rank) is limited like any other flood; then the rank, so
//! no plugin is woken for a user who may not use the command; then the plugin's availability,
//! answered once per user and plugin (see [`super::TELL_AGAIN_AFTER`]), never once per
//! command.

use std::{sync::PoisonError, time::Instant};

use super::{limits::Verdict, RouteOutcome, RouteTable, Router, Unavailable, HELP_COMMAND};

/// What unknown commands count against in the rate limits, as if they were a plugin's (no
/// plugin name can have parentheses).
const UNKNOWN_COMMANDS: &str = "(unknown)";
use crate::{
    config::fill_reply,
    connector::{Incoming, Outgoing},
    rank::Rank,
};

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
    /// The sender's rank: as the connector said it with the message, else as the chat
    /// server last announced it.
    pub(super) fn rank_of(&self, incoming: &Incoming) -> Option<Rank> {
        incoming.rank().or_else(|| {
            self.roster
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .of(incoming.user())
        })
    }

    /// Whether `user` (of `rank`) is past the rate limit for `plugin`: the refusal, if so.
    /// A command nobody claims: answered with the list of commands, within the sender's rate
    /// limit like any other (a flood of made-up commands must not become a flood of lists).
    pub(super) fn unknown(
        &self,
        incoming: &Incoming,
        routes: &RouteTable,
        rank: Option<Rank>,
        command: String,
    ) -> RouteOutcome {
        if let Some(limited) = self.limit(incoming.user(), rank, UNKNOWN_COMMANDS, &command) {
            return limited;
        }
        RouteOutcome::Unknown {
            command,
            known: routes.commands(),
        }
    }

    fn limit(
        &self,
        user: &str,
        rank: Option<Rank>,
        plugin: &str,
        command: &str,
    ) -> Option<RouteOutcome> {
        let verdict = self
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(user, rank, plugin);
        match verdict {
            Verdict::Refused { first } => Some(RouteOutcome::Limited {
                command: command.to_owned(),
                plugin: plugin.to_owned(),
                first,
            }),
            Verdict::Allowed => None,
        }
    }

    /// What becomes of `command` from `incoming` (sent by a user of `rank`), claimed by
    /// `plugin`.
    pub(super) fn decide(
        &self,
        incoming: &Incoming,
        routes: &RouteTable,
        command: String,
        plugin: &str,
        rank: Option<Rank>,
    ) -> RouteOutcome {
        let user = incoming.user();
        if let Some(limited) = self.limit(user, rank, plugin, &command) {
            return limited;
        }
        if let Some(needs) = routes
            .spec(&command)
            .filter(|spec| !spec.allows(rank))
            .and_then(|spec| spec.min_rank)
        {
            return RouteOutcome::NotAllowed {
                command,
                plugin: plugin.to_owned(),
                needs,
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

    /// The bot's own `!help` (no plugin claims `help`): the commands the asker may use, or
    /// how to use the one asked about.
    pub(super) fn help(
        &self,
        incoming: &Incoming,
        routes: &RouteTable,
        rank: Option<Rank>,
        asked: &str,
    ) -> RouteOutcome {
        if let Some(limited) = self.limit(incoming.user(), rank, HELP_COMMAND, HELP_COMMAND) {
            return limited;
        }
        RouteOutcome::Help {
            text: super::help::text(routes, &self.settings.command_prefix, rank, asked),
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
        let fill =
            |template: &str, command: &str| fill_reply(template, incoming.user(), prefix, command);
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
            RouteOutcome::NotAllowed { command, needs, .. } => {
                fill(&replies.not_allowed, command)?.replace("{rank}", &needs.to_string())
            }
            RouteOutcome::Help { text } => text.clone(),
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

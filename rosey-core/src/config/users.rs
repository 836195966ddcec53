//! `bot.replies` and `bot.rate_limit`: how the bot treats the people in the chat.
//!
//! A channel is open to anyone, so what one user may ask of the bot is limited (commands per
//! window, across plugins and per plugin; the channel's moderators and listed users exempt), and
//! what the bot says back about their commands (failed, unavailable, slow down) is worded by the
//! operator. Every wording may be empty to say nothing.

use serde::{Deserialize, Serialize};

use crate::rank::Rank;

/// `bot.rate_limit`: how many commands one chat user may send, so one person cannot keep the
/// plugins (or the bot's share of the chat server's flood budget) to themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Commands per user per window, all plugins together; 0: no limit.
    pub commands: u32,
    /// Commands per user per plugin per window; 0: no limit.
    pub per_plugin: u32,
    /// The sliding window, in s.
    pub window_secs: u64,
    /// Users never limited (other bots you trust, the channel's regulars), without case.
    pub exempt: Vec<String>,
    /// Users of at least this channel rank are never limited (`moderator`, `admin`, … or a
    /// number); `null`: nobody by rank.
    pub exempt_rank: Option<Rank>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            commands: 8,
            per_plugin: 5,
            window_secs: 10,
            exempt: Vec::new(),
            exempt_rank: Some(Rank::MODERATOR),
        }
    }
}

/// One of the `bot.replies` wordings for `user` and `command` (the command word, put after
/// `prefix`): `{user}` and `{command}` filled in; `None` when the wording is empty (say
/// nothing).
pub fn fill_reply(template: &str, user: &str, prefix: &str, command: &str) -> Option<String> {
    (!template.trim().is_empty()).then(|| {
        template
            .replace("{user}", user)
            .replace("{command}", &format!("{prefix}{command}"))
    })
}

/// `bot.replies`: what the bot itself says to a user about their command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepliesConfig {
    /// Their command failed (its handler returned an error, or crashed the plugin until the
    /// command was dead-lettered): `{user}` and `{command}` (with its prefix) are filled in.
    /// Empty says nothing; a plugin's manifest may turn it off (`failure_reply: false`).
    pub failed: String,
    /// Their command's plugin is crashed (given up on until its retry) or disabled: said once
    /// per user and plugin every few minutes. `{user}` and `{command}` are filled in.
    pub unavailable: String,
    /// A user went past `bot.rate_limit` (said once per flood; the rest are dropped):
    /// `{user}` is filled in.
    pub slow_down: String,
    /// A user below a command's `min_rank` asked for it: `{user}`, `{command}` and `{rank}`
    /// (the least rank it takes) are filled in.
    pub not_allowed: String,
}

impl Default for RepliesConfig {
    fn default() -> Self {
        RepliesConfig {
            failed: "Sorry {user}, {command} failed.".to_owned(),
            unavailable: "Sorry {user}, {command} is unavailable right now.".to_owned(),
            slow_down: "{user}, slow down: too many commands. Try again in a few seconds."
                .to_owned(),
            not_allowed: "Sorry {user}, {command} needs rank {rank} or higher.".to_owned(),
        }
    }
}

//! Per-user command rate limits: one chat user cannot keep the bot's plugins, or its share of
//! the chat server's flood budget, to themselves. Each user gets `commands` commands per
//! `window` across all plugins and `per_plugin` per plugin; past either, the command is not
//! routed: the first refusal in a window is answered ("slow down"), the rest are dropped
//! quietly, so a flood of commands does not become a flood of refusals. Listed users, and users
//! whose channel rank is at least `exempt_rank` (the channel's moderators and up), are exempt.
//! Counted in a sliding window, per user name without case (CyTube's names are).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

use crate::{config::RateLimitConfig, rank::Rank};

/// What the limiter says of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Route it.
    Allowed,
    /// Refuse it; `first` for the first refusal of the user's current window (answer it).
    Refused {
        /// The first refusal since the user was last allowed through.
        first: bool,
    },
}

#[derive(Default)]
struct User {
    all: VecDeque<Instant>,
    plugins: HashMap<String, VecDeque<Instant>>,
    told: bool,
}

/// The limiter's book.
pub struct RateLimiter {
    commands: usize,
    per_plugin: usize,
    window: Duration,
    exempt: HashSet<String>,
    exempt_rank: Option<Rank>,
    users: HashMap<String, User>,
    last_sweep: Instant,
}

impl RateLimiter {
    /// A limiter with `config`'s limits.
    pub fn new(config: &RateLimitConfig) -> RateLimiter {
        RateLimiter {
            commands: config.commands as usize,
            per_plugin: config.per_plugin as usize,
            window: Duration::from_secs(config.window_secs.max(1)),
            exempt: config
                .exempt
                .iter()
                .map(|user| user.to_lowercase())
                .collect(),
            exempt_rank: config.exempt_rank,
            users: HashMap::new(),
            last_sweep: Instant::now(),
        }
    }

    /// Decides on a command of `user` (of channel rank `rank`, when known) for `plugin`, now.
    pub fn check(&mut self, user: &str, rank: Option<Rank>, plugin: &str) -> Verdict {
        self.check_at(user, rank, plugin, Instant::now())
    }

    fn check_at(&mut self, user: &str, rank: Option<Rank>, plugin: &str, now: Instant) -> Verdict {
        let name = user.to_lowercase();
        let ranked = matches!((rank, self.exempt_rank), (Some(rank), Some(least)) if rank >= least);
        if ranked || self.exempt.contains(&name) || (self.commands == 0 && self.per_plugin == 0) {
            return Verdict::Allowed;
        }
        self.sweep(now);
        let window = self.window;
        let entry = self.users.entry(name).or_default();
        let fresh = |times: &mut VecDeque<Instant>| {
            while times
                .front()
                .is_some_and(|at| now.duration_since(*at) >= window)
            {
                times.pop_front();
            }
        };
        fresh(&mut entry.all);
        let plugin_times = entry.plugins.entry(plugin.to_owned()).or_default();
        fresh(plugin_times);
        let over_all = self.commands > 0 && entry.all.len() >= self.commands;
        let over_plugin = self.per_plugin > 0 && plugin_times.len() >= self.per_plugin;
        if over_all || over_plugin {
            let first = !entry.told;
            entry.told = true;
            return Verdict::Refused { first };
        }
        plugin_times.push_back(now);
        entry.all.push_back(now);
        entry.told = false;
        Verdict::Allowed
    }

    /// Forgets users quiet for a whole window (at most once a window), so the book stays as
    /// small as the set of recent askers.
    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) < self.window {
            return;
        }
        self.last_sweep = now;
        let window = self.window;
        self.users.retain(|_, user| {
            user.all
                .back()
                .is_some_and(|at| now.duration_since(*at) < window)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(commands: u32, per_plugin: u32, exempt: &[&str]) -> RateLimiter {
        RateLimiter::new(&RateLimitConfig {
            commands,
            per_plugin,
            window_secs: 10,
            exempt: exempt.iter().map(|user| user.to_string()).collect(),
            exempt_rank: Some(Rank::MODERATOR),
        })
    }

    #[test]
    fn past_the_limit_the_first_refusal_is_answered_and_the_rest_dropped() {
        let mut limits = limiter(3, 0, &[]);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(
                limits.check_at("mallory", None, "dice", t0),
                Verdict::Allowed
            );
        }
        assert_eq!(
            limits.check_at("Mallory", None, "dice", t0),
            Verdict::Refused { first: true }
        );
        assert_eq!(
            limits.check_at("mallory", None, "quotes", t0),
            Verdict::Refused { first: false }
        );
        // Another user is untouched.
        assert_eq!(limits.check_at("alice", None, "dice", t0), Verdict::Allowed);
        // The window slides: allowed again, and a later flood is answered once more.
        let later = t0 + Duration::from_secs(11);
        assert_eq!(
            limits.check_at("mallory", None, "dice", later),
            Verdict::Allowed
        );
        for _ in 0..2 {
            limits.check_at("mallory", None, "dice", later);
        }
        assert_eq!(
            limits.check_at("mallory", None, "dice", later),
            Verdict::Refused { first: true }
        );
    }

    #[test]
    fn the_per_plugin_limit_leaves_other_plugins_open() {
        let mut limits = limiter(10, 2, &[]);
        let t0 = Instant::now();
        assert_eq!(limits.check_at("bob", None, "dice", t0), Verdict::Allowed);
        assert_eq!(limits.check_at("bob", None, "dice", t0), Verdict::Allowed);
        assert_eq!(
            limits.check_at("bob", None, "dice", t0),
            Verdict::Refused { first: true }
        );
        assert_eq!(limits.check_at("bob", None, "quotes", t0), Verdict::Allowed);
    }

    #[test]
    fn listed_users_moderators_and_zero_limits_are_never_refused() {
        let mut limits = limiter(1, 1, &["Operator"]);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(
                limits.check_at("operator", None, "dice", t0),
                Verdict::Allowed
            );
        }
        assert_eq!(
            limits.check_at("mod", Some(Rank::MODERATOR), "dice", t0),
            Verdict::Allowed
        );
        assert_eq!(
            limits.check_at("mod", Some(Rank::MODERATOR), "dice", t0),
            Verdict::Allowed
        );
        assert_eq!(
            limits.check_at("user", Some(Rank::REGISTERED), "dice", t0),
            Verdict::Allowed
        );
        assert_eq!(
            limits.check_at("user", Some(Rank::REGISTERED), "dice", t0),
            Verdict::Refused { first: true },
            "a registered user is not a moderator"
        );
        let mut open = limiter(0, 0, &[]);
        for _ in 0..100 {
            assert_eq!(open.check_at("anyone", None, "dice", t0), Verdict::Allowed);
        }
    }
}

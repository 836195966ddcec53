//! Users held back from a plugin. A chat channel is open to anyone: a user whose commands
//! crashed a plugin until they were dead-lettered, `strikes` times within `within`, gets no
//! command through to that plugin for `hold_for` (the others keep being served). The door
//! keeps the book, so it outlives actor restarts; status and the dashboard list who is held
//! back, until when, and why.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant, SystemTime},
};

/// When a user is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldRules {
    /// Dead-lettered commands of one user that hold them back.
    pub strikes: u32,
    /// The window those are counted in.
    pub within: Duration,
    /// How long they are held back; zero: never.
    pub hold_for: Duration,
}

/// One user held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldUser {
    /// The user.
    pub user: String,
    /// When the hold ends.
    pub until: SystemTime,
    /// Why: the last command that crashed the plugin.
    pub why: String,
    /// Commands of theirs not handled since.
    pub refused: u64,
}

struct Hold {
    held: HeldUser,
    ends: Instant,
}

/// The book of strikes and holds of one plugin.
#[derive(Default)]
pub struct Holds {
    strikes: HashMap<String, VecDeque<Instant>>,
    held: HashMap<String, Hold>,
}

/// Users are told apart case-insensitively (CyTube names are).
fn key(user: &str) -> String {
    user.to_lowercase()
}

impl Holds {
    /// A command of `user` was dead-lettered (`why`: what it was). `Some(duration)` when that
    /// holds them back, for that long.
    pub fn strike(&mut self, user: &str, why: &str, rules: &HoldRules) -> Option<Duration> {
        if rules.hold_for.is_zero() || rules.strikes == 0 {
            return None;
        }
        let now = Instant::now();
        let strikes = self.strikes.entry(key(user)).or_default();
        strikes.retain(|at| now.duration_since(*at) < rules.within);
        strikes.push_back(now);
        if strikes.len() < rules.strikes as usize {
            return None;
        }
        strikes.clear();
        self.held.insert(
            key(user),
            Hold {
                held: HeldUser {
                    user: user.to_owned(),
                    until: SystemTime::now() + rules.hold_for,
                    why: why.to_owned(),
                    refused: 0,
                },
                ends: now + rules.hold_for,
            },
        );
        Some(rules.hold_for)
    }

    /// Whether `user` is held back now; counts the command refused if so. The first refusal
    /// of a hold returns `Some(true)`, later ones `Some(false)`, so it is logged once.
    pub fn refuse(&mut self, user: &str) -> Option<bool> {
        let now = Instant::now();
        self.held.retain(|_, hold| hold.ends > now);
        let hold = self.held.get_mut(&key(user))?;
        hold.held.refused += 1;
        Some(hold.held.refused == 1)
    }

    /// Who is held back now.
    pub fn list(&self) -> Vec<HeldUser> {
        let now = Instant::now();
        let mut held: Vec<HeldUser> = self
            .held
            .values()
            .filter(|hold| hold.ends > now)
            .map(|hold| hold.held.clone())
            .collect();
        held.sort_by(|a, b| a.user.cmp(&b.user));
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(hold_for: Duration) -> HoldRules {
        HoldRules {
            strikes: 2,
            within: Duration::from_secs(600),
            hold_for,
        }
    }

    #[test]
    fn a_user_is_held_back_after_their_strikes_and_only_them() {
        let mut holds = Holds::default();
        let rules = rules(Duration::from_secs(600));
        assert_eq!(holds.strike("Bob", "command \"karma crash\"", &rules), None);
        assert_eq!(holds.refuse("bob"), None, "one strike holds nobody");
        assert_eq!(
            holds.strike("bob", "command \"karma crash\"", &rules),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            holds.refuse("BOB"),
            Some(true),
            "names are case-insensitive"
        );
        assert_eq!(holds.refuse("bob"), Some(false), "logged once per hold");
        assert_eq!(holds.refuse("alice"), None);
        let held = holds.list();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].user, "bob");
        assert_eq!(held[0].refused, 2);
        assert!(held[0].why.contains("karma crash"));
    }

    #[test]
    fn a_hold_ends_by_itself() {
        let mut holds = Holds::default();
        let rules = rules(Duration::from_millis(30));
        holds.strike("bob", "x", &rules);
        holds.strike("bob", "x", &rules);
        assert!(holds.refuse("bob").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(holds.refuse("bob"), None);
        assert!(holds.list().is_empty());
    }

    #[test]
    fn a_zero_hold_never_holds_anyone() {
        let mut holds = Holds::default();
        let rules = rules(Duration::ZERO);
        for _ in 0..5 {
            assert_eq!(holds.strike("bob", "x", &rules), None);
        }
        assert_eq!(holds.refuse("bob"), None);
    }
}

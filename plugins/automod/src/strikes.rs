//! Who offended when: each chatter's recent lines (for flooding), their last warning and the
//! last action taken on them, and what an offence earns. Plain logic on times from the host's
//! clock, so it is tested without a bot.
//!
//! **The rule.** An offence is a warning, unless the user was warned within the window
//! (`warn_reset_minutes`): then it earns the action. Once acted on, a user is left alone for
//! the rest of that window (never two actions in one window); after it, they start over.
//!
//! **Handed over.** [`Tracker::encode`] carries the warnings and actions (not the lines of the
//! flood window), the tallies `!automod status` shows and whether the bot's missing rank was
//! reported to the next instance, so a reload wipes no one's slate:
//!
//! ```text
//! automod state 1
//! counts 3 1 0
//! rank_reported
//! user alice 1700000000000 -
//! ```

use std::collections::{BTreeMap, VecDeque};

use crate::settings::Settings;

/// The first line of the handed-over state.
const HEADER: &str = "automod state 1";

/// Past this many tracked users, those with nothing left to remember are dropped.
const PRUNE_AT: usize = 256;

/// What was wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Too many lines too fast.
    Flooding,
    /// A banned word or phrase.
    Language,
}

impl Reason {
    /// As the chat and the log say it: `flooding`, `banned words`.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Flooding => "flooding",
            Reason::Language => "banned words",
        }
    }

    /// The warning `user` gets.
    pub fn warning(self, user: &str) -> String {
        match self {
            Reason::Flooding => format!("{user}, please slow down."),
            Reason::Language => format!("{user}, watch your language."),
        }
    }
}

/// What an offence earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A warning in chat.
    Warn,
    /// The configured action.
    Act,
    /// Nothing: the user was acted on within the window already.
    AlreadyActed,
}

/// One user's record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Strikes {
    /// When their lines within the flood window were said (ms).
    pub recent: VecDeque<u64>,
    /// When they were last warned (ms).
    pub warned_ms: Option<u64>,
    /// When they were last acted on (ms).
    pub acted_ms: Option<u64>,
}

impl Strikes {
    /// Whether a warning or an action still counts at `now`.
    fn remembered(&self, now: u64, window_ms: u64) -> bool {
        let within = |at: Option<u64>| at.is_some_and(|at| now.saturating_sub(at) < window_ms);
        within(self.warned_ms) || within(self.acted_ms)
    }
}

/// What automod did since it started (reloads included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Warnings said.
    pub warnings: u64,
    /// Actions that worked.
    pub actions: u64,
    /// Actions that failed.
    pub failed: u64,
}

/// What automod remembers: every chatter's record, by lowercased name, and its tallies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracker {
    /// The records.
    pub users: BTreeMap<String, Strikes>,
    /// What it did.
    pub counts: Counts,
    /// Whether the bot's missing rank was said in chat (since an action last worked).
    pub rank_reported: bool,
}

impl Tracker {
    /// `user` said `text` at `now`: what is wrong with it, if anything. A banned word is
    /// checked first; a flood empties the user's flood window, so the next offence needs a
    /// flood of its own.
    pub fn offence(
        &mut self,
        user: &str,
        now: u64,
        text: &str,
        settings: &Settings,
    ) -> Option<Reason> {
        if self.users.len() > PRUNE_AT {
            self.prune(now, settings);
        }
        let strikes = self.users.entry(user.to_lowercase()).or_default();
        strikes.recent.push_back(now);
        while (strikes.recent.front())
            .is_some_and(|&at| now.saturating_sub(at) >= settings.flood_ms)
        {
            strikes.recent.pop_front();
        }
        if settings.is_banned(text) {
            return Some(Reason::Language);
        }
        if strikes.recent.len() > settings.flood_messages {
            strikes.recent.clear();
            return Some(Reason::Flooding);
        }
        None
    }

    /// What `user`'s offence at `now` earns, recorded.
    pub fn verdict(&mut self, user: &str, now: u64, window_ms: u64) -> Verdict {
        let strikes = self.users.entry(user.to_lowercase()).or_default();
        let within = |at: Option<u64>| at.is_some_and(|at| now.saturating_sub(at) < window_ms);
        if within(strikes.acted_ms) {
            Verdict::AlreadyActed
        } else if within(strikes.warned_ms) {
            strikes.acted_ms = Some(now);
            Verdict::Act
        } else {
            strikes.warned_ms = Some(now);
            strikes.acted_ms = None;
            Verdict::Warn
        }
    }

    /// Forgets everything about `user`; whether there was anything to forget (a warning or
    /// an action still counting).
    pub fn pardon(&mut self, user: &str, now: u64, window_ms: u64) -> bool {
        (self.users.remove(&user.to_lowercase()))
            .is_some_and(|strikes| strikes.remembered(now, window_ms))
    }

    /// `user` left the channel: their flood window goes, and their record with it unless a
    /// warning or an action still counts (leaving and coming back wipes no slate).
    pub fn left(&mut self, user: &str, now: u64, window_ms: u64) {
        let key = user.to_lowercase();
        if let Some(strikes) = self.users.get_mut(&key) {
            strikes.recent.clear();
            if !strikes.remembered(now, window_ms) {
                self.users.remove(&key);
            }
        }
    }

    /// How many users have a warning or an action that still counts at `now`.
    pub fn struck(&self, now: u64, window_ms: u64) -> usize {
        (self.users.values())
            .filter(|strikes| strikes.remembered(now, window_ms))
            .count()
    }

    /// Drops the records with nothing left to remember at `now`.
    pub fn prune(&mut self, now: u64, settings: &Settings) {
        self.users.retain(|_, strikes| {
            let flooding = (strikes.recent.back())
                .is_some_and(|&at| now.saturating_sub(at) < settings.flood_ms);
            flooding || strikes.remembered(now, settings.window_ms)
        });
    }

    /// The warnings and actions, as handed-over state (the flood windows are not kept).
    pub fn encode(&self) -> Vec<u8> {
        let time = |at: Option<u64>| at.map_or("-".to_owned(), |at| at.to_string());
        let Counts {
            warnings,
            actions,
            failed,
        } = self.counts;
        let mut text = format!("{HEADER}\ncounts {warnings} {actions} {failed}\n");
        if self.rank_reported {
            text.push_str("rank_reported\n");
        }
        for (name, strikes) in &self.users {
            if (strikes.warned_ms.is_some() || strikes.acted_ms.is_some())
                && !name.is_empty()
                && !name.contains(char::is_whitespace)
            {
                let (warned, acted) = (time(strikes.warned_ms), time(strikes.acted_ms));
                text.push_str(&format!("user {name} {warned} {acted}\n"));
            }
        }
        text.into_bytes()
    }

    /// What [`Tracker::encode`] made; `Err` says why it cannot be read.
    pub fn decode(bytes: &[u8]) -> Result<Tracker, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(format!("it does not start with {HEADER:?}"));
        }
        let time = |word: &str| match word {
            "-" => Ok(None),
            number => number.parse().map(Some).map_err(|_| ()),
        };
        let mut tracker = Tracker::default();
        for line in lines.filter(|line| !line.trim().is_empty()) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let bad = || format!("bad line {line:?}");
            let (name, warned, acted) = match words.as_slice() {
                ["user", name, warned, acted] => (name, warned, acted),
                ["rank_reported"] => {
                    tracker.rank_reported = true;
                    continue;
                }
                ["counts", counts @ ..] => {
                    let counts: Vec<u64> = (counts.iter().map(|n| n.parse()))
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad())?;
                    let [warnings, actions, failed] = counts.as_slice() else {
                        return Err(bad());
                    };
                    tracker.counts = Counts {
                        warnings: *warnings,
                        actions: *actions,
                        failed: *failed,
                    };
                    continue;
                }
                _ => return Err(bad()),
            };
            let (Ok(warned_ms), Ok(acted_ms)) = (time(warned), time(acted)) else {
                return Err(bad());
            };
            let strikes = Strikes {
                recent: VecDeque::new(),
                warned_ms,
                acted_ms,
            };
            tracker.users.insert(name.to_lowercase(), strikes);
        }
        Ok(tracker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{words, Punishment};

    const WINDOW: u64 = 600_000;

    fn settings() -> Settings {
        Settings {
            flood_messages: 3,
            flood_ms: 5_000,
            words: vec![words("spam")],
            action: Punishment::Mute,
            window_ms: WINDOW,
            exempt: Vec::new(),
        }
    }

    #[test]
    fn more_than_the_limit_within_the_window_is_a_flood_once() {
        let (mut tracker, settings) = (Tracker::default(), settings());
        for at in [0, 1_000, 2_000] {
            assert_eq!(tracker.offence("alice", at, "hi", &settings), None);
        }
        assert_eq!(
            tracker.offence("Alice", 3_000, "hi", &settings),
            Some(Reason::Flooding)
        );
        assert_eq!(
            tracker.offence("alice", 3_100, "hi", &settings),
            None,
            "a fresh window"
        );
        // Spread out, no flood: only the lines within 5 s count.
        let mut tracker = Tracker::default();
        for at in [0, 2_000, 4_000, 6_000, 8_000, 10_000] {
            assert_eq!(tracker.offence("bob", at, "hi", &settings), None, "{at}");
        }
        assert_eq!(
            tracker.offence("bob", 10_001, "no spam here", &settings),
            Some(Reason::Language)
        );
    }

    #[test]
    fn a_warning_then_an_action_then_nothing_until_the_window_ends() {
        let mut tracker = Tracker::default();
        assert_eq!(tracker.verdict("alice", 0, WINDOW), Verdict::Warn);
        assert_eq!(tracker.verdict("alice", 1_000, WINDOW), Verdict::Act);
        assert_eq!(
            tracker.verdict("alice", 2_000, WINDOW),
            Verdict::AlreadyActed
        );
        assert_eq!(
            tracker.verdict("alice", 1_000 + WINDOW, WINDOW),
            Verdict::Warn
        );
        // A warning long ago no longer counts.
        assert_eq!(tracker.verdict("bob", 0, WINDOW), Verdict::Warn);
        assert_eq!(tracker.verdict("bob", WINDOW, WINDOW), Verdict::Warn);
    }

    #[test]
    fn leaving_keeps_strikes_that_count_and_pardon_forgets_them() {
        let (mut tracker, settings) = (Tracker::default(), settings());
        tracker.offence("carol", 0, "hi", &settings);
        tracker.left("carol", 1, WINDOW);
        assert!(tracker.users.is_empty(), "nothing to remember");
        tracker.verdict("alice", 0, WINDOW);
        tracker.left("alice", 1, WINDOW);
        assert_eq!(
            tracker.verdict("alice", 2, WINDOW),
            Verdict::Act,
            "no slate wiped"
        );
        assert!(tracker.pardon("ALICE", 3, WINDOW));
        assert!(!tracker.pardon("alice", 4, WINDOW));
        assert_eq!(tracker.verdict("alice", 5, WINDOW), Verdict::Warn);
        tracker.prune(5 + WINDOW, &settings);
        assert!(tracker.users.is_empty());
    }

    #[test]
    fn strikes_survive_the_handover_and_bad_state_says_why() {
        let mut tracker = Tracker::default();
        tracker.verdict("alice", 10, WINDOW);
        tracker.verdict("alice", 20, WINDOW);
        tracker.verdict("bob", 30, WINDOW);
        tracker.offence("carol", 40, "hi", &settings());
        tracker.counts = Counts {
            warnings: 2,
            actions: 1,
            failed: 3,
        };
        tracker.rank_reported = true;
        let decoded = Tracker::decode(&tracker.encode()).unwrap_or_default();
        assert_eq!(decoded.counts, tracker.counts);
        assert!(decoded.rank_reported);
        assert_eq!(decoded.users.len(), 2, "carol had no strikes");
        assert_eq!(decoded.users["alice"].acted_ms, Some(20));
        assert_eq!(decoded.users["bob"].warned_ms, Some(30));
        assert_eq!(decoded.users["bob"].acted_ms, None);
        assert!(Tracker::decode(b"automod state 2\n").is_err());
        assert!(Tracker::decode(b"automod state 1\nuser a x -\n").is_err());
        assert!(Tracker::decode(b"automod state 1\nuser a 1\n").is_err());
        assert!(Tracker::decode(b"automod state 1\ncounts 1 2\n").is_err());
        assert!(Tracker::decode(&[0xff]).is_err());
    }
}

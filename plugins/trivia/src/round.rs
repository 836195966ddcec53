//! A round in play, and how it is handed to the next instance.
//!
//! A round is small and lives only while it is played, so it is not kept in the key-value
//! store: [`Round::encode`] turns it into the state `unload` returns, and [`Round::decode`]
//! reads it back in the next instance's `load`. The state is a few lines of text, versioned by
//! its first line:
//!
//! ```text
//! trivia round 1
//! order 3 7 1 12 0
//! current 1
//! asking 1714521620000
//! score 1 alice
//! ```
//!
//! The phase carries its due time on the host's clock, not the time left, so the next instance
//! re-arms its timer for exactly what remains however long the reload took. The due time also
//! tells a reload (milliseconds) from a stop and a later start (the daemon keeps the state of a
//! stopped plugin for its next start): a round whose phase ended more than [`STALE_AFTER_MS`]
//! ago is not resumed, since nobody is waiting for it any more.

use crate::questions::Question;

/// The first line of a handed-over round.
const HEADER: &str = "trivia round 1";

/// How long after its phase was due a handed-over round is still resumed, in milliseconds.
pub const STALE_AFTER_MS: u64 = 60_000;

/// The name of the timer that ends a question.
pub const QUESTION_TIMER: &str = "question";

/// The name of the timer that asks the next question after the pause.
pub const NEXT_TIMER: &str = "next";

/// What a round waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A question is open until `due_ms`.
    Asking {
        /// When time is up.
        due_ms: u64,
    },
    /// The next question is asked at `due_ms`.
    Pausing {
        /// When the next question is asked.
        due_ms: u64,
    },
}

impl Phase {
    /// The timer this phase waits for.
    pub fn timer(self) -> &'static str {
        match self {
            Phase::Asking { .. } => QUESTION_TIMER,
            Phase::Pausing { .. } => NEXT_TIMER,
        }
    }

    /// When its timer is due, on the host's clock.
    pub fn due_ms(self) -> u64 {
        match self {
            Phase::Asking { due_ms } | Phase::Pausing { due_ms } => due_ms,
        }
    }
}

/// A round being played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// The questions of the round, as indices into the question list, in the order asked.
    pub order: Vec<usize>,
    /// The position in `order` of the question asked (or, while pausing, just answered).
    pub current: usize,
    /// What the round waits for.
    pub phase: Phase,
    /// This round's points, in the order people first scored.
    pub scores: Vec<(String, u32)>,
}

impl Round {
    /// The question asked now (or, while pausing, just answered).
    pub fn question<'q>(&self, questions: &'q [Question]) -> Option<&'q Question> {
        questions.get(*self.order.get(self.current)?)
    }

    /// Whether its phase ended so long before `now_ms` that it should not be resumed.
    pub fn is_stale(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.phase.due_ms()) > STALE_AFTER_MS
    }

    /// Whether the current question is the round's last.
    pub fn is_last(&self) -> bool {
        self.current + 1 >= self.order.len()
    }

    /// `Question 2/5: …`
    pub fn ask_text(&self, questions: &[Question]) -> String {
        let text = self.question(questions).map_or("", |q| q.text.as_str());
        format!("Question {}/{}: {text}", self.current + 1, self.order.len())
    }

    /// Gives `user` a point for this round.
    pub fn add_point(&mut self, user: &str) {
        match self
            .scores
            .iter_mut()
            .find(|(name, _)| name.eq_ignore_ascii_case(user))
        {
            Some((_, points)) => *points += 1,
            None => self.scores.push((user.to_owned(), 1)),
        }
    }

    /// `Top: alice 3, bob 1`, or `Nobody scored.`
    pub fn summary(&self) -> String {
        if self.scores.is_empty() {
            return "Nobody scored.".to_owned();
        }
        let mut scores = self.scores.clone();
        scores.sort_by_key(|(_, points)| std::cmp::Reverse(*points));
        format!("Top: {}", ranking(&scores))
    }

    /// The round as handed-over state.
    pub fn encode(&self) -> Vec<u8> {
        let order: Vec<String> = self.order.iter().map(usize::to_string).collect();
        let phase = match self.phase {
            Phase::Asking { due_ms } => format!("asking {due_ms}"),
            Phase::Pausing { due_ms } => format!("pausing {due_ms}"),
        };
        let mut text = format!(
            "{HEADER}\norder {}\ncurrent {}\n{phase}\n",
            order.join(" "),
            self.current
        );
        for (name, points) in &self.scores {
            text.push_str(&format!("score {points} {name}\n"));
        }
        text.into_bytes()
    }

    /// A round handed over by [`Round::encode`], checked against a list of `questions`
    /// questions; `Err` says why it cannot be resumed.
    pub fn decode(bytes: &[u8], questions: usize) -> Result<Round, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(format!("it does not start with {HEADER:?}"));
        }
        let (mut order, mut current, mut phase, mut scores) = (None, None, None, Vec::new());
        for line in lines {
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            let number = || {
                rest.parse::<u64>()
                    .map_err(|_| format!("bad line {line:?}"))
            };
            match word {
                "order" => {
                    let parsed: Result<Vec<usize>, _> =
                        rest.split_whitespace().map(str::parse).collect();
                    order = Some(parsed.map_err(|_| format!("bad line {line:?}"))?);
                }
                "current" => current = Some(number()?),
                "asking" => phase = Some(Phase::Asking { due_ms: number()? }),
                "pausing" => phase = Some(Phase::Pausing { due_ms: number()? }),
                "score" => {
                    let (points, name) = rest.split_once(' ').unwrap_or((rest, ""));
                    let points = points.parse().map_err(|_| format!("bad line {line:?}"))?;
                    scores.push((name.to_owned(), points));
                }
                _ => return Err(format!("unknown line {line:?}")),
            }
        }
        let (Some(order), Some(current), Some(phase)) = (order, current, phase) else {
            return Err("order, current or phase missing".to_owned());
        };
        let current = usize::try_from(current).map_err(|_| "current out of range")?;
        if current >= order.len() || order.iter().any(|&index| index >= questions) {
            return Err(format!(
                "it asks questions this version does not have ({questions} questions)"
            ));
        }
        Ok(Round {
            order,
            current,
            phase,
            scores,
        })
    }
}

/// `alice 3, bob 1`.
pub fn ranking(scores: &[(String, u32)]) -> String {
    let entries: Vec<String> = scores
        .iter()
        .map(|(name, points)| format!("{name} {points}"))
        .collect();
    entries.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round() -> Round {
        Round {
            order: vec![3, 7, 1],
            current: 1,
            phase: Phase::Asking { due_ms: 20_000 },
            scores: Vec::new(),
        }
    }

    #[test]
    fn points_add_up_and_rank_highest_first() {
        let mut round = round();
        assert_eq!(round.summary(), "Nobody scored.");
        round.add_point("bob");
        round.add_point("alice");
        round.add_point("Alice");
        assert_eq!(round.summary(), "Top: alice 2, bob 1");
        assert!(!round.is_last());
        round.current = 2;
        assert!(round.is_last());
    }

    #[test]
    fn a_round_survives_the_handover() {
        let mut round = round();
        round.add_point("alice");
        round.phase = Phase::Pausing { due_ms: 23_000 };
        assert_eq!(Round::decode(&round.encode(), 10), Ok(round.clone()));
        round.phase = Phase::Asking { due_ms: 1 };
        assert_eq!(Round::decode(&round.encode(), 10), Ok(round));
    }

    #[test]
    fn a_round_long_overdue_is_stale() {
        let round = round();
        assert!(!round.is_stale(0), "not due yet");
        assert!(
            !round.is_stale(20_000 + STALE_AFTER_MS),
            "just overdue: a slow reload"
        );
        assert!(
            round.is_stale(20_001 + STALE_AFTER_MS),
            "the bot was stopped a while"
        );
    }

    #[test]
    fn a_round_that_cannot_be_resumed_says_why() {
        let encoded = round().encode();
        assert!(Round::decode(&encoded, 5)
            .unwrap_err()
            .contains("5 questions"));
        assert!(Round::decode(b"trivia round 9\n", 10).is_err());
        assert!(Round::decode(b"trivia round 1\norder 1\n", 10)
            .unwrap_err()
            .contains("missing"));
        assert!(Round::decode(b"trivia round 1\nwhat\n", 10).is_err());
        assert!(Round::decode(&[0xff], 10).is_err());
    }
}

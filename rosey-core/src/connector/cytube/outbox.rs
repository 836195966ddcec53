//! What the bot has yet to say, and when it may say it.
//!
//! CyTube drops chat and PMs past its flood limit and only says so with a `cooldown` event, so
//! the outbox (1) paces sends with a token bucket under the limit, (2) remembers every message
//! in flight until the server echoes it back (chat and PMs both come back to the sender) or
//! answers `cooldown`/`errorMsg` — the server answers in send order, so each answer belongs to
//! the oldest message in flight — and (3) puts a dropped message back at the front, slows down
//! to the rate the server named, and resends one at a time until the backlog of dropped ones
//! is gone, so order is kept. Long texts are split at [`MAX_MESSAGE_CHARS`] on word
//! boundaries and multi-line texts line by line (CyTube turns newlines into spaces), and a
//! chat line CyTube would run as a command (`/kick bob`) is escaped so it is only said.
//!
//! The flood budget is the whole bot's, so no one chat user may use it up: what is queued
//! waits in the [`Lanes`] of the user it answers ([`Outbox::push_for`]; names compared without
//! ASCII case) or in nobody's lane ([`Outbox::push`]), and each send serves the next lane in
//! turn, one message (one piece of a split text) per turn. Between two sends from one lane,
//! every other lane holding messages sends one; a lane that was empty joins behind those
//! already waiting. So with `n` lanes holding messages, a user's first message is sent after
//! at most `n` others, however many one user queued before it; order within a lane is kept.
//! Messages to resend (dropped by the server, or unanswered when the connection was lost) go
//! before every lane, one at a time and in the order they were first sent.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use super::lanes::Lanes;
use crate::connector::Outgoing;

/// CyTube cuts messages longer than this many characters.
pub const MAX_MESSAGE_CHARS: usize = 320;

/// A message with no answer for this long is taken as delivered (the server answers every
/// message it reads; this only covers answers that never come, such as for a muted bot).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Splits `text` into messages CyTube takes whole: one per non-empty line, each cut into
/// pieces of at most `max` characters at the last whitespace (or mid-word when a word is
/// longer than `max`).
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut pieces = Vec::new();
    for line in text.lines() {
        let mut rest = line.trim();
        while !rest.is_empty() {
            if rest.chars().count() <= max {
                pieces.push(rest.to_owned());
                break;
            }
            // Byte offset of the first character past the limit.
            let limit = rest
                .char_indices()
                .nth(max)
                .map_or(rest.len(), |(at, _)| at);
            // A break at whitespace that starts right at the limit keeps the whole word.
            let through = limit + rest[limit..].chars().next().map_or(0, char::len_utf8);
            let cut = rest[..through]
                .rfind(char::is_whitespace)
                .filter(|at| *at > 0 && *at <= limit);
            let (piece, next) = match cut {
                Some(at) => (&rest[..at], &rest[at..]),
                None => (&rest[..limit], &rest[limit..]),
            };
            pieces.push(piece.trim_end().to_owned());
            rest = next.trim_start();
        }
    }
    pieces
}

/// Put in front of a chat line CyTube would run as a command, so it is said instead: a
/// zero-width space, which shows as nothing and which no trimming removes.
pub const COMMAND_ESCAPE: char = '\u{200B}';

/// Whether CyTube would run chat line `text` as a command rather than say it. CyTube runs a
/// line whose first word is `/` and a command the channel knows (`/kick`, `/ban`, `/clear`,
/// `/afk`, `/poll`, `/mute`…; modules add their own, so every `/` word counts). `/me` and `/sp`
/// only change how the rest looks (an action, a spoiler), and CyTube then handles that rest as
/// a line of its own, so `/me /kick bob` kicks: the rest decides.
pub fn runs_as_command(text: &str) -> bool {
    let Some(command) = text.strip_prefix('/') else {
        return false;
    };
    match command.split_once(' ') {
        Some(("me" | "sp", rest)) => runs_as_command(rest),
        _ => true,
    }
}

/// Chat text as the lines the bot sends: split as [`split_message`] does, and every line that
/// would run as a command ([`runs_as_command`]) escaped with [`COMMAND_ESCAPE`], so what a
/// plugin or a chat user makes the bot say can never moderate the channel with the bot's rank
/// (the bot's own channel actions are sent apart from chat). An escaped line is cut one
/// character shorter, so it still fits whole.
pub fn chat_pieces(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for piece in split_message(text, MAX_MESSAGE_CHARS) {
        if !runs_as_command(&piece) {
            lines.push(piece);
            continue;
        }
        for part in split_message(&piece, MAX_MESSAGE_CHARS - 1) {
            if runs_as_command(&part) {
                lines.push(format!("{COMMAND_ESCAPE}{part}"));
            } else {
                lines.push(part);
            }
        }
    }
    lines
}

/// A token bucket: `burst` sends at once, then `per_sec` a second.
#[derive(Debug, Clone)]
struct Bucket {
    burst: f64,
    per_sec: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(burst: u32, per_sec: f64, now: Instant) -> Bucket {
        Bucket {
            burst: f64::from(burst.max(1)),
            per_sec: per_sec.max(0.01),
            tokens: f64::from(burst.max(1)),
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        self.at = now;
    }

    /// When the next token is there.
    fn ready_at(&self, now: Instant) -> Instant {
        let mut probe = self.clone();
        probe.refill(now);
        if probe.tokens >= 1.0 {
            now
        } else {
            now + Duration::from_secs_f64((1.0 - probe.tokens) / probe.per_sec)
        }
    }

    fn take(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

#[derive(Debug)]
struct InFlight {
    message: Outgoing,
    sent: Instant,
}

/// The queue of what is to be said, with pacing and the messages in flight.
#[derive(Debug)]
pub struct Outbox {
    /// What waits to be said for the first time, by the user it is said for.
    lanes: Lanes<Outgoing>,
    /// Messages the server dropped, resent before anything in `lanes`.
    retry: VecDeque<Outgoing>,
    in_flight: VecDeque<InFlight>,
    bucket: Bucket,
    paused_until: Option<Instant>,
    dropped_total: u64,
}

impl Outbox {
    /// An empty outbox sending at most `burst` at once, then `per_sec` a second.
    pub fn new(burst: u32, per_sec: f64, now: Instant) -> Outbox {
        Outbox {
            lanes: Lanes::default(),
            retry: VecDeque::new(),
            in_flight: VecDeque::new(),
            bucket: Bucket::new(burst, per_sec, now),
            paused_until: None,
            dropped_total: 0,
        }
    }

    /// Queues `out` on nobody's behalf (the bot's own words, or a plugin speaking of its own
    /// accord): it takes turns with the users' lanes like one more user. Split into messages
    /// CyTube takes whole; empty text queues nothing; a chat line CyTube would run as a
    /// command is escaped ([`chat_pieces`]).
    pub fn push(&mut self, out: Outgoing) {
        self.push_to(None, out);
    }

    /// Queues `out` in the lane of chat user `user`, whose command or message it answers, so
    /// that user's answers take turns with everyone else's instead of holding them back. Split
    /// like [`Outbox::push`]; a blank `user` means nobody.
    pub fn push_for(&mut self, out: Outgoing, user: &str) {
        self.push_to(Some(user), out);
    }

    fn push_to(&mut self, user: Option<&str>, out: Outgoing) {
        match out {
            Outgoing::Chat { text } => {
                for piece in chat_pieces(&text) {
                    self.lanes.push(user, Outgoing::Chat { text: piece });
                }
            }
            Outgoing::Pm { to, text } => {
                for piece in split_message(&text, MAX_MESSAGE_CHARS) {
                    let to = to.clone();
                    self.lanes.push(user, Outgoing::Pm { to, text: piece });
                }
            }
        }
        self.report();
    }

    /// Tells the operator's metrics how many lines wait.
    fn report(&self) {
        crate::metrics::outbox_queued(self.len());
    }

    /// Messages not yet confirmed by the server: queued, to be resent, or in flight.
    pub fn len(&self) -> usize {
        self.lanes.len() + self.retry.len() + self.in_flight.len()
    }

    /// Whether nothing is waiting or in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many times the server dropped a message (each was resent).
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// When the next message may be sent: `None` when there is nothing to send, or while
    /// resent messages wait for the answer to the one in flight.
    pub fn next_send_at(&self, now: Instant) -> Option<Instant> {
        if self.retry.is_empty() && self.lanes.is_empty() {
            return None;
        }
        if !self.retry.is_empty() && !self.in_flight.is_empty() {
            return None;
        }
        let ready = self.bucket.ready_at(now);
        Some(match self.paused_until {
            Some(until) => ready.max(until),
            None => ready,
        })
    }

    /// Takes the next message to send if it is due, recording it as in flight: the oldest one
    /// to resend, or else the next lane's in turn.
    pub fn take(&mut self, now: Instant) -> Option<Outgoing> {
        if self.next_send_at(now)? > now {
            return None;
        }
        let message = self.retry.pop_front().or_else(|| self.lanes.pop())?;
        self.bucket.take(now);
        self.paused_until = None;
        self.in_flight.push_back(InFlight {
            message: message.clone(),
            sent: now,
        });
        self.report();
        Some(message)
    }

    /// When a chat command (a line CyTube runs and never echoes) may be sent: once every
    /// message in flight was answered (so an answer cannot be mistaken for the command's) and
    /// the flood budget allows; `None` while messages are in flight.
    pub fn command_at(&self, now: Instant) -> Option<Instant> {
        if !self.in_flight.is_empty() {
            return None;
        }
        let ready = self.bucket.ready_at(now);
        Some(match self.paused_until {
            Some(until) => ready.max(until),
            None => ready,
        })
    }

    /// A chat command was sent: it used the flood budget like a message.
    pub fn spend(&mut self, now: Instant) {
        self.bucket.take(now);
    }

    /// Whether messages are in flight (sent, not yet answered).
    pub fn in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// The server echoed the oldest message in flight: it was delivered.
    pub fn confirmed(&mut self) {
        self.in_flight.pop_front();
        self.report();
    }

    /// The server answered `cooldown` (`cooldown_ms` between messages) to the oldest message
    /// in flight: it was dropped. It goes back to be resent, and sending slows to the server's
    /// pace with no burst.
    pub fn dropped(&mut self, cooldown_ms: u64, now: Instant) {
        if let Some(InFlight { message, .. }) = self.in_flight.pop_front() {
            self.retry.push_back(message);
            self.dropped_total += 1;
        }
        let gap = Duration::from_millis(cooldown_ms.clamp(10, 60_000));
        let server_rate = 1.0 / gap.as_secs_f64();
        self.bucket.per_sec = self.bucket.per_sec.min(server_rate);
        self.bucket.burst = 1.0;
        self.bucket.tokens = 0.0;
        self.bucket.at = now;
        let own_gap = Duration::from_secs_f64(1.0 / self.bucket.per_sec);
        self.paused_until = Some(now + gap.max(own_gap));
        crate::metrics::outbox_cooldown(gap.max(own_gap));
    }

    /// The server refused the oldest message in flight with an error (a PM to someone absent):
    /// it is not resent; returns it so the caller can say so.
    pub fn refused(&mut self) -> Option<Outgoing> {
        let refused = self.in_flight.pop_front().map(|sent| sent.message);
        self.report();
        refused
    }

    /// Takes messages in flight past [`ANSWER_TIMEOUT`] as delivered; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.in_flight.len();
        while self
            .in_flight
            .front()
            .is_some_and(|sent| now.saturating_duration_since(sent.sent) >= ANSWER_TIMEOUT)
        {
            self.in_flight.pop_front();
        }
        self.report();
        before - self.in_flight.len()
    }

    /// When the oldest message in flight expires, if one is in flight.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.in_flight
            .front()
            .map(|sent| sent.sent + ANSWER_TIMEOUT)
    }

    /// The connection was lost: whatever had no answer is sent again on the next connection,
    /// first and in order (a message delivered just before the loss may be said twice; none is
    /// lost).
    pub fn connection_lost(&mut self) {
        while let Some(InFlight { message, .. }) = self.in_flight.pop_back() {
            self.retry.push_front(message);
        }
    }
}

#[cfg(test)]
mod tests;

//! How long to wait before connecting again. CyTube allows 5 quick connections per IP, then
//! one per 10 s, and one guest login per IP per 60 s; a doubling backoff from about a second
//! stays under the first, and the waits after the server's own refusals start at its limits.

use std::time::Duration;

/// Why a connection ended, and what that means for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// [`crate::connector::Connector::close`] was called.
    Closed,
    /// The connection was lost or refused for a while: connect again, waiting at least
    /// `floor`.
    Retry {
        /// What happened, for the status line.
        reason: String,
        /// The server's own limit on how soon to come back.
        floor: Duration,
    },
    /// The server refused the bot for good (wrong password, kicked for a duplicate login):
    /// connecting again would be refused the same way.
    Fatal(String),
}

impl Ended {
    /// A retry with no floor.
    pub fn retry(reason: impl Into<String>) -> Ended {
        Ended::Retry {
            reason: reason.into(),
            floor: Duration::ZERO,
        }
    }

    /// A retry after at least `floor`.
    pub fn retry_after(reason: impl Into<String>, floor: Duration) -> Ended {
        Ended::Retry {
            reason: reason.into(),
            floor,
        }
    }
}

/// The wait after CyTube's `Rate limit exceeded` (connections: one per 10 s past the burst).
pub const RATE_LIMIT_FLOOR: Duration = Duration::from_secs(10);

/// The wait after `Too many connections from your IP address`.
pub const TOO_MANY_CONNECTIONS_FLOOR: Duration = Duration::from_secs(10);

/// The wait after a refused guest login (one per IP per 60 s).
pub const GUEST_LOGIN_FLOOR: Duration = Duration::from_secs(60);

/// Exponential backoff with a cap: `initial × 2^(n-1)` before the n-th consecutive attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff starting at `initial`, never past `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// The wait before the next attempt, at least `floor`; counts one more failure.
    pub fn next_delay(&mut self, floor: Duration) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(20));
        self.failures = self.failures.saturating_add(1);
        self.initial.saturating_mul(factor).min(self.max).max(floor)
    }

    /// A connection worked (logged in): the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// What a socket.io connect error means.
pub(super) fn refused(message: &str) -> Ended {
    if message.contains("Rate limit") {
        Ended::retry_after(
            format!("CyTube refused the connection: {message}"),
            RATE_LIMIT_FLOOR,
        )
    } else {
        Ended::retry(format!("CyTube refused the connection: {message}"))
    }
}

/// What a `kick` means: a duplicate login is for good; the rate limits are waited out.
pub(super) fn kicked(reason: &str, user: &str) -> Ended {
    if reason.eq_ignore_ascii_case("Duplicate login") {
        Ended::Fatal(format!(
            "kicked by CyTube: {reason} (another client logged in as {user:?}; stop it, or give this bot a name of its own in bot.name)"
        ))
    } else if reason.contains("Rate limit") {
        Ended::retry_after(format!("kicked by CyTube: {reason}"), RATE_LIMIT_FLOOR)
    } else if reason.contains("Too many connections") {
        Ended::retry_after(
            format!("kicked by CyTube: {reason}"),
            TOO_MANY_CONNECTIONS_FLOOR,
        )
    } else {
        Ended::retry_after(
            format!("kicked by CyTube: {reason}"),
            Duration::from_secs(30),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_respects_floors() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let delays: Vec<u64> = (0..5)
            .map(|_| backoff.next_delay(Duration::ZERO).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        backoff.reset();
        assert_eq!(backoff.next_delay(RATE_LIMIT_FLOOR), RATE_LIMIT_FLOOR);
        assert_eq!(backoff.next_delay(Duration::ZERO), Duration::from_secs(2));
    }

    #[test]
    fn five_quick_reconnects_fit_cytubes_connection_limit() {
        // CyTube: a bucket of 5 connections refilling one per 10 s. Walk the schedule.
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let (mut tokens, mut now) = (5.0_f64, 0.0_f64);
        for _ in 0..30 {
            tokens -= 1.0;
            assert!(tokens >= 0.0, "refused at {now} s");
            let wait = backoff.next_delay(Duration::ZERO).as_secs_f64();
            now += wait;
            tokens = (tokens + wait / 10.0).min(5.0);
        }
    }

    #[test]
    fn kicks_and_refusals() {
        assert!(
            matches!(kicked("Duplicate login", "bot"), Ended::Fatal(reason) if reason.contains("Duplicate login"))
        );
        assert_eq!(
            kicked("Rate limit exceeded", "bot"),
            Ended::retry_after("kicked by CyTube: Rate limit exceeded", RATE_LIMIT_FLOOR)
        );
        assert!(matches!(
            kicked("Too many connections from your IP address", "bot"),
            Ended::Retry { floor, .. } if floor == TOO_MANY_CONNECTIONS_FLOOR
        ));
        assert!(
            matches!(refused("Rate limit exceeded"), Ended::Retry { floor, .. } if floor == RATE_LIMIT_FLOOR)
        );
    }
}

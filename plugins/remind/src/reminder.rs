//! One reminder as the key-value store keeps it, and how durations read in chat.
//!
//! Each reminder is one key, `reminder/<due_ms>-<id>` (the due time zero-padded to 13 digits,
//! so the keys sort by due time), whose value is three lines: who asked, `chat` or `pm`, and
//! the text. The key doubles as the name of the reminder's timer (at most 64 bytes: this one is
//! at most 9 + 20 + 1 + 20).

use std::time::Duration;

/// The prefix of every reminder's key.
pub const KEY_PREFIX: &str = "reminder/";

/// The key of the counter that numbers reminders.
pub const NEXT_ID_KEY: &str = "next_id";

/// A pending reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    /// Its number, what `!remind list` shows and `!remind cancel` takes.
    pub id: u64,
    /// When it is due, in milliseconds since the Unix epoch (the host's clock).
    pub due_ms: u64,
    /// Who asked, as the chat spelled it.
    pub user: String,
    /// Whether they asked by PM (it is then delivered by PM).
    pub by_pm: bool,
    /// What to remind them of.
    pub text: String,
}

impl Reminder {
    /// Its key in the store, also its timer's name.
    pub fn key(&self) -> String {
        key(self.due_ms, self.id)
    }

    /// The stored value: user, `chat` or `pm`, text, one per line.
    pub fn encode(&self) -> String {
        let how = if self.by_pm { "pm" } else { "chat" };
        format!("{}\n{how}\n{}", self.user, self.text)
    }

    /// The reminder stored at `key` with `value`; `Err` says what is wrong with it.
    pub fn decode(key: &str, value: &[u8]) -> Result<Reminder, String> {
        let (due_ms, id) =
            parse_key(key).ok_or_else(|| format!("{key:?} is not a reminder key"))?;
        let value = std::str::from_utf8(value).map_err(|_| format!("{key}: not UTF-8"))?;
        let mut lines = value.splitn(3, '\n');
        let (user, how, text) = (lines.next(), lines.next(), lines.next());
        let (Some(user), Some(how), Some(text)) = (user, how, text) else {
            return Err(format!("{key}: expected three lines, got {value:?}"));
        };
        let by_pm = match how {
            "chat" => false,
            "pm" => true,
            other => return Err(format!("{key}: {other:?} is neither chat nor pm")),
        };
        Ok(Reminder {
            id,
            due_ms,
            user: user.to_owned(),
            by_pm,
            text: text.to_owned(),
        })
    }

    /// Whether `user` set it (names compared as the chat does, without ASCII case).
    pub fn belongs_to(&self, user: &str) -> bool {
        self.user.eq_ignore_ascii_case(user)
    }
}

/// The key (and timer name) of reminder `id`, due at `due_ms`.
pub fn key(due_ms: u64, id: u64) -> String {
    format!("{KEY_PREFIX}{due_ms:013}-{id}")
}

/// The due time and id in a reminder's key.
pub fn parse_key(key: &str) -> Option<(u64, u64)> {
    let (due, id) = key.strip_prefix(KEY_PREFIX)?.split_once('-')?;
    Some((due.parse().ok()?, id.parse().ok()?))
}

/// A duration the way chat users write it, whole seconds rounded up: `10m`, `1h30m`, `2d3h`,
/// `45s`.
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            text.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reminder(by_pm: bool) -> Reminder {
        Reminder {
            id: 7,
            due_ms: 1_714_521_600_000,
            user: "Alice".to_owned(),
            by_pm,
            text: "stretch\nand drink water".to_owned(),
        }
    }

    #[test]
    fn keys_sort_by_due_time_and_fit_a_timer_name() {
        assert_eq!(key(5_000, 2), "reminder/0000000005000-2");
        assert!(key(9_000, 1) < key(10_000, 1));
        assert_eq!(parse_key(&key(5_000, 2)), Some((5_000, 2)));
        assert_eq!(parse_key("reminder/abc-1"), None);
        assert_eq!(parse_key("next_id"), None);
        assert!(key(u64::MAX, u64::MAX).len() <= rosey_abi::MAX_TIMER_NAME);
    }

    #[test]
    fn a_reminder_round_trips_through_the_store() {
        for by_pm in [false, true] {
            let reminder = reminder(by_pm);
            let decoded = Reminder::decode(&reminder.key(), reminder.encode().as_bytes());
            assert_eq!(decoded, Ok(reminder));
        }
        assert!(reminder(false).belongs_to("alice"));
        assert!(!reminder(false).belongs_to("bob"));
    }

    #[test]
    fn damaged_values_are_refused_with_a_reason() {
        let key = key(1, 1);
        assert!(Reminder::decode(&key, b"alice")
            .unwrap_err()
            .contains("three lines"));
        assert!(Reminder::decode(&key, b"alice\nsms\nhi")
            .unwrap_err()
            .contains("neither"));
        assert!(Reminder::decode("quote:1", b"a\nchat\nb").is_err());
        assert!(Reminder::decode(&key, &[0xff, b'\n']).is_err());
    }

    #[test]
    fn durations_read_like_chat() {
        let secs = Duration::from_secs;
        assert_eq!(format_duration(secs(600)), "10m");
        assert_eq!(format_duration(secs(5_400)), "1h30m");
        assert_eq!(format_duration(secs(30 * 86_400)), "30d");
        assert_eq!(format_duration(secs(86_400 + 3_600 + 61)), "1d1h1m1s");
        assert_eq!(format_duration(Duration::from_millis(1_200)), "2s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}

//! One stored quote: its key, its encoding in the key-value store, and how it is shown.

use std::fmt;

/// Prefix of every quote's key.
pub const KEY_PREFIX: &str = "quote:";

/// Key of the counter holding the next id to hand out (decimal text).
pub const NEXT_ID_KEY: &str = "next_id";

/// First line of every encoded quote: the format version.
const FORMAT_VERSION: &str = "1";

/// A quote as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Its id (1, 2, …).
    pub id: u64,
    /// Who added it.
    pub added_by: String,
    /// When it was added, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The quote itself.
    pub text: String,
}

/// The key a quote lives at: `quote:000042`.
pub fn key(id: u64) -> String {
    format!("{KEY_PREFIX}{id:06}")
}

/// The id in a quote key, if it is one.
pub fn id_from_key(key: &str) -> Option<u64> {
    key.strip_prefix(KEY_PREFIX)?.parse().ok()
}

impl Quote {
    /// The stored form: `1\n<added_by>\n<time_ms>\n<text>` (the text may hold newlines).
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{FORMAT_VERSION}\n{}\n{}\n{}",
            self.added_by, self.time_ms, self.text
        )
        .into_bytes()
    }

    /// Reads the stored form of quote `id`.
    pub fn decode(id: u64, bytes: &[u8]) -> Result<Quote, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("quote #{id} is not UTF-8"))?;
        let mut fields = text.splitn(4, '\n');
        match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(FORMAT_VERSION), Some(added_by), Some(time_ms), Some(text)) => Ok(Quote {
                id,
                added_by: added_by.to_owned(),
                time_ms: time_ms
                    .parse()
                    .map_err(|_| format!("quote #{id} has a bad time {time_ms:?}"))?,
                text: text.to_owned(),
            }),
            (Some(version), ..) if version != FORMAT_VERSION => {
                Err(format!("quote #{id} has unknown format {version:?}"))
            }
            _ => Err(format!("quote #{id} is truncated")),
        }
    }

    /// Whether the quote's text contains `needle`, ignoring case.
    pub fn matches(&self, needle: &str) -> bool {
        self.text.to_lowercase().contains(&needle.to_lowercase())
    }
}

impl fmt::Display for Quote {
    /// `Quote #3: some text (added by alice on 2024-05-01)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_date(self.time_ms);
        write!(
            f,
            "Quote #{}: {} (added by {} on {year:04}-{month:02}-{day:02})",
            self.id, self.text, self.added_by
        )
    }
}

/// The UTC calendar date of a Unix time in milliseconds (Howard Hinnant's `civil_from_days`).
pub fn civil_date(time_ms: u64) -> (i64, u32, u32) {
    let days = (time_ms / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Quote {
        Quote {
            id: 42,
            added_by: "alice".to_owned(),
            time_ms: 1_714_521_600_000,
            text: "first line\nsecond line".to_owned(),
        }
    }

    #[test]
    fn encoding_round_trips() {
        let quote = sample();
        assert_eq!(Quote::decode(42, &quote.encode()), Ok(quote));
    }

    #[test]
    fn bad_encodings_are_refused() {
        assert!(Quote::decode(1, b"2\nalice\n0\ntext").is_err());
        assert!(Quote::decode(1, b"1\nalice\nsoon\ntext").is_err());
        assert!(Quote::decode(1, b"1\nalice").is_err());
        assert!(Quote::decode(1, &[0xff, 0xfe]).is_err());
    }

    #[test]
    fn keys_are_padded_and_read_back() {
        assert_eq!(key(42), "quote:000042");
        assert_eq!(key(1_234_567), "quote:1234567");
        assert_eq!(id_from_key("quote:000042"), Some(42));
        assert_eq!(id_from_key("next_id"), None);
        assert_eq!(id_from_key("quote:abc"), None);
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(951_782_400_000), (2000, 2, 29));
        assert_eq!(civil_date(1_714_521_600_000), (2024, 5, 1));
        assert_eq!(civil_date(1_735_689_599_999), (2024, 12, 31));
    }

    #[test]
    fn shows_and_matches() {
        let quote = Quote {
            text: "The Cake is a LIE".to_owned(),
            ..sample()
        };
        assert_eq!(
            quote.to_string(),
            "Quote #42: The Cake is a LIE (added by alice on 2024-05-01)"
        );
        assert!(quote.matches("cake"));
        assert!(quote.matches("LIE"));
        assert!(!quote.matches("pie"));
    }
}

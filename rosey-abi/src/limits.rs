//! The rules a plugin's requests are held to, in one place: the plugin's SDK (and its testing
//! kit) answers with them at once, the host checks them before anything leaves the process,
//! and the daemon checks them again, since a host is not trusted. Also the shape of a command
//! word, which manifests, the router and the testing kit share.

/// The most timers one plugin instance may have armed at once.
pub const MAX_TIMERS: usize = 1000;

/// The shortest period of a repeating timer, in milliseconds: a plugin's timers share its one
/// thread with its messages, and each firing is a round trip through the daemon.
pub const MIN_TIMER_PERIOD_MS: u64 = 100;

/// The furthest ahead a timer may be set, in milliseconds (a year): anything later belongs in
/// the plugin's storage, armed when it comes closer.
pub const MAX_TIMER_DELAY_MS: u64 = 366 * 24 * 3600 * 1000;

/// The longest timer name, in bytes.
pub const MAX_TIMER_NAME: usize = 64;

/// Why a timer cannot be armed (`None`: it can), in a sentence the plugin can log as it is.
pub fn timer_refusal(name: &str, after_ms: u64, every_ms: u64) -> Option<String> {
    if name.is_empty() || name.len() > MAX_TIMER_NAME {
        return Some(format!(
            "a timer's name must be 1 to {MAX_TIMER_NAME} bytes, not {}",
            name.len()
        ));
    }
    if after_ms > MAX_TIMER_DELAY_MS || every_ms > MAX_TIMER_DELAY_MS {
        return Some(format!(
            "timer {name:?} is set more than a year ahead: keep the date in storage and arm the timer closer to it"
        ));
    }
    if every_ms != 0 && every_ms < MIN_TIMER_PERIOD_MS {
        return Some(format!(
            "timer {name:?} repeats every {every_ms} ms: the shortest period is {MIN_TIMER_PERIOD_MS} ms"
        ));
    }
    None
}

/// Whether `word` may be a command (what follows the prefix: `roll` in `!roll 2d6`): 1–32 of
/// `a-z`, `0-9`, `_`, `-`, starting with a letter or digit.
pub fn is_valid_command(word: &str) -> bool {
    let mut bytes = word.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit())
        && word.len() <= 32
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// One word of an event kind or subject pattern: 1–32 of `a-z`, `0-9`, `_`, `-`.
pub fn is_event_word(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= 32
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Whether `kind` may name an event a plugin publishes: dot-separated words, no wildcards.
pub fn is_valid_event_kind(kind: &str) -> bool {
    kind.split('.').all(is_event_word)
}

/// Why a plugin may not publish an event of `kind` (`None`: it may), in a sentence the plugin
/// can log as it is. (Whether its payload is JSON is checked beside it, where a JSON parser is.)
pub fn event_kind_refusal(kind: &str) -> Option<String> {
    (!is_valid_event_kind(kind)).then(|| {
        format!("{kind:?} is not a valid event kind: dot-separated words of a-z, 0-9, _ and -")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_outside_the_limits_are_refused_with_the_limit_named() {
        assert_eq!(timer_refusal("tick", 0, 0), None);
        assert_eq!(timer_refusal("tick", 10, 100), None);
        assert_eq!(timer_refusal("year", MAX_TIMER_DELAY_MS, 0), None);
        let short = timer_refusal("tick", 10, 5).expect("refused");
        assert!(short.contains("100 ms"), "{short}");
        let far = timer_refusal("tick", MAX_TIMER_DELAY_MS + 1, 0).expect("refused");
        assert!(far.contains("a year"), "{far}");
        assert_eq!(
            timer_refusal("", 0, 0).as_deref(),
            Some("a timer's name must be 1 to 64 bytes, not 0")
        );
        assert_eq!(
            timer_refusal(&"x".repeat(MAX_TIMER_NAME + 1), 0, 0).as_deref(),
            Some("a timer's name must be 1 to 64 bytes, not 65")
        );
        assert_eq!(
            timer_refusal("fast", 0, 99).as_deref(),
            Some("timer \"fast\" repeats every 99 ms: the shortest period is 100 ms")
        );
    }

    #[test]
    fn event_kinds_are_dotted_words_without_wildcards() {
        assert!(is_valid_event_kind("quote.added"));
        assert!(!is_valid_event_kind("quote.*"));
        assert!(!is_valid_event_kind("Quote"));
        assert!(!is_valid_event_kind("a..b"));
        assert!(!is_event_word(&"w".repeat(33)));
    }
}

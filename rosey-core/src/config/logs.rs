//! `logs:`: when log files rotate, how many rotated files are kept, and how much plugins log.
//!
//! ```yaml
//! logs:
//!   max_size: 10MiB   # or bytes: 10485760; also KiB, MiB, GiB (K, M, G)
//!   keep: 5           # bot.log.1 … bot.log.5; the oldest is dropped
//!   plugins: info     # debug: plugins' debug lines too (a panic's backtrace among them)
//! ```

use serde::{Deserialize, Deserializer, Serialize};

/// `logs:`: rotation of every log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// A file that would grow past this many bytes is rotated first (`name.log` becomes
    /// `name.log.1`). Checked per line, so a file never holds half a line.
    #[serde(deserialize_with = "byte_size")]
    pub max_size: u64,
    /// How many rotated files (`name.log.1` … `name.log.<keep>`) are kept besides the current
    /// one; the oldest is deleted.
    pub keep: u32,
    /// The least severe line a plugin host writes to its plugin's log (`rosey dev` and
    /// `rosey daemon --debug` always use `debug`).
    pub plugins: PluginLogLevel,
}

/// How much of what plugins log reaches their log files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginLogLevel {
    /// Info, warnings and errors.
    #[default]
    Info,
    /// Debug lines too: what an author logs for diagnosis, and the backtrace of a panic.
    Debug,
}

impl PluginLogLevel {
    /// The level's name, as a plugin host takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginLogLevel::Info => "info",
            PluginLogLevel::Debug => "debug",
        }
    }
}

/// The default [`LogsConfig::max_size`]: 10 MiB.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;

/// The largest [`LogsConfig::keep`] accepted.
pub const MAX_KEEP: u32 = 1000;

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            max_size: DEFAULT_MAX_SIZE,
            keep: 5,
            plugins: PluginLogLevel::Info,
        }
    }
}

impl LogsConfig {
    /// The rules types cannot say: `(key, problem)` for the first broken one.
    pub(super) fn check(&self) -> Result<(), (String, String)> {
        if self.max_size == 0 {
            return Err((
                "logs.max_size".to_owned(),
                "0 bytes would rotate on every line: use a size such as 10485760 or \"10MiB\""
                    .to_owned(),
            ));
        }
        if self.keep == 0 || self.keep > MAX_KEEP {
            return Err((
                "logs.keep".to_owned(),
                format!(
                    "{} is not a number of rotated files to keep: use 1 to {MAX_KEEP} (default 5)",
                    self.keep
                ),
            ));
        }
        Ok(())
    }
}

/// Reads `"10MiB"`-style text as bytes.
pub fn parse_byte_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// [`byte_size`] for a key that may be absent (it then keeps its `default`).
pub(crate) fn optional_byte_size<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    byte_size(deserializer).map(Some)
}

/// A size in bytes: an integer, or text such as `10MiB`. The message says what is accepted
/// rather than "expected u64", and carries the key path.
fn byte_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct Size;
    const EXPECTED: &str =
        "a size in bytes (e.g. 10485760) or with a unit (e.g. \"10MiB\", \"512KiB\")";
    impl serde::de::Visitor<'_> for Size {
        type Value = u64;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str(EXPECTED)
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<u64, E> {
            Ok(value)
        }

        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<u64, E> {
            u64::try_from(value)
                .map_err(|_| E::custom(format!("{value} is not a size: use {EXPECTED}")))
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<u64, E> {
            parse_byte_size(value)
                .ok_or_else(|| E::custom(format!("{value:?} is not a size: use {EXPECTED}")))
        }
    }
    deserializer.deserialize_any(Size)
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, LogsConfig};

    fn invalid(text: &str) -> (String, String) {
        match Config::parse(text) {
            Err(ConfigError::Invalid { key, problem, .. }) => (key, problem),
            Err(ConfigError::Parse { reason, .. }) => ("<parse>".to_owned(), reason),
            other => panic!("expected an error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn sizes_are_bytes_or_text_with_a_unit_and_default_to_10_mib_and_5() {
        assert_eq!(
            Config::parse("logs:").expect("ok").logs,
            LogsConfig::default()
        );
        assert_eq!(LogsConfig::default().max_size, 10 * 1024 * 1024);
        let config =
            Config::parse("logs: { max_size: 4096, keep: 2, plugins: debug }").expect("ok");
        assert_eq!((config.logs.max_size, config.logs.keep), (4096, 2));
        assert_eq!(config.logs.plugins.as_str(), "debug");
        assert_eq!(LogsConfig::default().plugins.as_str(), "info");
        for (text, bytes) in [("10MiB", 10 << 20), ("512 KiB", 512 << 10), ("1G", 1 << 30)] {
            let config = Config::parse(&format!("logs: {{ max_size: {text:?} }}")).expect(text);
            assert_eq!(config.logs.max_size, bytes, "{text}");
        }
    }

    #[test]
    fn zero_sizes_and_counts_and_nonsense_are_refused_with_the_key_named() {
        let (key, problem) = invalid("logs: { max_size: 0 }");
        assert_eq!(key, "logs.max_size");
        assert!(problem.contains("10MiB"), "{problem}");
        let (key, problem) = invalid("logs: { keep: 0 }");
        assert_eq!(key, "logs.keep");
        assert!(problem.contains("1 to 1000"), "{problem}");
        let (_, reason) = invalid("logs: { max_size: ten }");
        assert!(
            reason.contains("logs.max_size") && reason.contains("not a size"),
            "{reason}"
        );
        let (_, reason) = invalid("logs: { max_size: -5 }");
        assert!(reason.contains("not a size"), "{reason}");
        let (_, reason) = invalid("logs: { plugins: verbose }");
        assert!(reason.contains("logs.plugins"), "{reason}");
        let (_, reason) = invalid("logs: { rotate: daily }");
        assert!(reason.contains("unknown field"), "{reason}");
    }

    #[test]
    fn a_size_with_an_unknown_unit_or_of_the_wrong_type_says_what_a_size_is() {
        assert_eq!(super::parse_byte_size("10 parsecs"), None);
        let (_, reason) = invalid("logs: { max_size: 10TiB }");
        assert!(
            reason.starts_with("logs.max_size: \"10TiB\" is not a size: use a size in bytes"),
            "{reason}"
        );
        let (_, reason) = invalid("logs: { max_size: [10] }");
        assert!(
            reason.starts_with("logs.max_size: invalid type: sequence, expected a size in bytes (e.g. 10485760) or with a unit (e.g. \"10MiB\", \"512KiB\")"),
            "{reason}"
        );
    }
}

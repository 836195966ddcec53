//! automod's settings, read from `config.yaml` and checked, and how a banned word is found.
//!
//! Scalars are read through [`Config`] by dotted path (`flood.messages`). The two lists,
//! `words` and `exempt`, are read from the whole document ([`Config::json`]): a YAML list, or
//! one comma-separated line (what `rosey plugin config automod words "a, b"` writes).

use rosey_abi::{Config, Error, PluginResult};
use serde_json::Value;

/// What a second offence gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Punishment {
    /// The user can no longer chat.
    Mute,
    /// Only the user (and moderators) see their lines; not announced.
    ShadowMute,
    /// The user is kicked out of the channel.
    Kick,
}

impl Punishment {
    /// The configuration's word for it.
    pub fn name(self) -> &'static str {
        match self {
            Punishment::Mute => "mute",
            Punishment::ShadowMute => "shadow_mute",
            Punishment::Kick => "kick",
        }
    }

    /// How an announcement starts: `Muted`, `Kicked`.
    pub fn done(self) -> &'static str {
        match self {
            Punishment::Mute => "Muted",
            Punishment::ShadowMute => "Shadow-muted",
            Punishment::Kick => "Kicked",
        }
    }
}

/// The settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// More than this many lines within `flood_ms` is flooding.
    pub flood_messages: usize,
    /// The flood window, in milliseconds.
    pub flood_ms: u64,
    /// The banned words and phrases, each as its lowercase words (see [`words`]).
    pub words: Vec<Vec<String>>,
    /// What a second offence gets.
    pub action: Punishment,
    /// How long a warning (and an action) counts, in milliseconds.
    pub window_ms: u64,
    /// Users left alone, lowercased.
    pub exempt: Vec<String>,
}

impl Settings {
    /// The settings `config` gives, defaults for what it leaves out; an error naming the key
    /// that is wrong.
    pub fn from_config(config: &Config<'_>) -> PluginResult<Settings> {
        let flood_messages: usize = config.get_or("flood.messages", 6)?;
        let flood_secs: u64 = config.get_or("flood.seconds", 5)?;
        let minutes: u64 = config.get_or("warn_reset_minutes", 10)?;
        if flood_messages == 0 {
            return Err(Error::msg("config: flood.messages must be at least 1"));
        }
        if !(1..=3600).contains(&flood_secs) {
            return Err(Error::msg("config: flood.seconds must be from 1 to 3600"));
        }
        if !(1..=10_080).contains(&minutes) {
            return Err(Error::msg(
                "config: warn_reset_minutes must be from 1 to 10080 (a week)",
            ));
        }
        let action = match config.get("action").unwrap_or("mute") {
            "mute" => Punishment::Mute,
            "shadow_mute" => Punishment::ShadowMute,
            "kick" => Punishment::Kick,
            other => {
                return Err(Error::msg(format!(
                    "config: action must be mute, shadow_mute or kick, not {other:?}"
                )))
            }
        };
        let document: Value = serde_json::from_str(config.json())
            .map_err(|err| Error::msg(format!("config: not JSON: {err}")))?;
        let words = list(&document, "words")?.iter().map(|w| words(w)).collect();
        let exempt = (list(&document, "exempt")?.iter())
            .map(|name| name.to_lowercase())
            .collect();
        Ok(Settings {
            flood_messages,
            flood_ms: flood_secs * 1000,
            words,
            action,
            window_ms: minutes * 60_000,
            exempt,
        })
    }

    /// Whether `text` says a banned word or phrase.
    pub fn is_banned(&self, text: &str) -> bool {
        let said = words(text);
        (self.words.iter())
            .filter(|phrase| !phrase.is_empty())
            .any(|phrase| {
                said.windows(phrase.len())
                    .any(|run| run == phrase.as_slice())
            })
    }

    /// Whether `user` is on the `exempt` list.
    pub fn is_exempt(&self, user: &str) -> bool {
        self.exempt.contains(&user.to_lowercase())
    }
}

/// The list at `key` of `document`: a list of texts, or one comma-separated text; empty when
/// unset. Empty entries are dropped.
fn list(document: &Value, key: &str) -> PluginResult<Vec<String>> {
    let entries: Vec<String> = match document.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(line)) => line.split(',').map(str::to_owned).collect(),
        Some(Value::Array(items)) => {
            let texts = items.iter().map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                Value::Number(number) => Ok(number.to_string()),
                _ => Err(Error::msg(format!(
                    "config: every entry of {key} must be text, not {item}"
                ))),
            });
            texts.collect::<PluginResult<_>>()?
        }
        Some(other) => {
            return Err(Error::msg(format!(
                "config: {key} must be a list (or a comma-separated line), not {other}"
            )))
        }
    };
    Ok(entries
        .into_iter()
        .map(|entry| entry.trim().to_owned())
        .filter(|entry| !entry.is_empty())
        .collect())
}

/// The words of `text`, lowercased: runs of letters and digits (`Don't SPAM!` → `don`, `t`,
/// `spam`). Comparing runs of these is a whole-word match that ignores case and punctuation.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banned(list: &[&str]) -> Settings {
        Settings {
            flood_messages: 6,
            flood_ms: 5000,
            words: list.iter().map(|w| words(w)).collect(),
            action: Punishment::Mute,
            window_ms: 600_000,
            exempt: Vec::new(),
        }
    }

    #[test]
    fn banned_words_match_whole_words_without_case() {
        let settings = banned(&["spam", "free money", "don't"]);
        assert!(settings.is_banned("no SPAM please"));
        assert!(settings.is_banned("spam!"));
        assert!(settings.is_banned("get Free   money, now"));
        assert!(settings.is_banned("I DON'T care"));
        assert!(!settings.is_banned("spammer"), "whole words only");
        assert!(!settings.is_banned("free of money"));
        assert!(!settings.is_banned(""));
        assert!(!banned(&[]).is_banned("anything"));
    }

    #[test]
    fn lists_are_lists_or_comma_separated_lines() {
        let document = serde_json::json!({
            "words": ["spam", " ", "Scam "],
            "exempt": "alice, Bob,,",
            "bad": {"a": 1},
            "mixed": ["ok", ["no"]],
        });
        let read = |key| list(&document, key).unwrap_or_else(|err| vec![err.to_string()]);
        assert_eq!(read("words"), ["spam", "Scam"]);
        assert_eq!(read("exempt"), ["alice", "Bob"]);
        assert_eq!(read("missing"), Vec::<String>::new());
        assert!(read("bad")[0].contains("must be a list"));
        assert!(read("mixed")[0].contains("must be text"));
    }
}

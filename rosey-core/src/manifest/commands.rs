//! One command of a manifest: its word, and what the bot itself can say about it without
//! waking the plugin (`!help`, `!help <command>`, "needs rank moderator").
//!
//! Written as a plain word, or as a map when it says more:
//!
//! ```yaml
//! commands:
//!   - roll
//!   - name: trivia
//!     help: Start a round of trivia questions
//!     usage: "!trivia [start|stop]"
//!     min_rank: moderator
//! ```

use serde::{
    de::{self, MapAccess, Visitor},
    Deserialize, Deserializer, Serialize, Serializer,
};

use crate::rank::Rank;

/// The longest `help` or `usage` text, in characters (one chat line, with room to spare).
pub const MAX_HELP_CHARS: usize = 200;

/// A command a plugin handles.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandSpec {
    /// The command word (`roll` for `!roll`).
    pub name: String,
    /// One line saying what it does, for `!help`.
    pub help: Option<String>,
    /// How to call it (`!roll 2d6+1`), for `!help <command>`.
    pub usage: Option<String>,
    /// The lowest rank that may use it; the router answers anyone lower itself.
    pub min_rank: Option<Rank>,
}

impl CommandSpec {
    /// A command with nothing but its word.
    pub fn named(name: impl Into<String>) -> CommandSpec {
        CommandSpec {
            name: name.into(),
            ..CommandSpec::default()
        }
    }

    /// Whether `rank` (unknown: taken as a guest's) may use it.
    pub fn allows(&self, rank: Option<Rank>) -> bool {
        match self.min_rank {
            Some(least) => rank.unwrap_or(Rank::GUEST) >= least,
            None => true,
        }
    }

    /// What is wrong with its `help` or `usage` text, if anything: a manifest with such a
    /// command is refused at install, naming the key.
    pub fn check_texts(&self) -> Result<(), CommandTextError> {
        for (key, text) in [
            ("commands.help", &self.help),
            ("commands.usage", &self.usage),
        ] {
            let Some(text) = text else { continue };
            let problem = if text.trim().is_empty() || text.contains(['\n', '\r']) {
                TextProblem::NotOneLine
            } else if text.chars().count() > MAX_HELP_CHARS {
                TextProblem::TooLong
            } else {
                continue;
            };
            return Err(CommandTextError {
                key,
                command: self.name.clone(),
                problem,
            });
        }
        Ok(())
    }
}

/// A command's `help` or `usage` text that a manifest may not carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {key} of {command:?} {problem}")]
pub struct CommandTextError {
    /// The manifest key (`commands.help` or `commands.usage`).
    pub key: &'static str,
    /// The command's word.
    pub command: String,
    /// What is wrong with the text.
    pub problem: TextProblem,
}

/// What is wrong with a command's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextProblem {
    /// Blank, or more than one line: chat shows one line per command.
    #[error("must be one line of text")]
    NotOneLine,
    /// Over [`MAX_HELP_CHARS`] characters.
    #[error("is over {MAX_HELP_CHARS} characters")]
    TooLong,
}

impl From<String> for CommandSpec {
    fn from(name: String) -> CommandSpec {
        CommandSpec::named(name)
    }
}

impl From<&str> for CommandSpec {
    fn from(name: &str) -> CommandSpec {
        CommandSpec::named(name)
    }
}

impl PartialEq<str> for CommandSpec {
    fn eq(&self, word: &str) -> bool {
        self.name == word
    }
}

impl PartialEq<&str> for CommandSpec {
    fn eq(&self, word: &&str) -> bool {
        self.name == *word
    }
}

/// The words of `commands`, in order.
pub fn names(commands: &[CommandSpec]) -> Vec<String> {
    commands
        .iter()
        .map(|command| command.name.clone())
        .collect()
}

/// The map form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    help: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    usage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_rank: Option<Rank>,
}

impl Serialize for CommandSpec {
    /// A plain word when it says nothing more (as older manifests and registries have it).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.help.is_none() && self.usage.is_none() && self.min_rank.is_none() {
            return serializer.serialize_str(&self.name);
        }
        Written {
            name: self.name.clone(),
            help: self.help.clone(),
            usage: self.usage.clone(),
            min_rank: self.min_rank,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CommandSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CommandSpec, D::Error> {
        struct Spec;
        impl<'de> Visitor<'de> for Spec {
            type Value = CommandSpec;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a command word, or a map with name and optionally help, usage, min_rank",
                )
            }

            fn visit_str<E: de::Error>(self, word: &str) -> Result<CommandSpec, E> {
                Ok(CommandSpec::named(word))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<CommandSpec, M::Error> {
                let written = Written::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(CommandSpec {
                    name: written.name,
                    help: written.help,
                    usage: written.usage,
                    min_rank: written.min_rank,
                })
            }
        }
        deserializer.deserialize_any(Spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_words_or_maps_and_write_back_the_same_way() {
        let yaml = "- roll\n- name: trivia\n  help: Trivia rounds\n  usage: \"!trivia [stop]\"\n  min_rank: moderator\n";
        let commands: Vec<CommandSpec> = serde_yaml_ng::from_str(yaml).expect("commands");
        assert_eq!(commands[0], CommandSpec::named("roll"));
        assert_eq!(commands[1].help.as_deref(), Some("Trivia rounds"));
        assert_eq!(commands[1].min_rank, Some(Rank::MODERATOR));
        assert_eq!(names(&commands), ["roll", "trivia"]);
        let back: Vec<CommandSpec> =
            serde_yaml_ng::from_str(&serde_yaml_ng::to_string(&commands).expect("yaml"))
                .expect("again");
        assert_eq!(back, commands);
        assert_eq!(
            serde_json::to_string(&commands[0]).expect("json"),
            "\"roll\""
        );
        let wrong = serde_yaml_ng::from_str::<Vec<CommandSpec>>("- name: x\n  helps: typo\n");
        assert!(wrong
            .expect_err("unknown key")
            .to_string()
            .contains("helps"));
    }

    #[test]
    fn ranks_below_the_least_are_refused_and_unknown_ranks_count_as_guests() {
        let mut trivia = CommandSpec::named("trivia");
        assert!(trivia.allows(None));
        trivia.min_rank = Some(Rank::MODERATOR);
        assert!(!trivia.allows(Some(Rank::REGISTERED)));
        assert!(!trivia.allows(None));
        assert!(trivia.allows(Some(Rank::ADMIN)));
        trivia.min_rank = Some(Rank::GUEST);
        assert!(trivia.allows(None));
    }

    #[test]
    fn help_and_usage_are_one_short_line() {
        let mut roll = CommandSpec::named("roll");
        roll.help = Some("Roll\ndice".into());
        assert_eq!(
            roll.check_texts().expect_err("two lines").key,
            "commands.help"
        );
        roll.help = Some("x".repeat(MAX_HELP_CHARS + 1));
        assert!(roll
            .check_texts()
            .expect_err("long")
            .to_string()
            .contains("over 200"));
        roll.help = Some("Roll dice".into());
        roll.usage = Some("  ".into());
        assert_eq!(roll.check_texts().expect_err("blank").key, "commands.usage");
    }
}

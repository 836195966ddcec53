//! # markov-chat
//!
//! A rosey plugin that learns from the channel's chat and makes up sentences of its own.
//!
//! It subscribes to `chat.message` and learns the word transitions of every message (order 1:
//! which word follows which; order 2: which word follows which pair), skipping commands (messages
//! starting with `!`).
//!
//! Commands:
//!
//! * `!markov` makes up a sentence; `!markov <word>` makes up one starting with that word.
//! * `!markov stats` tells how much it has learned:
//!   `markov-chat knows N transitions from M messages (W words, order O).`
//!
//! The learned model is the plugin's carried-over state: [`Plugin::unload`] encodes it (a format
//! version byte first) and the next instance's [`Plugin::load`] decodes it, so it survives
//! reloads, updates and host restarts. State that cannot be decoded, or that was learned with a
//! different `order`, is logged as a warning and the plugin starts with an empty model.
//!
//! Configuration (`config.yaml`): `order` (1 or 2, default 1) and `max_words` (1 to 100,
//! default 30).

mod model;

use rosey_abi::{export_plugin, Command, Context, Error, Event, LoadContext, Plugin, PluginResult};

use model::{GenerateError, Model};

/// The plugin: the model, the sentence length limit, and a random number generator.
pub struct MarkovChat {
    model: Model,
    max_words: usize,
    rng: fastrand::Rng,
}

/// The model to start with, given the carried-over `state` and the configured `order`: the
/// decoded model, or an empty one and the warning to log about why.
pub fn restore(state: Option<&[u8]>, order: u8) -> (Model, Option<String>) {
    let Some(bytes) = state.filter(|bytes| !bytes.is_empty()) else {
        return (Model::new(order), None);
    };
    match Model::decode(bytes) {
        Ok(model) if model.order() == order => (model, None),
        Ok(model) => (
            Model::new(order),
            Some(format!(
                "the carried-over model was learned with order {} but `order` is now {order}; \
                 starting with an empty model",
                model.order()
            )),
        ),
        Err(err) => (
            Model::new(order),
            Some(format!(
                "cannot read the carried-over model ({err}); starting with an empty model"
            )),
        ),
    }
}

impl MarkovChat {
    /// Learns from a chat message unless it is a command.
    pub fn hear(&mut self, text: &str) -> bool {
        let text = text.trim();
        !text.starts_with('!') && self.model.learn(text)
    }

    /// The reply to `!markov <args>`.
    pub fn command_reply(&mut self, args: &str) -> String {
        let seed = args.split_whitespace().next();
        if seed.is_some_and(|word| word.eq_ignore_ascii_case("stats")) {
            return self.stats();
        }
        match self.model.generate(seed, self.max_words, &mut self.rng) {
            Ok(sentence) => sentence,
            Err(GenerateError::NotEnough) => {
                "I have not learned enough yet: let me listen to some more chat first.".to_owned()
            }
            Err(GenerateError::UnknownWord(word)) => {
                format!("I have never heard anyone say {word:?} yet.")
            }
        }
    }

    /// The reply to `!markov stats`.
    pub fn stats(&self) -> String {
        format!(
            "markov-chat knows {} transitions from {} messages ({} words, order {}).",
            self.model.transition_count(),
            self.model.messages(),
            self.model.word_count(),
            self.model.order()
        )
    }
}

impl Plugin for MarkovChat {
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self> {
        let config = ctx.config();
        let order: u8 = config.get_or("order", 1)?;
        if order != 1 && order != 2 {
            return Err(Error::msg(format!(
                "config: order must be 1 or 2, not {order}"
            )));
        }
        let max_words: usize = config.get_or("max_words", 30)?;
        if !(1..=100).contains(&max_words) {
            return Err(Error::msg(format!(
                "config: max_words must be between 1 and 100, not {max_words}"
            )));
        }
        let (model, warning) = restore(ctx.state(), order);
        match warning {
            Some(warning) => ctx.warn(warning),
            None if model.messages() > 0 => ctx.info(format!(
                "restored a model of {} transitions from {} messages",
                model.transition_count(),
                model.messages()
            )),
            None => {}
        }
        Ok(MarkovChat {
            model,
            max_words,
            rng: fastrand::Rng::new(),
        })
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        ctx.reply(self.command_reply(cmd.args()));
        Ok(())
    }

    fn on_event(&mut self, _ctx: &Context<'_>, event: &Event<'_>) -> PluginResult<()> {
        if event.kind() == "chat.message" {
            if let Some(text) = event.text() {
                self.hear(text);
            }
        }
        Ok(())
    }

    fn unload(&mut self, ctx: &Context<'_>) -> PluginResult<Vec<u8>> {
        let bytes = self.model.encode();
        ctx.info(format!(
            "handing over a model of {} transitions from {} messages ({} bytes)",
            self.model.transition_count(),
            self.model.messages(),
            bytes.len()
        ));
        Ok(bytes)
    }
}

export_plugin!(MarkovChat);

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(order: u8) -> MarkovChat {
        MarkovChat {
            model: Model::new(order),
            max_words: 30,
            rng: fastrand::Rng::with_seed(5),
        }
    }

    #[test]
    fn skips_commands_and_learns_the_rest() {
        let mut chat = plugin(1);
        assert!(!chat.hear("!roll 2d6"));
        assert!(!chat.hear("   !markov"));
        assert!(chat.hear("hello there"));
        assert_eq!(
            chat.command_reply("stats"),
            "markov-chat knows 3 transitions from 1 messages (2 words, order 1)."
        );
    }

    #[test]
    fn replies_when_it_knows_too_little() {
        let mut chat = plugin(1);
        assert!(chat.command_reply("").contains("not learned enough"));
        chat.hear("hello there");
        assert_eq!(chat.command_reply("hello"), "hello there");
        assert!(chat.command_reply("zebra").contains("never heard"));
    }

    #[test]
    fn the_model_survives_a_handoff() {
        let mut chat = plugin(2);
        chat.hear("one two three");
        chat.hear("two three four");
        let bytes = chat.model.encode();
        let (model, warning) = restore(Some(&bytes), 2);
        assert_eq!(warning, None);
        assert_eq!(model, chat.model);
    }

    #[test]
    fn unreadable_or_mismatched_state_starts_fresh_with_a_warning() {
        let mut chat = plugin(1);
        chat.hear("one two three");
        let mut bytes = chat.model.encode();

        let (model, warning) = restore(Some(&bytes), 2);
        assert_eq!(model.messages(), 0);
        assert!(warning.is_some_and(|w| w.contains("order 1")));

        bytes[0] = 200;
        let (model, warning) = restore(Some(&bytes), 1);
        assert_eq!((model.messages(), model.order()), (0, 1));
        assert!(warning.is_some_and(|w| w.contains("format version 200")));

        assert_eq!(restore(None, 1).1, None);
        assert_eq!(restore(Some(&[]), 1).1, None);
    }
}

//! # 8ball
//!
//! A rosey plugin: the classic magic 8-ball.
//!
//! Command: `!8ball <question>` replies with one of the twenty classic answers, e.g.
//! `alice: It is certain.`; `!8ball` with no question asks for one.
//!
//! The crate is called `eightball` because a crate name cannot start with a digit; the plugin's
//! name, in `manifest.yaml`, is `8ball`.

use rosey_abi::{export_plugin, Command, Context, LoadContext, Plugin, PluginResult};

/// The twenty answers of the original toy: ten yes, five non-committal, five no.
pub const ANSWERS: [&str; 20] = [
    "It is certain.",
    "It is decidedly so.",
    "Without a doubt.",
    "Yes definitely.",
    "You may rely on it.",
    "As I see it, yes.",
    "Most likely.",
    "Outlook good.",
    "Yes.",
    "Signs point to yes.",
    "Reply hazy, try again.",
    "Ask again later.",
    "Better not tell you now.",
    "Cannot predict now.",
    "Concentrate and ask again.",
    "Don't count on it.",
    "My reply is no.",
    "My sources say no.",
    "Outlook not so good.",
    "Very doubtful.",
];

/// The plugin: just a random number generator.
pub struct EightBall {
    rng: fastrand::Rng,
}

impl EightBall {
    /// The reply to `!8ball <question>` from `user`.
    pub fn answer(&mut self, user: &str, question: &str) -> String {
        if question.trim().is_empty() {
            return format!("{user}: ask me a yes-or-no question, e.g. !8ball will it rain today?");
        }
        let answer = ANSWERS[self.rng.usize(..ANSWERS.len())];
        format!("{user}: {answer}")
    }
}

impl Plugin for EightBall {
    fn load(_ctx: &LoadContext<'_>) -> PluginResult<Self> {
        Ok(EightBall {
            rng: fastrand::Rng::new(),
        })
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        ctx.reply(self.answer(cmd.user(), cmd.args()));
        Ok(())
    }
}

export_plugin!(EightBall);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_a_question_with_a_classic_answer() {
        let mut ball = EightBall {
            rng: fastrand::Rng::with_seed(1),
        };
        for _ in 0..50 {
            let reply = ball.answer("alice", "will it rain?");
            let answer = reply.strip_prefix("alice: ").unwrap_or_default();
            assert!(ANSWERS.contains(&answer), "{reply}");
        }
    }

    #[test]
    fn asks_for_a_question_when_there_is_none() {
        let mut ball = EightBall {
            rng: fastrand::Rng::with_seed(1),
        };
        let reply = ball.answer("bob", "   ");
        assert!(reply.contains("ask me a yes-or-no question"), "{reply}");
        assert!(!ANSWERS.iter().any(|a| reply.contains(a)), "{reply}");
    }

    #[test]
    fn answers_are_distinct() {
        let mut sorted = ANSWERS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
    }
}

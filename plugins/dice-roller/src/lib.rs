//! # dice-roller
//!
//! A rosey plugin that rolls dice and flips coins.
//!
//! Commands:
//!
//! * `!roll NdM` rolls N dice of M sides (`!roll 2d6`, `!roll d20`; `!roll` alone rolls `1d20`)
//!   and replies `alice rolled 2d6: [3, 5] = 8`.
//!   * `+K` / `-K` adds a modifier: `!roll 3d6+2`, `!roll 1d8-1`.
//!   * `khK` / `klK` keep the K highest / lowest dice, `dhK` / `dlK` drop them: `!roll 4d6kh3`,
//!     `!roll 4d6dl1`, `!roll 2d20kl1`. Dropped dice are shown in parentheses.
//! * `!flip` flips a coin: heads or tails.
//!
//! Configuration (`config.yaml`): `max_dice` (default 100) and `max_sides` (default 1000). An
//! expression over a limit, or one that is not dice notation, gets a reply explaining the syntax.
//! The limits are taken live (`rosey plugin config dice-roller max_dice 20`): `on_config`
//! reads them like `load` does, and refuses limits of 0, which keeps the old ones.

mod dice;

use rosey_abi::{
    export_plugin, Command, Config, Context, Error, LoadContext, Plugin, PluginResult,
};

use dice::{Expr, Limits};

/// What `!roll` with no arguments rolls.
const DEFAULT_EXPRESSION: &str = "1d20";

/// The plugin: its limits and its own random number generator.
pub struct DiceRoller {
    limits: Limits,
    rng: fastrand::Rng,
}

impl DiceRoller {
    /// The text of the reply to `!roll <args>` from `user`.
    pub fn roll_reply(&mut self, user: &str, args: &str) -> String {
        let args = if args.trim().is_empty() {
            DEFAULT_EXPRESSION
        } else {
            args
        };
        match Expr::parse(args, self.limits) {
            Ok(expr) => {
                let outcome = expr.roll(&mut self.rng);
                format!("{user} rolled {expr}: {outcome}")
            }
            Err(err) => format!("{user}: {err}. {}", usage(self.limits)),
        }
    }

    /// The text of the reply to `!flip` from `user`.
    pub fn flip_reply(&mut self, user: &str) -> String {
        let side = if self.rng.bool() { "heads" } else { "tails" };
        format!("{user} flipped a coin: {side}")
    }
}

/// The limits `config` sets; an error naming the keys when one is 0 or not a number.
fn limits(config: &Config<'_>) -> PluginResult<Limits> {
    let limits = Limits {
        max_dice: config.get_or("max_dice", 100)?,
        max_sides: config.get_or("max_sides", 1000)?,
    };
    if limits.max_dice == 0 || limits.max_sides == 0 {
        return Err(Error::msg(
            "config: max_dice and max_sides must be at least 1",
        ));
    }
    Ok(limits)
}

/// How to write a roll, with the limits in force.
fn usage(limits: Limits) -> String {
    format!(
        "Usage: !roll NdM[khK|klK|dhK|dlK][+K|-K], e.g. !roll 2d6, !roll 4d6kh3, !roll d20+5 \
         (kh/kl keep the K highest/lowest dice, dh/dl drop them; at most {} dice of {} sides)",
        limits.max_dice, limits.max_sides
    )
}

impl Plugin for DiceRoller {
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self> {
        Ok(DiceRoller {
            limits: limits(&ctx.config())?,
            rng: fastrand::Rng::new(),
        })
    }

    fn on_config(&mut self, ctx: &Context<'_>, config: &Config<'_>) -> PluginResult<()> {
        self.limits = limits(config)?;
        ctx.info(format!(
            "now at most {} dice of {} sides",
            self.limits.max_dice, self.limits.max_sides
        ));
        Ok(())
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        match cmd.name() {
            "roll" => ctx.reply(self.roll_reply(cmd.user(), cmd.args())),
            "flip" => ctx.reply(self.flip_reply(cmd.user())),
            other => ctx.warn(format!(
                "dice-roller got a command it does not claim: {other}"
            )),
        }
        Ok(())
    }
}

export_plugin!(DiceRoller);

#[cfg(test)]
mod tests {
    use super::*;

    fn roller() -> DiceRoller {
        DiceRoller {
            limits: Limits {
                max_dice: 100,
                max_sides: 1000,
            },
            rng: fastrand::Rng::with_seed(42),
        }
    }

    #[test]
    fn replies_with_the_rolls_and_total() {
        let reply = roller().roll_reply("alice", "2d6");
        assert!(reply.starts_with("alice rolled 2d6: ["), "{reply}");
        let total: i64 = reply
            .rsplit("= ")
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or(-1);
        assert!((2..=12).contains(&total), "{reply}");
    }

    #[test]
    fn no_arguments_rolls_a_d20() {
        let reply = roller().roll_reply("bob", "  ");
        assert!(reply.starts_with("bob rolled 1d20: ["), "{reply}");
    }

    #[test]
    fn bad_input_explains_the_syntax() {
        let reply = roller().roll_reply("carol", "lots of dice");
        assert!(reply.contains("can't read"), "{reply}");
        assert!(reply.contains("Usage: !roll NdM"), "{reply}");
        let reply = roller().roll_reply("carol", "1000d6");
        assert!(reply.contains("too many (at most 100)"), "{reply}");
        assert!(reply.contains("Usage"), "{reply}");
    }

    #[test]
    fn flips_both_ways() {
        let mut roller = roller();
        let flips: Vec<String> = (0..64).map(|_| roller.flip_reply("dave")).collect();
        assert!(flips.iter().any(|f| f == "dave flipped a coin: heads"));
        assert!(flips.iter().any(|f| f == "dave flipped a coin: tails"));
    }
}

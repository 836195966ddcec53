//! # trivia
//!
//! A rosey plugin that runs trivia rounds in chat. It shows an author three things: a game
//! driven by chat events and timers, a sub-command only moderators may use on a command everyone
//! may use, and state handed to the next instance so that a reload does not interrupt a game.
//!
//! Commands:
//!
//! * `!trivia` starts a round of `questions_per_round` questions, picked at random from
//!   `src/questions.txt`. Each is said in chat (`Question 1/5: …`) and open for `answer_time`:
//!   the first chat line that matches an answer (ignoring case, punctuation and extra spaces)
//!   scores a point, `alice got it: Paris (alice has 3 points)`; otherwise
//!   `Time's up! The answer was: Paris`. After a `pause` the next question comes; after the last,
//!   `Round over. Top: alice 3, bob 1`.
//! * `!trivia scores` shows the five best players of all rounds.
//! * `!trivia stop` ends the round at once, for moderators and up.
//!
//! **One command, two ranks.** `min_rank` in the manifest applies to the whole command, and
//! everyone may start a round, so the plugin checks [`Command::rank`] itself for `stop`. The
//! rank is `None` when the host cannot tell (an older one): that is refused too, never taken as
//! permission.
//!
//! **Answers are events.** The manifest subscribes to `chat.message`, so [`Plugin::on_event`]
//! sees every chat line (commands included: lines starting with `!` are skipped; the bot's own
//! lines never arrive). Only a line said while a question is open can score.
//!
//! **Two kinds of data, two places.** Scores are cumulative and precious: they live in the
//! key-value store (`score/<name>`, see [`scores`]) and survive everything. The round in play is
//! fleeting: it lives in memory and is handed to the next instance through the state
//! [`Plugin::unload`] returns, which [`Plugin::load`] reads from [`LoadContext::state`]. Timers
//! end with the instance that armed them, so `load` re-arms the round's one timer for the time
//! left: the state stores the phase's *due time* on the host's clock ([`Context::now_ms`]), not
//! a remaining duration, so the time a reload took is not given away. A reload mid-question
//! keeps the question and the time left; a restart without state simply has no round, and
//! neither has a start long after a stop (the daemon hands a stopped plugin's state to its next
//! start, but a round over a minute overdue is dropped: see [`round`]).
//!
//! Configuration (`config.yaml`): `questions_per_round` (default 5), `answer_time` (default
//! `20s`) and `pause` between questions (default `3s`; `0s` asks the next one at once). The
//! plugin has no [`Plugin::on_config`]: new configuration reloads it with its state, so the
//! same hand-over keeps a round in play going under the new settings.

pub mod questions;
pub mod round;
pub mod scores;

use std::time::Duration;

use rosey_abi::{
    args::parse_duration, export_plugin, Command, Config, Context, Error, Event, LoadContext,
    Plugin, PluginResult, Rank, Timer,
};

use questions::Question;
use round::{Phase, Round, NEXT_TIMER, QUESTION_TIMER};

/// How `!trivia` is used.
pub const USAGE: &str =
    "Usage: !trivia (start a round) | !trivia scores (the best players) | !trivia stop (moderators)";

/// What a registered user who asks to stop a round is told.
pub const STOP_REFUSED: &str = "Only moderators can stop a round.";

/// How many players `!trivia scores` shows.
const TOP: usize = 5;

/// The plugin: its settings, the questions, and the round in play, if any.
pub struct Trivia {
    questions: Vec<Question>,
    per_round: usize,
    answer_time: Duration,
    pause: Duration,
    round: Option<Round>,
    rng: fastrand::Rng,
}

/// A duration from the configuration, or `default` when unset.
fn duration(config: &Config<'_>, key: &str, default: Duration) -> PluginResult<Duration> {
    match config.get(key) {
        None => Ok(default),
        Some(text) => {
            parse_duration(text).map_err(|err| Error::msg(format!("config: {key}: {err}")))
        }
    }
}

/// `delay` in whole milliseconds.
fn millis(delay: Duration) -> u64 {
    u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
}

impl Trivia {
    /// `!trivia`: starts a round unless one is on.
    fn start(&mut self, ctx: &Context<'_>) -> PluginResult<()> {
        if let Some(round) = &self.round {
            ctx.reply(format!(
                "A round is on (question {} of {}). Moderators can end it with !trivia stop.",
                round.current + 1,
                round.order.len()
            ));
            return Ok(());
        }
        let mut order: Vec<usize> = (0..self.questions.len()).collect();
        self.rng.shuffle(&mut order);
        order.truncate(self.per_round);
        ctx.say(format!(
            "Trivia! {} questions, {}s each: type your answer in chat.",
            order.len(),
            self.answer_time.as_secs()
        ));
        self.round = Some(Round {
            order,
            current: 0,
            phase: Phase::Asking { due_ms: 0 },
            scores: Vec::new(),
        });
        self.ask(ctx)
    }

    /// Asks the round's current question and arms its timer.
    fn ask(&mut self, ctx: &Context<'_>) -> PluginResult<()> {
        let Some(round) = &mut self.round else {
            return Ok(());
        };
        ctx.say(round.ask_text(&self.questions));
        round.phase = Phase::Asking {
            due_ms: ctx.now_ms().saturating_add(millis(self.answer_time)),
        };
        ctx.after(self.answer_time, QUESTION_TIMER)
    }

    /// The current question is over (answered, or time is up): on to the next after the pause,
    /// or the end of the round.
    fn next(&mut self, ctx: &Context<'_>) -> PluginResult<()> {
        let Some(round) = &mut self.round else {
            return Ok(());
        };
        if round.is_last() {
            ctx.say(format!("Round over. {}", round.summary()));
            self.round = None;
            return Ok(());
        }
        round.current += 1;
        if self.pause.is_zero() {
            return self.ask(ctx);
        }
        round.phase = Phase::Pausing {
            due_ms: ctx.now_ms().saturating_add(millis(self.pause)),
        };
        ctx.after(self.pause, NEXT_TIMER)
    }

    /// `!trivia stop`, from someone allowed to.
    fn stop(&mut self, ctx: &Context<'_>, by: &str) -> PluginResult<()> {
        let Some(round) = self.round.take() else {
            ctx.reply("No round is on. Start one with !trivia");
            return Ok(());
        };
        ctx.cancel_timer(round.phase.timer())?;
        ctx.say(format!("Round stopped by {by}. {}", round.summary()));
        Ok(())
    }

    /// `user` said `text` in chat: a point if it answers the open question.
    fn hear(&mut self, ctx: &Context<'_>, user: &str, text: &str) -> PluginResult<()> {
        let Some(round) = &mut self.round else {
            return Ok(());
        };
        let Phase::Asking { .. } = round.phase else {
            return Ok(());
        };
        let Some(question) = round.question(&self.questions) else {
            return Ok(());
        };
        if text.trim_start().starts_with('!') || !question.accepts(text) {
            return Ok(());
        }
        ctx.cancel_timer(QUESTION_TIMER)?;
        round.add_point(user);
        let total = scores::add_point(&ctx.kv(), user)?;
        let points = if total == 1 { "point" } else { "points" };
        ctx.say(format!(
            "{user} got it: {} ({user} has {total} {points})",
            question.answer()
        ));
        self.next(ctx)
    }
}

impl Plugin for Trivia {
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self> {
        let questions = questions::parse(questions::BUILT_IN).map_err(Error::msg)?;
        let config = ctx.config();
        let per_round: usize = config.get_or("questions_per_round", 5)?;
        if !(1..=questions.len()).contains(&per_round) {
            return Err(Error::msg(format!(
                "config: questions_per_round must be from 1 to {}, not {per_round}",
                questions.len()
            )));
        }
        let answer_time = duration(&config, "answer_time", Duration::from_secs(20))?;
        if answer_time < Duration::from_secs(1) {
            return Err(Error::msg("config: answer_time must be at least 1s"));
        }
        let pause = duration(&config, "pause", Duration::from_secs(3))?;

        // A round handed over by the previous instance goes on where it was: its timer ended
        // with that instance, so arm it again for what is left of the phase (nothing left: it
        // fires at once). One whose phase ended long ago was stopped with the plugin, not
        // reloaded: nobody waits for it any more.
        let round = match ctx.state().filter(|state| !state.is_empty()) {
            None => None,
            Some(state) => {
                match Round::decode(state, questions.len()) {
                    Ok(round) if round.is_stale(ctx.now_ms()) => {
                        ctx.info("the handed-over round ended long ago (the plugin was stopped); dropped");
                        None
                    }
                    Ok(round) => {
                        let left = round.phase.due_ms().saturating_sub(ctx.now_ms());
                        ctx.after(Duration::from_millis(left), round.phase.timer())?;
                        ctx.info(format!(
                            "resuming the round at question {} of {} ({left} ms left)",
                            round.current + 1,
                            round.order.len()
                        ));
                        Some(round)
                    }
                    Err(err) => {
                        ctx.warn(format!(
                            "cannot resume the handed-over round ({err}); dropped"
                        ));
                        None
                    }
                }
            }
        };
        Ok(Trivia {
            questions,
            per_round,
            answer_time,
            pause,
            round,
            rng: fastrand::Rng::new(),
        })
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        match cmd.args().trim().to_lowercase().as_str() {
            "" | "start" => self.start(ctx),
            "scores" | "top" => {
                let top = scores::top(&ctx.kv(), TOP)?;
                ctx.reply(if top.is_empty() {
                    "No scores yet: start a round with !trivia".to_owned()
                } else {
                    format!("Top scores: {}", round::ranking(&top))
                });
                Ok(())
            }
            // Everyone may use !trivia, so the manifest cannot restrict it: check the rank
            // here, and refuse when it is unknown.
            "stop" => match cmd.rank() {
                Some(rank) if rank >= Rank::MODERATOR => self.stop(ctx, cmd.user()),
                _ => {
                    ctx.reply(STOP_REFUSED);
                    Ok(())
                }
            },
            _ => {
                ctx.reply(USAGE);
                Ok(())
            }
        }
    }

    fn on_event(&mut self, ctx: &Context<'_>, event: &Event<'_>) -> PluginResult<()> {
        match (event.kind(), event.user(), event.text()) {
            ("chat.message", Some(user), Some(text)) => self.hear(ctx, user, text),
            _ => Ok(()),
        }
    }

    fn on_timer(&mut self, ctx: &Context<'_>, timer: &Timer<'_>) -> PluginResult<()> {
        let Some(round) = &self.round else {
            return Ok(());
        };
        match (round.phase, timer.name()) {
            (Phase::Asking { .. }, QUESTION_TIMER) => {
                let answer = round.question(&self.questions).map_or("", |q| q.answer());
                ctx.say(format!("Time's up! The answer was: {answer}"));
                self.next(ctx)
            }
            (Phase::Pausing { .. }, NEXT_TIMER) => self.ask(ctx),
            // A timer of a phase that is over (it was on its way when the phase ended).
            _ => Ok(()),
        }
    }

    fn unload(&mut self, _ctx: &Context<'_>) -> PluginResult<Vec<u8>> {
        Ok(self.round.as_ref().map(Round::encode).unwrap_or_default())
    }
}

export_plugin!(Trivia);

#[cfg(test)]
mod tests;

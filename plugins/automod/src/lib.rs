//! # automod
//!
//! A rosey plugin that keeps a CyTube chat civil: it warns users who flood the chat or say a
//! banned word, and mutes (or shadow-mutes, or kicks) those who do it again. It shows an author
//! how to moderate through [`Context::channel`], how to spare the people who must never be
//! acted on, how to report an action's outcome, and how to say a missing bot rank once instead
//! of at every offence.
//!
//! **What counts.** Every `chat.message` event (commands included) from a user below moderator:
//! more than `flood.messages` lines within `flood.seconds` is flooding; a line with one of
//! `words` (whole words, any case) is bad language. The first offence is a warning in chat
//! (`alice, please slow down.` / `alice, watch your language.`); a second within
//! `warn_reset_minutes` of the warning gets the `action`, announced once (`Muted alice for
//! flooding.`; a shadow mute is not announced, which would defeat it). After an action the user
//! is left alone for the rest of that window: never two actions in one window.
//!
//! **Who is spared.** Moderators and above, by the event's rank ([`Event::rank`]) and, before
//! anything is said or done, by the channel's user list too (the event's rank is unknown on an
//! older host); the bot itself; anyone on the `exempt` list.
//!
//! **Outcomes.** Every action is logged at info with how it ended: `mute alice for flooding:
//! done`, or the failure's kind and message. A bot whose rank is too low
//! ([`ActionErrorKind::BotRank`]) is also logged as a warning and said in chat once, until an
//! action works again.
//!
//! Commands (the manifest gives `!automod` a `min_rank` of moderator):
//!
//! * `!automod status`: warnings and actions since the plugin started, and the rules.
//! * `!automod pardon <user>`: forgets the user's strikes and unmutes them.
//!
//! The strikes and tallies live in memory, handed to the next instance across a reload (see
//! [`strikes`]); a restart forgets them. Time is the host's clock ([`Context::now_ms`]), which
//! the testing kit fakes. Configuration (`config.yaml`, taken live by [`Plugin::on_config`]):
//! see [`settings`] and `config.default.yaml`.

pub mod settings;
pub mod strikes;

use rosey_abi::{
    channel::is_valid_user_name, export_plugin, ActionErrorKind, Command, Config, Context, Event,
    LoadContext, Plugin, PluginResult, Rank,
};

use settings::{Punishment, Settings};
use strikes::{Reason, Tracker, Verdict};

/// How `!automod` is used.
pub const USAGE: &str = "Usage: !automod status | !automod pardon <user>";

/// What someone below moderator is told (the manifest's `min_rank` normally stops them first).
pub const MODS_ONLY: &str = "Only moderators can use !automod.";

/// The plugin: its settings and what it remembers.
pub struct Automod {
    settings: Settings,
    tracker: Tracker,
}

/// `1 warning`, `2 warnings`.
fn plural(count: impl Into<u64>, word: &str) -> String {
    match count.into() {
        1 => format!("1 {word}"),
        count => format!("{count} {word}s"),
    }
}

/// Whether `user` must be left alone though the event did not say so: the bot itself, or a
/// moderator by the channel's user list.
fn spared(ctx: &Context<'_>, user: &str) -> bool {
    let is = |name: &str| name.eq_ignore_ascii_case(user);
    if ctx.channel().bot().is_ok_and(|bot| is(&bot.name)) {
        return true;
    }
    ctx.users().is_ok_and(|users| {
        (users.iter()).any(|present| is(&present.name) && present.rank >= Rank::MODERATOR)
    })
}

impl Automod {
    /// `user` (at `rank`, when known) said `text` in chat.
    fn hear(&mut self, ctx: &Context<'_>, user: &str, text: &str, rank: Option<Rank>) {
        if rank.is_some_and(|rank| rank >= Rank::MODERATOR) || self.settings.is_exempt(user) {
            return;
        }
        let now = ctx.now_ms();
        let Some(reason) = self.tracker.offence(user, now, text, &self.settings) else {
            return;
        };
        if spared(ctx, user) {
            return;
        }
        match self.tracker.verdict(user, now, self.settings.window_ms) {
            Verdict::Warn => {
                self.tracker.counts.warnings += 1;
                ctx.info(format!("warned {user} for {}", reason.describe()));
                ctx.say(reason.warning(user));
            }
            Verdict::Act => self.act(ctx, user, reason),
            Verdict::AlreadyActed => ctx.debug(format!(
                "{user} offended again ({}); already acted on in this window",
                reason.describe()
            )),
        }
    }

    /// Takes the configured action on `user` for `reason`; logs and reports how it went.
    fn act(&mut self, ctx: &Context<'_>, user: &str, reason: Reason) {
        let action = self.settings.action;
        let channel = ctx.channel();
        let result = match action {
            Punishment::Mute => channel.mute(user),
            Punishment::ShadowMute => channel.shadow_mute(user),
            Punishment::Kick => channel.kick(user, &format!("{} (automod)", reason.describe())),
        };
        let what = format!("{} {user} for {}", action.name(), reason.describe());
        match result {
            Ok(()) => {
                self.tracker.counts.actions += 1;
                self.tracker.rank_reported = false;
                ctx.info(format!("{what}: done"));
                if action != Punishment::ShadowMute {
                    ctx.say(format!(
                        "{} {user} for {}.",
                        action.done(),
                        reason.describe()
                    ));
                }
            }
            Err(err) => {
                self.tracker.counts.failed += 1;
                ctx.info(format!(
                    "{what}: failed ({}): {}",
                    err.kind.code(),
                    err.message
                ));
                if err.kind == ActionErrorKind::BotRank && !self.tracker.rank_reported {
                    self.tracker.rank_reported = true;
                    ctx.warn(format!(
                        "cannot {}: {} (make the bot a moderator of the channel)",
                        action.name(),
                        err.message
                    ));
                    ctx.say("I need to be a moderator here to act on flooding and banned words.");
                }
            }
        }
    }

    /// `!automod status`.
    fn status(&self, ctx: &Context<'_>) -> String {
        let counts = self.tracker.counts;
        let struck = self.tracker.struck(ctx.now_ms(), self.settings.window_ms);
        let settings = &self.settings;
        format!(
            "automod: {}, {} ({} failed) since it started; {} with strikes now. \
             Flood: over {} in {}s; {}; second offence: {}.",
            plural(counts.warnings, "warning"),
            plural(counts.actions, "action"),
            counts.failed,
            plural(struck as u64, "user"),
            plural(settings.flood_messages as u64, "line"),
            settings.flood_ms / 1000,
            plural(settings.words.len() as u64, "banned word"),
            settings.action.name(),
        )
    }

    /// `!automod pardon <name>`, asked by `by`.
    fn pardon(&mut self, ctx: &Context<'_>, by: &str, name: &str) -> String {
        if !is_valid_user_name(name) {
            return format!("{name:?} is not a user name.");
        }
        let had = self
            .tracker
            .pardon(name, ctx.now_ms(), self.settings.window_ms);
        let strikes = if had {
            "strikes cleared"
        } else {
            "no strikes to clear"
        };
        match ctx.channel().unmute(name) {
            Ok(()) => {
                ctx.info(format!("{by} pardoned {name}: unmute {name}: done"));
                format!("Pardoned {name}: {strikes}, unmuted.")
            }
            Err(err) => {
                let (code, message) = (err.kind.code(), &err.message);
                ctx.info(format!(
                    "{by} pardoned {name}: unmute {name}: failed ({code}): {message}"
                ));
                format!("Pardoned {name}: {strikes}, but I could not unmute them: {message}")
            }
        }
    }
}

impl Plugin for Automod {
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self> {
        let settings = Settings::from_config(&ctx.config())?;
        let tracker = match ctx.state().filter(|state| !state.is_empty()) {
            None => Tracker::default(),
            Some(state) => Tracker::decode(state).unwrap_or_else(|err| {
                ctx.warn(format!(
                    "cannot read the handed-over strikes ({err}); starting fresh"
                ));
                Tracker::default()
            }),
        };
        Ok(Automod { settings, tracker })
    }

    fn on_config(&mut self, ctx: &Context<'_>, config: &Config<'_>) -> PluginResult<()> {
        self.settings = Settings::from_config(config)?;
        ctx.info(format!("settings now {:?}", self.settings));
        Ok(())
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        // The manifest's min_rank keeps lower ranks out; this is the belt to its braces.
        if cmd.rank().is_some_and(|rank| rank < Rank::MODERATOR) {
            ctx.reply(MODS_ONLY);
            return Ok(());
        }
        let mut args = cmd.args().split_whitespace();
        let first = args.next().map(str::to_lowercase);
        let reply = match (first.as_deref(), args.next(), args.next()) {
            (None | Some("status"), None, None) => self.status(ctx),
            (Some("pardon"), Some(name), None) => self.pardon(ctx, cmd.user(), name),
            _ => USAGE.to_owned(),
        };
        ctx.reply(reply);
        Ok(())
    }

    fn on_event(&mut self, ctx: &Context<'_>, event: &Event<'_>) -> PluginResult<()> {
        match (event.kind(), event.user(), event.text()) {
            ("chat.message", Some(user), Some(text)) => self.hear(ctx, user, text, event.rank()),
            ("user.leave", Some(user), _) => {
                (self.tracker).left(user, ctx.now_ms(), self.settings.window_ms);
            }
            _ => {}
        }
        Ok(())
    }

    fn unload(&mut self, _ctx: &Context<'_>) -> PluginResult<Vec<u8>> {
        Ok(self.tracker.encode())
    }
}

export_plugin!(Automod);

#[cfg(test)]
mod tests;

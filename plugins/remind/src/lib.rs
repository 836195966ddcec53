//! # remind
//!
//! A rosey plugin that reminds people of things later. It shows an author how to do something
//! *later* that must still happen after the plugin was reloaded, updated, or the whole bot was
//! restarted: keep the work in the key-value store and a timer for each piece of it, and re-arm
//! the timers from the store in `load`.
//!
//! Commands:
//!
//! * `!remind 10m stretch` (or `!remind in 1h30m tea`) answers `alice: I'll remind you in 10m.`
//!   and, ten minutes later, says `alice: reminder: stretch` in chat; asked by PM, it answers
//!   and reminds by PM. Durations are read by [`rosey_abi::args::parse_duration`] (`90s`, `10m`,
//!   `1h30m`, `2d`, `1w`).
//! * `!remind list` lists the asker's pending reminders, with their numbers.
//! * `!remind cancel <id>` (or `#<id>`) cancels one of the asker's own.
//!
//! **Where the reminders live.** Nothing is kept in memory: each reminder is one key of the
//! store (`reminder/<due_ms>-<id>`, see [`reminder`]), written before the answer is sent, and
//! deleted once it has been said. Its timer ([`Context::after`]) carries the key as its name,
//! so [`Plugin::on_timer`] needs nothing but the store to say it.
//!
//! **Surviving a reload and a restart.** Timers end with the instance that armed them, so
//! [`Plugin::load`] lists the store and arms one timer per reminder for the time still left,
//! `due - now`; one that came due while the plugin was down fires at once (a delay of zero).
//! Time is always read from [`Context::now_ms`], the host's clock, never from `SystemTime`:
//! under `rosey_abi::testing` the clock is the test's, so a test moves time instead of
//! sleeping.
//!
//! Configuration (`config.yaml`): `max_per_user` (default 5): how many pending reminders one
//! user may have; `max_delay` (default `30d`): how far ahead a reminder may be set. Both are
//! taken live by [`Plugin::on_config`] (`rosey plugin config remind max_per_user 3`), which
//! refuses values `load` would refuse; the armed timers are not touched.

pub mod reminder;

use std::time::Duration;

use rosey_abi::{
    args::{parse_duration, Args, ArgsError},
    export_plugin, Command, Config, Context, Error, Kv, LoadContext, Plugin, PluginResult, Timer,
};

use reminder::{format_duration, Reminder, KEY_PREFIX, NEXT_ID_KEY};

/// How `!remind` is used, replied to a bare `!remind` and to what it cannot read.
pub const USAGE: &str =
    "Usage: !remind <when> <message> (e.g. !remind 10m stretch) | !remind list | !remind cancel <id>";

/// The longest piece of a reminder's text `!remind list` shows, in characters.
const LIST_CLIP: usize = 40;

/// What `!remind …` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Nothing, or something unrecognised: explain.
    Usage,
    /// `list`.
    List,
    /// `cancel <id>`.
    Cancel(u64),
    /// `<when> <message>`.
    Set {
        /// How long from now.
        delay: Duration,
        /// What to say then.
        text: &'a str,
    },
    /// Something that cannot be read: the reason, worded for the user.
    Invalid(String),
}

impl<'a> Request<'a> {
    /// Reads the arguments of `!remind`.
    pub fn parse(text: &'a str) -> Request<'a> {
        let mut args = Args::new(text);
        let first: String = match args.optional("when") {
            Ok(Some(word)) => word,
            Ok(None) => return Request::Usage,
            Err(err) => return Request::Invalid(err.to_string()),
        };
        match first.to_lowercase().as_str() {
            "list" => match args.finish() {
                Ok(()) => Request::List,
                Err(_) => Request::Usage,
            },
            "cancel" | "delete" => {
                let Ok(id) = args.rest_required("id") else {
                    return Request::Usage;
                };
                match id.trim_start_matches('#').parse() {
                    Ok(id) => Request::Cancel(id),
                    Err(_) => Request::Invalid(
                        ArgsError::invalid("id", id, "a number from !remind list").to_string(),
                    ),
                }
            }
            "help" => Request::Usage,
            word => {
                let when = if word == "in" {
                    match args.optional::<String>("when") {
                        Ok(Some(when)) => when,
                        _ => return Request::Usage,
                    }
                } else {
                    first
                };
                let delay = match parse_duration(&when) {
                    Ok(delay) => delay,
                    Err(err) => return Request::Invalid(err.to_string()),
                };
                match args.rest() {
                    "" => Request::Invalid(format!("what should I remind you of? {USAGE}")),
                    text => Request::Set { delay, text },
                }
            }
        }
    }
}

/// The plugin: only its limits; the reminders are in the store.
pub struct Remind {
    max_per_user: usize,
    max_delay: Duration,
}

impl Remind {
    /// The plugin with the limits `config` sets; an error naming the key that is wrong.
    fn from_config(config: &Config<'_>) -> PluginResult<Remind> {
        let max_per_user = config.get_or("max_per_user", 5usize)?;
        if max_per_user == 0 {
            return Err(Error::msg("config: max_per_user must be at least 1"));
        }
        let max_delay = match config.get("max_delay") {
            None => Duration::from_secs(30 * 86_400),
            Some(text) => parse_duration(text)
                .map_err(|err| Error::msg(format!("config: max_delay: {err}")))?,
        };
        Ok(Remind {
            max_per_user,
            max_delay,
        })
    }

    /// The answer to `cmd`, acting on the store and the timers.
    fn handle(&self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<String> {
        let user = cmd.user();
        match Request::parse(cmd.args()) {
            Request::Usage => Ok(USAGE.to_owned()),
            Request::Invalid(reason) => Ok(format!("{user}: {reason}")),
            Request::List => list(ctx, user),
            Request::Cancel(id) => cancel(ctx, user, id),
            Request::Set { delay, text } => self.set(ctx, cmd, delay, text),
        }
    }

    fn set(
        &self,
        ctx: &Context<'_>,
        cmd: &Command<'_>,
        delay: Duration,
        text: &str,
    ) -> PluginResult<String> {
        let user = cmd.user();
        if delay.is_zero() {
            return Ok(format!("{user}: pick a time from now, like 10m."));
        }
        if delay > self.max_delay {
            let most = format_duration(self.max_delay);
            return Ok(format!("{user}: I can only remind you up to {most} ahead."));
        }
        let kv = ctx.kv();
        let stored = reminders(ctx, &kv)?;
        if stored.iter().filter(|r| r.belongs_to(user)).count() >= self.max_per_user {
            return Ok(format!(
                "{user}: you already have {} reminders waiting, the most I keep for one person. \
                 See them with !remind list; drop one with !remind cancel <id>.",
                self.max_per_user
            ));
        }
        let id = next_id(&kv, &stored)?;
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let reminder = Reminder {
            id,
            due_ms: ctx.now_ms().saturating_add(millis),
            user: user.to_owned(),
            by_pm: cmd.by_pm(),
            text: text.to_owned(),
        };
        let key = reminder.key();
        kv.set(&key, reminder.encode())?;
        kv.set(NEXT_ID_KEY, (id + 1).to_string())?;
        if let Err(err) = ctx.after(delay, &key) {
            // The host keeps a bounded number of timers per plugin: refuse rather than keep a
            // reminder that would never fire.
            kv.delete(&key)?;
            ctx.warn(format!("cannot arm a timer for reminder #{id}: {err}"));
            return Ok(format!(
                "{user}: sorry, I cannot keep any more reminders right now."
            ));
        }
        Ok(format!(
            "{user}: I'll remind you in {}.",
            format_duration(delay)
        ))
    }
}

/// `!remind list`: `user`'s pending reminders, soonest first.
fn list(ctx: &Context<'_>, user: &str) -> PluginResult<String> {
    let now_ms = ctx.now_ms();
    let listed: Vec<String> = reminders(ctx, &ctx.kv())?
        .iter()
        .filter(|reminder| reminder.belongs_to(user))
        .map(|reminder| {
            let left = delay_until(reminder.due_ms, now_ms);
            let text = clip(&reminder.text);
            format!("#{} in {}: {text}", reminder.id, format_duration(left))
        })
        .collect();
    if listed.is_empty() {
        return Ok(format!("{user}: you have no reminders waiting."));
    }
    Ok(format!("{user}: {}", listed.join(" | ")))
}

/// `!remind cancel <id>`: drops `user`'s reminder `id`, its key and its timer.
fn cancel(ctx: &Context<'_>, user: &str, id: u64) -> PluginResult<String> {
    let kv = ctx.kv();
    let found = reminders(ctx, &kv)?
        .into_iter()
        .find(|reminder| reminder.id == id && reminder.belongs_to(user));
    let Some(reminder) = found else {
        return Ok(format!(
            "{user}: you have no reminder #{id} (see !remind list)."
        ));
    };
    let key = reminder.key();
    ctx.cancel_timer(&key)?;
    kv.delete(&key)?;
    Ok(format!(
        "{user}: cancelled reminder #{id} ({}).",
        clip(&reminder.text)
    ))
}

/// Every stored reminder, soonest first; a damaged one is logged and skipped.
fn reminders(ctx: &Context<'_>, kv: &Kv<'_>) -> PluginResult<Vec<Reminder>> {
    let mut found = Vec::new();
    for key in kv.list(KEY_PREFIX)? {
        let Some(value) = kv.get(&key)? else { continue };
        match Reminder::decode(&key, &value) {
            Ok(reminder) => found.push(reminder),
            Err(err) => ctx.warn(format!("skipping a damaged reminder: {err}")),
        }
    }
    Ok(found)
}

/// The number the next reminder gets: the counter, never at or below a stored reminder's (so
/// a lost counter cannot give two reminders one number).
fn next_id(kv: &Kv<'_>, stored: &[Reminder]) -> PluginResult<u64> {
    let counter = (kv.get_string(NEXT_ID_KEY).ok().flatten())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or(1);
    let after_highest = stored.iter().map(|r| r.id + 1).max().unwrap_or(1);
    Ok(counter.max(after_highest).max(1))
}

/// How long from `now_ms` until `due_ms`: zero for a reminder already due, which a timer
/// armed for it then fires at once.
pub fn delay_until(due_ms: u64, now_ms: u64) -> Duration {
    Duration::from_millis(due_ms.saturating_sub(now_ms))
}

/// `text` cut to [`LIST_CLIP`] characters.
fn clip(text: &str) -> String {
    let mut chars = text.chars();
    let mut clipped: String = chars.by_ref().take(LIST_CLIP).collect();
    if chars.next().is_some() {
        clipped.push('…');
    }
    clipped
}

impl Plugin for Remind {
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self> {
        let plugin = Remind::from_config(&ctx.config())?;
        // Timers end with the instance that armed them: arm one for every stored reminder,
        // for the time still left (none, for one that came due while the plugin was down).
        let now = ctx.now_ms();
        let (mut armed, mut overdue) = (0, 0);
        for reminder in reminders(ctx, &ctx.kv())? {
            let left = delay_until(reminder.due_ms, now);
            overdue += usize::from(left.is_zero());
            match ctx.after(left, &reminder.key()) {
                Ok(()) => armed += 1,
                Err(err) => ctx.warn(format!("cannot arm reminder #{}: {err}", reminder.id)),
            }
        }
        if armed > 0 {
            ctx.info(format!(
                "stored reminders re-armed: {armed} ({overdue} overdue, firing now)"
            ));
        }
        Ok(plugin)
    }

    fn on_config(&mut self, ctx: &Context<'_>, config: &Config<'_>) -> PluginResult<()> {
        *self = Remind::from_config(config)?;
        ctx.info(format!(
            "now at most {} reminders per user, {} ahead",
            self.max_per_user,
            format_duration(self.max_delay)
        ));
        Ok(())
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        let reply = self.handle(ctx, cmd)?;
        ctx.reply(reply);
        Ok(())
    }

    fn on_timer(&mut self, ctx: &Context<'_>, timer: &Timer<'_>) -> PluginResult<()> {
        let key = timer.name();
        let kv = ctx.kv();
        // Gone: cancelled while the timer was on its way.
        let Some(value) = kv.get(key)? else {
            return Ok(());
        };
        match Reminder::decode(key, &value) {
            Ok(reminder) if reminder.by_pm => {
                ctx.pm(&reminder.user, format!("reminder: {}", reminder.text));
            }
            Ok(reminder) => ctx.say(format!("{}: reminder: {}", reminder.user, reminder.text)),
            Err(err) => ctx.warn(format!("dropping a damaged reminder: {err}")),
        }
        kv.delete(key)?;
        Ok(())
    }
}

export_plugin!(Remind);

#[cfg(test)]
mod tests;

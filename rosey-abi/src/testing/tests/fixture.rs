//! The plugins the kit's own tests drive: [`Probe`] reaches every part of the SDK on command
//! and takes configuration live; [`Plain`] has no `on_config` (new configuration reloads it)
//! and re-arms a timer in every `load`; [`Refuses`] and [`PanicsOnLoad`] never load.

use std::{collections::BTreeMap, sync::Mutex, thread, time::Duration};

use crate::{
    testing::START_MS, Command, Config, Context, Error, Event, Handle, LoadContext, Plugin,
    PluginResult, Rank, Timer,
};

/// Handles `keep <key>` hands out, for a test to use once their instance is gone (keyed by
/// test, as tests run in parallel).
static KEPT: Mutex<BTreeMap<String, Handle>> = Mutex::new(BTreeMap::new());

/// The handle kept under `key`.
pub fn kept(key: &str) -> Handle {
    let kept = KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    kept.get(key)
        .cloned()
        .expect("a handle kept under that key")
}

/// The state an instance hands over: a counter, as decimal text.
fn counter(state: Option<&[u8]>) -> PluginResult<u64> {
    match state {
        None => Ok(0),
        Some(bytes) => Ok(std::str::from_utf8(bytes)?.parse()?),
    }
}

/// Everything the SDK offers, one command each.
pub struct Probe {
    count: u64,
    greeting: String,
}

impl Plugin for Probe {
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self> {
        let count = counter(ctx.state())?;
        ctx.info(format!("loaded with count {count}"));
        Ok(Probe {
            count,
            greeting: ctx.config().get("greeting").unwrap_or("hello").to_owned(),
        })
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        let args = cmd.args();
        let (word, rest) = args.split_once(' ').unwrap_or((args, ""));
        let ms = |text: &str| text.parse().map(Duration::from_millis);
        match cmd.name() {
            "hi" => ctx.reply(format!("{}, {}", self.greeting, cmd.user())),
            "rank" => ctx.reply(cmd.rank().map_or("unknown".to_owned(), |r| r.to_string())),
            "kick" if cmd.rank() >= Some(Rank::MODERATOR) => ctx.reply(format!("kicked {args}")),
            "kick" => ctx.reply("moderators only"),
            "shout" => {
                ctx.say(args);
                ctx.pm(cmd.user(), "shouted");
            }
            "count" => {
                self.count += 1;
                ctx.reply(self.count.to_string());
            }
            "after" => ctx.after(ms(word)?, rest)?,
            "every" => ctx.every(ms(word)?, rest)?,
            "cancel" => ctx.reply(ctx.cancel_timer(args)?.to_string()),
            "now" => ctx.reply((ctx.now_ms() - START_MS).to_string()),
            "later" => {
                let (handle, origin) = (ctx.handle(), cmd.origin());
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(20));
                    let _ = handle.reply(&origin, "later");
                });
            }
            "keep" => {
                let mut kept = KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                kept.insert(args.to_owned(), ctx.handle());
            }
            "publish" => ctx.publish(word, rest)?,
            "set" => ctx.kv().set(word, rest)?,
            "get" => ctx.reply(ctx.kv().get_string(args)?.unwrap_or("-".to_owned())),
            "del" => ctx.reply(ctx.kv().delete(args)?.to_string()),
            "list" => ctx.reply(ctx.kv().list(args)?.join(",")),
            "who" => {
                let users = ctx.users()?;
                let users: Vec<String> = users
                    .iter()
                    .map(|user| format!("{}:{}:{}", user.name, user.rank, user.afk))
                    .collect();
                ctx.reply(users.join(" "));
            }
            "playing" => match ctx.media()? {
                Some(media) => {
                    ctx.reply(format!("{} ({}s)", media.title, media.duration.as_secs()))
                }
                None => ctx.reply("nothing"),
            },
            "log" => ctx.warn(args),
            "config" => ctx.reply(format!(
                "{} {}",
                ctx.config().get(args).unwrap_or("-"),
                ctx.config().json()
            )),
            "store" => {
                std::fs::write(ctx.storage_dir().join(word), rest)?;
                ctx.reply("stored");
            }
            "boom" => panic!("boom: {args}"),
            "fail" => return Err(Error::msg(format!("no luck: {args}"))),
            other => return Err(Error::msg(format!("unknown command {other}"))),
        }
        Ok(())
    }

    fn on_event(&mut self, ctx: &Context<'_>, event: &Event<'_>) -> PluginResult<()> {
        let rank = event
            .rank()
            .map_or("none".to_owned(), |rank| rank.to_string());
        match (event.kind(), event.text()) {
            ("chat.message", Some(text)) if text.contains("payload") => {
                ctx.reply(event.payload_json())
            }
            ("chat.message", Some(text)) => ctx.reply(format!(
                "{} ({rank}) said {text}",
                event.user().unwrap_or("?")
            )),
            (kind, text) => ctx.reply(format!(
                "{kind} {:?} {text:?} {} {rank} at {}",
                event.user(),
                event.payload_json(),
                event.time_ms() - START_MS
            )),
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &Context<'_>, timer: &Timer<'_>) -> PluginResult<()> {
        ctx.reply(format!(
            "{} due {} now {}",
            timer.name(),
            timer.due_ms() - START_MS,
            ctx.now_ms() - START_MS
        ));
        if timer.name() == "once-more" {
            ctx.after(Duration::from_millis(50), "again")?;
        }
        Ok(())
    }

    fn on_config(&mut self, ctx: &Context<'_>, config: &Config<'_>) -> PluginResult<()> {
        let greeting = config.get("greeting").unwrap_or("hello");
        if greeting.is_empty() {
            return Err(Error::msg("greeting must not be empty"));
        }
        self.greeting = greeting.to_owned();
        ctx.say(format!("greeting is now {greeting}"));
        Ok(())
    }

    fn unload(&mut self, ctx: &Context<'_>) -> PluginResult<Vec<u8>> {
        ctx.say(format!("bye at {}", self.count));
        Ok(self.count.to_string().into_bytes())
    }
}

/// A plugin without `on_config`: counts its loads (handed over as state), says its greeting
/// in `load`, and arms a `beat` every second there; fails to load when `fail` is set.
pub struct Plain {
    loads: u64,
    greeting: String,
}

impl Plugin for Plain {
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self> {
        if ctx.config().get("fail").is_some() {
            return Err(Error::msg("told to fail"));
        }
        let loads = counter(ctx.state())? + 1;
        let greeting = ctx.config().get("greeting").unwrap_or("hello").to_owned();
        ctx.say(format!("load {loads}: {greeting}"));
        ctx.every(Duration::from_secs(1), "beat")?;
        Ok(Plain { loads, greeting })
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        match cmd.name() {
            "arm" => ctx.after(Duration::from_secs(5), "old")?,
            _ => ctx.reply(&self.greeting),
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &Context<'_>, timer: &Timer<'_>) -> PluginResult<()> {
        ctx.say(format!("{} of load {}", timer.name(), self.loads));
        Ok(())
    }

    fn unload(&mut self, _ctx: &Context<'_>) -> PluginResult<Vec<u8>> {
        Ok(self.loads.to_string().into_bytes())
    }
}

/// A plugin whose `load` returns an error.
pub struct Refuses;

impl Plugin for Refuses {
    fn load(_ctx: &LoadContext<'_>) -> PluginResult<Self> {
        Err(Error::msg("no database configured"))
    }

    fn on_command(&mut self, _ctx: &Context<'_>, _cmd: &Command<'_>) -> PluginResult<()> {
        Ok(())
    }
}

/// A plugin whose `load` panics.
pub struct PanicsOnLoad;

impl Plugin for PanicsOnLoad {
    fn load(_ctx: &LoadContext<'_>) -> PluginResult<Self> {
        panic!("cannot start")
    }

    fn on_command(&mut self, _ctx: &Context<'_>, _cmd: &Command<'_>) -> PluginResult<()> {
        Ok(())
    }
}

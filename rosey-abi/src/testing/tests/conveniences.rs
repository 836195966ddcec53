//! The SDK's conveniences through the kit: a timer at a time of day on the host's clock,
//! durations from the configuration, a command whose sender has no rank, and catching up on
//! what came due while the plugin was down.

use std::time::Duration;

use crate::{
    testing::{Said, TestBot},
    Command, Context, LoadContext, Plugin, PluginResult, Timer,
};

/// Keeps one deadline in storage (`deadline` = due ms), arms it with `at`, and says so.
struct Deadline {
    snooze: Duration,
}

impl Plugin for Deadline {
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self> {
        if let Some(due) = ctx.kv().get_string("deadline")? {
            ctx.at(due.parse()?, "deadline")?;
        }
        Ok(Deadline {
            snooze: ctx
                .config()
                .duration_or("snooze", Duration::from_secs(60))?,
        })
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        if cmd.args() == "rank" {
            ctx.reply(format!("{:?}", cmd.rank()));
            return Ok(());
        }
        let due = ctx.now_ms() + self.snooze.as_millis() as u64;
        ctx.kv().set("deadline", due.to_string())?;
        ctx.at(due, "deadline")?;
        ctx.reply(format!("due at {due}"));
        Ok(())
    }

    fn on_timer(&mut self, ctx: &Context<'_>, timer: &Timer<'_>) -> PluginResult<()> {
        ctx.kv().delete("deadline")?;
        ctx.say(format!("{} at {}", timer.name(), ctx.now_ms()));
        Ok(())
    }
}

#[test]
fn at_fires_on_the_host_clock_and_config_durations_read_as_written() {
    let mut bot = TestBot::<Deadline>::with_config(r#"{"snooze": "1m30s"}"#);
    let start = bot.now_ms();
    let due = start + 90_000;
    assert_eq!(
        bot.command("alice", "deadline"),
        [Said::chat(format!("due at {due}"))]
    );
    assert!(bot.advance(Duration::from_millis(89_999)).is_empty());
    assert_eq!(
        bot.advance(Duration::from_millis(1)),
        [Said::chat(format!("deadline at {due}"))]
    );
    let bad = TestBot::<Deadline>::try_load("deadline", r#"{"snooze": "soon"}"#)
        .err()
        .unwrap_or_default();
    assert!(bad.contains("config key `snooze` = \"soon\""), "{bad}");
}

#[test]
fn what_came_due_while_the_plugin_was_down_is_caught_up_at_load() {
    let mut bot = TestBot::<Deadline>::new();
    let due = bot.now_ms() + 60_000;
    bot.command("alice", "deadline");
    let said = bot.restart_after(Duration::from_secs(600));
    assert!(said.is_empty(), "nothing is said while loading: {said:?}");
    assert_eq!(
        bot.timers(),
        [("deadline".to_owned(), bot.now_ms())],
        "overdue: at once"
    );
    let fired = bot.advance(Duration::ZERO);
    assert_eq!(
        fired,
        [Said::chat(format!("deadline at {}", due + 540_000))]
    );
    assert_eq!(bot.kv_string("deadline"), None);
}

#[test]
fn a_command_whose_sender_has_no_rank_says_so() {
    let mut bot = TestBot::<Deadline>::new();
    assert_eq!(
        bot.command_unranked("ghost", "deadline rank"),
        [Said::chat("None")]
    );
    assert_eq!(
        bot.command("alice", "deadline rank"),
        [Said::chat("Some(Rank(1))")]
    );
}

//! Timer lateness: how long after it is due a plugin's timer is heard in chat, on the chaos
//! fixture (`!chaos timer <ms>` arms the one-off timer `probe` and replies `armed probe for
//! <ms> ms`; its firing makes the plugin say `timer probe due <due_ms> fired <now_ms>`, a chat
//! action with no `in_reply_to`).
//!
//! Method. The harness arms one timer of `delay` (100 ms) at a time and waits until it is said
//! before arming the next. `T_armed` is when the harness received the `armed` reply, `T_said`
//! when it received the firing's chat action; the sample is `T_said − (T_armed + delay)`. Both
//! come the same way (the daemon's plugin actor publishes them on `rosey.actions.chat`, read by
//! the harness's one subscription), so the delivery delay cancels out. The actor notes the
//! arming before it publishes the reply (the host writes its `SetTimer` frame before its reply
//! frame, and the actor notes each frame as it reads it), so the sample is at most the time
//! from the due moment to the said action being published, slightly less the actor's time
//! between noting the timer and publishing the reply: the actor's wake-up, the `Timer` frame
//! to the host, the plugin's hook and its `say` coming back, i.e. what a user of a timer sees.
//! A sample can come out below zero by as much as the reply was held up after the arming was
//! noted (the plugin finishing its handler, the actor publishing, the harness reading it).
//! The plugin's own view (`fired − due`, both wall clocks read in whole ms by the actor and the
//! plugin) is recorded beside it.
//!
//! Three cases: the stack idle; the same while an open-loop load of `!chaos ping` commands runs
//! (timers are fired between messages, so a message in the host delays a due timer); and a
//! repeating timer (`!chaos every <ms>`) left running for a few seconds, each firing timed
//! against its own schedule (`T_armed + period + (due_k − due_1)`, the dues read from the
//! firings), and the gap between successive firings against the period (jitter).

use std::{
    cell::Cell,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use rosey_benches::stats::Series;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{
    reload::ms,
    render::{missing, row_marked},
    report::Outcome,
    wire::{Said, Wire},
};

/// The home's `rosey.yaml`: defaults, free NATS and dashboard ports.
pub const CONFIG: &str = "nats:\n  port: 0\nweb:\n  port: 0\n";

/// How long any one reply or firing is waited for.
const WAIT: Duration = Duration::from_secs(10);

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// One-off timers timed in each case.
    pub count: usize,
    /// Their delay.
    pub delay: Duration,
    /// Commands per second during the loaded case; 0 leaves that case out.
    pub load_rate: f64,
    /// The repeating timer's period.
    pub period: Duration,
    /// How long the repeating timer runs; zero leaves that case out.
    pub every_for: Duration,
}

/// One-off timers armed one after another.
#[derive(Debug, Default, Serialize)]
pub struct OneOff {
    /// Commands per second running meanwhile (0: idle).
    pub load_rate: f64,
    /// Commands published meanwhile.
    pub load_sent: usize,
    /// `T_said − (T_armed + delay)`, in ms.
    pub lateness: Series,
    /// The plugin's own `fired − due`, in whole ms.
    pub plugin_view: Series,
}

/// A repeating timer.
#[derive(Debug, Default, Serialize)]
pub struct Repeating {
    /// Its period, in ms.
    pub period_ms: f64,
    /// Firings heard.
    pub firings: usize,
    /// Each firing's `T_said − (T_armed + period + (due_k − due_1))`, in ms.
    pub lateness: Series,
    /// `|gap between successive firings − period|`, in ms.
    pub jitter: Series,
}

/// Everything the timer measure found.
#[derive(Debug, Default, Serialize)]
pub struct TimerLateness {
    /// The one-off timers' delay, in ms.
    pub delay_ms: f64,
    /// How the lateness is taken.
    pub method: String,
    /// The stack idle.
    pub idle: OneOff,
    /// While commands run; `None` when not asked for.
    pub under_load: Option<OneOff>,
    /// A repeating timer; `None` when not asked for.
    pub repeating: Option<Repeating>,
}

/// Runs the cases of `plan` on a started chaos home.
pub async fn measure(wire: &Wire, plan: Plan) -> Result<TimerLateness> {
    let mut said = wire.hear_said();
    let result = cases(wire, &mut said, plan).await;
    wire.stop_hearing();
    wire.forget_replies();
    result
}

async fn cases(
    wire: &Wire,
    said: &mut UnboundedReceiver<Said>,
    plan: Plan,
) -> Result<TimerLateness> {
    let idle = one_offs(wire, said, plan, "idle").await?;
    let repeating = if plan.every_for.is_zero() {
        None
    } else {
        Some(repeating(wire, said, plan).await?)
    };
    let under_load = if plan.load_rate > 0.0 {
        let stop = Cell::new(false);
        let (timed, sent) = tokio::join!(
            async {
                let timed = one_offs(wire, said, plan, "load").await;
                stop.set(true);
                timed
            },
            ping_load(wire, plan.load_rate, &stop)
        );
        let mut timed = timed?;
        timed.load_rate = plan.load_rate;
        timed.load_sent = sent?;
        Some(timed)
    } else {
        None
    };
    Ok(TimerLateness {
        delay_ms: ms(plan.delay),
        method: "T_said − (T_armed + delay), both as the harness received them over NATS"
            .to_owned(),
        idle,
        under_load,
        repeating,
    })
}

/// Arms `plan.count` one-off timers one after the other and times each.
async fn one_offs(
    wire: &Wire,
    said: &mut UnboundedReceiver<Said>,
    plan: Plan,
    label: &str,
) -> Result<OneOff> {
    let delay_ms = plan.delay.as_millis();
    let mut result = OneOff::default();
    for i in 0..plan.count {
        let id = format!("timer-{label}-{i}");
        let ack = wire
            .publish(&id, "chaos", &format!("timer {delay_ms}"))
            .await?;
        let armed = armed_reply(said, &id).await?;
        let (fired, (due_ms, fired_ms)) = firing(said)
            .await
            .with_context(|| format!("timer {i} ({label}): armed, but not said within {WAIT:?}"))?;
        ack.await
            .with_context(|| format!("the stream did not store timer command {i}"))?;
        result
            .lateness
            .push(ms(fired.saturating_duration_since(armed)) - ms(plan.delay));
        result.plugin_view.push(fired_ms as f64 - due_ms as f64);
    }
    Ok(result)
}

/// Arms a repeating timer, hears it for `plan.every_for`, cancels it.
async fn repeating(
    wire: &Wire,
    said: &mut UnboundedReceiver<Said>,
    plan: Plan,
) -> Result<Repeating> {
    let period_ms = plan.period.as_millis();
    let _ack = wire
        .publish("timer-every", "chaos", &format!("every {period_ms}"))
        .await?;
    let armed = armed_reply(said, "timer-every").await?;
    let mut firings: Vec<(Instant, u64)> = Vec::new();
    let until = armed + plan.every_for;
    while Instant::now() < until {
        let (at, (due_ms, _)) = firing(said)
            .await
            .context("the repeating timer stopped firing")?;
        firings.push((at, due_ms));
    }
    let _cancel_ack = wire.publish("timer-cancel", "chaos", "cancel").await?;
    let cancelled = reply_to(said, "timer-cancel").await?;
    if cancelled.text != "cancelled: true" {
        bail!("cancelling the repeating timer: {:?}", cancelled.text);
    }
    let mut result = Repeating {
        period_ms: ms(plan.period),
        firings: firings.len(),
        ..Default::default()
    };
    let Some(&(_, first_due)) = firings.first() else {
        bail!("the repeating timer never fired");
    };
    for (k, &(at, due_ms)) in firings.iter().enumerate() {
        let scheduled = plan.period + Duration::from_millis(due_ms.saturating_sub(first_due));
        result
            .lateness
            .push(ms(at.saturating_duration_since(armed)) - ms(scheduled));
        if k > 0 {
            let gap = ms(at.saturating_duration_since(firings[k - 1].0));
            result.jitter.push((gap - ms(plan.period)).abs());
        }
    }
    Ok(result)
}

/// The reply to `id` (anything said meanwhile is dropped).
async fn reply_to(said: &mut UnboundedReceiver<Said>, id: &str) -> Result<Said> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, said.recv())
            .await
            .with_context(|| format!("no reply to {id} within {WAIT:?}"))?
            .context("the NATS subscription ended")?;
        if next.in_reply_to.as_deref() == Some(id) {
            return Ok(next);
        }
    }
}

/// When the `armed probe` reply to `id` arrived; fails on any other reply.
async fn armed_reply(said: &mut UnboundedReceiver<Said>, id: &str) -> Result<Instant> {
    let reply = reply_to(said, id).await?;
    if !reply.text.starts_with("armed probe") {
        bail!(
            "chaos did not arm its timer: {:?} (a chaos fixture without timers?)",
            reply.text
        );
    }
    Ok(reply.stamp.at)
}

/// The next firing of `probe`: when it arrived, and the due and fired times it says.
async fn firing(said: &mut UnboundedReceiver<Said>) -> Result<(Instant, (u64, u64))> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, said.recv())
            .await
            .context("no timer firing")?
            .context("the NATS subscription ended")?;
        if next.in_reply_to.is_some() || next.plugin != "chaos" {
            continue;
        }
        if let Some(times) = parse_firing(&next.text) {
            return Ok((next.stamp.at, times));
        }
    }
}

/// `timer probe due <due_ms> fired <now_ms>` → (due, fired).
fn parse_firing(text: &str) -> Option<(u64, u64)> {
    let rest = text.strip_prefix("timer probe due ")?;
    let (due, fired) = rest.split_once(" fired ")?;
    Some((due.trim().parse().ok()?, fired.trim().parse().ok()?))
}

/// Publishes `!chaos ping` at `rate` a second until `stop`; returns how many it published.
async fn ping_load(wire: &Wire, rate: f64, stop: &Cell<bool>) -> Result<usize> {
    let start = tokio::time::Instant::now();
    let mut sent = 0usize;
    while !stop.get() {
        let due = (start.elapsed().as_secs_f64() * rate).floor() as usize + 1;
        while sent < due {
            // The ack is not awaited: a load, not a measure of its own.
            let _ack = wire
                .publish(&format!("timer-ping-{sent}"), "chaos", "ping")
                .await?;
            sent += 1;
        }
        let next = start + Duration::from_secs_f64(sent as f64 / rate);
        tokio::time::sleep_until(next).await;
    }
    Ok(sent)
}

/// The report's rows.
pub fn render(out: &mut String, timers: &Outcome<TimerLateness>) {
    const MARK: &str = "   reported";
    let Some(timers) = timers.get() else {
        missing(out, "timer lateness", timers);
        return;
    };
    row_marked(
        out,
        "timer lateness (due → said)",
        &timers.idle.lateness,
        MARK,
    );
    if let Some(loaded) = &timers.under_load {
        row_marked(
            out,
            &format!("  under load ({:.0} commands/s)", loaded.load_rate),
            &loaded.lateness,
            MARK,
        );
    }
    if let Some(every) = &timers.repeating {
        let period = every.period_ms;
        let name = format!("  repeating every {period:.0} ms: due → said");
        row_marked(out, &name, &every.lateness, MARK);
        let name = format!("  repeating: |gap between firings − {period:.0} ms|");
        row_marked(out, &name, &every.jitter, MARK);
    }
    row_marked(
        out,
        "  plugin's own clocks: fired − due (whole ms)",
        &timers.idle.plugin_view,
        MARK,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firing_is_read_from_what_the_plugin_says() {
        assert_eq!(
            parse_firing("timer probe due 1700000000100 fired 1700000000101"),
            Some((1_700_000_000_100, 1_700_000_000_101))
        );
        assert_eq!(parse_firing("armed probe for 100 ms"), None);
        assert_eq!(parse_firing("timer other due 1 fired 2"), None);
    }
}

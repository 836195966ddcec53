//! `rosey say` and the dashboard's chat box: a line injected through the local connector, and
//! what the bot says back (its replies, and the rest of the channel meanwhile).

use std::time::Duration;

use rosey_core::{connector::Outgoing, messaging::Source, rank::Rank};
use tokio::sync::{broadcast, mpsc};

use super::{Daemon, OpError};
use crate::control::MEANWHILE;

/// Injects `text` from `user` through the local connector and collects what the bot says: its
/// replies to that line (the first within `timeout`, then any that follow it closely), and,
/// marked with [`MEANWHILE`], everything else it says in the channel while it waits (other
/// plugins, timers, answers to other users), so the caller sees the chat as it happened.
pub async fn say(
    daemon: &Daemon,
    user: &str,
    rank: Rank,
    text: &str,
    timeout: Duration,
) -> Result<Vec<String>, OpError> {
    let Some(local) = &daemon.local else {
        return Err(OpError::Conflict(
            "rosey say talks to the local chat, and this bot is connected to CyTube (bot.connector in rosey.yaml): say it in the CyTube channel instead".to_owned(),
        ));
    };
    // Subscribed before the line goes in, so nothing said in answer is missed.
    let channel = local.subscribe_outgoing();
    let (id, replies) = daemon
        .waiters
        .inject(|| local.inject_as(user, rank, text, Source::Chat))
        .map_err(|err| OpError::Failed(err.to_string()))?;
    let collected = collect_said(replies, channel, timeout).await;
    daemon.waiters.forget(&id);
    Ok(collected)
}

/// How long `say` keeps listening after the first reply, for the rest of a several-line answer.
const REPLY_GRACE: Duration = Duration::from_millis(150);

/// The lines `say` returns, in the order the bot said them: each reply to the injected line as
/// it is, and each other message in the channel (`channel`, which carries the replies too)
/// prefixed with [`MEANWHILE`]. Ends `REPLY_GRACE` after the first reply, or at `timeout`.
async fn collect_said(
    mut replies: mpsc::UnboundedReceiver<String>,
    mut channel: broadcast::Receiver<Outgoing>,
    timeout: Duration,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut said = Said::default();
    let mut until = deadline;
    let mut replies_open = true;
    let mut channel_open = true;
    loop {
        tokio::select! {
            biased;
            reply = replies.recv(), if replies_open => match reply {
                Some(text) => {
                    if said.reply(text) {
                        until = (tokio::time::Instant::now() + REPLY_GRACE).min(deadline);
                    }
                }
                None => replies_open = false,
            },
            out = channel.recv(), if channel_open => match out {
                Ok(out) => {
                    // The bot hands a reply to `replies` before it says it in the channel:
                    // take any such reply first, so that its copy is recognised as one.
                    while let Ok(text) = replies.try_recv() {
                        if said.reply(text) {
                            until = (tokio::time::Instant::now() + REPLY_GRACE).min(deadline);
                        }
                    }
                    said.in_channel(&out);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => said.missed(missed),
                Err(broadcast::error::RecvError::Closed) => channel_open = false,
            },
            _ = tokio::time::sleep_until(until) => break,
        }
    }
    said.lines
}

/// What `say` heard so far, replies and the rest told apart.
#[derive(Debug, Default)]
struct Said {
    lines: Vec<String>,
    /// Replies whose copy in the channel has not come yet: that copy is not another line.
    echoes: Vec<String>,
    replied: bool,
}

impl Said {
    /// A reply to the injected line; true when it is the first.
    fn reply(&mut self, text: String) -> bool {
        let first = !self.replied;
        self.replied = true;
        self.echoes.push(text.clone());
        self.lines.push(text);
        first
    }

    /// Something the bot said in the channel: a reply's copy, or a line of its own.
    fn in_channel(&mut self, out: &Outgoing) {
        if let Some(at) = self.echoes.iter().position(|echo| echo == out.text()) {
            self.echoes.remove(at);
            return;
        }
        self.lines.push(match out {
            Outgoing::Chat { text } => format!("{MEANWHILE}{text}"),
            Outgoing::Pm { to, text } => format!("{MEANWHILE}(PM to {to}) {text}"),
        });
    }

    /// The channel went on without `say` (more than the local connector buffers).
    fn missed(&mut self, missed: u64) {
        self.lines.push(format!(
            "{MEANWHILE}… {missed} messages not shown (said faster than read)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(text: &str) -> Outgoing {
        Outgoing::Chat { text: text.into() }
    }

    #[tokio::test]
    async fn say_prints_replies_as_they_are_and_the_rest_of_the_chat_marked() {
        let (reply_tx, replies) = mpsc::unbounded_channel();
        let (channel_tx, channel) = broadcast::channel(16);
        // As the bot does it: a timer's line and a PM while the command runs; then the reply,
        // handed over before its copy goes to the channel; another line soon after; one more
        // once `say` has stopped listening.
        let bot = tokio::spawn(async move {
            channel_tx.send(chat("tick")).expect("send");
            channel_tx
                .send(Outgoing::Pm {
                    to: "bob".into(),
                    text: "psst".into(),
                })
                .expect("send");
            tokio::time::sleep(Duration::from_millis(50)).await;
            reply_tx.send("alice rolled 2".to_owned()).expect("send");
            channel_tx.send(chat("alice rolled 2")).expect("send");
            channel_tx.send(chat("bob rolled 5")).expect("send");
            drop(reply_tx);
            tokio::time::sleep(REPLY_GRACE * 10).await;
            let _ = channel_tx.send(chat("too late"));
        });
        let started = tokio::time::Instant::now();
        let lines = collect_said(replies, channel, Duration::from_secs(5)).await;
        assert_eq!(
            lines,
            [
                "(meanwhile) tick",
                "(meanwhile) (PM to bob) psst",
                "alice rolled 2",
                "(meanwhile) bob rolled 5",
            ],
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "ends shortly after the reply"
        );
        bot.abort();
    }

    #[tokio::test]
    async fn with_no_reply_the_chat_meanwhile_is_still_shown() {
        let (_reply_tx, replies) = mpsc::unbounded_channel::<String>();
        let (channel_tx, channel) = broadcast::channel(16);
        channel_tx.send(chat("the hour is up")).expect("send");
        let lines = collect_said(replies, channel, Duration::from_millis(200)).await;
        assert_eq!(lines, ["(meanwhile) the hour is up"]);
    }
}

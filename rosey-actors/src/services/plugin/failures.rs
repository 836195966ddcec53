//! How the serving loop reads an instance that failed: a host that broke the channel's rules
//! or hung is killed, a dead one's last words are read (its final `Done`, its log lines), the
//! message it held goes back to the door counted against it, and the reason is worded for the
//! supervisor (which logs it) with the exit counted for `GET /metrics`.

use std::time::Duration;

use rosey_core::logs::Level;
use rosey_host::wire::{FromHost, Outcome};
use tokio::time::Instant;

use super::super::process::{signal_name, Exit};
use super::{output::Rest, serve::Serving};

impl Serving {
    /// Kills a host that sent a frame out of turn.
    pub(super) async fn violation(&mut self, frame: &FromHost) -> String {
        self.host.child.kill().await;
        rosey_core::metrics::host_exited(&self.args.name, "violation".to_owned());
        let reason =
            format!("the host broke the channel's rules (sent {frame:?} out of turn); killed");
        self.outputs.host_line(Level::Error, &reason);
        reason
    }

    /// Kills a hung host; the message it held goes back, counted.
    pub(super) async fn hung(&mut self, why: String) -> String {
        self.host.child.kill().await;
        rosey_core::metrics::host_exited(&self.args.name, "hung".to_owned());
        self.give_back();
        let reason = format!("hung: {why}; killed");
        self.outputs.host_line(Level::Error, &reason);
        reason
    }

    /// The host died holding a message: it goes back to the door, counted against it.
    pub(super) fn give_back(&mut self) {
        self.on_message |= self.door.return_held(true);
    }

    /// What an exited host wrote before it died, up to the `Done` of message `seq` (its
    /// outcome) or the end of the channel (`None`), output published or logged on the way.
    pub(super) async fn last_words(&mut self, seq: u64) -> Option<Outcome> {
        let deadline = Instant::now() + Duration::from_millis(200);
        while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, self.host.recv()).await {
            match self.outputs.take(frame, self.busy.as_ref()).await {
                Rest::Frame(FromHost::Done { seq: done, outcome }) if done == seq => {
                    return Some(outcome)
                }
                Rest::Frame(other) => {
                    tracing::debug!(plugin = %self.args.name, "ignored a {other:?} from a dead host");
                }
                Rest::Consumed | Rest::Heartbeat => {}
            }
        }
        None
    }

    /// The host died handling `cause`: the reason names it (the supervision notice logs it at
    /// ERROR).
    pub(super) async fn died_on(&mut self, cause: &str) -> String {
        let reason = self.died().await;
        format!("{reason}, handling {cause}")
    }

    /// The host is gone: its last log lines go to the log, and its exit is the reason.
    pub(super) async fn died(&mut self) -> String {
        for line in self.host.last_log_lines().await {
            self.outputs.take(line, None).await;
        }
        let reason = self.host.death().await;
        let cause = match self.host.child.exited() {
            Some(Exit::Code(code)) => format!("exit_{code}"),
            Some(Exit::Signal(signal)) => format!("signal_{}", signal_name(signal)),
            None => "channel_closed".to_owned(),
        };
        rosey_core::metrics::host_exited(&self.args.name, cause);
        reason
    }
}

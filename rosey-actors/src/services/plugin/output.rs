//! What the actor does with what a host says besides `Done`: the plugin's chat and PMs
//! (published for the connector), its events (into the stream, acknowledged by JetStream before
//! the message that caused them is acked), its log lines (into the plugin's log), heartbeats
//! (republished for observers) and lifecycle notices. The host is untrusted: an event kind or
//! payload the manifest rules forbid is refused here, whatever the host checked.
//!
//! Permissions are enforced here too, since this is the plugin's only way out: chat needs
//! `send_messages`, a PM `send_pms` (a reply by PM to a command that came by PM counts as
//! chat), an event `publish_events` and its kind in the manifest's `publishes`. What is refused
//! is not published; it is counted on the board (status shows it) and logged once per
//! instance and manifest key, with the key to add. The plugin keeps running.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use async_nats::jetstream::{self, context::PublishAckFuture};
use rosey_core::{
    logs::{Level, LogHub, LogSource},
    manifest::{self, Manifest},
    messaging::{self, Busy, ChatAction, EventMessage, Heartbeat, Lifecycle, SCHEMA_VERSION},
};
use rosey_host::wire::{self, FromHost};

use super::super::board::Board;

/// The longest chat line or PM a plugin may send, in characters (ten of CyTube's 320-character
/// messages): a longer one is cut there. Without a bound, one frame (up to 64 MiB) would become
/// hundreds of thousands of queued chat messages.
pub const MAX_CHAT_CHARS: usize = 3200;

/// `text` cut to [`MAX_CHAT_CHARS`] characters (with `…`), when it is longer.
fn bounded(text: String) -> (String, bool) {
    match text.char_indices().nth(MAX_CHAT_CHARS) {
        None => (text, false),
        Some((end, _)) => {
            let mut cut = text[..end].to_owned();
            cut.push('…');
            (cut, true)
        }
    }
}

/// The command in hand came by PM from `user`: a PM back to them in reply to `id` is a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmReply {
    /// Who sent the command.
    pub user: String,
    /// The command's id.
    pub id: String,
}

/// Publishes one plugin's output.
pub struct Outputs {
    /// The plugin.
    pub name: String,
    /// The running version (for notices).
    pub version: String,
    /// The pid of the running host (for notices).
    pub pid: u32,
    /// The running host's sandbox, as status shows it (`full`, `partial (…)`).
    pub sandbox: String,
    client: async_nats::Client,
    js: jetstream::Context,
    logs: LogHub,
    source: LogSource,
    stored: Vec<PublishAckFuture>,
    events: u64,
    /// The running version's manifest: what the plugin may send. `None` before it starts
    /// (nothing but log lines is let through then).
    pub manifest: Option<Arc<Manifest>>,
    /// Set while a command that came by PM is in hand.
    pub pm_reply: Option<PmReply>,
    /// The chat user whose message is in hand, if any (what is said meanwhile is for them).
    pub for_user: Option<String>,
    /// The command in hand, for timing its first reply.
    pub answering: Option<Answering>,
    /// This plugin's per-message meters.
    pub meters: rosey_core::metrics::PluginMeters,
    board: Board,
    /// The manifest keys (and other refusals) already warned about by this instance.
    warned: BTreeSet<&'static str>,
}

/// A command in hand, until its first reply (counted and timed for the operator's metrics).
pub struct Answering {
    /// Its id, as replies name it.
    pub id: String,
    /// How long it had waited for the plugin when the door handed it over.
    pub waited: Duration,
    /// When the door handed it over.
    pub since: tokio::time::Instant,
    /// Whether it has been answered already.
    pub answered: bool,
}

/// What [`Outputs::take`] did not consume.
pub enum Rest {
    /// Output, published or logged.
    Consumed,
    /// A heartbeat (the caller notes the time).
    Heartbeat,
    /// A frame that belongs to the conversation (`Done`, `Unloaded`, …).
    Frame(FromHost),
}

impl Outputs {
    /// Output of plugin `name`.
    pub fn new(
        name: &str,
        client: async_nats::Client,
        js: jetstream::Context,
        logs: LogHub,
        board: Board,
        meters: rosey_core::metrics::PluginMeters,
    ) -> Outputs {
        Outputs {
            name: name.to_owned(),
            version: String::new(),
            pid: 0,
            sandbox: String::new(),
            client,
            js,
            logs,
            source: LogSource::Plugin(name.to_owned()),
            stored: Vec::new(),
            events: 0,
            manifest: None,
            pm_reply: None,
            for_user: None,
            answering: None,
            meters,
            board,
            warned: BTreeSet::new(),
        }
    }

    fn allowed(&self, permission: &str) -> bool {
        self.manifest
            .as_ref()
            .is_some_and(|manifest| manifest.has_permission(permission))
    }

    /// Counts a refusal under manifest key `key` (a permission, or `publishes`) and logs it
    /// the first time this instance does it (in the plugin's log, which `rosey.log` repeats):
    /// `what` was refused, `fix` says what to add.
    fn refuse(&mut self, key: &'static str, what: &str, fix: &str) {
        rosey_core::metrics::permission_refused(&self.name, key);
        self.board.update(&super::unit_name(&self.name), |report| {
            *report.refused.entry(key.to_owned()).or_default() += 1;
        });
        if self.warned.insert(key) {
            let message = format!(
                "refused {what}: {fix} in the manifest (further refusals of this kind are counted in `rosey status`, not logged)"
            );
            self.host_line(Level::Warn, &message);
        }
    }

    /// What the service channel needs to count and log refusals of its own (channel actions
    /// the manifest does not declare), like [`Outputs`] does for what it refuses.
    pub fn refusals(&self) -> Refusals {
        Refusals {
            name: self.name.clone(),
            logs: self.logs.clone(),
            source: self.source.clone(),
            board: self.board.clone(),
            warned: BTreeSet::new(),
        }
    }

    /// Whether a chat line to `to` (a PM when set) in reply to `in_reply_to` may go out;
    /// refuses it (counted, logged) when not.
    fn may_chat(&mut self, to: Option<&str>, in_reply_to: Option<&str>) -> bool {
        let reply_by_pm = match (&self.pm_reply, to, in_reply_to) {
            (Some(reply), Some(to), Some(id)) => reply.user == to && reply.id == id,
            _ => false,
        };
        if to.is_none() || reply_by_pm {
            if self.allowed(manifest::SEND_MESSAGES) {
                return true;
            }
            self.refuse(
                manifest::SEND_MESSAGES,
                "a chat message",
                "add send_messages to permissions",
            );
            return false;
        }
        if self.allowed(manifest::SEND_PMS) {
            return true;
        }
        self.refuse(manifest::SEND_PMS, "a PM", "add send_pms to permissions");
        false
    }

    /// Whether an event of `kind` may go out; refuses it (counted, logged) when not.
    fn may_publish(&mut self, kind: &str) -> bool {
        if !self.allowed(manifest::PUBLISH_EVENTS) {
            self.refuse(
                manifest::PUBLISH_EVENTS,
                &format!("an event of kind {kind:?}"),
                "add publish_events to permissions",
            );
            return false;
        }
        let declared = self
            .manifest
            .as_ref()
            .is_some_and(|manifest| manifest.may_publish(kind));
        if !declared {
            self.refuse(
                "publishes",
                &format!("an event of kind {kind:?}"),
                &format!("add {kind} to publishes"),
            );
        }
        declared
    }

    /// A line of the actor's own about this plugin's host, in the plugin's log.
    pub fn host_line(&self, level: Level, message: &str) {
        self.logs.log_part(&self.source, "host", level, message);
    }

    /// A line as the plugin (an error its handler returned).
    pub fn plugin_line(&self, level: Level, message: &str) {
        self.logs.log(&self.source, level, message);
    }

    /// Publishes or logs `frame` if it is output.
    pub async fn take(&mut self, frame: FromHost, busy: Option<&Busy>) -> Rest {
        match frame {
            FromHost::Chat {
                text,
                to,
                in_reply_to,
            } => {
                if !self.may_chat(to.as_deref(), in_reply_to.as_deref()) {
                    return Rest::Consumed;
                }
                let (text, cut) = bounded(text);
                if cut && self.warned.insert("chat length") {
                    self.host_line(
                        Level::Warn,
                        &format!("cut a chat message to {MAX_CHAT_CHARS} characters (further ones are cut without a word)"),
                    );
                }
                let subject = if to.is_some() {
                    messaging::PM_ACTION_SUBJECT
                } else {
                    messaging::CHAT_ACTION_SUBJECT
                };
                if let Some(answering) = self.answering.as_mut().filter(|answering| {
                    !answering.answered && in_reply_to.as_deref() == Some(answering.id.as_str())
                }) {
                    answering.answered = true;
                    self.meters
                        .answered(answering.waited + answering.since.elapsed());
                }
                let action = ChatAction {
                    v: SCHEMA_VERSION,
                    text,
                    to,
                    plugin: self.name.clone(),
                    in_reply_to,
                    for_user: self.for_user.clone(),
                };
                if let Err(err) = self
                    .client
                    .publish(subject, messaging::encode(&action).into())
                    .await
                {
                    self.host_line(
                        Level::Warn,
                        &format!("cannot publish the plugin's chat: {err}"),
                    );
                }
                Rest::Consumed
            }
            FromHost::Publish { kind, payload_json } => {
                self.publish_event(&kind, &payload_json).await;
                Rest::Consumed
            }
            FromHost::Log {
                level,
                plugin,
                message,
            } => {
                let level = match level {
                    wire::Level::Debug => Level::Debug,
                    wire::Level::Info => Level::Info,
                    wire::Level::Warn => Level::Warn,
                    wire::Level::Error => Level::Error,
                };
                if plugin {
                    self.logs.log(&self.source, level, &message);
                } else {
                    self.logs.log_part(&self.source, "host", level, &message);
                }
                Rest::Consumed
            }
            FromHost::Heartbeat { handled } => {
                let beat = Heartbeat {
                    v: SCHEMA_VERSION,
                    plugin: self.name.clone(),
                    version: self.version.clone(),
                    pid: self.pid,
                    busy: busy.cloned(),
                    handled,
                    time_ms: messaging::now_ms(),
                };
                let _ = self
                    .client
                    .publish(
                        messaging::heartbeat_subject(&self.name),
                        messaging::encode(&beat).into(),
                    )
                    .await;
                Rest::Heartbeat
            }
            // Noted by the frame reader as it read them (see `frames`).
            FromHost::SetTimer { .. } | FromHost::CancelTimer { .. } => Rest::Consumed,
            other => Rest::Frame(other),
        }
    }

    async fn publish_event(&mut self, kind: &str, payload_json: &str) {
        if !wire::is_valid_event_kind(kind) {
            self.host_line(
                Level::Warn,
                &format!("refused an event of kind {kind:?}: not dot-separated words of a-z, 0-9, _ and -"),
            );
            return;
        }
        if !self.may_publish(kind) {
            return;
        }
        let data = match serde_json::from_str::<serde_json::Value>(payload_json) {
            Ok(data) => data,
            Err(err) => {
                self.host_line(
                    Level::Warn,
                    &format!("refused an event whose payload is not JSON: {err}"),
                );
                return;
            }
        };
        let kind = format!("plugin.{}.{kind}", self.name);
        self.events += 1;
        let event = EventMessage {
            v: SCHEMA_VERSION,
            id: format!(
                "{}-{}-{}-{}",
                self.name,
                self.pid,
                messaging::now_ms(),
                self.events
            ),
            kind: kind.clone(),
            user: None,
            text: None,
            time_ms: messaging::now_ms(),
            data,
            rank: None,
        };
        match self
            .js
            .publish(
                messaging::event_subject(&kind),
                messaging::encode(&event).into(),
            )
            .await
        {
            Ok(ack) => self.stored.push(ack),
            Err(err) => self.host_line(
                Level::Warn,
                &format!("cannot publish the plugin's event: {err}"),
            ),
        }
    }

    /// Waits until JetStream has stored every event published so far (before the message
    /// that caused them is acked).
    pub async fn settle(&mut self) {
        for ack in self.stored.drain(..) {
            if let Err(err) = ack.await {
                self.logs.log_part(
                    &self.source,
                    "host",
                    Level::Warn,
                    &format!("an event of the plugin's was not stored: {err}"),
                );
            }
        }
    }

    /// Announces the running host on `rosey.plugins.<name>.ready` (or `.stopped`).
    pub async fn announce(&self, subject: String) {
        let notice = Lifecycle {
            v: SCHEMA_VERSION,
            plugin: self.name.clone(),
            version: self.version.clone(),
            pid: self.pid,
            time_ms: messaging::now_ms(),
        };
        let _ = self
            .client
            .publish(subject, messaging::encode(&notice).into())
            .await;
    }
}

/// Counts refusals on the board and logs each kind once per instance, for the plugin's
/// service channel (see [`Outputs::refusals`]).
pub struct Refusals {
    name: String,
    logs: LogHub,
    source: LogSource,
    board: Board,
    warned: BTreeSet<String>,
}

impl Refusals {
    /// Counts a refusal under `key` (shown by `rosey status`) and logs it the first time:
    /// `what` was refused, `fix` says what to change.
    pub fn refuse(&mut self, key: &str, what: &str, fix: &str) {
        rosey_core::metrics::permission_refused(&self.name, key);
        self.board.update(&super::unit_name(&self.name), |report| {
            *report.refused.entry(key.to_owned()).or_default() += 1;
        });
        if self.warned.insert(key.to_owned()) {
            let message = format!(
                "refused {what}: {fix} (further refusals of this kind are counted in `rosey status`, not logged)"
            );
            self.logs
                .log_part(&self.source, "host", Level::Warn, &message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_line_past_the_bound_is_cut_on_a_character_boundary() {
        let (short, cut) = bounded("hi".to_owned());
        assert_eq!((short.as_str(), cut), ("hi", false));
        let exact = "é".repeat(MAX_CHAT_CHARS);
        assert_eq!(bounded(exact.clone()), (exact, false));
        let (long, cut) = bounded("é".repeat(MAX_CHAT_CHARS + 5));
        assert!(cut);
        assert_eq!(long.chars().count(), MAX_CHAT_CHARS + 1);
        assert!(long.ends_with("é…"));
    }
}

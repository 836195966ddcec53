//! What the actor does with what a host says besides `Done`: the plugin's chat and PMs
//! (published for the connector), its events (into the stream, acknowledged by JetStream before
//! the message that caused them is acked), its log lines (into the plugin's log), heartbeats
//! (republished for observers) and lifecycle notices. The host is untrusted: an event kind or
//! payload the manifest rules forbid is refused here, whatever the host checked.

use async_nats::jetstream::{self, context::PublishAckFuture};
use rosey_core::{
    logs::{Level, LogHub, LogSource},
    messaging::{self, Busy, ChatAction, EventMessage, Heartbeat, Lifecycle, SCHEMA_VERSION},
};
use rosey_host::wire::{self, FromHost};

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
        }
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
                let subject = if to.is_some() {
                    messaging::PM_ACTION_SUBJECT
                } else {
                    messaging::CHAT_ACTION_SUBJECT
                };
                let action = ChatAction {
                    v: SCHEMA_VERSION,
                    text,
                    to,
                    plugin: self.name.clone(),
                    in_reply_to,
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

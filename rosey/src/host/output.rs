//! What a host sends besides acks: the plugin's chat and events, lifecycle notices, the
//! dead-letter moves, and the unload that hands the plugin's state over.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use rosey_abi::LogLevel;
use rosey_core::messaging::{self, ChatAction, EventMessage, Lifecycle, SCHEMA_VERSION};
use tokio::sync::oneshot;

use super::{
    plugin_thread::{HookOutcome, Outgoing, Work},
    serve::Serve,
};

/// Waits (bounded) until everything written so far has reached the server.
async fn settle(client: &async_nats::Client) {
    let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
}

impl Serve {
    /// Moves a message that `died` earlier hosts of this plugin died handling (a panic, an
    /// abort, a segfault, a hang) to the dead-letter stream, so it stops crash-looping the
    /// plugin and stays there for the operator.
    pub(super) async fn dead_letter(
        &mut self,
        client: &async_nats::Client,
        js: &jetstream::Context,
        message: &jetstream::Message,
        subject: &str,
        seq: u64,
        died: u32,
    ) -> bool {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(messaging::ORIGINAL_SUBJECT_HEADER, subject);
        headers.insert(messaging::FAILED_ATTEMPTS_HEADER, died.to_string().as_str());
        let target = messaging::dead_letter_subject(&self.name);
        let stored = match js
            .publish_with_headers(target.clone(), headers, message.payload.clone())
            .await
        {
            Ok(ack) => ack.await.map(drop).map_err(|err| err.to_string()),
            Err(err) => Err(err.to_string()),
        };
        match stored {
            Ok(()) => {
                self.log.host(
                    LogLevel::Error,
                    &format!(
                        "message {seq} on {subject} crashed or hung the plugin {died} times; \
                         moved to {target} instead of handing it over again"
                    ),
                );
                let _ = message.ack_with(AckKind::Term).await;
                settle(client).await;
                let _ = self.attempts.forget(seq);
            }
            Err(err) => {
                // Not stored: leave it pending, so it is retried rather than lost.
                self.log.host(
                    LogLevel::Error,
                    &format!("cannot move a poison message to {target}: {err}"),
                );
            }
        }
        true
    }

    pub(super) async fn refuse(
        &self,
        message: &jetstream::Message,
        subject: &str,
        err: messaging::PayloadError,
    ) -> bool {
        self.log.host(
            LogLevel::Warn,
            &format!("dropping unreadable message on {subject}: {err}"),
        );
        let _ = message.ack_with(AckKind::Term).await;
        true
    }

    /// Acks a handled message and makes sure the ack has reached the server before the next
    /// message reaches the plugin: if that one kills the process, this one must not come again.
    pub(super) async fn ack(&self, client: &async_nats::Client, message: &jetstream::Message) {
        if let Err(err) = message.ack().await {
            self.log.host(
                LogLevel::Warn,
                &format!("ack failed (the message will come again): {err}"),
            );
        }
        settle(client).await;
    }

    /// Calls the plugin's unload and writes its state for the next instance; `false` on failure.
    pub(super) async fn unload(&mut self) -> bool {
        let (done_tx, done_rx) = oneshot::channel();
        if self.work.send(Work::Unload(done_tx)).is_err() {
            self.log.host(
                LogLevel::Error,
                "the plugin thread is gone; nothing to unload",
            );
            return false;
        }
        match done_rx.await {
            Ok(HookOutcome::Done(state)) => {
                let path = self.home.plugin_handoff_file(&self.name);
                if state.is_empty() {
                    self.log
                        .host(LogLevel::Info, "unloaded (no state to hand over)");
                    return true;
                }
                match rosey_core::fsutil::write_atomic(&path, &state) {
                    Ok(()) => {
                        self.log.host(
                            LogLevel::Info,
                            &format!("unloaded; handed over {} bytes of state", state.len()),
                        );
                        true
                    }
                    Err(err) => {
                        self.log.host(
                            LogLevel::Error,
                            &format!("cannot write {}: {err}", path.display()),
                        );
                        false
                    }
                }
            }
            Ok(HookOutcome::Failed(err)) => {
                self.log
                    .plugin(LogLevel::Error, &format!("unload failed: {err}"));
                false
            }
            Ok(HookOutcome::Panicked(panic)) => {
                self.log.host(
                    LogLevel::Error,
                    &format!("plugin panicked in unload: {panic}"),
                );
                false
            }
            Err(_) => {
                self.log
                    .host(LogLevel::Error, "the plugin thread ended during unload");
                false
            }
        }
    }

    /// Publishes what the plugin asked to send (replies go out before the message is acked).
    pub(super) async fn publish_outgoing(
        &mut self,
        client: &async_nats::Client,
        js: &jetstream::Context,
    ) {
        while let Ok(outgoing) = self.outgoing.try_recv() {
            let result = match outgoing {
                Outgoing::Chat {
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
                    client
                        .publish(subject, messaging::encode(&action).into())
                        .await
                        .map_err(|err| err.to_string())
                }
                Outgoing::Publish { kind, payload_json } => {
                    let event = EventMessage {
                        v: SCHEMA_VERSION,
                        id: format!(
                            "{}-{}-{}",
                            self.name,
                            std::process::id(),
                            messaging::now_ms()
                        ),
                        kind: kind.clone(),
                        user: None,
                        text: None,
                        time_ms: messaging::now_ms(),
                        data: serde_json::from_str(&payload_json).unwrap_or_default(),
                    };
                    match js
                        .publish(
                            messaging::event_subject(&kind),
                            messaging::encode(&event).into(),
                        )
                        .await
                    {
                        Ok(ack) => ack.await.map(drop).map_err(|err| err.to_string()),
                        Err(err) => Err(err.to_string()),
                    }
                }
            };
            if let Err(err) = result {
                self.log.host(
                    LogLevel::Warn,
                    &format!("cannot publish the plugin's message: {err}"),
                );
            }
        }
    }

    pub(super) async fn announce(&self, client: &async_nats::Client, subject: String) {
        let notice = Lifecycle {
            v: SCHEMA_VERSION,
            plugin: self.name.clone(),
            version: self.version.clone(),
            pid: std::process::id(),
            time_ms: messaging::now_ms(),
        };
        if let Err(err) = client
            .publish(subject, messaging::encode(&notice).into())
            .await
        {
            self.log
                .host(LogLevel::Warn, &format!("cannot announce: {err}"));
        }
        // Bounded: with NATS gone a flush would wait for a reconnect that may never come.
        let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
    }
}

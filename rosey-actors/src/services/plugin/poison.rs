//! Poison messages: a message that `max_attempts` hosts died handling goes to the plugin's
//! dead-letter subject instead of to another host, and stays there for the operator.
//!
//! Storing it is off the serving path: the next message is handed over at once, while a task
//! of its own publishes the copy and waits for JetStream to store it. Only then is the original
//! terminated (never redelivered); a copy that could not be stored puts the original back first
//! in line, so it is tried again rather than lost. The copy carries a message id made of the
//! plugin and the stream sequence, so a retry, or a redelivery that overtook a slow store,
//! cannot put it in the dead-letter stream twice.

use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use rosey_core::{
    logs::{Level, LogSource},
    messaging,
};

use super::PluginArgs;

/// How long a copy that could not be stored waits before its original is put back in line
/// (so a dead-letter stream that is down is not hammered).
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Moves `message` (stream sequence `seq`, on `subject`), which `died` hosts died handling,
/// to the dead-letter subject in the background; a command's sender is told it failed when
/// `tell` (the manifest's `failure_reply`).
pub fn dead_letter(
    args: &PluginArgs,
    message: Message,
    subject: String,
    seq: u64,
    died: u32,
    tell: bool,
) {
    let door = args.door.clone();
    let logs = args.logs.clone();
    let name = args.name.clone();
    let client = args.client.clone();
    let wording = args.failure_wording.clone();
    let rules = args.hold_rules;
    tokio::spawn(async move {
        let source = LogSource::Plugin(name.clone());
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(messaging::ORIGINAL_SUBJECT_HEADER, subject.as_str());
        headers.insert(messaging::FAILED_ATTEMPTS_HEADER, died.to_string().as_str());
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("dead-letter.{name}.{seq}").as_str(),
        );
        let target = messaging::dead_letter_subject(&name);
        let stored = match door
            .jetstream()
            .publish_with_headers(target.clone(), headers, message.payload.clone())
            .await
        {
            Ok(ack) => ack.await.map(drop).map_err(|err| err.to_string()),
            Err(err) => Err(err.to_string()),
        };
        match stored {
            Ok(()) => {
                rosey_core::metrics::dead_lettered(&name);
                logs.log_part(
                    &source,
                    "host",
                    Level::Error,
                    &format!(
                        "message {seq} on {subject} crashed or hung the plugin {died} time{}; \
                         moved to {target} instead of handing it over again",
                        if died == 1 { "" } else { "s" }
                    ),
                );
                let asker = messaging::is_command_subject(&subject)
                    .then(|| messaging::decode::<messaging::CommandMessage>(&message.payload).ok())
                    .flatten()
                    .map(|command| super::tell::Asker::of(&command));
                let message_payload = message.payload.clone();
                let id = super::early::message_id(message.headers.as_ref());
                let _ = message.ack_with(AckKind::Term).await;
                door.done(seq, id);
                if let Some(asker) = &asker {
                    let why = messaging::describe(&subject, &message_payload);
                    if let Some(hold) = door.strike(&asker.user, &why, &rules) {
                        logs.log_part(
                            &source,
                            "host",
                            Level::Warn,
                            &format!(
                                "holding {} back from {name} for {} s: {} of their commands crashed it within {} s (the last: {why}); see rosey status",
                                asker.user,
                                hold.as_secs(),
                                rules.strikes,
                                rules.within.as_secs()
                            ),
                        );
                    }
                }
                if let Some(asker) = asker.filter(|_| tell) {
                    super::tell::failed(&client, &name, &wording, &asker).await;
                }
            }
            Err(err) => {
                logs.log_part(
                    &source,
                    "host",
                    Level::Error,
                    &format!("cannot move a poison message to {target}: {err}; it is tried again"),
                );
                tokio::time::sleep(RETRY_AFTER).await;
                door.put_back(message);
            }
        }
    });
}

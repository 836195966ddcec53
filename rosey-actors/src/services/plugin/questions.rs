//! The actor's end of a host's service channel: the plugin's questions about the chat channel
//! (who is in it, what plays, the playlist, the poll, the bot's rank) and its channel actions
//! (queue, skip, kick, polls…), asked from any of its threads and answered here without going
//! through the serving loop. Answers come from the bot, which follows the channel and owns the
//! connector, by NATS requests.
//!
//! The host is untrusted: anything but a `Query` or an `Act` ends the service (the host's
//! questions then fail), a host that asks faster than answers come is served one at a time,
//! and one that asks in a loop is answered at a bounded pace. An action is read again here
//! ([`Action::from_wire`]) and goes to the bot only if the manifest's `channel:` list declares
//! its permission; a refusal is counted and logged like the manifest's other refusals.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use rosey_core::channel::{Action, ActionError, ActionErrorKind};
use rosey_core::{
    manifest::Manifest,
    messaging::{self, ActionReply, ActionRequest, StateReply, SCHEMA_VERSION},
};
use rosey_host::wire::{FromHost, ToHost};
use tokio::{io::AsyncWriteExt, net::UnixStream};

use super::{frames::FrameReader, output::Refusals};

/// How long the bot may take to answer a question.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the bot may take to answer an action: its connector gives up at 10 s (the chat
/// server's confirmation, the action's turn behind others included); the host waits 15 s.
const ACT_TIMEOUT: Duration = Duration::from_secs(12);

/// The least time between two questions or actions of one host: a plugin asking in a loop gets
/// its answers at this pace (50 a second), so it cannot make the bot do nothing else.
const MIN_GAP: Duration = Duration::from_millis(20);

/// How long a host's plugin has spent waiting for its channel actions' answers, the one in
/// flight included. A handler blocked on the chat server is not hung: the serving loop takes
/// this time out of the handler deadline.
#[derive(Debug, Default)]
pub struct ActingClock {
    state: Mutex<(Duration, Option<Instant>)>,
}

impl ActingClock {
    /// The time spent so far.
    pub fn spent(&self) -> Duration {
        let (total, since) = *self.state.lock().unwrap_or_else(PoisonError::into_inner);
        total + since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    fn start(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = Some(Instant::now());
    }

    fn stop(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(since) = state.1.take() {
            state.0 += since.elapsed();
        }
    }
}

/// Serves `stream` for plugin `plugin` (whose running version's manifest is `manifest`) until
/// the host closes it (it exited) or breaks the rules.
pub fn serve(
    plugin: String,
    manifest: Arc<Manifest>,
    stream: UnixStream,
    client: async_nats::Client,
    mut refusals: Refusals,
    acting: Arc<ActingClock>,
) {
    tokio::spawn(async move {
        let (read, mut write) = stream.into_split();
        let mut frames = FrameReader::new(read);
        let mut next_allowed = tokio::time::Instant::now();
        while let Some(frame) = frames.recv().await {
            tokio::time::sleep_until(next_allowed).await;
            next_allowed = tokio::time::Instant::now() + MIN_GAP;
            let answer = match frame {
                FromHost::Query { part } => ask(&client, &part).await,
                FromHost::Act { verb, args } => {
                    acting.start();
                    let answer = act(&client, &plugin, &manifest, &mut refusals, &verb, &args)
                        .await
                        .map_err(|error| error.encode());
                    acting.stop();
                    answer
                }
                other => {
                    tracing::warn!(%plugin, "a plugin host sent {other:?} on its service channel; ending the service");
                    return;
                }
            };
            if write
                .write_all(&ToHost::Answer(answer).encode())
                .await
                .is_err()
            {
                return;
            }
        }
    });
}

/// Part `part` of the channel's state as the bot knows it, as JSON.
async fn ask(client: &async_nats::Client, part: &str) -> Result<String, String> {
    let request = client.request(
        messaging::CHANNEL_STATE_SUBJECT,
        part.as_bytes().to_vec().into(),
    );
    match tokio::time::timeout(ANSWER_TIMEOUT, request).await {
        Ok(Ok(reply)) => messaging::decode::<StateReply>(&reply.payload)
            .map_err(|err| format!("unreadable answer from the bot: {err}"))?
            .into_result()
            .map_err(|refused| refused.reason),
        Ok(Err(err)) => Err(format!("the bot did not answer: {err}")),
        Err(_) => Err(format!("the bot did not answer within {ANSWER_TIMEOUT:?}")),
    }
}

/// Checks the plugin's action and has the bot perform it.
async fn act(
    client: &async_nats::Client,
    plugin: &str,
    manifest: &Manifest,
    refusals: &mut Refusals,
    verb: &str,
    args: &[String],
) -> Result<String, ActionError> {
    let action = Action::from_wire(verb, args)
        .map_err(|problem| ActionError::new(ActionErrorKind::Invalid, problem))?;
    let permission = action.permission();
    if !manifest.may_act(permission) {
        refusals.refuse(
            &format!("channel: {permission}"),
            &format!("a channel action ({})", action.words()),
            &format!("add `channel: [{permission}]` to the plugin's manifest"),
        );
        return Err(rosey_core::channel::not_declared(&action));
    }
    let request = ActionRequest {
        v: SCHEMA_VERSION,
        plugin: plugin.to_owned(),
        action,
    };
    let unavailable = |why: String| ActionError::new(ActionErrorKind::Unavailable, why);
    let sent = client.request(
        messaging::CHANNEL_ACT_SUBJECT,
        messaging::encode(&request).into(),
    );
    match tokio::time::timeout(ACT_TIMEOUT, sent).await {
        Ok(Ok(reply)) => messaging::decode::<ActionReply>(&reply.payload)
            .map_err(|err| unavailable(format!("unreadable answer from the bot: {err}")))?
            .into_result(),
        Ok(Err(err)) => Err(unavailable(format!(
            "the bot did not take the action ({err}); nothing was done"
        ))),
        Err(_) => Err(ActionError::new(
            ActionErrorKind::NoAnswer,
            format!(
                "the bot did not answer within {} s; the action may or may not have happened",
                ACT_TIMEOUT.as_secs()
            ),
        )),
    }
}

//! The bot's side of what plugins ask of the channel, through their actors over NATS: the
//! channel's state by part ([`messaging::StatePart`]: the router's roster, the connector's
//! playlist and poll, the bot's own rank), and channel actions, which the connector performs
//! and confirms. The actors have checked the manifests; the connector checks the bot's rank and
//! the targets. Every action is logged with the plugin that asked and how it ended.

use std::sync::Arc;

use futures::StreamExt;
use ractor::ActorRef;
use rosey_core::{
    connector::Connector,
    messaging::{self, ActionReply, ActionRequest, StatePart, StateReply},
    router::Router,
};
use tokio::task::JoinHandle;

use super::BotMsg;

/// Answers the questions on [`messaging::CHANNEL_STATE_SUBJECT`] until the subscription ends.
pub(super) fn answer_questions(
    router: Arc<Router>,
    connector: Arc<dyn Connector>,
    bot_name: String,
    client: async_nats::Client,
    mut questions: async_nats::Subscriber,
    actor: ActorRef<BotMsg>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(question) = questions.next().await {
            let Some(reply) = question.reply else {
                continue;
            };
            let answer = match StatePart::from_payload(&question.payload) {
                Some(part) => state(part, &router, connector.as_ref(), &bot_name),
                None => StateReply::error(format!(
                    "there is no part {:?} of the channel's state",
                    String::from_utf8_lossy(&question.payload)
                )),
            };
            if let Err(err) = client
                .publish(reply, messaging::encode(&answer).into())
                .await
            {
                tracing::warn!("cannot answer a plugin's question about the channel: {err}");
            }
        }
        let _ = actor.send_message(BotMsg::TaskEnded(
            "the NATS subscription for plugins' questions ended".to_owned(),
        ));
    })
}

/// One part of the channel's state.
fn state(part: StatePart, router: &Router, connector: &dyn Connector, bot: &str) -> StateReply {
    let no = |what: &str| {
        StateReply::error(format!(
            "the {} connector has no {what}: connect the bot to CyTube (bot.connector: cytube in rosey.yaml)",
            connector.name()
        ))
    };
    match part {
        StatePart::Roster => StateReply::ok(&router.channel_state()),
        StatePart::Playlist => match connector.playlist() {
            Some(playlist) => StateReply::ok(&playlist),
            None => no("playlist"),
        },
        StatePart::Poll => match connector.poll() {
            Some(poll) => StateReply::ok(&poll),
            None => no("polls"),
        },
        StatePart::Bot => StateReply::ok(&router.channel_user(bot)),
    }
}

/// Performs the actions on [`messaging::CHANNEL_ACT_SUBJECT`] until the subscription ends,
/// each in a task of its own (the connector keeps them in order).
pub(super) fn serve_actions(
    connector: Arc<dyn Connector>,
    client: async_nats::Client,
    mut requests: async_nats::Subscriber,
    actor: ActorRef<BotMsg>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            let Some(reply) = message.reply else {
                continue;
            };
            let request = match messaging::decode::<ActionRequest>(&message.payload) {
                Ok(request) => request,
                Err(err) => {
                    tracing::warn!("unreadable channel action request: {err}");
                    continue;
                }
            };
            let connector = connector.clone();
            let client = client.clone();
            tokio::spawn(async move {
                let ActionRequest { plugin, action, .. } = request;
                let what = describe(&action);
                let result = connector.act(action).await;
                match &result {
                    Ok(_) => tracing::info!("plugin {plugin}: {what}: done"),
                    Err(err) => tracing::warn!("plugin {plugin}: {what}: not done: {err}"),
                }
                let answer = messaging::encode(&ActionReply::new(result));
                if let Err(err) = client.publish(reply, answer.into()).await {
                    tracing::warn!("cannot answer plugin {plugin}'s channel action: {err}");
                }
            });
        }
        let _ = actor.send_message(BotMsg::TaskEnded(
            "the NATS subscription for plugins' channel actions ended".to_owned(),
        ));
    })
}

/// An action as the log names it: `kick alice (flooding)`, `queue https://…`.
fn describe(action: &rosey_core::channel::Action) -> String {
    let (_, args) = action.to_wire();
    std::iter::once(action.words())
        .chain(args.into_iter().filter(|arg| !arg.is_empty()))
        .collect::<Vec<_>>()
        .join(" ")
}

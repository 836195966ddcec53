//! The `bot` service: the connector on one side, NATS on the other. Chat heard by the connector
//! goes through the command router into the stream; what plugins say (`rosey.actions.*`) goes
//! out through the connector. Replies to a message injected by `rosey say` are also handed to
//! whoever is waiting for them.
//!
//! The connector's status is the bot's: the bot starts once the connector has connected (or
//! failed, or is retrying: then it starts degraded), shows `degraded: …` on the board while the
//! connector reconnects, and fails with the server's reason when the connector is refused for
//! good (a wrong password, a kick for a duplicate login). A restart of the bot then fails the
//! same way at once, without reconnecting, so the supervisor's intensity ends it quickly and
//! the server sees no storm of logins.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, TryLockError},
};

use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rosey_core::{
    bus::{BusUser, Credentials},
    config::BotConfig,
    connector::{Connector, ConnectorStatus, Outgoing},
    messaging::{self, ChatAction},
    paths::Home,
    registry::Registry,
    router::{
        PluginsDown, RouteOutcome, RouteTable, Router, RouterSettings, StreamRepair, Unavailable,
    },
};
use tokio::{sync::mpsc, task::JoinHandle};

use super::board::{Board, UnitReport};

mod channel;
mod health;

/// The unit name of the bot service.
pub const UNIT: &str = rosey_core::units::BOT;

/// Message ids whose replies someone (a `rosey say`) is waiting for.
#[derive(Clone, Default)]
pub struct ReplyWaiters {
    waiting: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<String>>>>,
}

/// The message ids waited for; never waits for the lock (`<locked>` while someone holds it).
impl std::fmt::Debug for ReplyWaiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("ReplyWaiters");
        match self.waiting.try_lock() {
            Ok(waiting) => debug.field("waiting", &waiting.keys()),
            Err(TryLockError::Poisoned(poisoned)) => {
                debug.field("waiting", &poisoned.into_inner().keys())
            }
            Err(TryLockError::WouldBlock) => debug.field("waiting", &format_args!("<locked>")),
        };
        debug.finish()
    }
}

impl ReplyWaiters {
    /// Injects a message with `inject` (which returns its id) and starts collecting replies to
    /// it, atomically: no reply can be delivered between the two.
    pub fn inject<E>(
        &self,
        inject: impl FnOnce() -> Result<String, E>,
    ) -> Result<(String, mpsc::UnboundedReceiver<String>), E> {
        let mut waiting = self.lock();
        let id = inject()?;
        let (tx, rx) = mpsc::unbounded_channel();
        waiting.insert(id.clone(), tx);
        Ok((id, rx))
    }

    /// Stops collecting replies to `id`.
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn deliver(&self, id: &str, text: &str) {
        if let Some(waiter) = self.lock().get(id) {
            let _ = waiter.send(text.to_owned());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<String>>> {
        match self.waiting.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Everything the bot service needs.
#[derive(Clone)]
pub struct BotArgs {
    /// The home (for the registry's routes).
    pub home: Home,
    /// `bot:` from rosey.yaml.
    pub config: BotConfig,
    /// Where NATS listens.
    pub nats_url: String,
    /// The bus's passwords (the bot connects as the daemon's user).
    pub credentials: Credentials,
    /// What the router calls when a publish finds the stream gone (the JetStream keeper).
    pub stream_repair: StreamRepair,
    /// The chat connection (outlives bot restarts).
    pub connector: Arc<dyn Connector>,
    /// `rosey say` waiters.
    pub waiters: ReplyWaiters,
    /// Where the bot reports on itself.
    pub board: Board,
    /// Which plugins the supervisor gave up on (their commands are answered as unavailable).
    pub plugins_down: PluginsDown,
    /// The message store's size (the router makes the stream with it if it is missing).
    pub store: messaging::StoreBudget,
}

/// Leaves out the configuration's passwords: shows only who the bot is and where.
impl std::fmt::Debug for BotArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotArgs")
            .field("home", &self.home)
            .field("name", &self.config.name)
            .field("channel", &self.config.channel)
            .field("connector_kind", &self.config.connector)
            .field("nats_url", &self.nats_url)
            .field("credentials", &self.credentials)
            .field("connector", &self.connector.name())
            .field("waiters", &self.waiters)
            .field("board", &self.board)
            .field("plugins_down", &self.plugins_down)
            .finish_non_exhaustive()
    }
}

/// Messages from the bot's own tasks.
#[derive(Debug)]
pub enum BotMsg {
    /// A task that must run for the bot's life ended.
    TaskEnded(String),
    /// Re-read the command routes from the registry (a plugin was installed, updated,
    /// removed, enabled or disabled).
    ReloadRoutes,
}

/// The actor.
#[derive(Debug)]
pub struct BotActor;

/// The running bot.
#[derive(Debug)]
pub struct BotState {
    router: Arc<Router>,
    args: BotArgs,
    tasks: Vec<JoinHandle<()>>,
}

impl Actor for BotActor {
    type Msg = BotMsg;
    type State = BotState;
    type Arguments = BotArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<BotMsg>,
        args: BotArgs,
    ) -> Result<BotState, ActorProcessingErr> {
        let mut status = args.connector.status();
        let first_wait = std::time::Duration::from_millis(
            args.config.cytube.connect_timeout_ms.saturating_mul(3),
        );
        // Connecting (socketconfig, WebSocket, login) settles within a few timeouts; past that
        // the bot starts anyway and reports itself degraded until the connector is through.
        let _ = tokio::time::timeout(
            first_wait,
            status.wait_for(|status| *status != ConnectorStatus::Connecting),
        )
        .await;
        if let ConnectorStatus::Failed(reason) = &*status.borrow() {
            return Err(reason.clone().into());
        }
        let client = args
            .credentials
            .connect(&args.nats_url, BusUser::Daemon, "rosey-bot")
            .await?;
        let js = async_nats::jetstream::new(client.clone());
        let routes = RouteTable::from_registry(&Registry::load(&args.home)?);
        let router = Arc::new(
            Router::with_stream_repair(
                js,
                routes,
                RouterSettings {
                    store: args.store,
                    ..RouterSettings::from_config(&args.config)
                },
                Some(args.stream_repair.clone()),
            )
            .with_plugins_down(args.plugins_down.clone()),
        );
        let mut actions = client.subscribe(messaging::ACTIONS_ALL).await?;
        let questions = client.subscribe(messaging::CHANNEL_STATE_SUBJECT).await?;
        let channel_actions = client.subscribe(messaging::CHANNEL_ACT_SUBJECT).await?;
        let mut incoming = args.connector.incoming()?;

        let outbound = {
            let connector = args.connector.clone();
            let waiters = args.waiters.clone();
            let actor = myself.clone();
            tokio::spawn(async move {
                while let Some(message) = actions.next().await {
                    let Ok(action) = messaging::decode::<ChatAction>(&message.payload) else {
                        tracing::warn!("unreadable chat action on {}", message.subject);
                        continue;
                    };
                    if let Some(id) = &action.in_reply_to {
                        waiters.deliver(id, &action.text);
                    }
                    let for_user = action.for_user.clone();
                    let out = Outgoing::from(action);
                    let sent = match &for_user {
                        Some(user) => connector.send_for(out, user).await,
                        None => connector.send(out).await,
                    };
                    if let Err(err) = sent {
                        tracing::warn!("cannot send a plugin's message: {err}");
                    }
                }
                let _ = actor.send_message(BotMsg::TaskEnded(
                    "the NATS subscription for plugins' chat ended".to_owned(),
                ));
            })
        };
        let inbound = {
            let connector = args.connector.clone();
            let waiters = args.waiters.clone();
            let router = router.clone();
            let actor = myself.clone();
            tokio::spawn(async move {
                while let Some(message) = incoming.recv().await {
                    match router.route(&message) {
                        Ok(outcome) => {
                            log_refusal(&message, &outcome);
                            if let Some(reply) = router.reply_to(&message, &outcome) {
                                waiters.deliver(message.id(), reply.text());
                                if let Err(err) = connector.send_for(reply, message.user()).await {
                                    tracing::warn!("cannot answer a command: {err}");
                                }
                            }
                        }
                        Err(err) => tracing::error!("message {} lost: {err}", message.id()),
                    }
                }
                let _ = actor.send_message(BotMsg::TaskEnded("the connector closed".to_owned()));
            })
        };
        // Plugins asking about the channel and acting on it (through their actors).
        let answers = channel::answer_questions(
            router.clone(),
            args.connector.clone(),
            args.config.name.clone(),
            client.clone(),
            questions,
            myself.clone(),
        );
        let acts = channel::serve_actions(
            args.connector.clone(),
            client.clone(),
            channel_actions,
            myself.clone(),
        );
        let health = health::spawn(
            router.clone(),
            args.config.name.clone(),
            args.board.clone(),
            client.clone(),
            status.clone(),
            health::StoreRoom {
                dir: args.home.nats_store_dir(),
                needed: super::nats::room_needed(&args.store),
                limit: args.store.describe(),
            },
        );
        let watch = {
            let actor = myself.clone();
            let name = args.connector.name().to_owned();
            tokio::spawn(async move {
                while status.changed().await.is_ok() {
                    let now = status.borrow_and_update().clone();
                    match now {
                        ConnectorStatus::Connected => tracing::info!("{name} connector connected"),
                        ConnectorStatus::Connecting => {}
                        ConnectorStatus::Degraded(reason) => {
                            tracing::warn!("{name} connector degraded: {reason}")
                        }
                        ConnectorStatus::Failed(reason) => {
                            let _ = actor.send_message(BotMsg::TaskEnded(reason));
                            return;
                        }
                    }
                }
            })
        };
        args.board.set(
            UNIT,
            UnitReport {
                pid: Some(std::process::id()),
                version: None,
                detail: None,
                ..UnitReport::default()
            },
        );
        Ok(BotState {
            router,
            args,
            tasks: vec![outbound, inbound, answers, acts, health, watch],
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<BotMsg>,
        message: BotMsg,
        state: &mut BotState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BotMsg::TaskEnded(reason) => Err(reason.into()),
            BotMsg::ReloadRoutes => {
                let registry = Registry::load(&state.args.home)?;
                state
                    .router
                    .set_routes(RouteTable::from_registry(&registry));
                Ok(())
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<BotMsg>,
        state: &mut BotState,
    ) -> Result<(), ActorProcessingErr> {
        let left = state.router.flush(std::time::Duration::from_secs(2)).await;
        if left > 0 {
            tracing::warn!("{left} chat messages were not stored in NATS before the bot stopped");
        }
        for task in &state.tasks {
            task.abort();
        }
        state.args.board.clear(UNIT);
        Ok(())
    }
}

/// Logs, once per flood or outage, a command the router kept from its plugin.
fn log_refusal(message: &rosey_core::connector::Incoming, outcome: &RouteOutcome) {
    let user = message.user();
    match outcome {
        RouteOutcome::Limited {
            command,
            first: true,
            ..
        } => tracing::warn!(
            "chat user {user} went past the rate limit (bot.rate_limit) with {command:?}: their commands are dropped until they slow down"
        ),
        RouteOutcome::Unavailable {
            command,
            plugin,
            why,
            tell: true,
        } => tracing::info!(
            "chat user {user} asked for {command:?}, but plugin {plugin} is {}",
            match why {
                Unavailable::Crashed => "crashed",
                Unavailable::Disabled => "disabled",
            }
        ),
        _ => {}
    }
}

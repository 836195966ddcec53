//! The CyTube connector: the bot as a user of a CyTube channel.
//!
//! [`CytubeConnector::start`] spawns one driver task that owns the connection: it asks the
//! server's `socketconfig` which socket.io server the channel lives on ([`http`]), connects a
//! WebSocket, speaks engine.io 4 / socket.io ([`framing`]), joins the channel and logs in, then
//! serves (`session/`): chat, PMs and channel events go to the incoming queue, the outbox is
//! paced under CyTube's flood limits ([`outbox`]), taking turns between the users it answers
//! ([`lanes`]). A lost connection is retried with a backoff that respects CyTube's per-IP
//! connection limit ([`reconnect`]) while the status says `Degraded` and what the bot says
//! waits in the outbox; a refusal for good (wrong password, kicked for a duplicate login) makes
//! the status `Failed` with the server's reason and ends the driver without retrying.

mod actions;
mod channel;
pub mod framing;
pub mod html;
pub mod http;
pub mod lanes;
pub mod media_link;
pub mod outbox;
pub mod reconnect;
mod session;

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use rosey_abi::channel::{Action, ActionError, ActionErrorKind};
use tokio::{
    sync::{oneshot, watch, Notify},
    task::JoinHandle,
};
use url::Url;

use super::{
    Connector, ConnectorError, ConnectorStatus, IncomingQueue, IncomingReceiver, Outgoing,
};
use crate::{
    config::BotConfig,
    messaging::{now_ms, PlaylistState, PollState},
};
use channel::ChannelModel;
use outbox::Outbox;
use reconnect::{Backoff, Ended};

/// The connector's name in logs and errors.
const NAME: &str = "cytube";

/// A session that stayed logged in this long resets the reconnect backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);

/// Everything needed to sit in a CyTube channel.
#[derive(Clone)]
pub struct CytubeSettings {
    /// The site's base URL (`https://cytu.be`), where `socketconfig/` is asked.
    pub server: Url,
    /// The channel.
    pub channel: String,
    /// The bot's user name.
    pub user: String,
    /// The account's password; `None` logs in as a guest.
    pub password: Option<String>,
    /// The channel's password, when it has one.
    pub channel_password: Option<String>,
    /// Messages sent at once before pacing starts.
    pub chat_burst: u32,
    /// Messages a second after the burst.
    pub chat_per_sec: f64,
    /// The first wait before reconnecting; it doubles with each failure.
    pub reconnect_initial: Duration,
    /// The longest wait between reconnects.
    pub reconnect_max: Duration,
    /// How long the socketconfig request, the WebSocket handshake and the answer to the login
    /// may each take.
    pub connect_timeout: Duration,
}

/// Passwords stay out of logs.
impl std::fmt::Debug for CytubeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CytubeSettings")
            .field("server", &self.server.as_str())
            .field("channel", &self.channel)
            .field("user", &self.user)
            .field("guest", &self.password.is_none())
            .field("channel_password", &self.channel_password.is_some())
            .field("chat_burst", &self.chat_burst)
            .field("chat_per_sec", &self.chat_per_sec)
            .finish()
    }
}

/// Why `bot:` in rosey.yaml does not describe a CyTube channel to join, so an embedder can
/// point at the setting to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CytubeSettingsError {
    /// `bot.cytube.server` is missing.
    #[error("bot.cytube.server is not set: give the CyTube site's address, e.g. https://cytu.be")]
    NoServer,
    /// `bot.cytube.server` is not a URL.
    #[error("bot.cytube.server {server:?} is not a URL: {source}")]
    BadServer {
        /// The setting as written.
        server: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
}

impl CytubeSettings {
    /// The settings of `bot:` in rosey.yaml. `password` is the account password when it comes
    /// from elsewhere than the file (the daemon reads `ROSEY_CYTUBE_PASSWORD`); it wins over
    /// `bot.cytube.password`. Fails when `bot.cytube.server` is missing or not a URL.
    pub fn from_config(
        bot: &BotConfig,
        password: Option<String>,
    ) -> Result<Self, CytubeSettingsError> {
        let cytube = &bot.cytube;
        let server = cytube
            .server
            .as_deref()
            .ok_or(CytubeSettingsError::NoServer)?;
        let mut server = Url::parse(server).map_err(|source| CytubeSettingsError::BadServer {
            server: server.to_owned(),
            source,
        })?;
        if !server.path().ends_with('/') {
            let path = format!("{}/", server.path());
            server.set_path(&path);
        }
        Ok(CytubeSettings {
            server,
            channel: bot.channel.clone(),
            user: bot.name.clone(),
            password: password
                .filter(|password| !password.is_empty())
                .or_else(|| cytube.password.clone()),
            channel_password: cytube.channel_password.clone(),
            chat_burst: cytube.chat_burst,
            chat_per_sec: f64::from(cytube.chat_per_sec),
            reconnect_initial: Duration::from_millis(cytube.reconnect_initial_ms),
            reconnect_max: Duration::from_millis(cytube.reconnect_max_ms),
            connect_timeout: Duration::from_millis(cytube.connect_timeout_ms),
        })
    }
}

/// What the driver and the connector's handle share.
struct Shared {
    settings: CytubeSettings,
    incoming: IncomingQueue,
    outbox: Mutex<Outbox>,
    /// Wakes the driver when something was queued.
    queued: Notify,
    status: watch::Sender<ConnectorStatus>,
    closing: watch::Sender<bool>,
    /// Makes event ids unique across daemon restarts.
    id_prefix: String,
    next_id: AtomicU64,
    /// Channel actions waiting to be sent, in order.
    actions: Mutex<VecDeque<Request>>,
    /// The channel as the current connection knows it.
    model: Mutex<ChannelModel>,
}

/// The most channel actions that may wait to be sent; past it an action is refused.
const MAX_WAITING_ACTIONS: usize = 64;

/// A channel action asked for, and where its answer goes.
struct Request {
    action: Action,
    reply: oneshot::Sender<Result<String, ActionError>>,
}

impl Request {
    fn answer(self, result: Result<String, ActionError>) {
        // The asker may have given up; then nobody needs the answer.
        let _ = self.reply.send(result);
    }
}

impl Shared {
    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn actions(&self) -> MutexGuard<'_, VecDeque<Request>> {
        self.actions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn model(&self) -> MutexGuard<'_, ChannelModel> {
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn event_id(&self) -> String {
        format!(
            "{}-{}",
            self.id_prefix,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn set_status(&self, status: ConnectorStatus) {
        crate::metrics::connector_connected(status == ConnectorStatus::Connected);
        self.status.send_replace(status);
    }
}

/// A bot in a CyTube channel. Share it as `Arc<CytubeConnector>`; it keeps connecting until
/// [`Connector::close`] or a refusal for good.
pub struct CytubeConnector {
    shared: Arc<Shared>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for CytubeConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CytubeConnector")
            .field("settings", &self.shared.settings)
            .field("status", &*self.shared.status.borrow())
            .finish()
    }
}

impl CytubeConnector {
    /// Starts connecting in the background; the status says how it goes.
    ///
    /// # Panics
    /// Outside a Tokio runtime, like `tokio::spawn`.
    pub fn start(settings: CytubeSettings) -> Arc<CytubeConnector> {
        let outbox = Outbox::new(settings.chat_burst, settings.chat_per_sec, Instant::now());
        let shared = Arc::new(Shared {
            settings,
            incoming: IncomingQueue::new(NAME),
            outbox: Mutex::new(outbox),
            queued: Notify::new(),
            status: watch::channel(ConnectorStatus::Connecting).0,
            closing: watch::channel(false).0,
            id_prefix: format!("cytube-{:x}-{:x}", now_ms(), std::process::id()),
            next_id: AtomicU64::new(1),
            actions: Mutex::new(VecDeque::new()),
            model: Mutex::new(ChannelModel::default()),
        });
        let driver = tokio::spawn(drive(shared.clone()));
        Arc::new(CytubeConnector {
            shared,
            driver: Mutex::new(Some(driver)),
        })
    }

    /// How many messages wait to be said (queued, resent or without an answer yet).
    pub fn pending(&self) -> usize {
        self.shared.outbox().len()
    }

    /// Queues `out` in `user`'s lane (nobody's for `None`) and wakes the driver, unless the
    /// connector is closed or was refused for good.
    fn enqueue(&self, out: Outgoing, user: Option<&str>) -> Result<(), ConnectorError> {
        if *self.shared.closing.borrow() {
            return Err(ConnectorError::Closed {
                connector: NAME.to_owned(),
            });
        }
        if let ConnectorStatus::Failed(reason) = &*self.shared.status.borrow() {
            return Err(ConnectorError::Failed {
                connector: NAME.to_owned(),
                reason: reason.clone(),
            });
        }
        let mut outbox = self.shared.outbox();
        match user {
            Some(user) => outbox.push_for(out, user),
            None => outbox.push(out),
        }
        drop(outbox);
        self.shared.queued.notify_one();
        Ok(())
    }
}

impl Connector for CytubeConnector {
    fn name(&self) -> &str {
        NAME
    }

    fn incoming(&self) -> Result<IncomingReceiver, ConnectorError> {
        self.shared.incoming.take()
    }

    fn send(&self, out: Outgoing) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let result = self.enqueue(out, None);
        Box::pin(async move { result })
    }

    fn send_for(&self, out: Outgoing, user: &str) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let result = self.enqueue(out, Some(user));
        Box::pin(async move { result })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            self.shared.closing.send_replace(true);
            let driver = self
                .driver
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(mut driver) = driver {
                // The driver says goodbye to the server; don't wait for a dead one forever.
                if tokio::time::timeout(Duration::from_secs(2), &mut driver)
                    .await
                    .is_err()
                {
                    driver.abort();
                }
            }
            // Actions that slipped in as it closed: answered now ("stopped; nothing was
            // done"), not after the answer limit.
            self.shared.actions().clear();
            self.shared.incoming.close();
            Ok(())
        })
    }

    fn status(&self) -> watch::Receiver<ConnectorStatus> {
        self.shared.status.subscribe()
    }

    fn act(&self, action: Action) -> BoxFuture<'_, Result<String, ActionError>> {
        Box::pin(async move {
            let unavailable = |why: String| ActionError::new(ActionErrorKind::Unavailable, why);
            // Closed: the driver is gone (or going), so nothing would ever send it.
            if *self.shared.closing.borrow() {
                return Err(unavailable(
                    "the CyTube connector is closed; nothing was done".to_owned(),
                ));
            }
            match &*self.shared.status.borrow() {
                ConnectorStatus::Connected => {}
                ConnectorStatus::Connecting => {
                    return Err(unavailable(
                        "the bot is still connecting to CyTube; nothing was done".to_owned(),
                    ))
                }
                ConnectorStatus::Degraded(why) | ConnectorStatus::Failed(why) => {
                    return Err(unavailable(format!(
                        "the bot is not connected to CyTube ({why}); nothing was done"
                    )))
                }
            }
            let (reply, answer) = oneshot::channel();
            {
                let mut waiting = self.shared.actions();
                if waiting.len() >= MAX_WAITING_ACTIONS {
                    return Err(ActionError::new(
                        ActionErrorKind::Refused,
                        format!("{MAX_WAITING_ACTIONS} channel actions are already waiting to be sent; nothing was done"),
                    ));
                }
                waiting.push_back(Request { action, reply });
            }
            self.shared.queued.notify_one();
            // Past this the request is dropped unsent if it is still waiting its turn.
            let limit = actions::ANSWER_LIMIT;
            match tokio::time::timeout(limit, answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(unavailable(
                    "the CyTube connector stopped; nothing was done".to_owned(),
                )),
                Err(_) => Err(ActionError::new(
                    ActionErrorKind::NoAnswer,
                    format!(
                        "no answer within {} s; the action may or may not have happened",
                        limit.as_secs()
                    ),
                )),
            }
        })
    }

    fn playlist(&self) -> Option<PlaylistState> {
        Some(self.shared.model().playlist.clone())
    }

    fn poll(&self) -> Option<Option<PollState>> {
        Some(self.shared.model().poll.clone())
    }
}

impl Drop for CytubeConnector {
    fn drop(&mut self) {
        if let Some(driver) = self
            .driver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            driver.abort();
        }
    }
}

/// Resolves once [`Connector::close`] was called.
async fn closed(closing: &mut watch::Receiver<bool>) {
    // The sender lives in `Shared`, which outlives every receiver's user.
    let _ = closing.wait_for(|closing| *closing).await;
}

/// Connects, serves, and reconnects until closed or refused for good.
async fn drive(shared: Arc<Shared>) {
    let settings = &shared.settings;
    let mut backoff = Backoff::new(settings.reconnect_initial, settings.reconnect_max);
    let mut closing = shared.closing.subscribe();
    loop {
        if *closing.borrow() {
            return;
        }
        let started = Instant::now();
        let (ended, logged_in) = session::run(&shared).await;
        shared.outbox().connection_lost();
        match ended {
            Ended::Closed => return,
            Ended::Fatal(reason) => {
                shared.set_status(ConnectorStatus::Failed(reason));
                return;
            }
            Ended::Retry { reason, floor } => {
                if logged_in && started.elapsed() >= STABLE_AFTER {
                    backoff.reset();
                }
                let delay = backoff.next_delay(floor);
                let waiting = shared.outbox().len();
                shared.set_status(ConnectorStatus::Degraded(format!(
                    "{reason}; reconnecting in {:.1} s{}",
                    delay.as_secs_f64(),
                    match waiting {
                        0 => String::new(),
                        n => format!(", {n} messages waiting to be said"),
                    }
                )));
                tokio::select! {
                    _ = tokio::time::sleep(delay) => crate::metrics::connector_reconnected(),
                    _ = closed(&mut closing) => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

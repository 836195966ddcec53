//! An emulated CyTube server for the end-to-end tests: a real socket.io server (engine.io
//! protocol 4 over WebSocket, on an ephemeral loopback port) that speaks the wire protocol of
//! `shared/cytube-protocol.md` — `socketconfig`, `joinChannel` with the join burst and the
//! replay of the last 15 chat messages, `login` with accounts or as a guest, HTML-escaped
//! chat, PMs, the flood limit answering `cooldown`, the per-IP connection limits, kicks for a
//! duplicate login — and can be stopped and started again on the same port.
//!
//! Tests act as other users through it: [`CytubeServer::say`] and [`CytubeServer::pm`] speak
//! as a user sitting in the channel, and [`CytubeServer::wait_for_chat`] /
//! [`CytubeServer::wait_for_pm`] read what the bot said.

mod protocol;
mod server;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tokio::sync::mpsc;

pub use protocol::sanitize;

/// How many chat messages a joining user is replayed.
pub const BACKLOG: usize = 15;

/// The server's limits and timings; [`Limits::default`] is CyTube's.
#[derive(Debug, Clone)]
pub struct Limits {
    /// engine.io ping interval, ms.
    pub ping_interval_ms: u64,
    /// engine.io ping timeout, ms.
    pub ping_timeout_ms: u64,
    /// Chat and PMs a user may send at once.
    pub chat_burst: f64,
    /// Chat and PMs a second after the burst (`cooldown` answers with `1000 / this`).
    pub chat_per_sec: f64,
    /// Quick connections per IP.
    pub connect_burst: f64,
    /// Then one connection per this long.
    pub connect_every: Duration,
    /// Open sockets per IP.
    pub max_sockets: usize,
    /// One guest login per IP per this long.
    pub guest_login_every: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ping_interval_ms: 25_000,
            ping_timeout_ms: 120_000,
            chat_burst: 20.0,
            chat_per_sec: 10.0,
            connect_burst: 5.0,
            connect_every: Duration::from_secs(10),
            max_sockets: 10,
            guest_login_every: Duration::from_secs(60),
        }
    }
}

/// Something said in the channel or by PM, as the server delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// Who said it.
    pub from: String,
    /// The PM's recipient; `None` for chat.
    pub to: Option<String>,
    /// The text as the server delivered it (sanitised HTML).
    pub html: String,
}

/// A token bucket (CyTube's rate limiter).
#[derive(Debug, Clone)]
struct Bucket {
    burst: f64,
    per_sec: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(burst: f64, per_sec: f64) -> Bucket {
        Bucket {
            burst,
            per_sec,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes a token; `false` when there is none (throttled).
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_sec)
            .min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One connected socket.
struct Socket {
    tx: mpsc::UnboundedSender<server::Out>,
    /// The name it logged in as.
    name: Option<String>,
    channel: Option<String>,
    rank: i64,
    chat: Bucket,
    /// The channel it asked to join, waiting for the channel password.
    pending_channel: Option<String>,
}

#[derive(Default)]
struct Channel {
    history: VecDeque<Value>,
    /// Users present who are not sockets (the tests' users), with their rank.
    virtual_users: BTreeMap<String, i64>,
    password: Option<String>,
}

struct State {
    limits: Limits,
    accounts: HashMap<String, String>,
    channels: HashMap<String, Channel>,
    sockets: HashMap<u64, Socket>,
    next_socket: u64,
    connects: Bucket,
    last_guest_login: Option<Instant>,
    said: Vec<Said>,
    connections_total: u64,
}

pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running emulator. Dropping it stops it.
pub struct CytubeServer {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    port: u16,
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl CytubeServer {
    /// Starts a server with `limits` on a free loopback port.
    pub fn start(limits: Limits) -> CytubeServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("emulator runtime");
        let connects = Bucket::new(
            limits.connect_burst,
            1.0 / limits.connect_every.as_secs_f64(),
        );
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                limits,
                accounts: HashMap::new(),
                channels: HashMap::new(),
                sockets: HashMap::new(),
                next_socket: 1,
                connects,
                last_guest_login: None,
                said: Vec::new(),
                connections_total: 0,
            }),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind emulator");
        let port = listener.local_addr().expect("local addr").port();
        let accept = runtime.spawn(server::accept(listener, shared.clone(), port));
        CytubeServer {
            shared,
            runtime: Some(runtime),
            port,
            accept: Mutex::new(Some(accept)),
        }
    }

    /// The site's base URL (`http://127.0.0.1:<port>`), for `bot.cytube.server`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A server for a bot's test: pings every 500 ms (so a lost connection shows within a test's
    /// time), `limits` for the rest, and the bot's account `bot` with `password`.
    pub fn for_bot(bot: &str, password: &str, limits: Limits) -> CytubeServer {
        let server = CytubeServer::start(Limits {
            ping_interval_ms: 500,
            ping_timeout_ms: 5000,
            ..limits
        });
        server.add_account(bot, password);
        server
    }

    /// Registers account `name` with `password`.
    pub fn add_account(&self, name: &str, password: &str) {
        self.shared
            .lock()
            .accounts
            .insert(name.to_lowercase(), password.to_owned());
    }

    /// Gives channel `channel` a password.
    pub fn set_channel_password(&self, channel: &str, password: &str) {
        self.shared
            .lock()
            .channels
            .entry(channel.to_owned())
            .or_default()
            .password = Some(password.to_owned());
    }

    /// Makes `user` (a user the test plays) sit in `channel`; everyone there sees them join.
    pub fn join(&self, channel: &str, user: &str) {
        let mut state = self.shared.lock();
        state
            .channels
            .entry(channel.to_owned())
            .or_default()
            .virtual_users
            .insert(user.to_owned(), 1);
        let user = json!({"name": user, "rank": 1, "profile": {"image": "", "text": ""}, "meta": {"afk": false, "muted": false}});
        protocol::broadcast(&mut state, channel, "addUser", &user);
    }

    /// Gives `user` (a user the test plays, in `channel`) channel rank `rank` (2 moderator,
    /// 3 admin, …): everyone there gets `setUserRank`, as when a channel owner promotes someone.
    pub fn set_rank(&self, channel: &str, user: &str, rank: i64) {
        if !self.present(channel, user) {
            self.join(channel, user);
        }
        let mut state = self.shared.lock();
        if let Some(room) = state.channels.get_mut(channel) {
            room.virtual_users.insert(user.to_owned(), rank);
        }
        protocol::broadcast(
            &mut state,
            channel,
            "setUserRank",
            &json!({"name": user, "rank": rank}),
        );
    }

    /// The keys under `bot:` of a `rosey.yaml` whose bot logs in to this server as `bot` with
    /// `password` and sits in `channel`, reconnecting quickly (to append to the test config,
    /// whose `bot:` comes last).
    pub fn bot_keys(&self, bot: &str, password: &str, channel: &str) -> String {
        format!(
            "  connector: cytube
  name: {bot}
  channel: {channel}
  cytube:
    server: {}
    password: {password:?}
    reconnect_initial_ms: 200
    reconnect_max_ms: 1000
    connect_timeout_ms: 5000
",
            self.url()
        )
    }

    /// Plays media titled `title` in `channel`: everyone there gets `changeMedia`.
    pub fn change_media(&self, channel: &str, title: &str) {
        let media = json!({"id": "abc123", "title": title, "seconds": 60, "duration": "01:00",
            "type": "yt", "meta": {}, "currentTime": 0, "paused": false});
        protocol::broadcast(&mut self.shared.lock(), channel, "changeMedia", &media);
    }

    /// `user` (a user the test plays) leaves `channel`.
    pub fn leave(&self, channel: &str, user: &str) {
        let mut state = self.shared.lock();
        if let Some(room) = state.channels.get_mut(channel) {
            room.virtual_users.remove(user);
        }
        protocol::broadcast(&mut state, channel, "userLeave", &json!({"name": user}));
    }

    /// `user` says `text` in `channel` (joining first if needed), as CyTube would deliver it.
    pub fn say(&self, channel: &str, user: &str, text: &str) {
        if !self.present(channel, user) {
            self.join(channel, user);
        }
        protocol::chat(&mut self.shared.lock(), channel, user, text);
    }

    /// `from` (a user the test plays, in `channel`) sends a PM to `to`; `false` when `to` is not
    /// in the channel.
    pub fn pm(&self, channel: &str, from: &str, to: &str, text: &str) -> bool {
        if !self.present(channel, from) {
            self.join(channel, from);
        }
        protocol::pm(&mut self.shared.lock(), None, from, to, text)
    }

    fn present(&self, channel: &str, user: &str) -> bool {
        self.shared
            .lock()
            .channels
            .get(channel)
            .is_some_and(|c| c.virtual_users.contains_key(user))
    }

    /// Kicks every socket logged in as `name` with `reason`.
    pub fn kick(&self, name: &str, reason: &str) {
        let mut state = self.shared.lock();
        let ids: Vec<u64> = state
            .sockets
            .iter()
            .filter(|(_, s)| {
                s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            protocol::kick(&mut state, id, reason);
        }
    }

    /// Everything said so far, chat and PMs, in order.
    pub fn said(&self) -> Vec<Said> {
        self.shared.lock().said.clone()
    }

    /// Chat messages `from` said so far (as delivered: sanitised HTML).
    pub fn chat_from(&self, from: &str) -> Vec<String> {
        self.said()
            .into_iter()
            .filter(|said| said.to.is_none() && said.from == from)
            .map(|said| said.html)
            .collect()
    }

    /// How many of `from`'s chat lines so far contain `needle`.
    pub fn count_chat(&self, from: &str, needle: &str) -> usize {
        self.chat_from(from)
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// PMs `from` sent to `to` so far.
    pub fn pms(&self, from: &str, to: &str) -> Vec<String> {
        self.said()
            .into_iter()
            .filter(|said| said.from == from && said.to.as_deref() == Some(to))
            .map(|said| said.html)
            .collect()
    }

    /// Waits until `from` said in chat something containing `needle`; returns it.
    pub fn wait_for_chat(&self, from: &str, needle: &str, timeout: Duration) -> String {
        self.wait(
            timeout,
            &format!("{from} saying {needle:?} in chat"),
            || {
                self.chat_from(from)
                    .into_iter()
                    .find(|m| m.contains(needle))
            },
        )
    }

    /// Waits until `from` sent `to` a PM containing `needle`; returns it.
    pub fn wait_for_pm(&self, from: &str, to: &str, needle: &str, timeout: Duration) -> String {
        self.wait(
            timeout,
            &format!("a PM from {from} to {to} with {needle:?}"),
            || self.pms(from, to).into_iter().find(|m| m.contains(needle)),
        )
    }

    /// Waits until `check` returns something, or panics after `timeout` naming `what`.
    pub fn wait<T>(&self, timeout: Duration, what: &str, check: impl Fn() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = check() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {timeout:?}; said so far: {:#?}",
                self.said()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Names logged in on a socket right now.
    pub fn logged_in(&self) -> Vec<String> {
        self.shared
            .lock()
            .sockets
            .values()
            .filter_map(|s| s.name.clone())
            .collect()
    }

    /// How many WebSocket connections were accepted (refused ones included).
    pub fn connections_total(&self) -> u64 {
        self.shared.lock().connections_total
    }

    /// Stops listening and drops every connection, as a crashed or restarting server would.
    /// Accounts, channels and chat history are kept for [`CytubeServer::start_again`].
    pub fn stop(&self) {
        if let Some(accept) = self
            .accept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            accept.abort();
        }
        let mut state = self.shared.lock();
        for (_, socket) in state.sockets.drain() {
            let _ = socket.tx.send(server::Out::Drop);
        }
    }

    /// Listens again on the same port after [`CytubeServer::stop`].
    pub fn start_again(&self) {
        let runtime = self.runtime.as_ref().expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", self.port)))
            .expect("bind the same port again");
        let accept = runtime.spawn(server::accept(listener, self.shared.clone(), self.port));
        *self.accept.lock().unwrap_or_else(PoisonError::into_inner) = Some(accept);
    }
}

impl Drop for CytubeServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

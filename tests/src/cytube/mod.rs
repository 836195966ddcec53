//! An emulated CyTube server for the end-to-end tests: a real socket.io server (engine.io
//! protocol 4 over WebSocket, on an ephemeral loopback port) that speaks CyTube's wire
//! protocol as `docs/CYTUBE.md` describes it — `socketconfig`, `joinChannel` with the join burst and the
//! replay of the last 15 chat messages, `login` with accounts or as a guest, HTML-escaped
//! chat, PMs, the flood limit answering `cooldown`, the per-IP connection limits, kicks for a
//! duplicate login — and can be stopped and started again on the same port.
//!
//! It also keeps CyTube's channel behaviour: ranks and the permission table (with the playlist
//! lock's `o`-twins), the playlist (queue checks and refusals, emulated media lookups, the
//! playback clock), voteskip, the moderation chat commands (kick, mute, shadow mute, clear,
//! ban), polls, AFK, and `/me` and `/sp` (an action or a spoiler, the rest handled as a line of
//! its own, so `/me /kick bob` kicks) — including the refusals CyTube sends nothing for. Every
//! channel is a registered one. Not emulated: leaders (`assignLeader`, a leader's
//! `mediaUpdate`), `/rank` and `setChannelRank`, `setOptions`, `/clean`, `/say`, `/shout`, `/a`
//! (they are plain chat here), user playlists, emotes, filters, MOTD.
//!
//! Deviations, all because every test client shares 127.0.0.1: skip and poll votes are keyed
//! by user name (CyTube: by IP); `/ipban` bans the name only; the per-IP guest login limit is
//! global. Timers: playback runs on [`Limits::media_tick`] per emulated second; poll timeouts
//! and `afk_timeout` (auto-AFK of sockets; the tests' users only go AFK through
//! [`CytubeServer::set_afk`]) run in real seconds.
//!
//! Tests act as other users through it: [`CytubeServer::say`] and [`CytubeServer::pm`] speak
//! as a user sitting in the channel, the methods of `api.rs` (`queue_as`, `vote_skip_as`,
//! `emit_as`…) act for them, and [`CytubeServer::wait_for_chat`] /
//! [`CytubeServer::wait_for_pm`] read what the bot said, [`CytubeServer::received`] every
//! frame it sent.

mod api;
mod checks;
mod moderation;
mod permissions;
mod playback;
mod playlist;
mod poll;
mod protocol;
mod queue;
mod server;
mod state;
mod users;
mod voteskip;

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use serde_json::json;

pub use api::{PlaylistEntry, PollView};
pub use protocol::sanitize;
use state::{broadcast, Shared, State, Who};

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
    /// Real time per emulated second of playback (CyTube's 1 s lead-loop tick); shorten it to
    /// play media faster.
    pub media_tick: Duration,
    /// `queue` requests at once for ranks below 2 (CyTube: 3).
    pub queue_burst: f64,
    /// Then this many per second (CyTube: 1).
    pub queue_per_sec: f64,
    /// `queue` requests at once for rank 2 and up (CyTube: 10).
    pub mod_queue_burst: f64,
    /// Then this many per second (CyTube: 2).
    pub mod_queue_per_sec: f64,
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
            media_tick: Duration::from_secs(1),
            queue_burst: 3.0,
            queue_per_sec: 1.0,
            mod_queue_burst: 10.0,
            mod_queue_per_sec: 2.0,
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
        let tick = limits.media_tick;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(limits)),
        });
        runtime.spawn(server::clock(shared.clone(), tick));
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

    /// Makes `user` (a user the test plays) sit in `channel`; everyone there sees them join
    /// (`addUser`, `usercount`). A banned name is refused (see [`CytubeServer::kicked`]).
    pub fn join(&self, channel: &str, user: &str) {
        let mut state = self.shared.lock();
        users::join_virtual(&mut state, channel, user);
        playback::flush_all(&mut state);
    }

    /// Gives `user` channel rank `rank` (0 guest, 2 moderator, 3 admin, …) in `channel`, as
    /// when a channel owner promotes someone: everyone there gets `setUserRank`. A connected
    /// socket by that name (the bot) first gets `rank` (its effective rank: never below its
    /// global rank, 1 for an account) and, if it crossed 2, a new `userlist`; a name with an
    /// account and no socket there keeps the rank for its next login; any other name is a
    /// user the test plays, joining first if needed.
    pub fn set_rank(&self, channel: &str, user: &str, rank: i64) {
        let mut state = self.shared.lock();
        let account = state.accounts.contains_key(&user.to_lowercase());
        let socket = state
            .members(channel)
            .iter()
            .any(|m| matches!(m.who, Who::Socket(_)) && m.name.eq_ignore_ascii_case(user));
        if !socket && !account && !Self::is_virtual(&state, channel, user) {
            users::join_virtual(&mut state, channel, user);
        }
        users::set_rank(&mut state, channel, user, rank as f64);
        playback::flush_all(&mut state);
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
        broadcast(&self.shared.lock(), channel, "changeMedia", &media);
    }

    /// `user` (a user the test plays) leaves `channel`.
    pub fn leave(&self, channel: &str, user: &str) {
        let mut state = self.shared.lock();
        users::leave_virtual(&mut state, channel, user);
        playback::flush_all(&mut state);
    }

    /// `user` says `text` in `channel` (joining first if needed), as CyTube would deliver it:
    /// chat commands (`/kick`, `/mute`, `/poll`, `/afk`…) run instead of being said, and a
    /// muted user's line reaches nobody.
    pub fn say(&self, channel: &str, user: &str, text: &str) {
        let mut state = self.shared.lock();
        if !users::join_virtual(&mut state, channel, user) {
            return;
        }
        let who = Who::Virtual(user.to_owned());
        let msg = protocol::clean(text);
        if let Some(member) = state.member(channel, &who) {
            if !msg.trim().is_empty() && state.room(channel).can(member.rank, "chat") {
                protocol::speak(&mut state, channel, &member, &msg, json!({}));
            }
        }
        playback::flush_all(&mut state);
    }

    /// `from` (a user the test plays, in `channel`) sends a PM to `to`; `false` when `to` is not
    /// in the channel.
    pub fn pm(&self, channel: &str, from: &str, to: &str, text: &str) -> bool {
        let mut state = self.shared.lock();
        if !users::join_virtual(&mut state, channel, from) {
            return false;
        }
        protocol::pm(&mut state, channel, None, from, to, text)
    }

    /// Whether `user` is a user the test plays sitting in `channel`.
    fn is_virtual(state: &State, channel: &str, user: &str) -> bool {
        state
            .channels
            .get(channel)
            .is_some_and(|c| c.virtual_users.contains_key(user))
    }

    /// Whether someone named `user` (any case) is in `channel`: a socket logged in or a user
    /// the test plays.
    pub fn present(&self, channel: &str, user: &str) -> bool {
        let state = self.shared.lock();
        state
            .members(channel)
            .iter()
            .any(|m| m.name.eq_ignore_ascii_case(user))
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
            users::kick_socket(&mut state, id, reason);
        }
        playback::flush_all(&mut state);
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

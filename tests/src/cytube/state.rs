//! The emulator's state — sockets, channels (users, permissions, options, playlist, polls,
//! mutes and bans) — and the helpers every part uses to read it and to send frames.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use super::{
    moderation::Ban, permissions, playlist::Playlist, poll::Poll, server::Out, Limits, Said,
};

/// The cloaked form of 127.0.0.1 (CyTube's `util.cloakIP`), shown to moderators.
pub(crate) const CLOAKED_IP: &str = "yFA.j8g.iXh.gvS";

/// A token bucket (the emulator's chat and connection limits).
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    burst: f64,
    per_sec: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub(crate) fn new(burst: f64, per_sec: f64) -> Bucket {
        Bucket {
            burst,
            per_sec,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes a token; `false` when there is none (throttled).
    pub(crate) fn take(&mut self) -> bool {
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

/// CyTube's `newRateLimiter` (src/utilities.js): after `burst / sustained` seconds idle the
/// count resets; until `burst` every call passes; then one per `1 / sustained` seconds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limiter {
    count: u32,
    last: Option<Instant>,
}

impl Limiter {
    /// `true` when this call is refused (a refusal does not move the clock).
    pub(crate) fn throttle(&mut self, burst: f64, sustained: f64) -> bool {
        let now = Instant::now();
        let cooldown = Duration::from_secs_f64(burst / sustained);
        match self.last {
            Some(last) if now.duration_since(last) <= cooldown => {}
            _ => {
                self.count = 1;
                self.last = Some(now);
                return false;
            }
        }
        if f64::from(self.count) < burst {
            self.count += 1;
            self.last = Some(now);
            return false;
        }
        let last = self.last.unwrap_or(now);
        if now.duration_since(last).as_secs_f64() < 1.0 / sustained {
            return true;
        }
        self.last = Some(now);
        false
    }
}

/// One connected socket.
pub(crate) struct Socket {
    pub tx: mpsc::UnboundedSender<Out>,
    /// The name it logged in as.
    pub name: Option<String>,
    pub channel: Option<String>,
    /// -1 anonymous, 0 guest, 1 registered.
    pub global: f64,
    /// `effectiveRank`: max(global, channel rank).
    pub rank: f64,
    pub registered: bool,
    pub chat: Bucket,
    pub queue: Limiter,
    pub afk: bool,
    /// The last activity that resets the auto-AFK timer.
    pub active: Instant,
    /// The last `requestPlaylist` that was answered.
    pub requested_playlist: Option<Instant>,
    /// The channel it asked to join, waiting for the channel password.
    pub pending_channel: Option<String>,
}

/// A user the test plays: present in a channel without a socket.
#[derive(Debug, Clone)]
pub(crate) struct Virtual {
    pub rank: f64,
    pub afk: bool,
    pub queue: Limiter,
}

impl Virtual {
    pub(crate) fn new(rank: f64) -> Virtual {
        Virtual {
            rank,
            afk: false,
            queue: Limiter::default(),
        }
    }
}

/// One channel (always a registered one).
pub(crate) struct Channel {
    pub history: VecDeque<Value>,
    /// Users present who are not sockets (the tests' users).
    pub virtual_users: BTreeMap<String, Virtual>,
    pub password: Option<String>,
    pub perms: BTreeMap<String, f64>,
    pub opts: Map<String, Value>,
    /// `true` = locked (CyTube's `!openPlaylist`).
    pub locked: bool,
    /// Stored channel ranks by lowercase name.
    pub ranks: HashMap<String, f64>,
    /// Muted names (lowercase), shadow-muted ones included.
    pub muted: BTreeSet<String>,
    /// Shadow-muted names (lowercase).
    pub smuted: BTreeSet<String>,
    pub bans: Vec<Ban>,
    pub next_ban: u64,
    pub playlist: Playlist,
    /// The running skip vote: voters' keys (`None` = no vote running).
    pub skips: Option<BTreeSet<String>>,
    pub poll: Option<Poll>,
    /// How many times `/clear` ran.
    pub cleared: u32,
}

impl Default for Channel {
    fn default() -> Self {
        Channel {
            history: VecDeque::new(),
            virtual_users: BTreeMap::new(),
            password: None,
            perms: permissions::defaults(),
            opts: permissions::default_options(),
            locked: true,
            ranks: HashMap::new(),
            muted: BTreeSet::new(),
            smuted: BTreeSet::new(),
            bans: Vec::new(),
            next_ban: 1,
            playlist: Playlist::default(),
            skips: None,
            poll: None,
            cleared: 0,
        }
    }
}

impl Channel {
    /// CyTube's `hasPermission`: `rank >= table[key]`, or, for a `playlist*` key of an
    /// unlocked playlist, `rank >= table["o" + key]`. A missing key is held by nobody.
    pub(crate) fn can(&self, rank: f64, key: &str) -> bool {
        if key.starts_with("playlist") && !self.locked {
            if let Some(open) = self.perms.get(&format!("o{key}")) {
                if rank >= *open {
                    return true;
                }
            }
        }
        self.perms.get(key).is_some_and(|need| rank >= *need)
    }

    /// The permission table's rank for `key` (CyTube's `permissions.permissions[key]`).
    pub(crate) fn perm(&self, key: &str) -> f64 {
        self.perms.get(key).copied().unwrap_or(f64::INFINITY)
    }

    /// A numeric channel option.
    pub(crate) fn opt_f64(&self, key: &str) -> f64 {
        self.opts.get(key).and_then(Value::as_f64).unwrap_or(0.0)
    }

    /// A boolean channel option (JS truthiness of numbers too).
    pub(crate) fn opt_bool(&self, key: &str) -> bool {
        match self.opts.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
            Some(Value::String(s)) => !s.is_empty(),
            _ => false,
        }
    }
}

/// Who did something in a channel: a socket, or a user the test plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Who {
    Socket(u64),
    Virtual(String),
}

/// A user in a channel, as CyTube's `channel.users` sees it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub who: Who,
    /// `""` for a socket not logged in.
    pub name: String,
    pub rank: f64,
    pub global: f64,
    pub afk: bool,
}

impl Member {
    /// The key its votes are counted under. CyTube keys skip and poll votes by IP address;
    /// every test client is on 127.0.0.1, so the emulator keys them by (lowercase) name
    /// instead, and anonymous sockets by socket.
    pub(crate) fn key(&self) -> String {
        match &self.who {
            Who::Socket(id) if self.name.is_empty() => format!("#{id}"),
            _ => self.name.to_lowercase(),
        }
    }
}

pub(crate) struct State {
    pub limits: Limits,
    pub accounts: HashMap<String, String>,
    pub channels: HashMap<String, Channel>,
    pub sockets: HashMap<u64, Socket>,
    pub next_socket: u64,
    pub connects: Bucket,
    pub last_guest_login: Option<Instant>,
    pub said: Vec<Said>,
    pub connections_total: u64,
    /// Lookup results set by the test: (type, id) → (title, seconds).
    pub media: HashMap<(String, String), (String, u64)>,
    /// Lookups made to fail: (type, id) → message.
    pub rejects: HashMap<(String, String), String>,
    /// Media whose lookup never finishes (a provider that does not answer): (type, id).
    pub stalls: std::collections::HashSet<(String, String)>,
    /// Every event received from a socket: (socket, event, data).
    pub received: Vec<(u64, String, Value)>,
    /// The name each socket logged in as (kept after it closes).
    pub socket_names: HashMap<u64, String>,
    /// Frames the server addressed to one user the test plays: (user, event, data).
    pub virtual_frames: Vec<(String, String, Value)>,
    /// Every kick: (name, reason).
    pub kicked: Vec<(String, String)>,
}

impl State {
    pub(crate) fn new(limits: Limits) -> State {
        let connects = Bucket::new(
            limits.connect_burst,
            1.0 / limits.connect_every.as_secs_f64(),
        );
        State {
            limits,
            accounts: HashMap::new(),
            channels: HashMap::new(),
            sockets: HashMap::new(),
            next_socket: 1,
            connects,
            last_guest_login: None,
            said: Vec::new(),
            connections_total: 0,
            media: HashMap::new(),
            rejects: HashMap::new(),
            stalls: Default::default(),
            received: Vec::new(),
            socket_names: HashMap::new(),
            virtual_frames: Vec::new(),
            kicked: Vec::new(),
        }
    }

    /// Channel `channel`, created (registered, with defaults) if new.
    pub(crate) fn room(&mut self, channel: &str) -> &mut Channel {
        self.channels.entry(channel.to_owned()).or_default()
    }

    /// Everyone in `channel`: its sockets (by age, anonymous ones too), then the tests' users.
    pub(crate) fn members(&self, channel: &str) -> Vec<Member> {
        let mut ids: Vec<u64> = self
            .sockets
            .iter()
            .filter(|(_, s)| s.channel.as_deref() == Some(channel))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        let mut members: Vec<Member> = ids
            .into_iter()
            .filter_map(|id| self.member(channel, &Who::Socket(id)))
            .collect();
        if let Some(room) = self.channels.get(channel) {
            members.extend(room.virtual_users.iter().map(|(name, user)| Member {
                who: Who::Virtual(name.clone()),
                name: name.clone(),
                rank: user.rank,
                global: virtual_global(user.rank),
                afk: user.afk,
            }));
        }
        members
    }

    /// `who`, if it is in `channel`.
    pub(crate) fn member(&self, channel: &str, who: &Who) -> Option<Member> {
        match who {
            Who::Socket(id) => {
                let socket = self.sockets.get(id)?;
                (socket.channel.as_deref() == Some(channel)).then(|| Member {
                    who: who.clone(),
                    name: socket.name.clone().unwrap_or_default(),
                    rank: socket.rank,
                    global: socket.global,
                    afk: socket.afk,
                })
            }
            Who::Virtual(name) => {
                let user = self.channels.get(channel)?.virtual_users.get(name)?;
                Some(Member {
                    who: who.clone(),
                    name: name.clone(),
                    rank: user.rank,
                    global: virtual_global(user.rank),
                    afk: user.afk,
                })
            }
        }
    }

    /// The first user in `channel` whose lowercase name is `lower` (`""` finds an anonymous
    /// socket, as in CyTube).
    pub(crate) fn find(&self, channel: &str, lower: &str) -> Option<Member> {
        self.members(channel)
            .into_iter()
            .find(|m| m.name.to_lowercase() == lower)
    }

    /// Sends `who` one frame: to its socket, or into the log of a test user's frames.
    pub(crate) fn reply(&mut self, who: &Who, event: &str, data: &Value) {
        match who {
            Who::Socket(id) => send(self, *id, event, data),
            Who::Virtual(name) => {
                self.virtual_frames
                    .push((name.clone(), event.to_owned(), data.clone()));
            }
        }
    }
}

/// The global rank of a user the test plays: registered, or a guest below rank 1.
fn virtual_global(rank: f64) -> f64 {
    if rank >= 1.0 {
        1.0
    } else {
        0.0
    }
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A rank or other number as JavaScript prints it: `1`, not `1.0`.
pub(crate) fn num(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// `n` as JavaScript's `String(n)`.
pub(crate) fn num_text(n: f64) -> String {
    num(n).to_string()
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A socket.io event frame; `Null` data is an event without payload (`42["closePoll"]`).
fn frame(name: &str, data: &Value) -> String {
    if data.is_null() {
        format!("42{}", json!([name]))
    } else {
        format!("42{}", json!([name, data]))
    }
}

/// Sends event `name` to socket `id`.
pub(crate) fn send(state: &State, id: u64, name: &str, data: &Value) {
    if let Some(socket) = state.sockets.get(&id) {
        let _ = socket.tx.send(Out::Frame(frame(name, data)));
    }
}

/// Sends event `name` to every socket in `channel`.
pub(crate) fn broadcast(state: &State, channel: &str, name: &str, data: &Value) {
    broadcast_where(state, channel, name, data, |_, _| true);
}

/// Sends event `name` to the sockets in `channel` for which `to` holds.
pub(crate) fn broadcast_where(
    state: &State,
    channel: &str,
    name: &str,
    data: &Value,
    to: impl Fn(&Channel, &Socket) -> bool,
) {
    broadcast_each(state, channel, name, |room, socket| {
        to(room, socket).then(|| data.clone())
    });
}

/// Sends each socket in `channel` its own form of event `name` (none when `form` says so).
pub(crate) fn broadcast_each(
    state: &State,
    channel: &str,
    name: &str,
    form: impl Fn(&Channel, &Socket) -> Option<Value>,
) {
    let Some(room) = state.channels.get(channel) else {
        return;
    };
    let mut ids: Vec<u64> = state
        .sockets
        .iter()
        .filter(|(_, s)| s.channel.as_deref() == Some(channel))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    for id in ids {
        let socket = &state.sockets[&id];
        if let Some(data) = form(room, socket) {
            let _ = socket.tx.send(Out::Frame(frame(name, &data)));
        }
    }
}

/// A `[server]` notice to everyone in `channel` of rank `min_rank` or more.
pub(crate) fn notice(state: &State, channel: &str, msg: &str, min_rank: f64) {
    let data = json!({"username": "[server]", "msg": msg,
        "meta": {"addClass": "server-whisper", "addClassToNameAndTimestamp": true},
        "time": now_ms()});
    broadcast_where(state, channel, "chatMsg", &data, |_, s| s.rank >= min_rank);
}

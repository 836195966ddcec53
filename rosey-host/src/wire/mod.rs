//! The private channel between a plugin actor (in the daemon) and its plugin host: frames, their
//! encoding, and the rules both sides keep.
//!
//! The channel is a `SOCK_STREAM` Unix socketpair made by the daemon at spawn; the host finds its
//! end at file descriptor [`HOST_FD`]. It is the host's only connection: no NATS, no network.
//!
//! A frame is `u32` length (little endian, of what follows) + one tag byte + the body. Bodies
//! are fields in a fixed order: integers little endian, strings and byte strings as a `u32`
//! length and the bytes, options as a flag byte (0 absent, 1 present) then the value. A frame
//! longer than [`MAX_FRAME`] is refused. Decoding never panics and never allocates more than
//! the frame holds: a host is untrusted code, and what it writes is read as hostile input.
//!
//! The conversation:
//!
//! ```text
//! host  ── Hello{protocol, pid} ─────────────▶ actor      (at once; a spare waits here)
//!       ◀── Open{library, limits, sandbox} ──          sandbox, then dlopen + ABI check
//!       ── Opened{gaps} | Failed{code, msg} ─▶         (Failed: the host then exits `code`)
//!       ◀── Start{name, config, state} ──────          the plugin's `load`
//!       ── Started | Failed{…} ──────────────▶
//!       ◀── Command{seq,…} | Event{seq,…} ───          one at a time
//!       ── Chat / Publish / Log … Done{seq} ──▶         output, then the outcome
//!       ◀── Timer{seq, name, due} ───────────          a timer the plugin armed is due
//!       ── … Done{seq} ──────────────────────▶         (between messages, one at a time)
//!       ◀── Config{seq, json, flat} ─────────          new configuration (`on_config`)
//!       ── … Done{seq} ──────────────────────▶         (NotHandled: reload it instead)
//!       ◀── Unload ──────────────────────────
//!       ── Unloaded{state} | Failed{…} ──────▶         Failed: exits; else exits once the
//!                                                       actor closes the channel (at a time
//!                                                       of its choosing, off a swap's way)
//!       ── Heartbeat{handled} ───────────────▶         every heartbeat period, from Start on
//!       ── SetTimer / CancelTimer ───────────▶         any time from Start on (any thread)
//! ```
//!
//! Timers live in the actor, per instance: it fires a due one only when no message is in the
//! host, so a timer's hook is seen through (deadline, crash) like a message's, and an
//! instance's timers end with it. The host keeps the names it armed, to answer `cancel` at
//! once and to skip a timer cancelled while its `Timer` frame was on the way.
//!
//! A second socketpair, the *service channel* at [`SERVICE_FD`], carries the plugin's
//! questions about the chat channel and its requests to act on it, one at a time under the
//! host's lock, from whichever thread asks, without ever waiting for the serving loop:
//!
//! ```text
//! host  ── Query{part} ──────────────────────▶ actor      (a part of [`STATE_PARTS`])
//!       ◀── Answer(Ok(json) | Err(reason)) ──
//!       ── Act{verb, args} ──────────────────▶            (checked by the host first)
//!       ◀── Answer(Ok(detail) | Err(error)) ─          (error: `ActionError::encode`d)
//! ```
//!
//! Back-pressure is the socket's: the actor hands over one message and waits for its `Done`;
//! a host writes its output as the plugin produces it and blocks if the actor stops reading.
//! Bump [`PROTOCOL`] on any change; the actor refuses a host that says another number.

use std::io::{self, Read, Write};

/// The channel's version, sent in `Hello`.
pub const PROTOCOL: u32 = 5;

/// The file descriptor a host finds its end of the channel at.
pub const HOST_FD: i32 = 3;

/// The file descriptor a host finds its end of the service channel at.
pub const SERVICE_FD: i32 = 4;

/// The largest frame either side accepts (handed-over state included).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// The part of the channel's state a `Query` names: who is here and what plays
/// (`{"users":[{"name","rank","afk"}…],"media":{"title","type","id","seconds"}|null}`).
pub const PART_ROSTER: &str = "roster";
/// The part a `Query` names for the playlist (`{"items":[{"uid","title","type","id",
/// "seconds","temp","queued_by"}…],"current":uid|null,"position_ms","paused","locked"}`).
pub const PART_PLAYLIST: &str = "playlist";
/// The part a `Query` names for the open poll (`null`, or `{"title","options":[…],
/// "counts":[n|null…],"hidden","opened_by","opened_ms"}`).
pub const PART_POLL: &str = "poll";
/// The part a `Query` names for the bot itself (`null` before it joined, or
/// `{"name","rank","afk"}`).
pub const PART_BOT: &str = "bot";
/// Every part a `Query` may name (the daemon's `StatePart` names).
pub const STATE_PARTS: [&str; 4] = [PART_ROSTER, PART_PLAYLIST, PART_POLL, PART_BOT];

/// The most arguments an `Act` may carry: a poll's title, timeout and hidden flag, and its
/// options (no other action takes more than three). A frame with more is refused.
pub const MAX_ACT_ARGS: usize = 3 + rosey_abi::channel::MAX_POLL_OPTIONS;

// What a plugin may ask (timers, event kinds): the SDK's rules, which the host applies to
// answer the plugin and the actor applies again.
pub use rosey_abi::limits::{
    is_event_word, is_valid_event_kind, timer_refusal, MAX_TIMERS, MAX_TIMER_DELAY_MS,
    MAX_TIMER_NAME, MIN_TIMER_PERIOD_MS,
};

/// A log level on the channel (the plugin's, or the host's own lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something odd.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    fn to_byte(self) -> u8 {
        match self {
            Level::Debug => 0,
            Level::Info => 1,
            Level::Warn => 2,
            Level::Error => 3,
        }
    }

    fn from_byte(byte: u8) -> Result<Level, WireError> {
        Ok(match byte {
            0 => Level::Debug,
            1 => Level::Info,
            2 => Level::Warn,
            3 => Level::Error,
            other => return Err(WireError::Invalid(format!("log level {other}"))),
        })
    }
}

/// Where a command was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The channel's chat.
    Chat,
    /// A private message to the bot.
    Pm,
}

/// The TCP a plugin may use, from its manifest's `network:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// No network at all (no `network:` key).
    None,
    /// TCP connect to these ports only (the hosts a manifest names are not enforced).
    Ports(Vec<u16>),
    /// `network: any`.
    Any,
}

/// What the host needs to sandbox itself and open a plugin library (before any plugin code
/// runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// Absolute path of the library.
    pub library: String,
    /// `RLIMIT_DATA` in MiB (0: none).
    pub memory_mb: u64,
    /// Lowest level of the host's own lines worth sending.
    pub log_level: Level,
    /// `RLIMIT_NOFILE` (0: the host's default).
    pub open_files: u64,
    /// The plugin's version folder (read-only in the sandbox).
    pub version_dir: String,
    /// The plugin's storage folder (read-write in the sandbox).
    pub storage_dir: String,
    /// What TCP the plugin may use.
    pub network: Network,
    /// Refuse to load the library unless the sandbox is applied in full
    /// (`plugin_host.sandbox: required`).
    pub sandbox_required: bool,
}

/// What the host needs to start the plugin in an opened library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The plugin's name.
    pub name: String,
    /// Its version (for the host's own lines).
    pub version: String,
    /// The plugin's storage folder (its key-value store lives inside).
    pub storage_dir: String,
    /// The operator's settings, as a JSON object.
    pub config_json: String,
    /// The same settings flattened to `key.path = value` pairs.
    pub config_flat: Vec<(String, String)>,
    /// State the previous instance handed over.
    pub state: Option<Vec<u8>>,
    /// Milliseconds between heartbeats.
    pub heartbeat_ms: u32,
}

/// A routed `!command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The stream sequence (the actor's handle on the message).
    pub seq: u64,
    /// Message id (replies name it).
    pub id: String,
    /// The command, without `!`.
    pub command: String,
    /// Everything after the command.
    pub args: String,
    /// Who typed it.
    pub user: String,
    /// The channel.
    pub channel: String,
    /// Chat or PM.
    pub source: Source,
    /// When it was typed, ms since the Unix epoch.
    pub time_ms: u64,
    /// The sender's channel rank, when known (CyTube's numbers: 2 moderator, …).
    pub rank: Option<i64>,
}

/// A chat event the plugin subscribed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The stream sequence.
    pub seq: u64,
    /// Event id.
    pub id: String,
    /// `chat.message`, `user.join`, …
    pub kind: String,
    /// The user concerned, if any.
    pub user: Option<String>,
    /// The text, if any.
    pub text: Option<String>,
    /// The whole event as JSON.
    pub payload_json: String,
    /// When it happened, ms since the Unix epoch.
    pub time_ms: u64,
    /// The channel rank of the user concerned, when known.
    pub rank: Option<i64>,
}

/// Actor → host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToHost {
    /// Open a library.
    Open(Open),
    /// Start the plugin.
    Start(Start),
    /// Handle a command.
    Command(Command),
    /// Handle an event.
    Event(Event),
    /// Unload the plugin, send its state, exit once the actor closes the channel.
    Unload,
    /// Timer `name` is due: run the plugin's timer hook (unless it was cancelled), then `Done`.
    Timer {
        /// The firing's number, named again by its `Done`.
        seq: u64,
        /// The timer's name.
        name: String,
        /// The arming it belongs to (the `id` of its `SetTimer`): a firing of an arming since
        /// replaced or cancelled is skipped.
        id: u64,
        /// When it was due, ms since the Unix epoch.
        due_ms: u64,
    },
    /// The operator changed the plugin's configuration: hand it to the plugin's `on_config`
    /// (`Done` with `NotHandled` when it has none: the actor then reloads it), then `Done`.
    Config {
        /// The step's number, named again by its `Done`.
        seq: u64,
        /// The whole configuration as JSON.
        json: String,
        /// The same flattened to `key.path = value` pairs.
        flat: Vec<(String, String)>,
    },
    /// The answer to a `Query` or an `Act` (service channel only). For a `Query`: the part's
    /// JSON (see [`PART_ROSTER`] and the other parts), or why there is none. For an `Act`: what
    /// the action yields (for `queue`, the new item's uid, a tab, its title; otherwise empty),
    /// or why it did not happen as a `rosey_abi::channel::ActionError::encode`d error.
    Answer(Result<String, String>),
}

/// How a handler ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It returned normally.
    Ok,
    /// It returned an error (the message counts as handled).
    Failed(String),
    /// It panicked; the host exits after sending this.
    Panicked(String),
    /// New configuration only: the plugin does not take it live (no `on_config`, or a
    /// library older than live configuration); reload it instead.
    NotHandled,
}

/// Host → actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromHost {
    /// The host is up and waits for `Open`.
    Hello {
        /// [`PROTOCOL`] as the host knows it.
        protocol: u32,
        /// The host's process id.
        pid: u32,
    },
    /// The sandbox is applied, the library is open and its ABI matches.
    Opened {
        /// What the sandbox lacks on this kernel, one short line each (empty: full).
        sandbox_gaps: Vec<String>,
    },
    /// The plugin's `load` succeeded.
    Started,
    /// A step failed; the host exits with `code` after sending this.
    Failed {
        /// The exit code that follows.
        code: i32,
        /// One line naming the problem.
        message: String,
    },
    /// A chat line, or a PM when `to` is set.
    Chat {
        /// The text.
        text: String,
        /// PM recipient.
        to: Option<String>,
        /// The message answered.
        in_reply_to: Option<String>,
    },
    /// An event of the plugin's own (`kind` without the `plugin.<name>.` prefix).
    Publish {
        /// Dot-separated words.
        kind: String,
        /// A JSON document.
        payload_json: String,
    },
    /// A log line.
    Log {
        /// Its level.
        level: Level,
        /// `true` for the plugin's own lines, `false` for the host's.
        plugin: bool,
        /// The text.
        message: String,
    },
    /// The message `seq` is done.
    Done {
        /// The message.
        seq: u64,
        /// How its handler ended.
        outcome: Outcome,
    },
    /// Unloaded; the state to hand over (empty: none). The host exits once the actor closes
    /// the channel.
    Unloaded {
        /// The plugin's state.
        state: Vec<u8>,
    },
    /// A sign of life.
    Heartbeat {
        /// Messages handled so far.
        handled: u64,
    },
    /// Arm timer `name` (replacing one of that name): due in `after_ms`, then every
    /// `every_ms` (0: once).
    SetTimer {
        /// This arming's number, unique in the instance.
        id: u64,
        /// The timer's name.
        name: String,
        /// Milliseconds until it is first due.
        after_ms: u64,
        /// Its period in milliseconds (0: it fires once).
        every_ms: u64,
    },
    /// Disarm timer `name`.
    CancelTimer {
        /// The timer's name.
        name: String,
    },
    /// What is this part of the channel's state? (service channel only; answered by
    /// `Answer`)
    Query {
        /// One of [`STATE_PARTS`].
        part: String,
    },
    /// Act on the chat channel (service channel only; answered by `Answer` once the chat
    /// server confirmed it, refused it, or did not answer in time).
    Act {
        /// The action's verb (`rosey_abi::channel::Action::to_wire`).
        verb: String,
        /// Its arguments, at most [`MAX_ACT_ARGS`].
        args: Vec<String>,
    },
}

/// A frame that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed or closed mid-frame.
    #[error("channel: {0}")]
    Io(#[from] io::Error),
    /// A frame over [`MAX_FRAME`].
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    /// A frame that does not decode.
    #[error("malformed frame: {0}")]
    Invalid(String),
}

mod codec;
#[cfg(test)]
mod tests;

/// The body length a frame's 4-byte prefix announces, checked against [`MAX_FRAME`].
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, WireError> {
    let len = u32::from_le_bytes(prefix) as usize;
    if len == 0 {
        return Err(WireError::Invalid("empty frame".to_owned()));
    }
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    Ok(len)
}

/// Reads one frame body from a blocking reader; `Ok(None)` at a clean end of stream (between
/// frames).
pub fn read_frame(reader: &mut impl Read) -> Result<Option<Vec<u8>>, WireError> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
    let len = frame_len(prefix)?;
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    Ok(Some(body))
}

/// Writes one encoded frame with a single `write_all`, refusing one over [`MAX_FRAME`].
pub fn write_frame(writer: &mut impl Write, frame: &[u8]) -> Result<(), WireError> {
    if frame.len() > MAX_FRAME + 4 {
        return Err(WireError::TooLarge(frame.len() - 4));
    }
    writer.write_all(frame)?;
    Ok(())
}

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
//!       ◀── Open{library, limits} ───────────          dlopen + ABI check, no plugin code
//!       ── Opened | Failed{code, message} ───▶         (Failed: the host then exits `code`)
//!       ◀── Start{name, config, state} ──────          the plugin's `load`
//!       ── Started | Failed{…} ──────────────▶
//!       ◀── Command{seq,…} | Event{seq,…} ───          one at a time
//!       ── Chat / Publish / Log … Done{seq} ──▶         output, then the outcome
//!       ◀── Unload ──────────────────────────
//!       ── Unloaded{state} | Failed{…} ──────▶         then the host exits
//!       ── Heartbeat{handled} ───────────────▶         every heartbeat period, from Start on
//! ```
//!
//! Back-pressure is the socket's: the actor hands over one message and waits for its `Done`;
//! a host writes its output as the plugin produces it and blocks if the actor stops reading.
//! Bump [`PROTOCOL`] on any change; the actor refuses a host that says another number.

use std::io::{self, Read, Write};

/// The channel's version, sent in `Hello`.
pub const PROTOCOL: u32 = 1;

/// The file descriptor a host finds its end of the channel at.
pub const HOST_FD: i32 = 3;

/// The largest frame either side accepts (handed-over state included).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

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

/// What the host needs to open a plugin library (before any plugin code runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// Absolute path of the library.
    pub library: String,
    /// `RLIMIT_DATA` in MiB (0: none).
    pub memory_mb: u64,
    /// Lowest level of the host's own lines worth sending.
    pub log_level: Level,
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
    /// Unload the plugin, send its state, exit.
    Unload,
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
    /// The library is open and its ABI matches.
    Opened,
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
    /// Unloaded; the state to hand over (empty: none). The host exits next.
    Unloaded {
        /// The plugin's state.
        state: Vec<u8>,
    },
    /// A sign of life.
    Heartbeat {
        /// Messages handled so far.
        handled: u64,
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

// ---- encoding ----

/// Builds one frame's bytes.
struct Encoder(Vec<u8>);

impl Encoder {
    fn new(tag: u8) -> Encoder {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&[0, 0, 0, 0, tag]);
        Encoder(bytes)
    }
    fn u8(&mut self, value: u8) -> &mut Self {
        self.0.push(value);
        self
    }
    fn u32(&mut self, value: u32) -> &mut Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn u64(&mut self, value: u64) -> &mut Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn i32(&mut self, value: i32) -> &mut Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn bytes(&mut self, value: &[u8]) -> &mut Self {
        // Over u32::MAX cannot be framed; MAX_FRAME refuses it on the way out anyway.
        self.u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(value);
        self
    }
    fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }
    fn opt_str(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.u8(1).str(value),
            None => self.u8(0),
        }
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut bytes = std::mem::take(&mut self.0);
        let len = u32::try_from(bytes.len() - 4).unwrap_or(u32::MAX);
        bytes[..4].copy_from_slice(&len.to_le_bytes());
        bytes
    }
}

/// Reads one frame's body.
struct Decoder<'a> {
    rest: &'a [u8],
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Invalid("truncated".to_owned()));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(raw))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }
    fn i32(&mut self) -> Result<i32, WireError> {
        Ok(self.u32()? as i32)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, WireError> {
        let len = self.u32()? as usize;
        Ok(self.take(len)?.to_vec())
    }
    fn str(&mut self) -> Result<String, WireError> {
        String::from_utf8(self.bytes()?).map_err(|_| WireError::Invalid("not UTF-8".to_owned()))
    }
    fn opt_str(&mut self) -> Result<Option<String>, WireError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            other => Err(WireError::Invalid(format!("option flag {other}"))),
        }
    }
    fn end(self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::Invalid(format!(
                "{} bytes after the last field",
                self.rest.len()
            )))
        }
    }
}

impl ToHost {
    /// The frame's bytes, length prefix included.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ToHost::Open(open) => Encoder::new(1)
                .str(&open.library)
                .u64(open.memory_mb)
                .u8(open.log_level.to_byte())
                .finish(),
            ToHost::Start(start) => {
                let mut encoder = Encoder::new(2);
                encoder
                    .str(&start.name)
                    .str(&start.version)
                    .str(&start.storage_dir)
                    .str(&start.config_json)
                    .u32(u32::try_from(start.config_flat.len()).unwrap_or(u32::MAX));
                for (key, value) in &start.config_flat {
                    encoder.str(key).str(value);
                }
                match &start.state {
                    Some(state) => encoder.u8(1).bytes(state),
                    None => encoder.u8(0),
                };
                encoder.u32(start.heartbeat_ms).finish()
            }
            ToHost::Command(command) => Encoder::new(3)
                .u64(command.seq)
                .str(&command.id)
                .str(&command.command)
                .str(&command.args)
                .str(&command.user)
                .str(&command.channel)
                .u8(match command.source {
                    Source::Chat => 0,
                    Source::Pm => 1,
                })
                .u64(command.time_ms)
                .finish(),
            ToHost::Event(event) => Encoder::new(4)
                .u64(event.seq)
                .str(&event.id)
                .str(&event.kind)
                .opt_str(event.user.as_deref())
                .opt_str(event.text.as_deref())
                .str(&event.payload_json)
                .u64(event.time_ms)
                .finish(),
            ToHost::Unload => Encoder::new(5).finish(),
        }
    }

    /// Reads a frame body (tag and fields, without the length prefix).
    pub fn decode(frame: &[u8]) -> Result<ToHost, WireError> {
        let (&tag, rest) = frame
            .split_first()
            .ok_or_else(|| WireError::Invalid("empty frame".to_owned()))?;
        let mut d = Decoder { rest };
        let message = match tag {
            1 => ToHost::Open(Open {
                library: d.str()?,
                memory_mb: d.u64()?,
                log_level: Level::from_byte(d.u8()?)?,
            }),
            2 => {
                let name = d.str()?;
                let version = d.str()?;
                let storage_dir = d.str()?;
                let config_json = d.str()?;
                let pairs = d.u32()? as usize;
                // Each pair takes at least 8 bytes: a count beyond that is a lie.
                if pairs > d.rest.len() / 8 {
                    return Err(WireError::Invalid(format!("{pairs} config pairs")));
                }
                let mut config_flat = Vec::with_capacity(pairs);
                for _ in 0..pairs {
                    config_flat.push((d.str()?, d.str()?));
                }
                let state = match d.u8()? {
                    0 => None,
                    1 => Some(d.bytes()?),
                    other => return Err(WireError::Invalid(format!("state flag {other}"))),
                };
                ToHost::Start(Start {
                    name,
                    version,
                    storage_dir,
                    config_json,
                    config_flat,
                    state,
                    heartbeat_ms: d.u32()?,
                })
            }
            3 => ToHost::Command(Command {
                seq: d.u64()?,
                id: d.str()?,
                command: d.str()?,
                args: d.str()?,
                user: d.str()?,
                channel: d.str()?,
                source: match d.u8()? {
                    0 => Source::Chat,
                    1 => Source::Pm,
                    other => return Err(WireError::Invalid(format!("source {other}"))),
                },
                time_ms: d.u64()?,
            }),
            4 => ToHost::Event(Event {
                seq: d.u64()?,
                id: d.str()?,
                kind: d.str()?,
                user: d.opt_str()?,
                text: d.opt_str()?,
                payload_json: d.str()?,
                time_ms: d.u64()?,
            }),
            5 => ToHost::Unload,
            other => return Err(WireError::Invalid(format!("unknown tag {other}"))),
        };
        d.end()?;
        Ok(message)
    }
}

impl FromHost {
    /// The frame's bytes, length prefix included.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            FromHost::Hello { protocol, pid } => Encoder::new(1).u32(*protocol).u32(*pid).finish(),
            FromHost::Opened => Encoder::new(2).finish(),
            FromHost::Started => Encoder::new(3).finish(),
            FromHost::Failed { code, message } => Encoder::new(4).i32(*code).str(message).finish(),
            FromHost::Chat {
                text,
                to,
                in_reply_to,
            } => Encoder::new(5)
                .str(text)
                .opt_str(to.as_deref())
                .opt_str(in_reply_to.as_deref())
                .finish(),
            FromHost::Publish { kind, payload_json } => {
                Encoder::new(6).str(kind).str(payload_json).finish()
            }
            FromHost::Log {
                level,
                plugin,
                message,
            } => Encoder::new(7)
                .u8(level.to_byte())
                .u8(u8::from(*plugin))
                .str(message)
                .finish(),
            FromHost::Done { seq, outcome } => {
                let mut encoder = Encoder::new(8);
                encoder.u64(*seq);
                match outcome {
                    Outcome::Ok => encoder.u8(0),
                    Outcome::Failed(message) => encoder.u8(1).str(message),
                    Outcome::Panicked(message) => encoder.u8(2).str(message),
                };
                encoder.finish()
            }
            FromHost::Unloaded { state } => Encoder::new(9).bytes(state).finish(),
            FromHost::Heartbeat { handled } => Encoder::new(10).u64(*handled).finish(),
        }
    }

    /// Reads a frame body (tag and fields, without the length prefix).
    pub fn decode(frame: &[u8]) -> Result<FromHost, WireError> {
        let (&tag, rest) = frame
            .split_first()
            .ok_or_else(|| WireError::Invalid("empty frame".to_owned()))?;
        let mut d = Decoder { rest };
        let message = match tag {
            1 => FromHost::Hello {
                protocol: d.u32()?,
                pid: d.u32()?,
            },
            2 => FromHost::Opened,
            3 => FromHost::Started,
            4 => FromHost::Failed {
                code: d.i32()?,
                message: d.str()?,
            },
            5 => FromHost::Chat {
                text: d.str()?,
                to: d.opt_str()?,
                in_reply_to: d.opt_str()?,
            },
            6 => FromHost::Publish {
                kind: d.str()?,
                payload_json: d.str()?,
            },
            7 => FromHost::Log {
                level: Level::from_byte(d.u8()?)?,
                plugin: match d.u8()? {
                    0 => false,
                    1 => true,
                    other => return Err(WireError::Invalid(format!("log source {other}"))),
                },
                message: d.str()?,
            },
            8 => FromHost::Done {
                seq: d.u64()?,
                outcome: match d.u8()? {
                    0 => Outcome::Ok,
                    1 => Outcome::Failed(d.str()?),
                    2 => Outcome::Panicked(d.str()?),
                    other => return Err(WireError::Invalid(format!("outcome {other}"))),
                },
            },
            9 => FromHost::Unloaded { state: d.bytes()? },
            10 => FromHost::Heartbeat { handled: d.u64()? },
            other => return Err(WireError::Invalid(format!("unknown tag {other}"))),
        };
        d.end()?;
        Ok(message)
    }
}

/// One word of an event kind or subject pattern: 1–32 of `a-z`, `0-9`, `_`, `-`.
pub fn is_event_word(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= 32
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Whether `kind` may name an event a plugin publishes: dot-separated words, no wildcards.
/// The host checks it to answer the plugin at once; the actor checks it again, because the
/// host is not trusted.
pub fn is_valid_event_kind(kind: &str) -> bool {
    kind.split('.').all(is_event_word)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_to_host(message: ToHost) {
        let bytes = message.encode();
        let mut reader = bytes.as_slice();
        let body = read_frame(&mut reader).expect("read").expect("a frame");
        assert_eq!(ToHost::decode(&body).expect("decode"), message);
        assert!(read_frame(&mut reader).expect("clean end").is_none());
    }

    fn round_trip_from_host(message: FromHost) {
        let bytes = message.encode();
        let mut reader = bytes.as_slice();
        let body = read_frame(&mut reader).expect("read").expect("a frame");
        assert_eq!(FromHost::decode(&body).expect("decode"), message);
    }

    #[test]
    fn every_frame_survives_encoding_and_decoding() {
        round_trip_to_host(ToHost::Open(Open {
            library: "/h/lib.so".into(),
            memory_mb: 256,
            log_level: Level::Debug,
        }));
        round_trip_to_host(ToHost::Start(Start {
            name: "dice".into(),
            version: "1.0.0".into(),
            storage_dir: "/s".into(),
            config_json: "{\"a\":1}".into(),
            config_flat: vec![("a".into(), "1".into()), ("b.c".into(), "ü".into())],
            state: Some(vec![0, 1, 2, 255]),
            heartbeat_ms: 1000,
        }));
        round_trip_to_host(ToHost::Start(Start {
            name: "n".into(),
            version: "v".into(),
            storage_dir: String::new(),
            config_json: "{}".into(),
            config_flat: vec![],
            state: None,
            heartbeat_ms: 5,
        }));
        round_trip_to_host(ToHost::Command(Command {
            seq: u64::MAX,
            id: "id".into(),
            command: "roll".into(),
            args: "2d6".into(),
            user: "alice".into(),
            channel: "c".into(),
            source: Source::Pm,
            time_ms: 7,
        }));
        round_trip_to_host(ToHost::Event(Event {
            seq: 3,
            id: "e".into(),
            kind: "chat.message".into(),
            user: None,
            text: Some("hi".into()),
            payload_json: "{}".into(),
            time_ms: 9,
        }));
        round_trip_to_host(ToHost::Unload);
        round_trip_from_host(FromHost::Hello {
            protocol: PROTOCOL,
            pid: 42,
        });
        round_trip_from_host(FromHost::Opened);
        round_trip_from_host(FromHost::Started);
        round_trip_from_host(FromHost::Failed {
            code: 10,
            message: "no".into(),
        });
        round_trip_from_host(FromHost::Chat {
            text: "t".into(),
            to: Some("bob".into()),
            in_reply_to: None,
        });
        round_trip_from_host(FromHost::Publish {
            kind: "k".into(),
            payload_json: "[]".into(),
        });
        round_trip_from_host(FromHost::Log {
            level: Level::Warn,
            plugin: true,
            message: "m".into(),
        });
        for outcome in [
            Outcome::Ok,
            Outcome::Failed("f".into()),
            Outcome::Panicked("p".into()),
        ] {
            round_trip_from_host(FromHost::Done { seq: 5, outcome });
        }
        round_trip_from_host(FromHost::Unloaded { state: vec![9; 3] });
        round_trip_from_host(FromHost::Heartbeat { handled: 77 });
    }

    #[test]
    fn hostile_frames_are_refused_without_panicking_or_allocating_what_they_claim() {
        // A string claiming 4 GiB inside a 9-byte frame.
        let mut lying = vec![7u8, 1, 1];
        lying.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(FromHost::decode(&lying).is_err());
        assert!(FromHost::decode(&[]).is_err());
        assert!(FromHost::decode(&[99]).is_err());
        assert!(FromHost::decode(&[7, 9, 0]).is_err(), "bad level");
        // A trailing byte after a complete frame.
        let mut long = FromHost::Opened.encode()[4..].to_vec();
        long.push(0);
        assert!(FromHost::decode(&long).is_err());
        // A config pair count far beyond what the frame can hold.
        let mut start = ToHost::Start(Start {
            name: "n".into(),
            version: "v".into(),
            storage_dir: "s".into(),
            config_json: "{}".into(),
            config_flat: vec![],
            state: None,
            heartbeat_ms: 1,
        })
        .encode()[4..]
            .to_vec();
        let count_at = 1 + (4 + 1) * 3 + (4 + 2);
        start[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(ToHost::decode(&start).is_err());
        // Every prefix of every valid frame is refused, never a panic.
        let frame = FromHost::Chat {
            text: "hello".into(),
            to: Some("x".into()),
            in_reply_to: Some("y".into()),
        }
        .encode();
        for cut in 0..frame.len() - 4 {
            assert!(
                FromHost::decode(&frame[4..4 + cut]).is_err(),
                "cut at {cut}"
            );
        }
        // A length prefix over the limit is refused before anything is read.
        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        assert!(matches!(frame_len(huge), Err(WireError::TooLarge(_))));
        let mut reader: &[u8] = &[1, 0];
        assert!(read_frame(&mut reader).is_err(), "a torn prefix");
    }
}

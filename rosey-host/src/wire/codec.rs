//! Frames to bytes and back: each frame's fields in their fixed order, little-endian
//! integers, length-prefixed strings and bytes, flagged options. The decoder checks every
//! length against what the frame holds.

use super::{
    Command, Event, FromHost, Level, Network, Open, Outcome, Source, Start, ToHost, WireError,
    MAX_ACT_ARGS,
};

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
    fn u16(&mut self, value: u16) -> &mut Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn u32(&mut self, value: u32) -> &mut Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn count(&mut self, len: usize) -> &mut Self {
        self.u32(u32::try_from(len).unwrap_or(u32::MAX))
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
    fn opt_i64(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(value) => self.u8(1).u64(value as u64),
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
    fn u16(&mut self) -> Result<u16, WireError> {
        let mut raw = [0u8; 2];
        raw.copy_from_slice(self.take(2)?);
        Ok(u16::from_le_bytes(raw))
    }
    /// A count of items each at least `min_size` bytes long: one beyond what the frame can
    /// hold is a lie, refused before anything is allocated.
    fn count(&mut self, min_size: usize, what: &str) -> Result<usize, WireError> {
        let count = self.u32()? as usize;
        if count > self.rest.len() / min_size {
            return Err(WireError::Invalid(format!("{count} {what}")));
        }
        Ok(count)
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
    fn opt_i64(&mut self) -> Result<Option<i64>, WireError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()? as i64)),
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
            ToHost::Open(open) => {
                let mut encoder = Encoder::new(1);
                encoder
                    .str(&open.library)
                    .u64(open.memory_mb)
                    .u8(open.log_level.to_byte())
                    .u64(open.open_files)
                    .str(&open.version_dir)
                    .str(&open.storage_dir);
                match &open.network {
                    Network::None => encoder.u8(0),
                    Network::Any => encoder.u8(1),
                    Network::Ports(ports) => {
                        encoder.u8(2).count(ports.len());
                        for port in ports {
                            encoder.u16(*port);
                        }
                        &mut encoder
                    }
                };
                encoder.u8(u8::from(open.sandbox_required)).finish()
            }
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
                .opt_i64(command.rank)
                .finish(),
            ToHost::Event(event) => Encoder::new(4)
                .u64(event.seq)
                .str(&event.id)
                .str(&event.kind)
                .opt_str(event.user.as_deref())
                .opt_str(event.text.as_deref())
                .str(&event.payload_json)
                .u64(event.time_ms)
                .opt_i64(event.rank)
                .finish(),
            ToHost::Unload => Encoder::new(5).finish(),
            ToHost::Timer {
                seq,
                name,
                id,
                due_ms,
            } => Encoder::new(6)
                .u64(*seq)
                .str(name)
                .u64(*id)
                .u64(*due_ms)
                .finish(),
            ToHost::Config { seq, json, flat } => {
                let mut encoder = Encoder::new(8);
                encoder.u64(*seq).str(json).count(flat.len());
                for (key, value) in flat {
                    encoder.str(key).str(value);
                }
                encoder.finish()
            }
            ToHost::Answer(Ok(json)) => Encoder::new(7).u8(0).str(json).finish(),
            ToHost::Answer(Err(reason)) => Encoder::new(7).u8(1).str(reason).finish(),
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
                open_files: d.u64()?,
                version_dir: d.str()?,
                storage_dir: d.str()?,
                network: match d.u8()? {
                    0 => Network::None,
                    1 => Network::Any,
                    2 => {
                        let count = d.count(2, "ports")?;
                        let mut ports = Vec::with_capacity(count);
                        for _ in 0..count {
                            ports.push(d.u16()?);
                        }
                        Network::Ports(ports)
                    }
                    other => return Err(WireError::Invalid(format!("network {other}"))),
                },
                sandbox_required: match d.u8()? {
                    0 => false,
                    1 => true,
                    other => return Err(WireError::Invalid(format!("sandbox flag {other}"))),
                },
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
                rank: d.opt_i64()?,
            }),
            4 => ToHost::Event(Event {
                seq: d.u64()?,
                id: d.str()?,
                kind: d.str()?,
                user: d.opt_str()?,
                text: d.opt_str()?,
                payload_json: d.str()?,
                time_ms: d.u64()?,
                rank: d.opt_i64()?,
            }),
            5 => ToHost::Unload,
            6 => ToHost::Timer {
                seq: d.u64()?,
                name: d.str()?,
                id: d.u64()?,
                due_ms: d.u64()?,
            },
            8 => {
                let seq = d.u64()?;
                let json = d.str()?;
                // Each pair takes at least 8 bytes.
                let pairs = d.count(8, "config pairs")?;
                let mut flat = Vec::with_capacity(pairs);
                for _ in 0..pairs {
                    flat.push((d.str()?, d.str()?));
                }
                ToHost::Config { seq, json, flat }
            }
            7 => ToHost::Answer(match d.u8()? {
                0 => Ok(d.str()?),
                1 => Err(d.str()?),
                other => return Err(WireError::Invalid(format!("answer flag {other}"))),
            }),
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
            FromHost::Opened { sandbox_gaps } => {
                let mut encoder = Encoder::new(2);
                encoder.count(sandbox_gaps.len());
                for gap in sandbox_gaps {
                    encoder.str(gap);
                }
                encoder.finish()
            }
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
                    Outcome::NotHandled => encoder.u8(3),
                };
                encoder.finish()
            }
            FromHost::Unloaded { state } => Encoder::new(9).bytes(state).finish(),
            FromHost::Heartbeat { handled } => Encoder::new(10).u64(*handled).finish(),
            FromHost::SetTimer {
                id,
                name,
                after_ms,
                every_ms,
            } => Encoder::new(11)
                .u64(*id)
                .str(name)
                .u64(*after_ms)
                .u64(*every_ms)
                .finish(),
            FromHost::CancelTimer { name } => Encoder::new(12).str(name).finish(),
            FromHost::Query { part } => Encoder::new(13).str(part).finish(),
            FromHost::Act { verb, args } => {
                let mut encoder = Encoder::new(14);
                encoder.str(verb).count(args.len());
                for arg in args {
                    encoder.str(arg);
                }
                encoder.finish()
            }
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
            2 => {
                // Each gap takes at least its 4-byte length.
                let count = d.count(4, "sandbox gaps")?;
                let mut sandbox_gaps = Vec::with_capacity(count);
                for _ in 0..count {
                    sandbox_gaps.push(d.str()?);
                }
                FromHost::Opened { sandbox_gaps }
            }
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
                    3 => Outcome::NotHandled,
                    other => return Err(WireError::Invalid(format!("outcome {other}"))),
                },
            },
            9 => FromHost::Unloaded { state: d.bytes()? },
            10 => FromHost::Heartbeat { handled: d.u64()? },
            11 => FromHost::SetTimer {
                id: d.u64()?,
                name: d.str()?,
                after_ms: d.u64()?,
                every_ms: d.u64()?,
            },
            12 => FromHost::CancelTimer { name: d.str()? },
            13 => FromHost::Query { part: d.str()? },
            14 => {
                let verb = d.str()?;
                // Each argument takes at least its 4-byte length.
                let count = d.count(4, "action arguments")?;
                if count > MAX_ACT_ARGS {
                    return Err(WireError::Invalid(format!(
                        "{count} action arguments (at most {MAX_ACT_ARGS})"
                    )));
                }
                let mut args = Vec::with_capacity(count);
                for _ in 0..count {
                    args.push(d.str()?);
                }
                FromHost::Act { verb, args }
            }
            other => return Err(WireError::Invalid(format!("unknown tag {other}"))),
        };
        d.end()?;
        Ok(message)
    }
}

//! The log layout: which file each source writes, the one line format, rotation, and reading
//! (the last lines of a log, and following it across rotation).
//!
//! Every service and every plugin has a file of its own (`logs/bot.log`, `nats.log`,
//! `web.log`, `logs/plugins/<name>.log`), and `logs/rosey.log` gets every line of every source
//! plus the daemon's own (source `rosey`). Each line reads
//!
//! ```text
//! 2026-11-26T00:31:02.123Z INFO  [bot] connected to NATS
//! ```
//!
//! UTC time with milliseconds, the level padded to five characters, the source in brackets,
//! the message: the same text in the source's own file and in `rosey.log`. Plugin hosts tag
//! their own lines `[<name>/host]` and the plugin's `[<name>]`.
//!
//! One writer, a [`LogHub`] owned by whoever runs the stack, writes every file, so a file is
//! never rotated under a second writer's feet. Nothing here installs a global logger: the
//! embedding program decides what reaches the hub.

mod hub;
mod read;
mod rotate;

#[cfg(test)]
mod tests;

pub use hub::{LiveLine, LogHub, LogSource};
pub use read::{tail, Follower};
pub use rotate::RotatingFile;

/// How much a line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Step-by-step detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something is off but handled.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// The level as written in a line, padded to five characters so messages line up.
    pub fn label(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO ",
            Level::Warn => "WARN ",
            Level::Error => "ERROR",
        }
    }

    /// Reads a level label (padding ignored).
    pub fn parse(label: &str) -> Option<Level> {
        Some(match label.trim_end() {
            "TRACE" => Level::Trace,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" => Level::Warn,
            "ERROR" => Level::Error,
            _ => return None,
        })
    }
}

/// Now, as written at the start of a line: `2026-11-26T00:31:02.123Z`.
pub fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

/// Formats `message` as log lines from source `tag`, one line (ending in `\n`) per line of the
/// message, all with the same time stamp; an empty message still makes one line.
pub fn format_lines(tag: &str, level: Level, message: &str) -> String {
    let stamp = timestamp();
    let label = level.label();
    let mut text = String::new();
    for line in message.lines() {
        text.push_str(&format!("{stamp} {label} [{tag}] {line}\n"));
    }
    if text.is_empty() {
        text = format!("{stamp} {label} [{tag}] \n");
    }
    text
}

/// One line in the log format, taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedLine<'a> {
    /// `2026-11-26T00:31:02.123Z`.
    pub stamp: &'a str,
    /// The level.
    pub level: Level,
    /// The source in the brackets.
    pub tag: &'a str,
    /// Everything after the source.
    pub message: &'a str,
}

/// Takes a line in the log format apart; `None` when it is not in that format.
pub fn parse_line(line: &str) -> Option<ParsedLine<'_>> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let (stamp, rest) = line.split_once(' ')?;
    let stamp_ok = stamp.len() == 24
        && stamp.as_bytes()[10] == b'T'
        && stamp.ends_with('Z')
        && stamp[..4].bytes().all(|b| b.is_ascii_digit());
    if !stamp_ok || rest.len() < 6 || !rest.is_char_boundary(5) {
        return None;
    }
    let level = Level::parse(&rest[..5])?;
    let rest = rest[5..].strip_prefix(" [")?;
    let (tag, message) = rest.split_once(']')?;
    if tag.is_empty() || tag.contains(' ') {
        return None;
    }
    let message = message.strip_prefix(' ').unwrap_or(message);
    Some(ParsedLine {
        stamp,
        level,
        tag,
        message,
    })
}

/// The source of the daemon's own lines, and the name of the log that has every line.
pub const ALL: &str = "rosey";

/// The services with a log of their own, in the order `rosey logs` lists them.
pub const SERVICE_LOGS: &[&str] = &[crate::units::BOT, crate::units::NATS, crate::units::WEB];

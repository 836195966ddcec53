//! The one writer of a home's logs: every line goes to its source's own file and to
//! `rosey.log`, under one lock, so `rosey.log` keeps the order lines were written in.

use std::{
    collections::HashMap,
    io,
    path::PathBuf,
    sync::{Arc, Mutex, TryLockError},
};

use tokio::sync::broadcast;

use super::{format_lines, parse_line, rotate::RotatingFile, Level, ALL};
use crate::{config::LogsConfig, paths::Home};

/// Who a line comes from, which decides the file it goes to besides `rosey.log`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogSource {
    /// The daemon itself (supervision, start and stop): `rosey.log` only.
    Rosey,
    /// A service (`bot`, `nats`, `web`): `logs/<service>.log`.
    Service(String),
    /// A plugin and its host: `logs/plugins/<name>.log`.
    Plugin(String),
}

impl LogSource {
    /// The name written in brackets on each line.
    pub fn tag(&self) -> &str {
        match self {
            LogSource::Rosey => ALL,
            LogSource::Service(name) | LogSource::Plugin(name) => name,
        }
    }

    /// The source's own file (`rosey.log` for [`LogSource::Rosey`]).
    pub fn path(&self, home: &Home) -> PathBuf {
        match self {
            LogSource::Rosey => home.service_log(ALL),
            LogSource::Service(name) => home.service_log(name),
            LogSource::Plugin(name) => home.plugin_log(name),
        }
    }

    /// Whether `tag` on a line a child printed may stand: the source's own name or a part of
    /// it (`dice-roller/host`). Anything else is re-tagged, so no child can write lines that
    /// look like another source's.
    fn owns_tag(&self, tag: &str) -> bool {
        let own = self.tag();
        tag == own
            || tag
                .strip_prefix(own)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// Writes a home's logs. Cheap to clone; every clone writes through the same files.
///
/// Writing never fails loudly: a log that cannot be written must not stop a service, and the
/// daemon's own error output may itself be piped into the hub. A failed write is counted
/// ([`LogHub::failed_writes`]) and the file is reopened on the next line.
#[derive(Clone)]
pub struct LogHub {
    inner: Arc<Mutex<State>>,
}

/// One line as it went to `rosey.log`, for whoever watches the logs live (dev mode's terminal,
/// the dashboard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLine {
    /// Who wrote it.
    pub source: LogSource,
    /// The line as written, without its newline.
    pub line: String,
}

/// How many lines a slow live viewer may fall behind before it misses some.
const LIVE_BACKLOG: usize = 1024;

struct State {
    home: Home,
    live: broadcast::Sender<LiveLine>,
    limits: LogsConfig,
    all: RotatingFile,
    files: HashMap<LogSource, RotatingFile>,
    failed: u64,
}

/// Never waits for the hub's lock: `<locked>` while a write holds it.
impl std::fmt::Debug for LogHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("LogHub");
        let state = match self.inner.try_lock() {
            Ok(state) => Some(state),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        match state {
            Some(state) => debug
                .field("home", &state.home)
                .field("limits", &state.limits)
                .field("source_files", &state.files.len())
                .field("failed_writes", &state.failed)
                .field("live_viewers", &state.live.receiver_count()),
            None => debug.field("state", &format_args!("<locked>")),
        };
        debug.finish_non_exhaustive()
    }
}

impl LogHub {
    /// A hub for the logs of `home`; creates `logs/` and opens `rosey.log`, so a home whose
    /// logs cannot be written is found out at once.
    pub fn open(home: &Home, limits: LogsConfig) -> io::Result<LogHub> {
        let mut all = RotatingFile::new(home.service_log(ALL), limits);
        all.write(b"")?;
        Ok(LogHub {
            inner: Arc::new(Mutex::new(State {
                home: home.clone(),
                live: broadcast::channel(LIVE_BACKLOG).0,
                limits,
                all,
                files: HashMap::new(),
                failed: 0,
            })),
        })
    }

    /// Changes the rotation limits of every file, from the next line on.
    pub fn set_limits(&self, limits: LogsConfig) {
        let mut state = self.lock();
        state.limits = limits;
        state.all.set_limits(limits);
        for file in state.files.values_mut() {
            file.set_limits(limits);
        }
    }

    /// Writes `message` (each of its lines) from `source` at `level`.
    pub fn log(&self, source: &LogSource, level: Level, message: &str) {
        self.write(source, &format_lines(source.tag(), level, message));
    }

    /// Writes `message` from a part of `source` (`dice-roller/host`: a plugin's host), to the
    /// source's own file.
    pub fn log_part(&self, source: &LogSource, part: &str, level: Level, message: &str) {
        let tag = format!("{}/{part}", source.tag());
        self.write(source, &format_lines(&tag, level, message));
    }

    /// Writes one line a child process printed. A line already in the log format with the
    /// source's own tag (a plugin host's) is kept as it is; any other line is stamped as an
    /// `INFO` line of `source`. Blank lines are dropped.
    pub fn child_line(&self, source: &LogSource, line: &str) {
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            return;
        }
        match parse_line(line) {
            Some(parsed) if source.owns_tag(parsed.tag) => self.write(source, &format!("{line}\n")),
            _ => self.log(source, Level::Info, line),
        }
    }

    /// Every line written from now on, as it goes to `rosey.log`. A viewer that falls more
    /// than a thousand lines behind misses the oldest (the files still have them).
    pub fn subscribe(&self) -> broadcast::Receiver<LiveLine> {
        self.lock().live.subscribe()
    }

    /// Writes that failed since the hub was opened.
    pub fn failed_writes(&self) -> u64 {
        self.lock().failed
    }

    fn write(&self, source: &LogSource, text: &str) {
        let mut state = self.lock();
        let state = &mut *state;
        let mut failed = 0;
        if *source != LogSource::Rosey {
            let limits = state.limits;
            let file = state
                .files
                .entry(source.clone())
                .or_insert_with(|| RotatingFile::new(source.path(&state.home), limits));
            failed += u64::from(write_lines(file, text).is_err());
        }
        failed += u64::from(write_lines(&mut state.all, text).is_err());
        state.failed += failed;
        if state.live.receiver_count() > 0 {
            for line in text.lines() {
                let _ = state.live.send(LiveLine {
                    source: source.clone(),
                    line: line.to_owned(),
                });
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.inner.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Writes `text` line by line, so rotation is checked before each.
fn write_lines(file: &mut RotatingFile, text: &str) -> io::Result<()> {
    let mut result = Ok(());
    for line in text.split_inclusive('\n') {
        if let Err(err) = file.write(line.as_bytes()) {
            result = Err(err);
        }
    }
    result
}

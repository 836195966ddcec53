//! The plugin host's log: one file per plugin (`logs/plugins/<name>.log`), each line stamped
//! and tagged with its source (the plugin's name for the plugin's own lines, `host` for the
//! host's), so a line means the same thing when it is later merged into `rosey.log`.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::Path,
    sync::{Arc, Mutex},
};

use rosey_abi::LogLevel;

/// A shared handle to the host's log file. Writing never fails loudly: a log that cannot be
/// written must not take the plugin down, so errors fall back to stderr.
#[derive(Clone)]
pub struct HostLog {
    inner: Arc<Inner>,
}

struct Inner {
    file: Mutex<Option<File>>,
    plugin: String,
    min_level: LogLevel,
}

impl HostLog {
    /// Opens (appending, creating folders) the log at `path`; stderr when `path` is `None` or
    /// cannot be opened.
    pub fn open(path: Option<&Path>, plugin: &str, min_level: LogLevel) -> HostLog {
        let file = path.and_then(|path| {
            if let Some(parent) = path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            match OpenOptions::new().create(true).append(true).open(path) {
                Ok(file) => Some(file),
                Err(err) => {
                    eprintln!(
                        "rosey plugin-host: cannot open log {}: {err}",
                        path.display()
                    );
                    None
                }
            }
        });
        HostLog {
            inner: Arc::new(Inner {
                file: Mutex::new(file),
                plugin: plugin.to_owned(),
                min_level,
            }),
        }
    }

    /// A line from the plugin itself, tagged with its name.
    pub fn plugin(&self, level: LogLevel, message: &str) {
        self.write(level, &self.inner.plugin, message);
    }

    /// A line from the host, tagged `<name>/host`.
    pub fn host(&self, level: LogLevel, message: &str) {
        let source = format!("{}/host", self.inner.plugin);
        self.write(level, &source, message);
    }

    fn write(&self, level: LogLevel, source: &str, message: &str) {
        if level < self.inner.min_level {
            return;
        }
        let stamp = timestamp();
        let level = match level {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO ",
            LogLevel::Warn => "WARN ",
            LogLevel::Error => "ERROR",
        };
        let mut text = String::new();
        for line in message.lines() {
            text.push_str(&format!("{stamp} {level} [{source}] {line}\n"));
        }
        if text.is_empty() {
            text = format!("{stamp} {level} [{source}]\n");
        }
        let mut guard = match self.inner.file.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match guard.as_mut() {
            Some(file) => {
                if file.write_all(text.as_bytes()).is_err() {
                    eprint!("{text}");
                }
            }
            None => eprint!("{text}"),
        }
    }
}

/// `2026-11-25 21:45:24.123Z`: UTC, millisecond precision.
fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

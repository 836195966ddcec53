//! The plugin host's log lines, in the common log format (`rosey_core::logs`), tagged with
//! their source: the plugin's name for the plugin's own lines, `<name>/host` for the host's.
//!
//! Under the daemon the host writes them to stderr, which the daemon pipes into its log hub
//! (only the daemon writes log files: it rotates them and copies each line to `rosey.log`).
//! Run standalone (tests, debugging), the host appends them to `logs/plugins/<name>.log`
//! itself.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::Path,
    sync::{Arc, Mutex},
};

use rosey_abi::LogLevel;
use rosey_core::logs::{format_lines, Level};

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

    /// Also prints `message` as it is to stderr, for whoever started the host by hand, unless
    /// the log lines already go there.
    pub fn echo(&self, message: &str) {
        let to_file = match self.inner.file.lock() {
            Ok(guard) => guard.is_some(),
            Err(poisoned) => poisoned.into_inner().is_some(),
        };
        if to_file {
            eprintln!("{message}");
        }
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
        let level = match level {
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
        };
        let text = format_lines(source, level, message);
        let mut guard = match self.inner.file.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let written = match guard.as_mut() {
            Some(file) => file.write_all(text.as_bytes()).is_ok(),
            None => false,
        };
        if !written {
            // One write per call, so lines from the plugin's thread and the host's never mix.
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

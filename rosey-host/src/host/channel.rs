//! The host's sending half of the channel, shared by the plugin's thread (replies, events, log
//! lines, outcomes) and the heartbeat thread. Each frame is one `write_all` under a lock, so
//! frames from the two threads never interleave.

use std::{
    os::unix::net::UnixStream,
    sync::{Arc, Mutex},
};

use crate::wire::{write_frame, FromHost, Level};

/// A cheap handle on the channel's writing end.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    stream: Mutex<UnixStream>,
    min_level: Mutex<Level>,
}

impl Channel {
    /// Wraps the writing end.
    pub fn new(stream: UnixStream) -> Channel {
        Channel {
            inner: Arc::new(Inner {
                stream: Mutex::new(stream),
                min_level: Mutex::new(Level::Info),
            }),
        }
    }

    /// Sends one frame; `false` when the channel is gone (the daemon dropped this host).
    pub fn send(&self, message: &FromHost) -> bool {
        let frame = message.encode();
        let mut stream = match self.inner.stream.lock() {
            Ok(stream) => stream,
            Err(poisoned) => poisoned.into_inner(),
        };
        write_frame(&mut *stream, &frame).is_ok()
    }

    /// Sets the lowest level worth sending.
    pub fn set_min_level(&self, level: Level) {
        match self.inner.min_level.lock() {
            Ok(mut min) => *min = level,
            Err(poisoned) => *poisoned.into_inner() = level,
        }
    }

    fn wants(&self, level: Level) -> bool {
        let min = match self.inner.min_level.lock() {
            Ok(min) => *min,
            Err(poisoned) => *poisoned.into_inner(),
        };
        level >= min
    }

    /// A line from the host itself.
    pub fn host_log(&self, level: Level, message: &str) {
        if self.wants(level) {
            self.send(&FromHost::Log {
                level,
                plugin: false,
                message: message.to_owned(),
            });
        }
    }

    /// A line from the plugin.
    pub fn plugin_log(&self, level: Level, message: &str) {
        if self.wants(level) {
            self.send(&FromHost::Log {
                level,
                plugin: true,
                message: message.to_owned(),
            });
        }
    }
}

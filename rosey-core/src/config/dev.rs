//! `dev:`: what `rosey dev` watches and rebuilds.
//!
//! Paths are plugin crate folders, relative to the home. Left empty, `rosey dev` watches the
//! plugin crates of the cargo workspace it is run from (its `plugins/*`), which is what an
//! author working in a checkout wants without writing any config.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

/// `dev:` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevConfig {
    /// Plugin crate folders to watch (relative to the home); empty = the workspace's plugins.
    pub watch: Vec<PathBuf>,
    /// How long the sources must be quiet before a rebuild starts, in ms: an editor's save is
    /// often several writes, and a `git checkout` is hundreds.
    pub debounce_ms: u64,
}

impl Default for DevConfig {
    fn default() -> Self {
        DevConfig {
            watch: Vec::new(),
            debounce_ms: 300,
        }
    }
}

impl DevConfig {
    /// [`DevConfig::debounce_ms`] as a duration.
    pub fn debounce(&self) -> Duration {
        Duration::from_millis(self.debounce_ms)
    }
}

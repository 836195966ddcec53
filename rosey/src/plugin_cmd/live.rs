//! How a plugin change reaches the running stack: with a daemon running and hot reload on,
//! install, update, remove, enable and disable ask it to load, swap or unload the plugin at
//! once; otherwise the change waits for the next start, and the command says so.

use std::time::Duration;

use anyhow::{Context, Result};
use rosey_core::{config::Config, paths::Home};

use crate::control::{self, ControlError, Request, Response};

/// Long enough for a graceful stop and a start with its ready timeout, rollback included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether changes take effect in a running stack now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// A daemon runs and hot reload is on.
    Now,
    /// No daemon runs for this home.
    NotRunning,
    /// `hot_reload: false` in rosey.yaml.
    HotReloadOff,
    /// `--no-reload` was given.
    NoReloadFlag,
}

impl Live {
    /// Decides for `home`, honouring `--no-reload` and `hot_reload` in rosey.yaml.
    pub fn decide(home: &Home, no_reload: bool) -> Result<Live> {
        if !running(home) {
            return Ok(Live::NotRunning);
        }
        if no_reload {
            return Ok(Live::NoReloadFlag);
        }
        let config = Config::load(home).context("cannot read rosey.yaml")?;
        Ok(if config.hot_reload {
            Live::Now
        } else {
            Live::HotReloadOff
        })
    }

    /// The line telling the operator when a change that did not happen now will.
    pub fn deferred_note(self) -> Option<&'static str> {
        match self {
            Live::Now => None,
            Live::NotRunning => Some("rosey is not running: the change takes effect at the next `rosey start`."),
            Live::HotReloadOff => Some("Hot reload is off (hot_reload: false in rosey.yaml): the change takes effect after `rosey restart plugins` or the next start."),
            Live::NoReloadFlag => Some("--no-reload: the running bot is untouched; the change takes effect after `rosey restart plugins` or the next start."),
        }
    }
}

/// Whether a daemon answers on this home's control socket.
pub fn running(home: &Home) -> bool {
    !matches!(
        control::call(home, &Request::Status, Duration::from_secs(5)),
        Err(ControlError::NotRunning(_))
    )
}

/// Sends a plugin operation to the daemon; the time it took (ms) or the daemon's reason.
pub fn call(home: &Home, request: Request) -> Result<f64, String> {
    call_data(home, request).map(|data| data["ms"].as_f64().unwrap_or(0.0))
}

/// Sends a plugin operation to the daemon; its answer's data or the daemon's reason.
pub fn call_data(home: &Home, request: Request) -> Result<serde_json::Value, String> {
    match control::call(home, &request, OPERATION_TIMEOUT) {
        Ok(Response { ok: true, data, .. }) => Ok(data),
        Ok(Response { error, .. }) => Err(error.unwrap_or_else(|| "the daemon refused".to_owned())),
        Err(err) => Err(err.to_string()),
    }
}

/// Tells the daemon the registry changed, so the bot routes commands by it. A failure here
/// only delays routing until the next start, so it is a warning, not an error.
pub fn routes_changed(home: &Home) {
    if let Err(err) = call(home, Request::RoutesChanged) {
        eprintln!("warning: the bot did not pick up the new command routes: {err}");
    }
}

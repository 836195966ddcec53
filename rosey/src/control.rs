//! The control protocol between the `rosey` CLI and the running daemon: JSON lines over the
//! unix socket `data/run/rosey.sock` (mode 0600). One request per connection, one response.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    time::Duration,
};

use rosey_core::paths::Home;
use serde::{Deserialize, Serialize};

/// A request to the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Everything's state.
    Status,
    /// Start a stopped service or plugin again.
    Start {
        /// Service or plugin name.
        target: String,
    },
    /// Stop one service or plugin (it stays stopped until started).
    Stop {
        /// Service or plugin name.
        target: String,
    },
    /// Stop and start one service or plugin.
    Restart {
        /// Service or plugin name.
        target: String,
    },
    /// Inject a chat line through the local connector and collect the bot's replies to it,
    /// and what else it says in the channel meanwhile (those lines start with [`MEANWHILE`]).
    Say {
        /// The chat line.
        text: String,
        /// Who says it.
        user: String,
        /// Their channel rank (registered when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rank: Option<rosey_core::rank::Rank>,
        /// How long to wait for replies.
        timeout_ms: u64,
    },
    /// Stop the whole stack and the daemon.
    Shutdown,
    /// Start installed plugin `name` at `version` in the running stack (install, enable).
    PluginLoad {
        /// Plugin name.
        name: String,
        /// Installed version to run.
        version: String,
    },
    /// Swap plugin `name` from `previous` to `version`, state carried, rolling back on failure.
    PluginUpdate {
        /// Plugin name.
        name: String,
        /// The new version (its files are in place).
        version: String,
        /// The version running now.
        previous: String,
    },
    /// Stop plugin `name` gracefully and take it out of the stack (remove, disable).
    PluginUnload {
        /// Plugin name.
        name: String,
    },
    /// Hand running plugin `name` its changed config file (`rosey plugin config`); answers
    /// `{"ms", "taken": "live"|"reloaded"|"not_running"}`.
    PluginConfig {
        /// Plugin name.
        name: String,
    },
    /// Restart plugin `name` at the same version, state carried.
    PluginReload {
        /// Plugin name.
        name: String,
    },
    /// The registry changed: re-read the command routes.
    RoutesChanged,
    /// The dead letters, of one plugin or all, oldest first.
    DeadLetters {
        /// Only this plugin's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plugin: Option<String>,
    },
    /// One dead letter with its message.
    DeadLetter {
        /// Its id.
        id: u64,
    },
    /// Remove dead letter `id`, or those of `plugin` (all plugins when absent) older than
    /// `older_than_secs` (all when absent); answers `{"purged": n}`.
    PurgeDeadLetters {
        /// One dead letter.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        /// Only this plugin's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plugin: Option<String>,
        /// Only those parked longer ago than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        older_than_secs: Option<u64>,
    },
    /// Send dead letter `id`, or every dead letter of `plugin`, again to its plugin, once;
    /// answers `{"replayed": [{id, summary}], "refused": [{id, why}]}`.
    ReplayDeadLetters {
        /// One dead letter.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        /// Every dead letter of this plugin.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plugin: Option<String>,
    },
}

/// How a line of a `Say` answer starts when it is not a reply to the line said but something
/// else the bot said in the channel while `say` waited (another plugin, a timer, an answer to
/// another user): a plain string prefix, so the answer stays a list of lines that older and
/// newer CLIs both read.
pub const MEANWHILE: &str = "(meanwhile) ";

/// The daemon's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// What went wrong, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The answer's payload.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Response {
    /// A success carrying `data`.
    pub fn ok(data: impl Serialize) -> Response {
        Response {
            ok: true,
            error: None,
            data: serde_json::to_value(data).unwrap_or_default(),
        }
    }

    /// A failure saying why.
    pub fn error(message: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(message.into()),
            data: serde_json::Value::Null,
        }
    }
}

/// One unit (service or plugin) in `rosey status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnitStatus {
    /// `nats`, `bot`, or the plugin's name.
    pub name: String,
    /// running, starting, stopping, stopped, crashed, restarting.
    pub state: String,
    /// Its process, when it runs in one.
    pub pid: Option<u32>,
    /// Seconds since it (last) started.
    pub uptime_secs: Option<u64>,
    /// Restarts by the supervisor (operator restarts not counted).
    pub restarts: u32,
    /// How it last ended (`exit code 11 (plugin panicked)`, `signal 9 (SIGKILL)`).
    pub last_exit: Option<String>,
    /// Plugin version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Messages moved to the dead-letter stream after crashing this plugin (plugins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letters: Option<u64>,
    /// A short note (the NATS URL, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A plugin host's sandbox: `full`, or `partial (…why…)` (running plugins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// Resident memory of its process (`VmRSS`), when it runs in one; in-process services
    /// (bot, web) show the daemon's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Chat, PMs and events the plugin actor refused to send for it since it started, by the
    /// manifest key it lacked (`send_pms`: 3), so the operator sees a plugin asking for more
    /// than it declared.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub refused: std::collections::BTreeMap<String, u64>,
    /// Messages the plugin handled since the daemon started (plugins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled: Option<u64>,
    /// Of those, how many reached it as soon as NATS routed them, before the stream delivered
    /// them (plugins only; the rest waited for the stream: a backlog, a retry, a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_early: Option<u64>,
    /// Commands and events not handled because they were older than the plugin's age limit
    /// when it got them (it was down, or far behind), since the daemon started (plugins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<u64>,
    /// When a crashed plugin is tried again, in seconds from now (plugins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_secs: Option<u64>,
    /// Users held back from the plugin because their commands crashed it (plugins only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<HeldBack>,
}

/// A user held back from a plugin, in `rosey status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeldBack {
    /// The user.
    pub user: String,
    /// Seconds until the hold ends.
    pub secs_left: u64,
    /// The last command of theirs that crashed the plugin.
    pub why: String,
    /// Their commands not handled since.
    pub refused: u64,
}

/// The whole of `rosey status --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusReport {
    /// The daemon's pid.
    pub pid: u32,
    /// The home it runs.
    pub home: String,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// Every child of the root supervisor: nats, bot, web, and `plugins` (the plugin
    /// supervisor) last.
    pub services: Vec<UnitStatus>,
    /// Installed, enabled plugins.
    pub plugins: Vec<UnitStatus>,
    /// What the stack had to repair in JetStream (a stream or consumer deleted or changed
    /// behind its back): `repaired 1 time (last: stream ROSEY deleted at …)`; absent while
    /// nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jetstream: Option<String>,
    /// The plugin supervisor's state when it is not running (`stopped` after `rosey stop
    /// plugins`, `restarting`, …): `plugins` is empty because nothing runs them, not because
    /// none is installed. Absent while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_supervisor: Option<String>,
    /// What this report could not find out, and why (the dead-letter counts with NATS
    /// unreachable: each plugin's `dead_letters` is then absent, not 0). Empty when all is known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
    /// This daemon's node name when it is a plugin node (`rosey node start`); absent for the
    /// main daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The plugin nodes the main daemon hears from over the cluster (none without
    /// `nats.cluster`), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeStatus>,
}

/// A plugin node as `rosey status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeStatus {
    /// Its name (`node.name`).
    pub name: String,
    /// `up`, or `lost` when silent for longer than `node.lost_after_ms`.
    pub state: String,
    /// Its nats-server's name in the cluster.
    pub server_name: String,
    /// Its host name and route address.
    pub address: String,
    /// The plugins it runs, as of its last heartbeat.
    pub plugins: Vec<String>,
    /// Resident memory of the node daemon, its nats-server and its plugin hosts.
    pub memory_bytes: u64,
    /// Memory its machine has available beyond its `node.keep_free_mb`: what plugins placed
    /// where there is room may still take there.
    #[serde(default)]
    pub room_bytes: u64,
    /// How long ago its last heartbeat arrived, ms.
    pub last_heartbeat_ms: u64,
    /// Seconds since the node daemon started.
    pub uptime_secs: u64,
}

/// [`NodeStatus::state`] of a node that answers.
pub const NODE_UP: &str = "up";
/// [`NodeStatus::state`] of a node silent past `node.lost_after_ms`.
pub const NODE_LOST: &str = "lost";

/// Something `rosey status` could not find out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Unknown {
    /// What: [`UNKNOWN_DEAD_LETTERS`], [`UNKNOWN_PLUGINS`] (newer daemons may name others).
    pub what: String,
    /// Why (`NATS unreachable: …`).
    pub why: String,
}

/// [`Unknown::what`] when the plugins' dead-letter counts could not be read.
pub const UNKNOWN_DEAD_LETTERS: &str = "dead letters";

/// [`Unknown::what`] when the plugin supervisor did not say which plugins it runs.
pub const UNKNOWN_PLUGINS: &str = "plugins";

impl StatusReport {
    /// Why `what` is unknown in this report, if it is.
    pub fn unknown(&self, what: &str) -> Option<&str> {
        self.unknown
            .iter()
            .find(|unknown| unknown.what == what)
            .map(|unknown| unknown.why.as_str())
    }
}

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No daemon is running for this home.
    #[error("rosey is not running in {0} (start it with `rosey start`)")]
    NotRunning(String),
    /// The daemon did not answer properly.
    #[error("the rosey daemon did not answer: {0}")]
    Broken(String),
}

/// Sends `request` to the daemon of `home` and waits up to `timeout` for its answer.
pub fn call(home: &Home, request: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let socket = home.socket_file();
    let not_running = || ControlError::NotRunning(home.root().display().to_string());
    let mut stream = match UnixStream::connect(&socket) {
        Ok(stream) => stream,
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(not_running())
        }
        Err(err) => return Err(ControlError::Broken(format!("{}: {err}", socket.display()))),
    };
    let broken = |err: std::io::Error| ControlError::Broken(err.to_string());
    stream.set_read_timeout(Some(timeout)).map_err(broken)?;
    let mut line =
        serde_json::to_string(request).map_err(|err| ControlError::Broken(err.to_string()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(broken)?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(broken)?;
    if answer.trim().is_empty() {
        return Err(ControlError::Broken(
            "it closed the connection without answering".to_owned(),
        ));
    }
    serde_json::from_str(&answer).map_err(|err| ControlError::Broken(format!("{err}: {answer}")))
}

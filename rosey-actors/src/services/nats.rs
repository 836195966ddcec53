//! The `nats` service: a nats-server child with JetStream, its store in `data/nats`, listening
//! on loopback, run from the config file [`rosey_core::bus`] writes at each start: every client
//! must log in, as the daemon or as the read-only user. Ready once a client connects and JetStream answers (and the stream exists). Its
//! death is noticed the moment the process exits and fails the actor, so the supervisor restarts
//! it; clients (the bot, plugin hosts) reconnect on their own. The server logs to stderr, which
//! the daemon reads into `logs/nats.log` (its own `[pid] date [INF]` prefix turned into the
//! common line format).

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use async_nats::jetstream::{context::CreateStreamErrorKind, ErrorCode};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rosey_core::{
    bus::{self, BusUser, Credentials},
    logs::{Level, LogHub, LogSource},
    messaging,
    paths::{Home, NATS_SERVER_TOOL},
};

use super::{
    board::{Board, UnitReport},
    process::{ChildLog, ChildProcess, Exit, Spawner},
};

/// The unit name of the NATS service.
pub const UNIT: &str = rosey_core::units::NATS;

/// Everything the nats service needs.
#[derive(Clone, Debug)]
pub struct NatsArgs {
    /// The nats-server executable.
    pub binary: PathBuf,
    /// The home (store and log paths).
    pub home: Home,
    /// The bus's passwords (the server config names them; the readiness check logs in).
    pub credentials: Credentials,
    /// Listen address.
    pub host: String,
    /// Listen port (already resolved: never 0 here).
    pub port: u16,
    /// Certificate and key files when clients must use TLS (`nats.tls`).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The message store's size: the server's `max_file_store` and the streams' shares.
    pub store: messaging::StoreBudget,
    /// How long the server may take to answer.
    pub ready_timeout: Duration,
    /// How long a graceful stop may take before the server is killed.
    pub shutdown_timeout: Duration,
    /// The daemon's spawner.
    pub spawner: Spawner,
    /// Where the actor reports its pid.
    pub board: Board,
    /// Where the server's output goes.
    pub logs: LogHub,
}

impl NatsArgs {
    /// `nats://host:port`.
    pub fn url(&self) -> String {
        format!("nats://{}:{}", self.host, self.port)
    }
}

/// The actor.
#[derive(Debug)]
pub struct NatsActor;

/// Messages from the actor's own watcher.
#[derive(Debug)]
pub enum NatsMsg {
    /// nats-server exited.
    Exited(Exit),
}

/// The running server.
#[derive(Debug)]
pub struct NatsState {
    child: ChildProcess,
    args: NatsArgs,
}

impl Drop for NatsState {
    fn drop(&mut self) {
        self.child.signal_group(libc::SIGKILL);
    }
}

impl Actor for NatsActor {
    type Msg = NatsMsg;
    type State = NatsState;
    type Arguments = NatsArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<NatsMsg>,
        args: NatsArgs,
    ) -> Result<NatsState, ActorProcessingErr> {
        let store = args.home.nats_store_dir();
        std::fs::create_dir_all(&store)?;
        let log = args.home.service_log(UNIT);
        let config = bus::write_server_config(
            &args.home,
            &args.credentials,
            &bus::ServerSettings {
                host: args.host.clone(),
                port: args.port,
                store_dir: store,
                tls: args.tls.clone(),
                max_file_store: args.store.total(),
            },
        )?;
        let mut command = Command::new(&args.binary);
        command.arg("-c").arg(&config).stdin(Stdio::null());
        let output = ChildLog {
            hub: args.logs.clone(),
            source: LogSource::Service(UNIT.to_owned()),
            translate: Some(nats_line),
        };
        let child = args
            .spawner
            .spawn_logged(command, output)
            .await
            .map_err(|err| format!("cannot start {}: {err}", args.binary.display()))?;
        if let Err(reason) = wait_ready(&args, &child).await {
            child.kill().await;
            let last = child
                .last_line(Duration::from_secs(1))
                .await
                .map(|line| format!(": {line}"))
                .unwrap_or_default();
            return Err(format!("{reason}{last} (see {})", log.display()).into());
        }
        args.board.set(
            UNIT,
            UnitReport {
                pid: Some(child.pid()),
                version: None,
                detail: Some(args.url()),
                ..UnitReport::default()
            },
        );
        let watched = child.clone();
        tokio::spawn(async move {
            let exit = watched.wait().await;
            let _ = myself.send_message(NatsMsg::Exited(exit));
        });
        Ok(NatsState { child, args })
    }

    async fn handle(
        &self,
        _myself: ActorRef<NatsMsg>,
        message: NatsMsg,
        _state: &mut NatsState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NatsMsg::Exited(exit) => Err(format!("nats-server exited: {exit}").into()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<NatsMsg>,
        state: &mut NatsState,
    ) -> Result<(), ActorProcessingErr> {
        if state.child.exited().is_none() {
            state.child.stop(state.args.shutdown_timeout).await;
        }
        state.args.board.clear(UNIT);
        Ok(())
    }
}

/// Waits until a client can connect and JetStream answers, then makes sure the streams exist
/// at this start's size. A server that refuses the streams (no room for them) fails the start
/// at once: waiting cannot help.
async fn wait_ready(args: &NatsArgs, child: &ChildProcess) -> Result<(), String> {
    let deadline = Instant::now() + args.ready_timeout;
    let mut last_error = String::from("no answer");
    while Instant::now() < deadline {
        if let Some(exit) = child.exited() {
            return Err(format!("nats-server exited while starting: {exit}"));
        }
        match try_ready(args).await {
            Ok(()) => return Ok(()),
            Err(NotReady::Yet(err)) => last_error = err,
            Err(NotReady::Refused(err)) => return Err(err),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!(
        "nats-server not ready within {:?}: {last_error}",
        args.ready_timeout
    ))
}

/// Why the server is not ready.
enum NotReady {
    /// Not yet (not listening, JetStream still starting): try again.
    Yet(String),
    /// It answered, and said no for good.
    Refused(String),
}

async fn try_ready(args: &NatsArgs) -> Result<(), NotReady> {
    let client = args
        .credentials
        .connect_options(BusUser::Daemon)
        .connection_timeout(Duration::from_millis(500))
        .connect(args.url())
        .await
        .map_err(|err| NotReady::Yet(err.to_string()))?;
    let js = async_nats::jetstream::new(client.clone());
    js.query_account()
        .await
        .map_err(|err| NotReady::Yet(err.to_string()))?;
    for config in [
        messaging::stream_config(&args.store),
        messaging::dead_letter_stream_config(&args.store),
    ] {
        let name = config.name.clone();
        // Made, or brought to this start's store size (`nats.max_storage` or the disk changed).
        if let Err(err) = js.create_or_update_stream(config).await {
            let no_room = matches!(
                err.kind(),
                CreateStreamErrorKind::JetStream(ref js_err)
                    if [ErrorCode::INSUFFICIENT_RESOURCES, ErrorCode::STORAGE_RESOURCES_EXCEEDED]
                        .contains(&js_err.error_code())
            );
            let message = format!("cannot make stream {name}: {err}");
            return Err(if no_room {
                NotReady::Refused(format!(
                    "{message}; the message store is {} (nats.max_storage, or fitted to the disk)",
                    args.store.describe()
                ))
            } else {
                NotReady::Yet(message)
            });
        }
    }
    drop(client);
    Ok(())
}

/// The message store's size for this start: `requested` (`nats.max_storage`) if the disk
/// holding the home's store has room for it, else the default shrunk to fit; `Err` names the
/// key and the fix when nothing fits.
pub fn fit_store(
    home: &Home,
    requested: Option<u64>,
) -> Result<messaging::StoreBudget, messaging::StoreTooSmall> {
    let folder = home.nats_store_dir();
    let _ = std::fs::create_dir_all(&folder);
    let room = free_bytes(&folder).saturating_add(used_bytes(&folder));
    messaging::StoreBudget::fit(requested, room, &folder)
}

/// What an unprivileged writer may still put on the file system holding `path` (`u64::MAX`
/// when it cannot be asked: the store is then not limited by a guess).
pub fn free_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return u64::MAX;
    };
    // SAFETY: statvfs only writes into the struct we pass.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return u64::MAX;
    }
    (stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64)
}

/// What the files under `folder` take (the store's own data counts toward its room).
fn used_bytes(folder: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => used_bytes(&entry.path()),
            Ok(_) => entry.metadata().map(|meta| meta.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .fold(0, u64::saturating_add)
}

/// Reads nats-server's own line format, `[pid] 2026/11/26 00:31:02.123456 [INF] message`.
pub fn nats_line(line: &str) -> Option<(Level, String)> {
    let (_pid, rest) = line.strip_prefix('[')?.split_once("] ")?;
    let (_stamp, rest) = rest.split_once(" [")?;
    let (level, message) = rest.split_once("] ")?;
    let level = match level {
        "TRC" => Level::Trace,
        "DBG" => Level::Debug,
        "INF" => Level::Info,
        "WRN" => Level::Warn,
        "ERR" | "FTL" => Level::Error,
        _ => return None,
    };
    Some((level, message.to_owned()))
}

/// Finds nats-server: `$ROSEY_NATS_SERVER`, then [`NATS_SERVER_TOOL`] in the home or in the
/// checkout the running binary was built in, then `PATH`.
pub fn find_binary(home: &Home) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("ROSEY_NATS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let mut candidates = vec![home.nats_server_tool()];
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/rosey → the checkout's .tools
        if let Some(checkout) = exe
            .parent()
            .and_then(|p| p.parent())
            .and_then(|p| p.parent())
        {
            candidates.push(checkout.join(NATS_SERVER_TOOL));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("nats-server")));
    }
    candidates
        .into_iter()
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            "nats-server (2.10 or newer) not found: run scripts/install-nats, put it on PATH, or set ROSEY_NATS_SERVER"
                .to_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_lines_keep_their_level_and_lose_their_prefix() {
        assert_eq!(
            nats_line("[4242] 2026/11/26 00:31:02.123456 [WRN] slow consumer"),
            Some((Level::Warn, "slow consumer".to_owned()))
        );
        assert_eq!(
            nats_line("[1] 2026/11/26 00:31:02.123456 [FTL] listen tcp: address in use"),
            Some((Level::Error, "listen tcp: address in use".to_owned()))
        );
        assert_eq!(nats_line("panic: runtime error"), None);
    }
}

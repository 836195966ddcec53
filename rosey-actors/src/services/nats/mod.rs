//! The `nats` service: a nats-server child with JetStream, its store in `data/nats`, listening
//! on loopback, run from the config file [`rosey_core::bus`] writes at each start: every client
//! must log in, as the daemon or as the read-only user. Ready once a client connects and
//! JetStream answers (and the stream exists). Its death is noticed the moment the process exits
//! and fails the actor, so the supervisor restarts it; the daemon's clients reconnect on their
//! own. The server logs to stderr, which the daemon reads into `logs/nats.log` (its own
//! `[pid] date [INF]` prefix turned into the common line format).
//!
//! The server runs on one Go scheduler thread ([`GO_MAX_PROCS`]) unless the daemon's own
//! environment sets `GOMAXPROCS`.
//!
//! The store is sized to the disk at each start and watched while the server runs (`store.rs`):
//! a full disk is reported, and the server restarted once space is back.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use async_nats::jetstream::{
    context::{CreateStreamErrorKind, RequestError, RequestErrorKind},
    stream::{DeleteMessageError, DeleteMessageErrorKind},
    ErrorCode,
};
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

/// `GOMAXPROCS` for the server when the daemon's environment sets none. Go's default (one
/// thread per CPU) makes idle scheduler threads spin looking for work at every hand-off between
/// goroutines; on a 2-CPU machine that spinning took CPU from the daemon and the plugin hosts
/// on the same commands. Measured on such a machine: the server's CPU per command fell by a
/// third, the daemon's by almost half, and a command's round trip by about 0.1 ms, while one
/// plugin's sustained rate stayed the same (a bot's traffic is far below one core's worth of
/// JetStream).
pub const GO_MAX_PROCS: &str = "1";

/// How often the running server's store is checked (free space, failed store).
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

const MIB: u64 = 1024 * 1024;

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
    /// The cluster the server joins (`nats.cluster`), if any.
    pub cluster: Option<bus::ClusterSettings>,
    /// Whether this server's readiness includes making the streams (the main daemon's);
    /// a plugin node's server uses the main daemon's.
    pub makes_streams: bool,
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
    /// Told once the server's process exists (before it is ready): a cold start's plugin
    /// hosts wait for it, so they do not queue ahead of the server at the spawner.
    pub spawned: Option<std::sync::Arc<tokio::sync::Notify>>,
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

/// Messages from the actor's own watchers.
#[derive(Debug)]
pub enum NatsMsg {
    /// nats-server exited.
    Exited(Exit),
    /// The server's store failed and only a restart reopens it: the actor fails with this.
    Reopen(Reopen),
}

/// Why the server is to be restarted (see [`NatsMsg::Reopen`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reopen {
    /// The actor's failure, as the supervisor logs it.
    pub reason: String,
    /// The disk was full and has room again: not the server's fault, so the restart is not
    /// counted toward the intensity ([`crate::Uncounted`]).
    pub space_back: bool,
}

/// The running server.
#[derive(Debug)]
pub struct NatsState {
    child: ChildProcess,
    args: NatsArgs,
    watch: tokio::task::JoinHandle<()>,
}

impl Drop for NatsState {
    fn drop(&mut self) {
        self.watch.abort();
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
                max_file_store: args.store.server_bytes(),
                cluster: args.cluster.clone(),
            },
        )?;
        let mut command = Command::new(&args.binary);
        command.arg("-c").arg(&config).stdin(Stdio::null());
        if std::env::var_os("GOMAXPROCS").is_none() {
            command.env("GOMAXPROCS", GO_MAX_PROCS);
        }
        let output = ChildLog {
            hub: args.logs.clone(),
            source: LogSource::Service(UNIT.to_owned()),
            translate: Some(nats_line),
        };
        let child = args
            .spawner
            .spawn_logged(command, output)
            .await
            .map_err(|err| {
                let fix = match err.kind() {
                    std::io::ErrorKind::NotFound => "there is no such file",
                    std::io::ErrorKind::PermissionDenied => "it is not an executable file",
                    _ => "it does not run",
                };
                format!(
                    "cannot start {}: {err}; {fix}: point ROSEY_NATS_SERVER at a nats-server 2.10 or newer (or unset it to use the one scripts/install-nats puts in .tools, or PATH's)",
                    args.binary.display()
                )
            })?;
        if let Some(spawned) = &args.spawned {
            spawned.notify_one();
        }
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
        let exits = myself.clone();
        tokio::spawn(async move {
            let exit = watched.wait().await;
            let _ = exits.send_message(NatsMsg::Exited(exit));
        });
        let watch = tokio::spawn(watch_store(args.clone(), myself));
        Ok(NatsState { child, args, watch })
    }

    async fn handle(
        &self,
        _myself: ActorRef<NatsMsg>,
        message: NatsMsg,
        _state: &mut NatsState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NatsMsg::Exited(exit) => Err(format!("nats-server exited: {exit}").into()),
            // The supervisor logs the reason with the restart.
            NatsMsg::Reopen(Reopen { reason, space_back }) => {
                if space_back {
                    Err(Box::new(crate::Uncounted(reason)))
                } else {
                    Err(reason.into())
                }
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<NatsMsg>,
        state: &mut NatsState,
    ) -> Result<(), ActorProcessingErr> {
        state.watch.abort();
        if state.child.exited().is_none() {
            state.child.stop(state.args.shutdown_timeout).await;
        }
        state.args.board.clear(UNIT);
        Ok(())
    }
}

mod ready;
mod store;
use ready::wait_ready;
pub(crate) use store::mib;
use store::watch_store;
pub use store::{fit_store, free_bytes, room_needed};

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
        assert_eq!(
            nats_line("[7] 2026/11/26 00:31:02.123456 [XYZ] unknown level"),
            None
        );
    }

    /// The arguments of the nats service for `nats`, waiting at most `ready_timeout` and
    /// making a store of `store` bytes.
    fn args_for(
        nats: &crate::tests::nats::TestNats,
        store: u64,
        ready_timeout: Duration,
    ) -> NatsArgs {
        NatsArgs {
            binary: crate::tests::nats::nats_binary(),
            home: nats.home.clone(),
            credentials: nats.credentials.clone(),
            host: "127.0.0.1".to_owned(),
            port: nats.port,
            tls: None,
            store: messaging::StoreBudget::new(store),
            cluster: None,
            makes_streams: true,
            ready_timeout,
            shutdown_timeout: Duration::from_secs(5),
            spawner: crate::tests::nats::spawner(),
            board: Board::default(),
            logs: LogHub::open(&nats.home, rosey_core::config::LogsConfig::default())
                .expect("log hub"),
            spawned: None,
        }
    }

    #[tokio::test]
    async fn a_server_too_small_for_the_streams_fails_readiness_naming_the_store_size() {
        // The server may store 1 MiB; this start's streams want 64 MiB between them.
        let nats = crate::tests::nats::TestNats::start(MIB).await;
        let args = args_for(&nats, 64 * MIB, Duration::from_secs(60));
        let err = ready::wait_ready(&args, &nats.child)
            .await
            .expect_err("the streams do not fit");
        assert!(
            err.starts_with("cannot make stream ROSEY: ")
                && err.ends_with(
                    "; the message store is 64.0 MiB (nats.max_storage, or fitted to the disk)"
                ),
            "refused at once, not waited out: {err}"
        );
    }

    #[tokio::test]
    async fn a_stream_that_cannot_take_its_definition_keeps_the_server_unready_and_says_why() {
        let nats = crate::tests::nats::TestNats::start(64 * MIB).await;
        // Someone made ROSEY in memory: JetStream cannot move a stream to the file store.
        let js = async_nats::jetstream::new(nats.client().await);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: messaging::STREAM_NAME.to_owned(),
            subjects: vec![messaging::EVENTS_ALL.to_owned()],
            storage: async_nats::jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .expect("a stream in memory");
        // Long enough to log in even on a loaded machine: the last error is the stream's.
        let args = args_for(&nats, 32 * MIB, Duration::from_secs(3));
        let err = ready::wait_ready(&args, &nats.child)
            .await
            .expect_err("the stream cannot be brought to its definition");
        assert!(
            err.starts_with("nats-server not ready within 3s: cannot make stream ROSEY: "),
            "{err}"
        );
    }
}

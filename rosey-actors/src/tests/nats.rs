//! A real nats-server for the crate's own tests: rosey's server configuration (its users and
//! their passwords, made in a temp home), on a free loopback port, forked by the real
//! [`Spawner`] in a process group of its own and killed with that group when dropped.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    sync::LazyLock,
    time::{Duration, Instant},
};

use rosey_core::{
    bus::{self, BusUser, Credentials, ServerSettings},
    paths::Home,
};

use crate::services::process::{ChildProcess, Spawner};

/// How long a server may take to accept its first client (a loaded 2-core machine).
const START_PATIENCE: Duration = Duration::from_secs(20);

/// One spawner thread for every test of the process (each would otherwise park a thread
/// of its own for the rest of the run).
pub(crate) fn spawner() -> Spawner {
    static SPAWNER: LazyLock<Spawner> =
        LazyLock::new(|| Spawner::new().expect("the spawner thread starts"));
    SPAWNER.clone()
}

/// The nats-server to run: `$ROSEY_NATS_SERVER`, else the checkout's `.tools`.
pub(crate) fn nats_binary() -> PathBuf {
    std::env::var_os("ROSEY_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/nats/bin/nats-server")
        })
}

/// A loopback port nobody listened on a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A running nats-server and the home whose credentials log in to it.
pub(crate) struct TestNats {
    /// Keeps the home (store, config, credentials) until the server is gone.
    _dir: tempfile::TempDir,
    /// The home the server's config and store are in.
    pub(crate) home: Home,
    /// The passwords of rosey's users on this server.
    pub(crate) credentials: Credentials,
    /// Where it listens (127.0.0.1).
    pub(crate) port: u16,
    /// The server process.
    pub(crate) child: ChildProcess,
}

impl TestNats {
    /// A server with JetStream, its file store limited to `max_file_store` bytes.
    pub(crate) async fn start(max_file_store: u64) -> TestNats {
        let dir = tempfile::tempdir().expect("temp home for nats");
        TestNats::launch(dir, free_port(), Some(max_file_store)).await
    }

    /// [`TestNats::start`] in the home at `dir` (its passwords, made if missing) on `port`.
    pub(crate) async fn start_in(
        dir: tempfile::TempDir,
        port: u16,
        max_file_store: u64,
    ) -> TestNats {
        TestNats::launch(dir, port, Some(max_file_store)).await
    }

    /// A server with JetStream turned off: nobody answers JetStream's API.
    pub(crate) async fn without_jetstream() -> TestNats {
        let dir = tempfile::tempdir().expect("temp home for nats");
        TestNats::launch(dir, free_port(), None).await
    }

    async fn launch(dir: tempfile::TempDir, port: u16, max_file_store: Option<u64>) -> TestNats {
        let home = Home::new(dir.path());
        let credentials = Credentials::load_or_create(&home).expect("bus credentials");
        let settings = ServerSettings {
            host: "127.0.0.1".to_owned(),
            port,
            store_dir: home.nats_store_dir(),
            tls: None,
            max_file_store: max_file_store.unwrap_or(64 * 1024 * 1024),
            cluster: None,
        };
        let config = bus::write_server_config(&home, &credentials, &settings).expect("config");
        if max_file_store.is_none() {
            // A later key wins in nats-server's config: the block above is turned off.
            let text = std::fs::read_to_string(&config).expect("read config");
            std::fs::write(&config, format!("{text}jetstream: false\n")).expect("write config");
        }
        let log = std::fs::File::create(dir.path().join("nats-server.log")).expect("log file");
        let mut command = Command::new(nats_binary());
        command
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = spawner().spawn(command).await.expect("nats-server starts");
        let nats = TestNats {
            _dir: dir,
            home,
            credentials,
            port,
            child,
        };
        nats.wait_ready(max_file_store.is_some()).await;
        nats
    }

    /// Waits until a client logs in (and JetStream answers, when it is on).
    async fn wait_ready(&self, jetstream: bool) {
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            if let Some(exit) = self.child.exited() {
                panic!("nats-server ended while starting: {exit}");
            }
            if let Ok(client) = self
                .credentials
                .connect_options(BusUser::Daemon)
                .connection_timeout(Duration::from_millis(500))
                .connect(self.url())
                .await
            {
                if !jetstream
                    || async_nats::jetstream::new(client)
                        .query_account()
                        .await
                        .is_ok()
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "nats-server not ready within {START_PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A new connection as the daemon's user.
    pub(crate) async fn client(&self) -> async_nats::Client {
        self.credentials
            .connect(&self.url(), BusUser::Daemon, "rosey-actors-test")
            .await
            .expect("connect to the test nats-server")
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        self.child.signal_group(libc::SIGKILL);
    }
}

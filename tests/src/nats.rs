//! A real nats-server with JetStream for one test: loopback, an ephemeral port, a store in a
//! temp dir, killed (with its process group) when dropped.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::process::ChildGuard;

/// Finds nats-server: `$ROSEY_NATS_SERVER`, then the project's `.tools/nats/bin`, then `PATH`.
pub fn nats_server_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("ROSEY_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let local = crate::workspace_root().join(".tools/nats/bin/nats-server");
    if local.exists() {
        return local;
    }
    PathBuf::from("nats-server")
}

/// A running nats-server.
pub struct NatsServer {
    guard: Option<ChildGuard>,
    dir: tempfile::TempDir,
    port: u16,
}

impl NatsServer {
    /// Starts a server on an ephemeral loopback port and waits until it accepts connections.
    pub fn start() -> NatsServer {
        let dir = tempfile::tempdir().expect("temp dir for nats");
        let (guard, port) = launch(dir.path(), None);
        NatsServer {
            guard: Some(guard),
            dir,
            port,
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL (its JetStream store survives).
    pub fn kill(&mut self) {
        self.guard = None;
    }

    /// Starts the server again on the same port and store.
    pub fn restart(&mut self) {
        self.guard = None;
        let (guard, _) = launch(self.dir.path(), Some(self.port));
        self.guard = Some(guard);
    }
}

fn launch(dir: &Path, port: Option<u16>) -> (ChildGuard, u16) {
    let ports_dir = dir.join("ports");
    let _ = std::fs::remove_dir_all(&ports_dir);
    std::fs::create_dir_all(&ports_dir).expect("ports dir");
    let mut command = Command::new(nats_server_bin());
    command
        .arg("-a")
        .arg("127.0.0.1")
        .arg("-p")
        .arg(port.map_or_else(|| "-1".to_owned(), |port| port.to_string()))
        .arg("-js")
        .arg("-sd")
        .arg(dir.join("store"))
        .arg("--ports_file_dir")
        .arg(&ports_dir)
        .arg("-l")
        .arg(dir.join("nats.log"));
    let guard = ChildGuard::spawn("nats-server", command);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(port) = read_port(&ports_dir) {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (guard, port);
            }
        }
        assert!(
            Instant::now() < deadline,
            "nats-server did not start; is it installed? run scripts/install-nats (log: {})",
            dir.join("nats.log").display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_port(ports_dir: &Path) -> Option<u16> {
    let entry = std::fs::read_dir(ports_dir).ok()?.flatten().next()?;
    let text = std::fs::read_to_string(entry.path()).ok()?;
    let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
    let url = ports["nats"][0].as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

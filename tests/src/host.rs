//! Running plugins in real `rosey plugin-host` processes against a real nats-server: pack and
//! install a plugin from `plugins/`, start hosts, send commands and events, read replies.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use futures::StreamExt;
use rosey_core::messaging::{
    self, ChatAction, CommandMessage, EventMessage, Lifecycle, Source, SCHEMA_VERSION,
};

use crate::{nats::NatsServer, process::ChildGuard};

/// The `rosey` binary built from this workspace.
pub fn rosey_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    let bin = target.join("debug/rosey");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p rosey` first",
        bin.display()
    );
    bin
}

/// A temp rosey home with its own nats-server.
pub struct PluginEnv {
    /// The home folder.
    pub home: tempfile::TempDir,
    /// Where packed archives go.
    pub packs: tempfile::TempDir,
    /// The nats-server.
    pub nats: NatsServer,
}

impl PluginEnv {
    /// A fresh home and nats-server.
    pub fn new() -> PluginEnv {
        PluginEnv {
            home: tempfile::tempdir().expect("temp home"),
            packs: tempfile::tempdir().expect("temp packs"),
            nats: NatsServer::start(),
        }
    }

    /// The home's path.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Runs `rosey --home <home> <args>` to completion.
    pub fn rosey(&self, args: &[&str]) -> Output {
        Command::new(rosey_bin())
            .arg("--home")
            .arg(self.home())
            .args(args)
            .output()
            .expect("run rosey")
    }

    /// Runs `rosey` and asserts it succeeded; returns stdout.
    pub fn rosey_ok(&self, args: &[&str]) -> String {
        let output = self.rosey(args);
        assert!(
            output.status.success(),
            "rosey {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Packs `plugins/<crate_dir>` and returns the archive's path.
    pub fn pack(&self, crate_dir: &str) -> PathBuf {
        let dir = crate::workspace_root().join("plugins").join(crate_dir);
        let out = self.packs.path().to_str().expect("utf-8 temp path");
        self.rosey_ok(&[
            "plugin",
            "pack",
            dir.to_str().expect("utf-8 path"),
            "--out",
            out,
        ]);
        std::fs::read_dir(self.packs.path())
            .expect("list packs")
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "roseyplug"))
            .find(|path| {
                let name = path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .unwrap_or("");
                let plugin = crate_dir.rsplit('/').next().unwrap_or(crate_dir);
                name.starts_with(&format!("{plugin}-"))
            })
            .unwrap_or_else(|| panic!("no archive for {crate_dir} in {:?}", self.packs.path()))
    }

    /// Packs and installs `plugins/<crate_dir>`.
    pub fn install(&self, crate_dir: &str) {
        let archive = self.pack(crate_dir);
        self.rosey_ok(&["plugin", "install", archive.to_str().expect("utf-8 path")]);
    }

    /// Starts a plugin host for installed plugin `name` at `version`.
    pub fn spawn_host(&self, name: &str, version: &str) -> ChildGuard {
        let mut command = Command::new(rosey_bin());
        command
            .arg("--home")
            .arg(self.home())
            .args([
                "plugin-host",
                "run",
                "--name",
                name,
                "--plugin-version",
                version,
            ])
            .arg("--nats")
            .arg(self.nats.url())
            .args([
                "--heartbeat-ms",
                "100",
                "--log-level",
                "debug",
                "--nats-timeout-ms",
                "3000",
            ]);
        ChildGuard::spawn(&format!("plugin-host {name}"), command)
    }

    /// The plugin's log file.
    pub fn plugin_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.home().join("logs/plugins").join(format!("{name}.log")))
            .unwrap_or_default()
    }

    /// A NATS client and JetStream context for this env's server.
    pub async fn client(&self) -> Bus {
        let client = async_nats::connect(self.nats.url())
            .await
            .expect("connect to nats");
        let js = async_nats::jetstream::new(client.clone());
        Bus { client, js }
    }
}

impl Default for PluginEnv {
    fn default() -> Self {
        PluginEnv::new()
    }
}

/// A test's view of the message bus.
pub struct Bus {
    /// Core NATS.
    pub client: async_nats::Client,
    /// JetStream.
    pub js: async_nats::jetstream::Context,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> String {
    format!(
        "test-{}-{}",
        std::process::id(),
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    )
}

impl Bus {
    /// Subscribes to plugin `name`'s ready announcements.
    pub async fn ready_watch(&self, name: &str) -> async_nats::Subscriber {
        self.client
            .subscribe(messaging::ready_subject(name))
            .await
            .expect("subscribe ready")
    }

    /// Subscribes to outgoing chat and PMs.
    pub async fn replies(&self) -> async_nats::Subscriber {
        self.client
            .subscribe("rosey.actions.>")
            .await
            .expect("subscribe actions")
    }

    /// Publishes a command into the stream; returns its id.
    pub async fn command(&self, command: &str, args: &str, user: &str, source: Source) -> String {
        let message = CommandMessage {
            v: SCHEMA_VERSION,
            id: next_id(),
            command: command.to_owned(),
            args: args.to_owned(),
            user: user.to_owned(),
            channel: "test".to_owned(),
            source,
            time_ms: messaging::now_ms(),
        };
        self.js
            .publish(
                messaging::command_subject(command),
                messaging::encode(&message).into(),
            )
            .await
            .expect("publish command")
            .await
            .expect("stream stored the command");
        message.id
    }

    /// Publishes a chat message event into the stream.
    pub async fn chat(&self, user: &str, text: &str) {
        let event = EventMessage {
            v: SCHEMA_VERSION,
            id: next_id(),
            kind: "chat.message".to_owned(),
            user: Some(user.to_owned()),
            text: Some(text.to_owned()),
            time_ms: messaging::now_ms(),
            data: serde_json::json!({ "msg": text }),
        };
        self.js
            .publish(
                messaging::event_subject("chat.message"),
                messaging::encode(&event).into(),
            )
            .await
            .expect("publish event")
            .await
            .expect("stream stored the event");
    }
}

/// Waits for the next lifecycle notice on `subscriber`.
pub async fn expect_lifecycle(
    subscriber: &mut async_nats::Subscriber,
    timeout: Duration,
) -> Lifecycle {
    let message = tokio::time::timeout(timeout, subscriber.next())
        .await
        .expect("timed out waiting for a lifecycle notice")
        .expect("subscription ended");
    messaging::decode(&message.payload).expect("lifecycle payload")
}

/// Waits for the reply to command `id`.
pub async fn expect_reply(
    subscriber: &mut async_nats::Subscriber,
    id: &str,
    timeout: Duration,
) -> ChatAction {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let message = tokio::time::timeout_at(deadline, subscriber.next())
            .await
            .unwrap_or_else(|_| panic!("no reply to {id} within {timeout:?}"))
            .expect("subscription ended");
        let action: ChatAction = messaging::decode(&message.payload).expect("chat action payload");
        if action.in_reply_to.as_deref() == Some(id) {
            return action;
        }
    }
}

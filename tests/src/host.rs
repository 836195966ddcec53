//! Running plugins in real `rosey plugin-host` processes against a real nats-server: pack and
//! install a plugin from `plugins/`, start hosts, send commands and events, read replies.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use futures::StreamExt;
use rosey_core::{
    manifest::Manifest,
    messaging::{
        self, ChatAction, CommandMessage, EventMessage, Lifecycle, Source, SCHEMA_VERSION,
    },
};

use crate::{cli::TempHome, nats::NatsServer, process::ChildGuard};

/// A temp rosey home with its own nats-server.
pub struct PluginEnv {
    /// The home (and a scratch folder beside it).
    pub home: TempHome,
    /// The nats-server.
    pub nats: NatsServer,
}

impl PluginEnv {
    /// A fresh home and nats-server.
    pub fn new() -> PluginEnv {
        PluginEnv {
            home: TempHome::new(),
            nats: NatsServer::start(),
        }
    }

    /// The home's path.
    pub fn home(&self) -> PathBuf {
        self.home.path()
    }

    /// Runs `rosey --home <home> <args>` to completion.
    pub fn rosey(&self, args: &[&str]) -> Output {
        self.home.run(args)
    }

    /// Runs `rosey` and asserts it succeeded; returns stdout.
    pub fn rosey_ok(&self, args: &[&str]) -> String {
        self.home.run_ok(args)
    }

    /// Packs `plugins/<crate_dir>` and returns the archive's path.
    pub fn pack(&self, crate_dir: &str) -> PathBuf {
        self.home.pack(crate_dir)
    }

    /// Packs and installs `plugins/<crate_dir>`; returns the installed version.
    pub fn install(&self, crate_dir: &str) -> String {
        let archive = self.pack(crate_dir);
        self.rosey_ok(&["plugin", "install", archive.to_str().expect("utf-8 path")]);
        let manifest = crate::cli::read_zip(&archive)
            .into_iter()
            .find(|(name, _)| name == "manifest.yaml")
            .map(|(_, bytes)| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let name = Manifest::parse(&manifest)
            .unwrap_or_else(|err| panic!("{}: {err}", archive.display()))
            .name;
        installed_version(&self.home(), &name)
    }

    /// Starts a plugin host for installed plugin `name` at `version`.
    pub fn spawn_host(&self, name: &str, version: &str) -> ChildGuard {
        let mut command = Command::new(crate::cli::rosey_bin());
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

/// One installed plugin under test: its bus, and subscriptions to its ready notices and to
/// every reply, made before any host starts so nothing is missed.
pub struct Watched {
    /// The plugin's name.
    pub name: String,
    /// Its installed version.
    pub version: String,
    /// The bus.
    pub bus: Bus,
    /// The plugin's `ready` notices.
    pub ready: async_nats::Subscriber,
    /// Every outgoing chat message and PM.
    pub replies: async_nats::Subscriber,
}

impl PluginEnv {
    /// Packs and installs `plugins/<crate_dir>` and watches the plugin `name` it holds.
    pub async fn watch(&self, crate_dir: &str, name: &str) -> Watched {
        let version = self.install(crate_dir);
        let bus = self.client().await;
        let ready = bus.ready_watch(name).await;
        let replies = bus.replies().await;
        Watched {
            name: name.to_owned(),
            version,
            bus,
            ready,
            replies,
        }
    }
}

impl Watched {
    /// Starts a host for the plugin and waits until it is ready.
    pub async fn start(&mut self, env: &PluginEnv) -> ChildGuard {
        let host = env.spawn_host(&self.name, &self.version);
        let notice = expect_lifecycle(&mut self.ready, Duration::from_secs(20)).await;
        assert_eq!(notice.version, self.version);
        host
    }

    /// Sends a command and returns the reply to it.
    pub async fn ask(
        &mut self,
        command: &str,
        args: &str,
        user: &str,
        source: Source,
    ) -> ChatAction {
        let id = self.bus.command(command, args, user, source).await;
        expect_reply(&mut self.replies, &id, Duration::from_secs(10)).await
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

/// The version of installed plugin `name`, read from the home's registry.
pub fn installed_version(home: &Path, name: &str) -> String {
    let registry = rosey_core::registry::Registry::load(&rosey_core::paths::Home::new(home))
        .expect("registry");
    registry
        .get(name)
        .unwrap_or_else(|| panic!("{name} is not installed"))
        .version
        .to_string()
}

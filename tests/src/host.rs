//! Talking to the plugins of a running [`crate::stack::TestStack`] over its NATS:
//! publishing commands and events into the stream, watching everything the daemon says back
//! (replies, `ready`/`stopped` notices, heartbeats, dead letters), and looking at the plugin
//! host processes the daemon runs (their pids, their open sockets, the warm spares).
//!
//! Plugin hosts have no NATS connection of their own: the daemon feeds each one over a private
//! socketpair, so a test reaches a plugin only through the stream, as the bot does.

use std::{
    collections::HashSet,
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use async_nats::jetstream::message::PublishMessage;
use futures::StreamExt;
use rosey_core::messaging::{
    self, ChatAction, CommandMessage, EventMessage, Heartbeat, Lifecycle, Source, SCHEMA_VERSION,
};

use crate::stack::TestStack;

/// One message seen on the stack's NATS, with when it arrived.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its subject.
    pub subject: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// When the test received it.
    pub at: Instant,
}

/// A test's connection to a running stack's NATS. Everything published under `rosey.>` from
/// the moment it connects is recorded in arrival order (one subscription, so messages one
/// publisher sent arrive in the order it sent them), and can be waited for or counted.
pub struct Bus {
    /// Core NATS.
    pub client: async_nats::Client,
    /// JetStream.
    pub js: async_nats::jetstream::Context,
    seen: Arc<Mutex<Vec<Seen>>>,
    recorder: tokio::task::JoinHandle<()>,
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.recorder.abort();
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A message id unique across the tests of this run.
pub fn next_id() -> String {
    format!(
        "test-{}-{}",
        std::process::id(),
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    )
}

impl Bus {
    /// Starts recording `rosey.>` on `client` (the subscription is in place on the server when
    /// this returns).
    pub async fn connect(client: async_nats::Client) -> Bus {
        let mut all = client
            .subscribe("rosey.>")
            .await
            .expect("subscribe rosey.>");
        client.flush().await.expect("flush the subscription");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let recorder = {
            let seen = seen.clone();
            tokio::spawn(async move {
                while let Some(message) = all.next().await {
                    let entry = Seen {
                        subject: message.subject.to_string(),
                        payload: message.payload.to_vec(),
                        at: Instant::now(),
                    };
                    seen.lock().expect("seen").push(entry);
                }
            })
        };
        let js = async_nats::jetstream::new(client.clone());
        Bus {
            client,
            js,
            seen,
            recorder,
        }
    }

    /// Connects to the running `stack`'s NATS.
    pub async fn of(stack: &TestStack) -> Bus {
        Bus::connect(stack.nats_client(rosey_core::bus::BusUser::Daemon).await).await
    }

    /// How many messages were recorded so far: a mark to wait for what comes after.
    pub fn mark(&self) -> usize {
        self.seen.lock().expect("seen").len()
    }

    /// The messages recorded from `from` on.
    pub fn since(&self, from: usize) -> Vec<Seen> {
        let seen = self.seen.lock().expect("seen");
        seen.get(from..).map(<[Seen]>::to_vec).unwrap_or_default()
    }

    /// Waits until a message recorded at or after `from` satisfies `pick`; returns its index
    /// and what `pick` made of it. Panics after `timeout`, saying `what` was awaited.
    pub async fn wait_for<T>(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        mut pick: impl FnMut(&Seen) -> Option<T>,
    ) -> (usize, T) {
        let deadline = Instant::now() + timeout;
        let mut next = from;
        loop {
            let fresh = self.since(next);
            for (offset, seen) in fresh.iter().enumerate() {
                if let Some(found) = pick(seen) {
                    return (next + offset, found);
                }
            }
            next += fresh.len();
            assert!(
                Instant::now() < deadline,
                "no {what} within {timeout:?}; saw: {:?}",
                self.since(from)
                    .iter()
                    .map(|seen| seen.subject.as_str())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every reply (chat or PM) to message `id` recorded so far.
    pub fn replies_to(&self, id: &str) -> Vec<ChatAction> {
        self.since(0)
            .iter()
            .filter_map(|seen| as_reply_to(seen, id))
            .collect()
    }

    /// Waits for the first reply to message `id` (from the start of the recording); returns
    /// it and when it arrived.
    pub async fn reply_to(&self, id: &str, timeout: Duration) -> (ChatAction, Instant) {
        let (_, found) = self
            .wait_for(0, timeout, &format!("reply to {id}"), |seen| {
                as_reply_to(seen, id).map(|reply| (reply, seen.at))
            })
            .await;
        found
    }

    /// Publishes a command and asks for its reply.
    pub async fn ask(&self, command: &str, args: &str, user: &str, source: Source) -> ChatAction {
        let id = self.command(command, args, user, source).await;
        self.reply_to(&id, Duration::from_secs(10)).await.0
    }

    /// Waits for plugin `name`'s next `ready` notice after `from`; returns its index and the
    /// notice.
    pub async fn ready_after(
        &self,
        name: &str,
        from: usize,
        timeout: Duration,
    ) -> (usize, Lifecycle) {
        self.lifecycle_after(&messaging::ready_subject(name), from, timeout)
            .await
    }

    /// Waits for plugin `name`'s next `stopped` notice after `from`.
    pub async fn stopped_after(
        &self,
        name: &str,
        from: usize,
        timeout: Duration,
    ) -> (usize, Lifecycle) {
        self.lifecycle_after(&messaging::stopped_subject(name), from, timeout)
            .await
    }

    async fn lifecycle_after(
        &self,
        subject: &str,
        from: usize,
        timeout: Duration,
    ) -> (usize, Lifecycle) {
        self.wait_for(from, timeout, subject, |seen| {
            (seen.subject == subject)
                .then(|| messaging::decode::<Lifecycle>(&seen.payload).expect("lifecycle payload"))
        })
        .await
    }

    /// Plugin `name`'s heartbeats recorded from `from` on.
    pub fn heartbeats_since(&self, name: &str, from: usize) -> Vec<Heartbeat> {
        self.since(from)
            .iter()
            .filter_map(|seen| as_heartbeat(seen, name))
            .collect()
    }

    /// Publishes a command into the stream as the router does (with its `Nats-Msg-Id`;
    /// stored when this returns); returns its id.
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
            rank: None,
        };
        let publish = PublishMessage::build()
            .payload(messaging::encode(&message).into())
            .message_id(messaging::command_msg_id(&message.id));
        self.js
            .send_publish(messaging::command_subject(command), publish)
            .await
            .expect("publish command")
            .await
            .expect("stream stored the command");
        message.id
    }

    /// Publishes a chat message event into the stream as the router does (stored when this
    /// returns).
    pub async fn chat(&self, user: &str, text: &str) {
        let event = EventMessage {
            v: SCHEMA_VERSION,
            id: next_id(),
            kind: "chat.message".to_owned(),
            user: Some(user.to_owned()),
            text: Some(text.to_owned()),
            time_ms: messaging::now_ms(),
            data: serde_json::json!({ "msg": text }),
            rank: None,
        };
        let publish = PublishMessage::build()
            .payload(messaging::encode(&event).into())
            .message_id(messaging::event_msg_id(&event.id));
        self.js
            .send_publish(messaging::event_subject("chat.message"), publish)
            .await
            .expect("publish event")
            .await
            .expect("stream stored the event");
    }

    /// The commands in the dead-letter stream for plugin `name`, oldest first (none when the
    /// stream does not exist yet), as `rosey_core::dead_letters` reads them.
    pub async fn dead_letters(&self, name: &str) -> Vec<CommandMessage> {
        match rosey_core::dead_letters::list(&self.js, Some(name)).await {
            Ok(letters) => letters
                .iter()
                .map(|letter| messaging::decode(&letter.payload).expect("a dead command"))
                .collect(),
            Err(rosey_core::dead_letters::DeadLetterError::Stream(_)) => Vec::new(),
            Err(err) => panic!("{err}"),
        }
    }
}

/// `seen` as a reply (chat or PM) to message `id`, if it is one.
pub fn as_reply_to(seen: &Seen, id: &str) -> Option<ChatAction> {
    if !seen.subject.starts_with("rosey.actions.") {
        return None;
    }
    let action: ChatAction = messaging::decode(&seen.payload).expect("chat action payload");
    (action.in_reply_to.as_deref() == Some(id)).then_some(action)
}

/// `seen` as a heartbeat of plugin `name`, if it is one.
pub fn as_heartbeat(seen: &Seen, name: &str) -> Option<Heartbeat> {
    (seen.subject == messaging::heartbeat_subject(name))
        .then(|| messaging::decode(&seen.payload).expect("heartbeat payload"))
}

/// The pid of the host running plugin `name`, from the status.
pub fn host_pid(stack: &TestStack, name: &str) -> u32 {
    let unit = stack.unit(name);
    unit["pid"]
        .as_u64()
        .and_then(|pid| u32::try_from(pid).ok())
        .unwrap_or_else(|| panic!("{name} has no host pid: {unit}"))
}

/// Plugin `name`'s log file (empty when there is none yet).
pub fn plugin_log(stack: &TestStack, name: &str) -> String {
    std::fs::read_to_string(
        stack
            .home
            .path()
            .join("logs/plugins")
            .join(format!("{name}.log")),
    )
    .unwrap_or_default()
}

/// Waits until plugin `name`'s log contains `needle`; returns the log. Panics after `timeout`.
pub fn wait_for_log(stack: &TestStack, name: &str, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let log = plugin_log(stack, name);
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "{name}.log never said {needle:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills plugin `name`'s host with SIGKILL whenever it is running and idle, until the
/// supervisor gives up on it; returns its unit as status then shows it (`crashed`). These are
/// failures of the plugin's own (no message in hand), which count toward its intensity.
pub fn kill_until_crashed(stack: &TestStack, name: &str, timeout: Duration) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let unit = stack.unit(name);
        if unit["state"] == "crashed" {
            return unit;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never given up on: {unit}"
        );
        if let (true, Some(pid)) = (unit["state"] == "running", unit["pid"].as_u64()) {
            signal(pid as u32, libc::SIGKILL);
            wait_until_dead(pid as u32, timeout);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: plain syscall on a process the test's own stack started.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// Waits until process `pid` has exited (gone, or a zombie not reaped yet); panics after
/// `timeout`.
pub fn wait_until_dead(pid: u32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                stat.rsplit(')')
                    .next()
                    .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
            });
        match state.as_deref() {
            None | Some("Z") | Some("X") => return,
            Some(_) => {}
        }
        assert!(Instant::now() < deadline, "process {pid} is still alive");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The parent pid of process `pid`.
pub fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Process `pid`'s command line, arguments joined by spaces.
pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .unwrap_or_default()
}

/// Whether `pid` is a plugin host (`rosey-plugin-host serve` or `rosey plugin-host serve`).
pub fn is_plugin_host(pid: u32) -> bool {
    let line = cmdline(pid);
    line.contains("plugin-host") && line.split_whitespace().any(|arg| arg == "serve")
}

/// The stack's idle warm spare hosts: plugin hosts the daemon started that run no plugin.
pub fn spare_hosts(stack: &TestStack) -> Vec<u32> {
    let daemon = stack.daemon_pid().expect("the daemon's pid file");
    let status = stack.status();
    let running: HashSet<u64> = status["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|unit| unit["pid"].as_u64())
        .collect();
    crate::stack::processes_where(|_| true)
        .into_iter()
        .filter(|pid| parent_pid(*pid) == Some(daemon))
        .filter(|pid| is_plugin_host(*pid))
        .filter(|pid| !running.contains(&u64::from(*pid)))
        .collect()
}

/// The inodes of the sockets process `pid` has open (`/proc/<pid>/fd/* -> socket:[inode]`),
/// each once however many descriptors share it.
pub fn socket_inodes(pid: u32) -> HashSet<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|err| panic!("cannot list the descriptors of {pid}: {err}"))
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter_map(|target| {
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// The socket inodes listed in `/proc/net/<table>` (`unix`, `tcp`, `tcp6`, `udp`, `udp6`).
pub fn net_table_inodes(table: &str) -> HashSet<u64> {
    let text = std::fs::read_to_string(Path::new("/proc/net").join(table))
        .unwrap_or_else(|err| panic!("cannot read /proc/net/{table}: {err}"));
    // The inode is column 7 in `unix` (Num RefCount Protocol Flags Type St Inode Path) and
    // column 10 in the inet tables.
    let column = if table == "unix" { 6 } else { 9 };
    text.lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(column)?.parse().ok())
        .collect()
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

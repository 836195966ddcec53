//! The async side of a plugin host: NATS connection, the plugin's durable consumer, heartbeats,
//! signals, and the graceful stop that hands the plugin's state to the next instance.
//!
//! One message is in hand at a time. Replies a handler produced are published before the
//! message is acked, so a host killed between the two can at worst repeat a reply, never lose
//! one. On SIGTERM the message in hand is finished, the plugin unloads, its state is written
//! for the next instance, and anything the outstanding pull request still delivers is handed
//! back to the stream (nak) for the next instance at once, once the pull request is over
//! (`pull.rs`).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
use rosey_abi::LogLevel;
use rosey_core::{
    exit_codes,
    messaging::{self, CommandMessage, EventMessage},
    paths::Home,
};
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::{mpsc::UnboundedReceiver, oneshot, watch},
};

use super::{
    log::HostLog,
    plugin_thread::{HookOutcome, Outgoing, Shared, Work},
    pull::PullRequest,
    tasks::{await_with_progress, hand_back, heartbeats, outage_exceeds},
};

/// Everything the serve loop needs.
pub struct Serve {
    pub home: Home,
    pub name: String,
    pub version: String,
    pub nats_url: String,
    pub heartbeat: Duration,
    pub nats_timeout: Duration,
    pub filter_subjects: Vec<String>,
    pub max_attempts: u32,
    pub attempts: super::attempts::Attempts,
    pub log: HostLog,
    pub work: mpsc::Sender<Work>,
    pub outgoing: UnboundedReceiver<Outgoing>,
    pub shared: Shared,
}

/// How long one pull request waits for messages.
const PULL_EXPIRES: Duration = Duration::from_millis(250);

/// Messages asked for per pull request.
const PULL_BATCH: usize = 16;

/// The signals that ask a host to stop gracefully.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

/// Why the serve loop stopped.
enum Stop {
    Signal,
    NatsLost,
    Panicked,
}

impl Serve {
    /// Runs until stopped; returns the process exit code.
    pub async fn run(mut self) -> i32 {
        // Installed before anything is announced: a SIGTERM from then on means a graceful stop.
        let signals = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Signals { term, int },
            (Err(err), _) | (_, Err(err)) => {
                self.log.host(
                    LogLevel::Error,
                    &format!("cannot install signal handlers: {err}"),
                );
                return exit_codes::USAGE;
            }
        };
        let (connected_tx, connected_rx) = watch::channel(true);
        let client = match self.connect(connected_tx).await {
            Ok(client) => client,
            Err(err) => {
                self.log.host(
                    LogLevel::Error,
                    &format!("cannot reach NATS at {}: {err}", self.nats_url),
                );
                self.log
                    .echo(&format!("cannot reach NATS at {}: {err}", self.nats_url));
                return exit_codes::NATS_LOST;
            }
        };
        let js = jetstream::new(client.clone());
        let consumer = match self.attach_consumer(&js).await {
            Ok(consumer) => consumer,
            Err(err) => {
                self.log.host(
                    LogLevel::Error,
                    &format!("cannot set up the JetStream consumer: {err}"),
                );
                self.log
                    .echo(&format!("cannot set up the JetStream consumer: {err}"));
                return exit_codes::NATS_LOST;
            }
        };
        let handled = Arc::new(AtomicU64::new(0));
        let heartbeat = tokio::spawn(heartbeats(
            client.clone(),
            self.name.clone(),
            self.version.clone(),
            self.heartbeat,
            self.shared.clone(),
            handled.clone(),
        ));
        // Anything the plugin said while loading goes out now.
        self.publish_outgoing(&client, &js).await;
        self.announce(&client, messaging::ready_subject(&self.name))
            .await;
        // The next instance must not start from state this one already consumed.
        let handoff = self.home.plugin_handoff_file(&self.name);
        if let Err(err) = std::fs::remove_file(&handoff) {
            if err.kind() != std::io::ErrorKind::NotFound {
                self.log.host(
                    LogLevel::Warn,
                    &format!("cannot remove {}: {err}", handoff.display()),
                );
            }
        }
        self.log.host(
            LogLevel::Info,
            &format!("{} v{} ready", self.name, self.version),
        );

        let outage = tokio::spawn(outage_exceeds(connected_rx, self.nats_timeout));
        let (stop, leftover) = self
            .consume(&client, &js, consumer, signals, outage, &handled)
            .await;
        heartbeat.abort();
        let mut code = match stop {
            Stop::Signal => exit_codes::CLEAN,
            Stop::NatsLost => exit_codes::NATS_LOST,
            Stop::Panicked => exit_codes::PLUGIN_PANICKED,
        };
        if !matches!(stop, Stop::Panicked) && !self.unload().await {
            code = exit_codes::UNLOAD_FAILED;
        }
        self.publish_outgoing(&client, &js).await;
        if !matches!(stop, Stop::NatsLost) {
            self.announce(&client, messaging::stopped_subject(&self.name))
                .await;
        }
        if let Some(batch) = leftover {
            hand_back(batch).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
        code
    }

    /// Connects, retrying until the NATS timeout; `connected` follows the connection's state.
    async fn connect(&self, connected: watch::Sender<bool>) -> Result<async_nats::Client, String> {
        let deadline = Instant::now() + self.nats_timeout;
        let log = self.log.clone();
        let connected = Arc::new(connected);
        let options = || {
            let log = log.clone();
            let connected = connected.clone();
            async_nats::ConnectOptions::new()
                .name(format!("rosey-plugin-{}", self.name))
                // async-nats asks this before the *first* attempt too (attempts = 1): no delay
                // then, or every host start would wait 50 ms before connecting.
                .reconnect_delay_callback(|attempts| {
                    Duration::from_millis((attempts.saturating_sub(1) as u64 * 50).min(1000))
                })
                .event_callback(move |event| {
                    let log = log.clone();
                    let connected = connected.clone();
                    async move {
                        let level = match event {
                            async_nats::Event::Connected => {
                                connected.send_replace(true);
                                LogLevel::Info
                            }
                            async_nats::Event::Disconnected | async_nats::Event::Closed => {
                                connected.send_replace(false);
                                LogLevel::Warn
                            }
                            _ => LogLevel::Warn,
                        };
                        log.host(level, &format!("NATS: {event}"));
                    }
                })
        };
        loop {
            match options().connect(self.nats_url.as_str()).await {
                Ok(client) => return Ok(client),
                Err(err) if Instant::now() >= deadline => return Err(err.to_string()),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn attach_consumer(
        &self,
        js: &jetstream::Context,
    ) -> Result<Option<PullConsumer>, String> {
        let stream = js
            .get_or_create_stream(messaging::stream_config())
            .await
            .map_err(|err| err.to_string())?;
        js.get_or_create_stream(messaging::dead_letter_stream_config())
            .await
            .map_err(|err| err.to_string())?;
        if self.filter_subjects.is_empty() {
            return Ok(None);
        }
        stream
            .create_consumer(messaging::plugin_consumer_config(
                &self.name,
                self.filter_subjects.clone(),
            ))
            .await
            .map(Some)
            .map_err(|err| err.to_string())
    }

    /// Pulls and handles messages until a signal, a panic or a lost connection; returns the
    /// pull request still outstanding, if any, so its deliveries can be handed back.
    async fn consume(
        &mut self,
        client: &async_nats::Client,
        js: &jetstream::Context,
        consumer: Option<PullConsumer>,
        signals: Signals,
        mut outage: tokio::task::JoinHandle<()>,
        handled: &AtomicU64,
    ) -> (Stop, Option<PullRequest>) {
        let Signals { mut term, mut int } = signals;
        let lost = |log: &HostLog, timeout: Duration| {
            log.host(
                LogLevel::Error,
                &format!("NATS unreachable for {timeout:?}; giving up"),
            );
            Stop::NatsLost
        };
        let Some(consumer) = consumer else {
            tokio::select! {
                _ = term.recv() => return (Stop::Signal, None),
                _ = int.recv() => return (Stop::Signal, None),
                _ = &mut outage => return (lost(&self.log, self.nats_timeout), None),
            }
        };
        let mut batch: Option<PullRequest> = None;
        loop {
            let Some(current) = batch.as_mut() else {
                let request = PullRequest::send(client, js, &consumer, PULL_BATCH, PULL_EXPIRES);
                let result = tokio::select! {
                    _ = term.recv() => return (Stop::Signal, None),
                    _ = int.recv() => return (Stop::Signal, None),
                    _ = &mut outage => return (lost(&self.log, self.nats_timeout), None),
                    result = request => result,
                };
                match result {
                    Ok(new_batch) => batch = Some(new_batch),
                    Err(err) => {
                        self.log
                            .host(LogLevel::Debug, &format!("pull request failed: {err}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                continue;
            };
            // A pull request that outlives its expiry by far was lost with the connection.
            let next = tokio::select! {
                _ = term.recv() => return (Stop::Signal, batch),
                _ = int.recv() => return (Stop::Signal, batch),
                _ = &mut outage => return (lost(&self.log, self.nats_timeout), batch),
                next = tokio::time::timeout(PULL_EXPIRES * 4, current.next()) => next,
            };
            match next {
                Ok(Some(Ok(message))) => {
                    if !self.handle(client, js, message, handled).await {
                        return (Stop::Panicked, batch);
                    }
                }
                Ok(None) => batch = None,
                Ok(Some(Err(err))) => {
                    self.log
                        .host(LogLevel::Debug, &format!("pull request ended: {err}"));
                    batch = None;
                }
                Err(_) => {
                    self.log
                        .host(LogLevel::Debug, "pull request stalled; asking again");
                    batch = None;
                }
            }
        }
    }

    /// Handles one message; `false` when the plugin panicked (the host must exit).
    async fn handle(
        &mut self,
        client: &async_nats::Client,
        js: &jetstream::Context,
        message: jetstream::Message,
        handled: &AtomicU64,
    ) -> bool {
        let subject = message.subject.as_str().to_owned();
        let seq = message.info().map(|info| info.stream_sequence).unwrap_or(0);
        let died = self.attempts.count(seq);
        if seq != 0 && died >= self.max_attempts {
            return self
                .dead_letter(client, js, &message, &subject, seq, died)
                .await;
        }
        let (done_tx, done_rx) = oneshot::channel();
        let work = if subject.starts_with("rosey.commands.") {
            match messaging::decode::<CommandMessage>(&message.payload) {
                Ok(command) => Work::Command(command, done_tx),
                Err(err) => return self.refuse(&message, &subject, err).await,
            }
        } else {
            match messaging::decode::<EventMessage>(&message.payload) {
                Ok(event) => Work::Event(event, done_tx),
                Err(err) => return self.refuse(&message, &subject, err).await,
            }
        };
        if let Err(err) = self.attempts.handling(seq) {
            self.log.host(
                LogLevel::Warn,
                &format!("cannot record the message in hand: {err}"),
            );
        }
        if self.work.send(work).is_err() {
            self.log.host(LogLevel::Error, "the plugin thread is gone");
            let _ = message.ack_with(AckKind::Nak(None)).await;
            return false;
        }
        let outcome = await_with_progress(&message, done_rx).await;
        if !matches!(outcome, HookOutcome::Panicked(_)) {
            // A panic leaves the mark: the next host counts this message against the plugin.
            let _ = self.attempts.idle();
            if died > 0 {
                let _ = self.attempts.forget(seq);
            }
        }
        self.publish_outgoing(client, js).await;
        match outcome {
            HookOutcome::Done(()) => {
                handled.fetch_add(1, Ordering::Relaxed);
                self.ack(client, &message).await;
                true
            }
            HookOutcome::Failed(err) => {
                handled.fetch_add(1, Ordering::Relaxed);
                self.log
                    .plugin(LogLevel::Error, &format!("{subject}: {err}"));
                self.ack(client, &message).await;
                true
            }
            HookOutcome::Panicked(panic) => {
                self.log.host(
                    LogLevel::Error,
                    &format!("plugin panicked handling {subject}: {panic}"),
                );
                self.log
                    .echo(&format!("plugin {} panicked: {panic}", self.name));
                let _ = message.ack_with(AckKind::Nak(None)).await;
                false
            }
        }
    }
}

//! The JetStream keeper: makes sure the stream, the dead-letter stream and every open door's
//! durable consumer exist as the stack defined them, and makes them again when they do not.
//!
//! Anyone holding the daemon's NATS password can delete or change a stream or consumer; the
//! bot would then go deaf while every unit still shows as running. The keeper notices four ways:
//! JetStream's advisories (a stream deleted or changed, a consumer deleted), every reconnect to
//! the server, the router's publish failing because the stream is gone (the router waits for
//! the repair before it publishes again, so a command is not stored into a stream no consumer
//! reads yet), and a check every few seconds. Each repair is logged at WARN and counted for
//! `rosey status`.
//!
//! A consumer deleted by the stack itself (a plugin removed or disabled) is left alone: its
//! door is closed first, and the keeper only keeps consumers of open doors.
//!
//! The main daemon's keeper also keeps the stream's ballast ([`ballast`]), which saves the
//! server a file made and deleted per command; missing ballast is laid again quietly (it costs
//! speed, not function, so it is not counted as a repair).

use std::{
    sync::{Arc, Mutex, TryLockError},
    time::{Duration, Instant},
};

use async_nats::jetstream::{
    self,
    consumer::PullConsumer,
    context::{ConsumerInfoErrorKind, GetStreamErrorKind},
    stream,
};
use futures::StreamExt;
use rosey_core::{
    bus::{BusUser, Credentials},
    messaging,
};

use super::plugin::door::Doors;

pub mod ballast;

/// How often the keeper checks even when nothing told it to.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// How long the keeper waits for more advisories after one, so that one deletion is one repair.
const COALESCE: Duration = Duration::from_millis(100);

/// How long a check spends on the stream's ballast before leaving it to the next check.
const BALLAST_PATIENCE: Duration = Duration::from_secs(1);

/// How long after a repair an advisory about the same thing is taken for the same event.
const SAME_EVENT: Duration = Duration::from_secs(3);

/// What the keeper has repaired so far.
#[derive(Debug, Clone, Default)]
struct Record {
    repairs: u32,
    /// The last repair: what was wrong, and when it was put right.
    last: Option<(String, String)>,
    /// What was put right lately, and when: an advisory about it that arrives after the repair
    /// is the same event, not a new one.
    lately: Vec<(String, Instant)>,
}

struct Inner {
    credentials: Credentials,
    url: String,
    doors: Doors,
    /// Whether the streams are this keeper's too (the main daemon's), or only the doors'
    /// consumers (a plugin node's: the main daemon sizes the streams to its own disk).
    keeps_streams: bool,
    client: tokio::sync::OnceCell<async_nats::Client>,
    record: Mutex<Record>,
    /// One check at a time.
    checking: tokio::sync::Mutex<()>,
    /// Fires when the keeper's connection is made again.
    reconnected: Arc<tokio::sync::Notify>,
    ballast: ballast::Ballast,
}

/// The keeper of a stack's JetStream. Cheap to clone.
#[derive(Clone)]
pub struct Keeper {
    inner: Arc<Inner>,
}

/// Never waits for the record's lock: `<locked>` while someone holds it.
impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Keeper");
        debug
            .field("url", &self.inner.url)
            .field("connected", &self.inner.client.initialized());
        match self.inner.record.try_lock() {
            Ok(record) => debug.field("record", &*record),
            Err(TryLockError::Poisoned(poisoned)) => debug.field("record", &*poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => debug.field("record", &format_args!("<locked>")),
        };
        debug
            .field("doors", &self.inner.doors)
            .finish_non_exhaustive()
    }
}

impl Keeper {
    /// A keeper of the streams on the server at `url` and the consumers of `doors`.
    pub fn new(credentials: Credentials, url: String, doors: Doors) -> Keeper {
        Keeper::keeping(credentials, url, doors, true)
    }

    fn keeping(credentials: Credentials, url: String, doors: Doors, keeps_streams: bool) -> Keeper {
        Keeper {
            inner: Arc::new(Inner {
                credentials,
                url,
                doors,
                keeps_streams,
                client: tokio::sync::OnceCell::new(),
                record: Mutex::default(),
                checking: tokio::sync::Mutex::new(()),
                reconnected: Arc::default(),
                ballast: ballast::Ballast::default(),
            }),
        }
    }

    /// A keeper of the doors' consumers only, on a plugin node: the streams are the main
    /// daemon's, sized to its disk.
    pub fn consumers_only(credentials: Credentials, url: String, doors: Doors) -> Keeper {
        Keeper::keeping(credentials, url, doors, false)
    }

    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        match self.inner.record.lock() {
            Ok(record) => record,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The ballast this keeper laid last (see [`ballast`]).
    #[cfg(test)]
    pub fn ballast(&self) -> Option<ballast::Laid> {
        self.inner.ballast.laid()
    }

    /// The status line: `repaired 1 time (stream ROSEY deleted at …)`; `None` while nothing
    /// was ever repaired.
    pub fn summary(&self) -> Option<String> {
        let record = self.record().clone();
        let (what, at) = record.last?;
        let times = if record.repairs == 1 { "time" } else { "times" };
        Some(format!(
            "repaired {} {times} (last: {what} at {at})",
            record.repairs
        ))
    }

    /// Checks and repairs now, and returns once done: what the router calls when a publish
    /// finds no stream, before it publishes again.
    pub async fn repair_now(&self, trigger: &str) {
        self.check(Vec::new(), trigger).await;
    }

    /// The keeper's own connection (made once; it reconnects on its own).
    async fn client(&self) -> Result<async_nats::Client, String> {
        self.inner
            .client
            .get_or_try_init(|| async {
                let reconnected = self.inner.reconnected.clone();
                self.inner
                    .credentials
                    .connect_options(BusUser::Daemon)
                    .name("rosey-keeper")
                    .event_callback(move |event| {
                        let reconnected = reconnected.clone();
                        async move {
                            if matches!(event, async_nats::Event::Connected) {
                                reconnected.notify_one();
                            }
                        }
                    })
                    .connect(self.inner.url.as_str())
                    .await
                    .map_err(|err| err.to_string())
            })
            .await
            .cloned()
    }

    /// Runs the keeper until the task is aborted: advisories, reconnects, periodic checks.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let keeper = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(err) = keeper.watch().await {
                    tracing::debug!("JetStream keeper: {err}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }

    async fn watch(&self) -> Result<(), String> {
        let client = self.client().await?;
        let mut advisories = futures::stream::select_all([
            subscribe(&client, messaging::STREAM_DELETED_ADVISORIES).await?,
            subscribe(&client, messaging::STREAM_UPDATED_ADVISORIES).await?,
            subscribe(&client, messaging::CONSUMER_DELETED_ADVISORIES).await?,
        ]);
        self.check(Vec::new(), "at start").await;
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                advisory = advisories.next() => {
                    let Some(advisory) = advisory else {
                        return Err("the advisory subscription ended".to_owned());
                    };
                    // One deletion comes as several advisories (a stream's consumers go with
                    // it): those arriving together make one repair.
                    let mut concerned = self.concerns(&advisory.subject);
                    while let Ok(Some(more)) =
                        tokio::time::timeout(COALESCE, advisories.next()).await
                    {
                        if let Some(more) = self.concerns(&more.subject) {
                            concerned.get_or_insert_with(Vec::new).extend(more);
                        }
                    }
                    if let Some(seen) = concerned {
                        self.check(seen, "advisory").await;
                    }
                }
                _ = ticks.tick() => self.check(Vec::new(), "periodic check").await,
                () = self.inner.reconnected.notified() => {
                    self.check(Vec::new(), "after reconnecting").await;
                }
            }
        }
    }

    /// Whether an advisory concerns the stack: `Some([what])` when something the stack needs
    /// was deleted, `Some([])` when it was changed (a check tells whether it matters), `None`
    /// when it is someone else's business.
    fn concerns(&self, subject: &str) -> Option<Vec<String>> {
        let (what, stream, consumer) = messaging::parse_advisory(subject)?;
        match consumer {
            None if stream == messaging::STREAM_NAME || stream == messaging::DEAD_LETTER_STREAM => {
                Some(
                    (what == "deleted")
                        .then(|| format!("stream {stream} deleted"))
                        .into_iter()
                        .collect(),
                )
            }
            Some(consumer) if stream == messaging::STREAM_NAME => {
                let plugin = messaging::consumer_plugin(&consumer)?;
                self.inner.doors.get(plugin)?;
                Some(vec![format!("consumer {consumer} deleted")])
            }
            _ => None,
        }
    }

    /// Checks everything and repairs what is missing or changed; records a repair when
    /// something was put right, or when `seen` says something was deleted (a door may have
    /// made its consumer again before the check looked).
    async fn check(&self, seen: Vec<String>, trigger: &str) {
        let _one = self.inner.checking.lock().await;
        let fixed = match self.fix().await {
            Ok(fixed) => fixed,
            Err(err) => {
                tracing::debug!("cannot check JetStream ({trigger}): {err}");
                Vec::new()
            }
        };
        let did_fix = !fixed.is_empty();
        let mut all = seen;
        for what in fixed {
            if !all.contains(&what) {
                all.push(what);
            }
        }
        if all.is_empty() {
            return;
        }
        let remade = [
            format!("stream {} deleted", messaging::STREAM_NAME),
            format!("stream {} replaced", messaging::STREAM_NAME),
        ];
        let what = all.join(", ");
        let mut record = self.record();
        record.lately.retain(|(_, at)| at.elapsed() < SAME_EVENT);
        // A stream's consumers go with it: their advisories may come after its repair.
        let stream_remade = record.lately.iter().any(|(done, _)| remade.contains(done));
        let new = all.iter().any(|what| {
            let done_lately = record.lately.iter().any(|(done, _)| done == what);
            let went_with_stream = stream_remade && what.starts_with("consumer ");
            !(done_lately || went_with_stream)
        });
        let now = Instant::now();
        record
            .lately
            .extend(all.iter().map(|what| (what.clone(), now)));
        if !new {
            drop(record);
            if did_fix {
                tracing::warn!(
                    unit = rosey_core::units::NATS,
                    "JetStream repaired ({trigger}): {what}"
                );
            }
            return;
        }
        record.repairs += 1;
        record.last = Some((what.clone(), rosey_core::logs::timestamp()));
        drop(record);
        tracing::warn!(
            unit = rosey_core::units::NATS,
            "JetStream repaired ({trigger}): {what}"
        );
        if all.iter().any(|what| remade.contains(what)) {
            for door in self.inner.doors.all() {
                door.forget_sequences();
            }
        }
    }

    /// Makes what is missing, restores what was changed; names each thing put right.
    async fn fix(&self) -> Result<Vec<String>, String> {
        let js = jetstream::new(self.client().await?);
        let mut fixed = Vec::new();
        let store = self.inner.doors.store();
        let streams = [
            messaging::stream_config(&store),
            messaging::dead_letter_stream_config(&store),
        ];
        for config in streams.into_iter().filter(|_| self.inner.keeps_streams) {
            if let Some(what) = keep_stream(&js, config).await? {
                fixed.push(what);
            }
        }
        let stream = js
            .get_stream(messaging::STREAM_NAME)
            .await
            .map_err(|err| err.to_string())?;
        for door in self.inner.doors.all() {
            let wants = door.wants();
            if wants.filter_subjects.is_empty() {
                continue;
            }
            let name = messaging::consumer_name(door.name());
            let what = match stream.consumer_info(&name).await {
                Ok(info) => {
                    let mut have = info.config.filter_subjects.clone();
                    have.push(info.config.filter_subject.clone());
                    have.retain(|subject| !subject.is_empty());
                    have.sort();
                    let mut want = wants.filter_subjects.clone();
                    want.sort();
                    if have == want
                        && info.config.ack_policy == jetstream::consumer::AckPolicy::Explicit
                        && info.config.max_deliver == messaging::MAX_DELIVER
                    {
                        continue;
                    }
                    format!("consumer {name} changed")
                }
                Err(err) if err.kind() == ConsumerInfoErrorKind::NotFound => {
                    format!("consumer {name} deleted")
                }
                Err(err) => return Err(format!("consumer {name}: {err}")),
            };
            let _: PullConsumer = stream
                .create_consumer(messaging::plugin_consumer_config(
                    door.name(),
                    wants.filter_subjects,
                    wants.ack_wait,
                ))
                .await
                .map_err(|err| format!("cannot make consumer {name} again: {err}"))?;
            if self.inner.doors.get(door.name()).is_none() {
                // Removed meanwhile: its consumer must not outlive it.
                let _ = stream.delete_consumer(&name).await;
                continue;
            }
            door.reopen();
            fixed.push(what);
        }
        // Last, and bounded: a ballast consumer whose leader died with its server must not
        // hold up the repairs above, nor a router waiting for them.
        if self.inner.keeps_streams {
            match tokio::time::timeout(BALLAST_PATIENCE, self.inner.ballast.keep(&js, &stream))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::debug!("JetStream keeper: {err}"),
                Err(_) => tracing::debug!(
                    "JetStream keeper: the ballast took over {BALLAST_PATIENCE:?}; next check"
                ),
            }
        }
        Ok(fixed)
    }
}

async fn subscribe(
    client: &async_nats::Client,
    subject: &'static str,
) -> Result<async_nats::Subscriber, String> {
    client
        .subscribe(subject)
        .await
        .map_err(|err| format!("cannot subscribe to {subject}: {err}"))
}

/// Makes stream `want` if it is missing and restores its config if it was changed; says what
/// it put right.
async fn keep_stream(
    js: &jetstream::Context,
    want: stream::Config,
) -> Result<Option<String>, String> {
    let name = want.name.clone();
    let mut stream = match js.get_stream(&name).await {
        Ok(stream) => stream,
        Err(err) => {
            let missing = matches!(
                err.kind(),
                GetStreamErrorKind::JetStream(ref js_err)
                    if js_err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            );
            if !missing {
                return Err(format!("stream {name}: {err}"));
            }
            js.get_or_create_stream(want)
                .await
                .map_err(|err| format!("cannot make stream {name} again: {err}"))?;
            return Ok(Some(format!("stream {name} deleted")));
        }
    };
    let have = stream
        .info()
        .await
        .map_err(|err| format!("stream {name}: {err}"))?
        .config
        .clone();
    if same_stream(&have, &want) {
        return Ok(None);
    }
    if have.retention != want.retention || have.storage != want.storage {
        // JetStream cannot change these in place: the stream is made anew.
        js.delete_stream(&name)
            .await
            .map_err(|err| format!("cannot replace stream {name}: {err}"))?;
        js.create_stream(want)
            .await
            .map_err(|err| format!("cannot replace stream {name}: {err}"))?;
        return Ok(Some(format!("stream {name} replaced")));
    }
    js.update_stream(want)
        .await
        .map_err(|err| format!("cannot restore stream {name}: {err}"))?;
    Ok(Some(format!("stream {name} changed")))
}

/// Whether `have` keeps what the stack set in `want` (fields the stack leaves to the server's
/// defaults are not compared).
fn same_stream(have: &stream::Config, want: &stream::Config) -> bool {
    let mut have_subjects = have.subjects.clone();
    have_subjects.sort();
    let mut want_subjects = want.subjects.clone();
    want_subjects.sort();
    have_subjects == want_subjects
        && have.retention == want.retention
        && have.storage == want.storage
        && have.max_age == want.max_age
        && have.max_bytes == want.max_bytes
        && have.discard == want.discard
        && have.num_replicas.max(1) == want.num_replicas.max(1)
        && (want.duplicate_window.is_zero() || have.duplicate_window == want.duplicate_window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_defaults_are_not_changes_but_narrowed_subjects_are() {
        let store = messaging::StoreBudget::default();
        let want = messaging::stream_config(&store);
        let mut have = want.clone();
        have.max_consumers = -1;
        have.subjects.reverse();
        assert!(same_stream(&have, &want));
        have.subjects = vec!["rosey.events.>".to_owned()];
        assert!(!same_stream(&have, &want));
        let mut dead = messaging::dead_letter_stream_config(&store);
        let want_dead = dead.clone();
        dead.duplicate_window = Duration::from_secs(120);
        assert!(same_stream(&dead, &want_dead), "a default duplicate window");
        dead.retention = stream::RetentionPolicy::Interest;
        assert!(!same_stream(&dead, &want_dead));
    }
}

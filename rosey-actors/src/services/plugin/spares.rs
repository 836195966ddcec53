//! Warm spare hosts: host processes started ahead of need, with nothing loaded, so replacing a
//! crashed host, a reload or an install skips fork and exec. Taking one starts a replacement in
//! the background. `plugin_host.spares` sets how many are kept (0: none).
//!
//! At a cold start the pool is also filled ahead of the plugins it will serve
//! ([`Spares::prewarm`]): their processes start while nats-server is still coming up, so the
//! plugins' own start only loads their libraries. What the burst did not use is ended by
//! [`Spares::settle`].

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, TryLockError},
};

use rosey_core::logs::{LogHub, LogSource};

use super::{link, HostProgram};
use crate::services::process::Spawner;

/// How long a prewarm waits for its signal before starting its hosts anyway.
pub const PREWARM_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The log source a spare's output goes to until it is given a plugin.
fn spare_source() -> LogSource {
    LogSource::Service("spare".to_owned())
}

/// The pool. Cheap to clone.
#[derive(Clone)]
pub struct Spares {
    inner: Arc<Inner>,
}

/// Never waits for the pool's lock: `<locked>` while someone holds it.
impl std::fmt::Debug for Spares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Spares");
        debug
            .field("wanted", &self.inner.wanted)
            .field("program", &self.inner.program);
        let pool = match self.inner.idle.try_lock() {
            Ok(pool) => Some(pool),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        match pool {
            Some(pool) => {
                let pids: Vec<u32> = pool.hosts.iter().map(|host| host.child.pid()).collect();
                debug
                    .field("idle", &pids)
                    .field("starting", &pool.starting)
                    .field("extra", &pool.extra)
                    .field("closed", &pool.closed)
            }
            None => debug.field("pool", &format_args!("<locked>")),
        };
        debug.finish_non_exhaustive()
    }
}

struct Inner {
    wanted: usize,
    program: HostProgram,
    spawner: Spawner,
    logs: LogHub,
    idle: Mutex<Pool>,
    /// Told whenever a spare's start ends (started or failed).
    landed: tokio::sync::Notify,
}

#[derive(Default)]
struct Pool {
    hosts: VecDeque<link::Host>,
    starting: usize,
    /// Hosts kept above `wanted` for a burst of starts ([`Spares::prewarm`]); each one taken
    /// uses one up.
    extra: usize,
    closed: bool,
}

impl Pool {
    /// How many hosts the pool keeps (idle or starting) now.
    fn keeps(&self, wanted: usize) -> usize {
        wanted + self.extra
    }
}

impl Spares {
    /// A pool keeping `wanted` spares (started by [`Spares::fill`]).
    pub fn new(wanted: usize, program: HostProgram, spawner: Spawner, logs: LogHub) -> Spares {
        Spares {
            inner: Arc::new(Inner {
                wanted,
                program,
                spawner,
                logs,
                idle: Mutex::new(Pool::default()),
                landed: tokio::sync::Notify::new(),
            }),
        }
    }

    fn pool(&self) -> MutexGuard<'_, Pool> {
        match self.inner.idle.lock() {
            Ok(pool) => pool,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A host for plugin `name`: a spare if one is alive, else a new process.
    pub async fn host_for(&self, name: &str) -> std::io::Result<link::Host> {
        let source = LogSource::Plugin(name.to_owned());
        let spare = loop {
            // Armed before the pool is looked at, so a spare landing in between still wakes it.
            let landed = self.inner.landed.notified();
            tokio::pin!(landed);
            landed.as_mut().enable();
            let wait = {
                let mut pool = self.pool();
                let mut found = None;
                while let Some(host) = pool.hosts.pop_front() {
                    if host.child.exited().is_none() {
                        found = Some(host);
                        break;
                    }
                }
                if found.is_some() {
                    pool.extra = pool.extra.saturating_sub(1);
                    break found;
                }
                // A burst's hosts are on their way (see `prewarm`): waiting for one is quicker
                // than queueing one more process behind them.
                pool.extra > 0 && pool.starting > 0 && !pool.closed
            };
            if !wait {
                break None;
            }
            landed.await;
        };
        self.fill();
        match spare {
            Some(host) => {
                host.child.set_log_source(source);
                Ok(host)
            }
            None => {
                link::spawn(
                    &self.inner.program,
                    &self.inner.spawner,
                    &self.inner.logs,
                    source,
                )
                .await
            }
        }
    }

    /// Starts spares in the background until `wanted` are idle or starting.
    pub fn fill(&self) {
        self.top_up(0, None);
    }

    /// Raises the burst by `extra`, then counts as starting (and starts, once `after` is told)
    /// the hosts missing for `wanted` plus the burst. Nothing once closed.
    fn top_up(&self, extra: usize, after: Option<Arc<tokio::sync::Notify>>) {
        let missing = {
            let mut pool = self.pool();
            if pool.closed {
                return;
            }
            pool.extra += extra;
            pool.hosts.retain(|host| host.child.exited().is_none());
            let have = pool.hosts.len() + pool.starting;
            let missing = pool.keeps(self.inner.wanted).saturating_sub(have);
            pool.starting += missing;
            missing
        };
        self.start(missing, after);
    }

    /// Keeps `count` hosts more than `wanted` until they are taken or [`Spares::settle`] is
    /// called, and starts them once `after` is told (or [`PREWARM_WAIT`] passed): a cold start
    /// about to start `count` plugins calls it with the signal of nats-server's process
    /// existing, so the hosts' fork, exec and dynamic linking overlap the server's start
    /// instead of following it, without queueing ahead of the server's own exec at the
    /// spawner. Nothing when spares are off (`wanted` 0).
    pub fn prewarm(&self, count: usize, after: Arc<tokio::sync::Notify>) {
        if self.inner.wanted == 0 {
            return;
        }
        self.top_up(count, Some(after));
    }

    /// Ends the burst [`Spares::prewarm`] made room for: hosts above `wanted` that nothing
    /// took are ended, and no more are kept.
    pub fn settle(&self) {
        let surplus = {
            let mut pool = self.pool();
            pool.extra = 0;
            let keep = self.inner.wanted.saturating_sub(pool.starting);
            let surplus = pool.hosts.len().saturating_sub(keep);
            // The newest idle hosts go; dropping a host kills it.
            (0..surplus)
                .filter_map(|_| pool.hosts.pop_back())
                .collect::<Vec<_>>()
        };
        drop(surplus);
    }

    /// Starts `count` spares in the background (once `after` is told, if given), already
    /// counted as starting.
    fn start(&self, count: usize, after: Option<Arc<tokio::sync::Notify>>) {
        if count == 0 {
            return;
        }
        let spares = self.clone();
        // One after another: the spawner forks one process at a time, and a service's own
        // process must not wait behind a whole burst.
        tokio::spawn(async move {
            if let Some(after) = after {
                let _ = tokio::time::timeout(PREWARM_WAIT, after.notified()).await;
            }
            let inner = &spares.inner;
            for left in (0..count).rev() {
                let spawned =
                    link::spawn(&inner.program, &inner.spawner, &inner.logs, spare_source()).await;
                let mut pool = spares.pool();
                pool.starting = pool.starting.saturating_sub(1);
                let room = pool.keeps(inner.wanted) > pool.hosts.len() + pool.starting;
                match spawned {
                    // A host landing after the burst settled is not kept (dropping kills it).
                    Ok(host) if !pool.closed && room => pool.hosts.push_back(host),
                    Ok(_) => {}
                    Err(err) => tracing::warn!("cannot start a spare plugin host: {err}"),
                }
                let stop = pool.closed;
                if stop {
                    // The ones this task will not start are not starting any more.
                    pool.starting = pool.starting.saturating_sub(left);
                }
                drop(pool);
                inner.landed.notify_waiters();
                if stop {
                    return;
                }
            }
        });
    }

    /// Stops keeping spares and ends those kept (the stack is stopping).
    pub fn close(&self) {
        let mut pool = self.pool();
        pool.closed = true;
        // Dropping a host kills it.
        pool.hosts.clear();
        drop(pool);
        self.inner.landed.notify_waiters();
    }

    /// Process ids of the idle spares (status and tests).
    pub fn pids(&self) -> Vec<u32> {
        self.pool()
            .hosts
            .iter()
            .map(|host| host.child.pid())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use rosey_core::{config::LogsConfig, paths::Home};

    use super::*;

    /// Waits (at most 10 s) until no spare is being started.
    async fn settled(spares: &Spares) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while spares.pool().starting > 0 {
            assert!(Instant::now() < deadline, "spares still starting");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_pool_whose_host_program_cannot_start_keeps_none_and_a_request_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = LogHub::open(&Home::new(dir.path()), LogsConfig::default()).expect("logs");
        let program = HostProgram {
            exe: dir.path().join("no-such-host"),
            subcommand: None,
        };
        let spares = Spares::new(2, program, Spawner::new().expect("spawner"), logs);
        spares.fill();
        settled(&spares).await;
        assert!(spares.pids().is_empty());
        let shown = format!("{spares:?}");
        for part in [
            "wanted: 2",
            "no-such-host",
            "idle: []",
            "starting: 0",
            "closed: false",
        ] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
        let err = spares
            .host_for("dice")
            .await
            .expect_err("no host can start");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
        settled(&spares).await;

        // Closed (the stack stops): nothing is started any more.
        spares.close();
        spares.fill();
        assert_eq!(spares.pool().starting, 0);
        assert!(format!("{spares:?}").contains("closed: true"));
        let pool = spares.pool();
        let shown = format!("{spares:?}");
        drop(pool);
        assert!(shown.contains("pool: <locked>"), "{shown}");
    }

    #[tokio::test]
    async fn a_prewarmed_burst_is_taken_and_what_it_did_not_use_is_ended_at_settle() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        // A stand-in host: it stays up, which is all a spare does until it is given a plugin.
        let exe = dir.path().join("stand-in-host");
        std::fs::write(&exe, "#!/bin/sh\nexec /bin/sleep 30\n").expect("script");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let logs = LogHub::open(&Home::new(dir.path()), LogsConfig::default()).expect("logs");
        let program = HostProgram {
            exe,
            subcommand: None,
        };
        let spares = Spares::new(1, program, Spawner::new().expect("spawner"), logs);

        let nats_spawned = Arc::new(tokio::sync::Notify::new());
        spares.prewarm(3, nats_spawned.clone());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(spares.pids().is_empty(), "the burst waits for its signal");
        nats_spawned.notify_one();
        settled(&spares).await;
        assert_eq!(
            spares.pids().len(),
            4,
            "the one wanted and the three of the burst"
        );

        let first = spares.host_for("a").await.expect("a spare");
        let second = spares.host_for("b").await.expect("a spare");
        settled(&spares).await;
        assert_eq!(
            spares.pids().len(),
            2,
            "taking from the burst starts no replacement"
        );

        let left: Vec<u32> = spares.pids();
        spares.settle();
        assert_eq!(spares.pids(), vec![left[0]], "the oldest idle one is kept");
        // Once settled, taking one refills to the one wanted.
        let third = spares.host_for("c").await.expect("a spare");
        settled(&spares).await;
        assert_eq!(spares.pids().len(), 1);
        assert_ne!(first.child.pid(), second.child.pid());
        assert_ne!(third.child.pid(), second.child.pid());

        // Spares off: no burst either.
        let off = Spares::new(
            0,
            HostProgram {
                exe: dir.path().join("stand-in-host"),
                subcommand: None,
            },
            Spawner::new().expect("spawner"),
            LogHub::open(&Home::new(dir.path()), LogsConfig::default()).expect("logs"),
        );
        off.prewarm(3, Arc::new(tokio::sync::Notify::new()));
        settled(&off).await;
        assert!(off.pids().is_empty());
        spares.close();
    }
}

//! Warm spare hosts: host processes started ahead of need, with nothing loaded, so replacing a
//! crashed host, a reload or an install skips fork and exec. Taking one starts a replacement in
//! the background. `plugin_host.spares` sets how many are kept (0: none).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, TryLockError},
};

use rosey_core::logs::{LogHub, LogSource};

use super::{link, HostProgram};
use crate::services::process::Spawner;

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
}

#[derive(Default)]
struct Pool {
    hosts: VecDeque<link::Host>,
    starting: usize,
    closed: bool,
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
        let spare = {
            let mut pool = self.pool();
            let mut found = None;
            while let Some(host) = pool.hosts.pop_front() {
                if host.child.exited().is_none() {
                    found = Some(host);
                    break;
                }
            }
            found
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
        let missing = {
            let mut pool = self.pool();
            if pool.closed {
                return;
            }
            pool.hosts.retain(|host| host.child.exited().is_none());
            let have = pool.hosts.len() + pool.starting;
            let missing = self.inner.wanted.saturating_sub(have);
            pool.starting += missing;
            missing
        };
        for _ in 0..missing {
            let spares = self.clone();
            tokio::spawn(async move {
                let inner = &spares.inner;
                let spawned =
                    link::spawn(&inner.program, &inner.spawner, &inner.logs, spare_source()).await;
                let mut pool = spares.pool();
                pool.starting = pool.starting.saturating_sub(1);
                match spawned {
                    Ok(host) if !pool.closed => pool.hosts.push_back(host),
                    Ok(_) => {}
                    Err(err) => tracing::warn!("cannot start a spare plugin host: {err}"),
                }
            });
        }
    }

    /// Stops keeping spares and ends those kept (the stack is stopping).
    pub fn close(&self) {
        let mut pool = self.pool();
        pool.closed = true;
        // Dropping a host kills it.
        pool.hosts.clear();
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
}

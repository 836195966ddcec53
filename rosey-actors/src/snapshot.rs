//! Every running supervisor's children as of its last change, readable without asking it.
//!
//! A supervisor handles one thing at a time, and some take long (a plugin's start waits for
//! the plugin to be ready): a status query sent as a message would wait behind them. Instead
//! the supervisor publishes a snapshot after every change, and [`crate::children`] reads the
//! latest one at once. Snapshots are kept by actor id, so any number of supervisors (several
//! stacks in one process, tests in parallel) keep theirs apart.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex, MutexGuard, PoisonError},
};

use ractor::ActorId;
use tokio::sync::watch;

use crate::events::ChildInfo;

type Snapshots = HashMap<ActorId, watch::Receiver<Vec<ChildInfo>>>;

static SNAPSHOTS: LazyLock<Mutex<Snapshots>> = LazyLock::new(Mutex::default);

fn snapshots() -> MutexGuard<'static, Snapshots> {
    SNAPSHOTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Supervisor `id` publishes its children on `receiver`'s channel from now on.
pub(crate) fn register(id: ActorId, receiver: watch::Receiver<Vec<ChildInfo>>) {
    snapshots().insert(id, receiver);
}

/// Supervisor `id` is gone.
pub(crate) fn unregister(id: ActorId) {
    snapshots().remove(&id);
}

/// Supervisor `id`'s latest snapshot, if it publishes one.
pub(crate) fn latest(id: ActorId) -> Option<Vec<ChildInfo>> {
    snapshots()
        .get(&id)
        .map(|receiver| receiver.borrow().clone())
}

//! Handed-over state shared between machines (with `nats.cluster`), in the cluster's key-value
//! bucket [`HANDOFF_STATE_BUCKET`], so a plugin that starts on another machine than its last
//! instance (moved to another node or back to the main daemon, or restarted elsewhere because
//! its node was lost) starts with its last handed-over state.
//!
//! Two keys per plugin:
//! - `<name>`: the state its last hand-over passed on (a reload's, an update's, a graceful
//!   stop's; none when that hand-over passed none), written at every hand-over, in the
//!   background (a reload does not wait for the cluster), one write after the other.
//! - `<name>.waiting`: that state waits for the next instance, which takes it wherever it
//!   starts. A graceful stop sets it, and so does the main daemon when it declares the
//!   plugin's node lost; the next instance's start removes it (the state stays, for the next
//!   loss). A restart after a crash on the same machine sets nothing: it starts without state,
//!   as on one machine.
//!
//! The keys of plugins no longer installed are removed by the main daemon
//! ([`forget_uninstalled`]). Each access is tried again while the cluster elects a leader
//! (`cluster_store.rs`). The bucket is an extra copy: a failure to reach it is logged, never
//! fatal.

use async_nats::jetstream::{self, context::GetStreamErrorKind, kv};
use bytes::Bytes;
use futures::TryStreamExt;
use rosey_core::messaging::{StoreBudget, HANDOFF_STATE_BUCKET};

use crate::services::cluster_store::patiently;

/// What the key of a plugin's waiting mark ends with.
const WAITING: &str = ".waiting";

/// The waiting mark's value (what it says is that it is there).
const MARK: &[u8] = b"waiting";

/// The key of plugin `name`'s waiting mark.
fn mark_key(name: &str) -> String {
    format!("{name}{WAITING}")
}

/// The bucket if it exists (`None`: no state was ever kept).
async fn existing(client: &async_nats::Client) -> Result<Option<kv::Store>, String> {
    match jetstream::new(client.clone())
        .get_key_value(HANDOFF_STATE_BUCKET)
        .await
    {
        Ok(bucket) => Ok(Some(bucket)),
        Err(err) if no_such_bucket(&err) => Ok(None),
        Err(err) => Err(format!(
            "cannot open the key-value bucket {HANDOFF_STATE_BUCKET}: {err}"
        )),
    }
}

/// Whether opening the bucket failed because there is none (not because the cluster is busy).
fn no_such_bucket(err: &jetstream::context::KeyValueError) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<jetstream::context::GetStreamError>())
        .is_some_and(|err| {
            matches!(err.kind(), GetStreamErrorKind::JetStream(err)
                if err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
        })
}

/// The bucket, made (with `store`'s copies) when there is none.
async fn bucket(client: &async_nats::Client, store: &StoreBudget) -> Result<kv::Store, String> {
    if let Some(bucket) = existing(client).await? {
        return Ok(bucket);
    }
    jetstream::new(client.clone())
        .create_key_value(kv::Config {
            bucket: HANDOFF_STATE_BUCKET.to_owned(),
            description: "rosey: plugins' handed-over state, for a plugin moved between machines"
                .to_owned(),
            history: 1,
            max_bytes: i64::try_from(StoreBudget::SHARED_STATE).unwrap_or(i64::MAX),
            num_replicas: store.replicas(),
            ..Default::default()
        })
        .await
        .map_err(|err| format!("cannot make the key-value bucket {HANDOFF_STATE_BUCKET}: {err}"))
}

/// Keeps `state` as plugin `name`'s last handed-over state (none when empty) and, when
/// `waiting`, marks it as waiting for the next instance.
async fn keep(
    client: &async_nats::Client,
    store: &StoreBudget,
    name: &str,
    state: Bytes,
    waiting: bool,
) -> Result<(), String> {
    patiently(|| {
        let state = state.clone();
        async move {
            let bucket = bucket(client, store).await?;
            if state.is_empty() {
                bucket.purge(name).await.map_err(|err| err.to_string())?;
            } else {
                bucket
                    .put(name, state)
                    .await
                    .map_err(|err| err.to_string())?;
            }
            if waiting {
                bucket
                    .put(mark_key(name), MARK.into())
                    .await
                    .map_err(|err| err.to_string())?;
            }
            Ok(())
        }
    })
    .await
}

/// Marks plugin `name`'s last handed-over state as waiting for its next instance: the main
/// daemon's word when the node it ran on is lost.
pub async fn mark_waiting(
    client: &async_nats::Client,
    store: &StoreBudget,
    name: &str,
) -> Result<(), String> {
    patiently(|| async move {
        bucket(client, store)
            .await?
            .put(mark_key(name), MARK.into())
            .await
            .map(|_| ())
            .map_err(|err| err.to_string())
    })
    .await
}

/// Plugin `name`'s last handed-over state if it waits for this instance (`None` when it does
/// not, or there is none).
pub async fn waiting_state(
    client: &async_nats::Client,
    name: &str,
) -> Result<Option<Vec<u8>>, String> {
    patiently(|| async move {
        let Some(bucket) = existing(client).await? else {
            return Ok(None);
        };
        let waiting = bucket
            .get(mark_key(name))
            .await
            .map_err(|err| err.to_string())?;
        if waiting.is_none() {
            return Ok(None);
        }
        let state = bucket.get(name).await.map_err(|err| err.to_string())?;
        Ok(state.map(|state| state.to_vec()))
    })
    .await
}

/// Plugin `name`'s next instance has started: its state waits no more (it stays, as the last
/// handed-over one). In the background.
pub fn taken(client: &async_nats::Client, name: &str) {
    let (client, name) = (client.clone(), name.to_owned());
    tokio::spawn(async move {
        let key = mark_key(&name);
        let purge = patiently(|| async {
            match existing(&client).await? {
                Some(bucket) => bucket.purge(&key).await.map_err(|err| err.to_string()),
                None => Ok(()),
            }
        });
        if let Err(err) = purge.await {
            tracing::debug!(plugin = %name, "the waiting mark is not removed: {err}");
        }
    });
}

/// Removes the keys of every plugin `installed` does not hold; the names of those removed.
pub async fn forget_uninstalled(
    client: &async_nats::Client,
    installed: impl Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    patiently(|| async {
        let Some(bucket) = existing(client).await? else {
            return Ok(Vec::new());
        };
        let keys: Vec<String> = bucket
            .keys()
            .await
            .map_err(|err| err.to_string())?
            .try_collect()
            .await
            .map_err(|err| err.to_string())?;
        let mut forgotten: Vec<String> = Vec::new();
        for key in keys {
            let plugin = key.strip_suffix(WAITING).unwrap_or(&key);
            if !installed(plugin) {
                bucket.purge(&key).await.map_err(|err| err.to_string())?;
                if !forgotten.iter().any(|name| name == plugin) {
                    forgotten.push(plugin.to_owned());
                }
            }
        }
        Ok(forgotten)
    })
    .await
}

/// One plugin instance's writes of its handed-over state to the cluster, made one after the
/// other in the background (two quick reloads never leave the older state last).
#[derive(Debug, Default)]
pub struct Copies {
    last: Option<tokio::task::JoinHandle<()>>,
}

impl Copies {
    /// Keeps `state` in the cluster after the writes before it, in the background, where the
    /// stack shares state (`args.shared_state`); `waiting` for a graceful stop's.
    pub fn keep(&mut self, args: &super::PluginArgs, state: &[u8], waiting: bool) {
        let Some(store) = args.shared_state else {
            return;
        };
        let (client, name) = (args.client.clone(), args.name.clone());
        let state = Bytes::copy_from_slice(state);
        let before = self.last.take();
        self.last = Some(tokio::spawn(async move {
            if let Some(before) = before {
                let _ = before.await;
            }
            if let Err(err) = keep(&client, &store, &name, state, waiting).await {
                tracing::warn!(plugin = %name, "the handed-over state is not kept in the cluster: {err}");
            }
        }));
    }

    /// Waits until every write is done, for up to `bound` (a stop does not wait out a cluster
    /// without a majority: its local handoff file holds the state anyway).
    pub async fn settled(&mut self, bound: std::time::Duration) {
        if let Some(last) = self.last.take() {
            let _ = tokio::time::timeout(bound, last).await;
        }
    }
}

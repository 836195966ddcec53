//! Handed-over state shared between machines (with `nats.cluster`): a graceful stop's state
//! also goes into the cluster's key-value bucket [`HANDOFF_STATE_BUCKET`] (key: the plugin's
//! name), so a plugin moved to another machine (a node, or back to the main daemon) starts
//! with it. Like the handoff file it mirrors, it is removed once the next instance started.
//! The bucket is an extra copy: a failure to reach it is logged, never fatal.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use rosey_core::messaging::{StoreBudget, HANDOFF_STATE_BUCKET};

/// How long the bucket may take to answer before the plugin goes on without it.
const PATIENCE: Duration = Duration::from_secs(2);

async fn bucket(client: &async_nats::Client, store: &StoreBudget) -> Result<kv::Store, String> {
    let js = jetstream::new(client.clone());
    if let Ok(bucket) = js.get_key_value(HANDOFF_STATE_BUCKET).await {
        return Ok(bucket);
    }
    js.create_key_value(kv::Config {
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

/// Keeps `state` as plugin `name`'s last handed-over state in the cluster.
pub async fn put(
    client: &async_nats::Client,
    store: &StoreBudget,
    name: &str,
    state: &[u8],
) -> Result<(), String> {
    let put = async {
        bucket(client, store)
            .await?
            .put(name, state.to_vec().into())
            .await
            .map_err(|err| err.to_string())
    };
    tokio::time::timeout(PATIENCE, put)
        .await
        .map_err(|_| format!("no answer within {PATIENCE:?}"))?
        .map(|_| ())
}

/// Plugin `name`'s last handed-over state in the cluster, if there is one.
pub async fn get(
    client: &async_nats::Client,
    store: &StoreBudget,
    name: &str,
) -> Result<Option<Vec<u8>>, String> {
    let get = async {
        bucket(client, store)
            .await?
            .get(name)
            .await
            .map_err(|err| err.to_string())
    };
    tokio::time::timeout(PATIENCE, get)
        .await
        .map_err(|_| format!("no answer within {PATIENCE:?}"))?
        .map(|state| state.map(|state| state.to_vec()))
}

/// Removes plugin `name`'s state from the cluster (its next instance has it), in the
/// background.
pub fn forget(client: &async_nats::Client, store: &StoreBudget, name: &str) {
    let (client, store, name) = (client.clone(), *store, name.to_owned());
    tokio::spawn(async move {
        let purge = async {
            bucket(&client, &store)
                .await?
                .purge(&name)
                .await
                .map_err(|err| err.to_string())
        };
        if let Ok(Err(err)) = tokio::time::timeout(PATIENCE, purge).await {
            tracing::debug!(plugin = %name, "shared state not removed: {err}");
        }
    });
}

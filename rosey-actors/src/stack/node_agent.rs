//! On a plugin node: what the main daemon asks of it, done with the node's own stack.
//!
//! A task of the node's stack (started with it, ended with it) answers [`NodeRequest`]s on
//! `rosey.nodes.<node>.plugins`: `start` fetches the plugin's archive from the cluster
//! (`archives.rs`), writes the operator's settings the main daemon sent, and adds the plugin
//! to the node's plugin supervisor, where it runs with the same door, sandbox and supervision
//! as on the main daemon; `update` fetches the new version and swaps it in there
//! (make-before-break, rolled back if it fails); `configure` writes the settings sent and
//! hands them to the plugin; `stop` and `reload` are the stack's own operations. When the node's
//! supervisor gives a plugin up or it stops, the main daemon is told ([`NodePluginExit`]).
//!
//! So that a plugin never runs twice, the node runs only what the main daemon's heartbeat
//! ([`MainHeartbeat`]) places on it: a plugin placed elsewhere is stopped here, and when the
//! main daemon is silent for `node.lost_after_ms` every plugin here is stopped (the main
//! daemon has counted this node lost and started them elsewhere by then).

use std::time::{Duration, Instant};

use futures::StreamExt;
use rosey_core::messaging::{
    self, MainHeartbeat, NodePluginExit, NodeReply, NodeRequest, SettingsTaken,
};

use super::Stack;

/// Serves the main daemon's requests for node `node` until aborted.
pub(crate) fn serve(stack: Stack, node: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = loop {
            match stack.client().await {
                Ok(client) => break client,
                Err(err) => {
                    tracing::debug!("node agent: {err}; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let subscribe = |subject: String| {
            let client = client.clone();
            async move { client.subscribe(subject).await }
        };
        let (mut requests, mut main_beats) = match (
            subscribe(messaging::node_requests_subject(&node)).await,
            subscribe(messaging::MAIN_HEARTBEAT_SUBJECT.to_owned()).await,
        ) {
            (Ok(requests), Ok(beats)) => (requests, beats),
            (Err(err), _) | (_, Err(err)) => {
                tracing::error!("the main daemon's requests cannot be read: {err}");
                return;
            }
        };
        let lost_after = stack.ctx.config.node.lost_after();
        let mut last_main: Option<Instant> = None;
        let mut sweeps = tokio::time::interval(stack.ctx.config.node.heartbeat());
        loop {
            tokio::select! {
                request = requests.next() => {
                    let Some(request) = request else { return };
                    let reply = match serde_json::from_slice::<NodeRequest>(&request.payload) {
                        Ok(asked) => answer(&stack, asked).await,
                        Err(err) => NodeReply {
                            error: Some(format!("not a request this node understands: {err}")),
                            taken: None,
                        },
                    };
                    if let Some(inbox) = request.reply {
                        let payload = serde_json::to_vec(&reply).unwrap_or_default();
                        let _ = client.publish(inbox, payload.into()).await;
                    }
                }
                beat = main_beats.next() => {
                    let Some(beat) = beat else { return };
                    let Ok(beat) = serde_json::from_slice::<MainHeartbeat>(&beat.payload) else {
                        continue;
                    };
                    last_main = Some(Instant::now());
                    for plugin in running(&stack).await {
                        if beat.placed.get(&plugin) != Some(&node) {
                            tracing::warn!("plugin {plugin} is placed elsewhere now: stopping it here, so it never runs twice");
                            let _ = stack.stop_placed_plugin(&plugin).await;
                        }
                    }
                }
                _ = sweeps.tick() => {
                    if last_main.is_some_and(|at| at.elapsed() > lost_after) {
                        last_main = None;
                        let plugins = running(&stack).await;
                        if !plugins.is_empty() {
                            tracing::warn!(
                                "the main daemon has been silent for {} ms (node.lost_after_ms): stopping {} here, as it starts them elsewhere",
                                lost_after.as_millis(),
                                plugins.join(", ")
                            );
                        }
                        for plugin in plugins {
                            let _ = stack.stop_placed_plugin(&plugin).await;
                        }
                    }
                }
            }
        }
    })
}

/// The plugins in the node's plugin supervisor.
async fn running(stack: &Stack) -> Vec<String> {
    let Some(plugins) = stack.plugins() else {
        return Vec::new();
    };
    crate::children(&plugins)
        .await
        .map(|children| children.into_iter().map(|child| child.name).collect())
        .unwrap_or_default()
}

/// Does what was asked; the answer says why not when it could not.
async fn answer(stack: &Stack, asked: NodeRequest) -> NodeReply {
    let mut taken = None;
    let done = match asked {
        NodeRequest::Start {
            plugin,
            version,
            sha256,
            config,
        } => start(stack, &plugin, &version, &sha256, config.as_deref()).await,
        NodeRequest::Update {
            plugin,
            version,
            sha256,
            config,
        } => update(stack, &plugin, &version, &sha256, config.as_deref()).await,
        NodeRequest::Stop { plugin } => stack
            .stop_placed_plugin(&plugin)
            .await
            .map_err(|err| err.to_string()),
        NodeRequest::Reload { plugin } => match stack.reload_plugin(&plugin).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("plugin {plugin} does not run on this node")),
            Err(err) => Err(err.to_string()),
        },
        NodeRequest::Configure { plugin, config } => configure(stack, &plugin, config.as_deref())
            .await
            .map(|how| taken = Some(how)),
    };
    NodeReply {
        error: done.err(),
        taken,
    }
}

/// Refuses a plugin name or version that is not one (both become folder names here).
fn check_names(plugin: &str, version: &str) -> Result<(), String> {
    let version_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-');
    if !rosey_core::manifest::is_valid_plugin_name(plugin)
        || version.is_empty()
        || version.starts_with('.')
        || !version.chars().all(version_chars)
    {
        return Err(format!(
            "{plugin:?} v{version:?} is not a plugin name and version"
        ));
    }
    Ok(())
}

/// Writes the operator's settings the main daemon sent (`None`: it has none).
fn write_config(stack: &Stack, plugin: &str, config: Option<&str>) -> Result<(), String> {
    if !rosey_core::manifest::is_valid_plugin_name(plugin) {
        return Err(format!("{plugin:?} is not a plugin name"));
    }
    let config_file = stack.ctx.home.plugin_config_file(plugin);
    match config {
        Some(text) => rosey_core::fsutil::write_atomic(&config_file, text.as_bytes())
            .map_err(|err| format!("cannot write {}: {err}", config_file.display())),
        None => {
            let _ = std::fs::remove_file(&config_file);
            Ok(())
        }
    }
}

/// Fetches `version` of `plugin` from the cluster and writes its settings.
async fn fetch(
    stack: &Stack,
    plugin: &str,
    version: &str,
    sha256: &str,
    config: Option<&str>,
) -> Result<(), String> {
    check_names(plugin, version)?;
    let js = async_nats::jetstream::new(stack.client().await.map_err(|err| err.to_string())?);
    super::archives::fetch(
        &js,
        &stack.ctx.store,
        &stack.ctx.home,
        plugin,
        version,
        sha256,
    )
    .await?;
    write_config(stack, plugin, config)
}

async fn start(
    stack: &Stack,
    plugin: &str,
    version: &str,
    sha256: &str,
    config: Option<&str>,
) -> Result<(), String> {
    fetch(stack, plugin, version, sha256, config).await?;
    if stack
        .has_plugin(plugin)
        .await
        .map_err(|err| err.to_string())?
    {
        // Placed again (the main daemon restarted its side): the old instance goes first.
        stack
            .stop_placed_plugin(plugin)
            .await
            .map_err(|err| err.to_string())?;
    }
    stack
        .load_plugin(plugin, version)
        .await
        .map_err(|err| err.to_string())
}

/// The node's side of an update: the new version swapped in for the running one, as on the
/// main daemon (make-before-break, rolled back if it fails to start).
async fn update(
    stack: &Stack,
    plugin: &str,
    version: &str,
    sha256: &str,
    config: Option<&str>,
) -> Result<(), String> {
    fetch(stack, plugin, version, sha256, config).await?;
    let previous = stack.runtime.doors.get(plugin).map(|door| door.version());
    let here = stack
        .has_plugin(plugin)
        .await
        .map_err(|err| err.to_string())?;
    match previous.filter(|_| here) {
        Some(previous) => stack
            .update_plugin(plugin, version, &previous)
            .await
            .map_err(|err| err.to_string()),
        None => Err(format!("plugin {plugin} does not run on this node")),
    }
}

/// The node's side of new settings: written, then handed to the running plugin; how it took
/// them.
async fn configure(
    stack: &Stack,
    plugin: &str,
    config: Option<&str>,
) -> Result<SettingsTaken, String> {
    write_config(stack, plugin, config)?;
    match stack.configure_plugin(plugin).await {
        Ok(Some(super::ConfigTaken::Live)) => Ok(SettingsTaken::Live),
        Ok(Some(super::ConfigTaken::Reloaded)) => Ok(SettingsTaken::Reloaded),
        Ok(None) => Ok(SettingsTaken::NotRunning),
        Err(err) => Err(err.to_string()),
    }
}

/// A listener that tells the main daemon when a plugin stops running on node `node` (given up
/// after its restarts, or stopped by its supervisor), through `exits`.
pub(crate) fn report_exits(
    listener: crate::Listener,
    node: String,
    exits: tokio::sync::mpsc::UnboundedSender<NodePluginExit>,
) -> crate::Listener {
    std::sync::Arc::new(move |notice: crate::SupervisionNotice| {
        if notice.supervisor == rosey_core::units::PLUGINS {
            if let crate::SupervisionEventKind::GaveUp { reason } = &notice.kind {
                let _ = exits.send(NodePluginExit {
                    node: node.clone(),
                    plugin: notice.child.clone(),
                    reason: reason.clone(),
                });
            }
        }
        listener(notice)
    })
}

/// Publishes each exit [`report_exits`] sees, until aborted.
pub(crate) fn publish_exits(
    stack: Stack,
    mut exits: tokio::sync::mpsc::UnboundedReceiver<NodePluginExit>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(exit) = exits.recv().await {
            let Ok(client) = stack.client().await else {
                continue;
            };
            let subject = messaging::node_plugin_exit_subject(&exit.node, &exit.plugin);
            let payload = serde_json::to_vec(&exit).unwrap_or_default();
            let _ = client.publish(subject, payload.into()).await;
            let _ = client.flush().await;
        }
    })
}

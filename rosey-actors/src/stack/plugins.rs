//! The plugin operations a running stack supports: load, unload, reload, update with
//! rollback, and handing a plugin its new configuration. Each acts on one plugin, leaves its
//! siblings untouched, and says in its error what became of the plugin.

use ractor::ActorCell;

use super::{plugin_spec, ConfigTaken, Stack, StackError};

impl Stack {
    /// Whether plugin `name` is a child of the plugin supervisor (in any state).
    pub async fn has_plugin(&self, name: &str) -> Result<bool, StackError> {
        let plugins = self.running_plugins()?;
        Ok(crate::children(&plugins)
            .await?
            .iter()
            .any(|child| child.name == name))
    }

    /// Starts installed plugin `name` at `version` in the running stack; `Err` (nothing left
    /// running) when it does not become ready.
    pub async fn load_plugin(&self, name: &str, version: &str) -> Result<(), StackError> {
        let plugins = self.running_plugins()?;
        let spec = plugin_spec(
            &self.ctx,
            &self.runtime,
            &self.client().await?,
            name,
            version,
        )
        .map_err(|reason| StackError::plugin(name, reason))?;
        Ok(crate::add_child(&plugins, spec).await?)
    }

    /// Stops plugin `name` gracefully (it finishes its message and unloads, handing its state
    /// over), removes it from the stack, and deletes its consumer so nothing queues for it.
    pub async fn unload_plugin(&self, name: &str) -> Result<(), StackError> {
        let plugins = self.running_plugins()?;
        crate::remove_child(&plugins, name).await?;
        self.runtime.doors.close(name);
        let js = async_nats::jetstream::new(self.client().await?);
        if let Ok(stream) = js.get_stream(rosey_core::messaging::STREAM_NAME).await {
            // Absent already is fine: it is created by the host, which may never have run.
            let _ = stream
                .delete_consumer(&rosey_core::messaging::consumer_name(name))
                .await;
        }
        Ok(())
    }

    /// Stops plugin `name` gracefully and removes it from the stack, leaving its consumer
    /// (and what waits there) for wherever it runs next: a plugin node's side of a move.
    pub async fn stop_placed_plugin(&self, name: &str) -> Result<(), StackError> {
        let plugins = self.running_plugins()?;
        crate::remove_child(&plugins, name).await?;
        self.runtime.doors.close(name);
        Ok(())
    }

    /// Asks the node plugin `name` runs on to reload it; `None` when it runs on no node.
    async fn reload_on_node(&self, name: &str) -> Option<Result<(), StackError>> {
        let node = self.runtime.placements.node_of(name)?;
        let request = rosey_core::messaging::NodeRequest::Reload {
            plugin: name.to_owned(),
        };
        let asked = async {
            let client = self.client().await.map_err(|err| err.to_string())?;
            let payload = serde_json::to_vec(&request).map_err(|err| err.to_string())?;
            let timeout = self.ctx.config.plugin_settings(name).host.ready_timeout()
                + std::time::Duration::from_secs(10);
            let answer = tokio::time::timeout(
                timeout,
                client.request(
                    rosey_core::messaging::node_requests_subject(&node),
                    payload.into(),
                ),
            )
            .await
            .map_err(|_| format!("node {node} did not answer within {timeout:?}"))?
            .map_err(|err| format!("node {node}: {err}"))?;
            let reply: rosey_core::messaging::NodeReply =
                serde_json::from_slice(&answer.payload).map_err(|err| err.to_string())?;
            match reply.error {
                None => Ok(()),
                Some(error) => Err(format!("on node {node}: {error}")),
            }
        };
        Some(
            asked
                .await
                .map_err(|reason| StackError::plugin(name, reason)),
        )
    }

    /// Plugin `name`'s place in the stack: `None` when it is not there, else its actor when it
    /// runs (read from the plugin supervisor's snapshot).
    async fn plugin_child(&self, name: &str) -> Result<Option<Option<ActorCell>>, StackError> {
        let plugins = self.running_plugins()?;
        Ok(crate::children(&plugins)
            .await?
            .into_iter()
            .find(|child| child.name == name)
            .map(|child| child.actor))
    }

    /// The running actor of plugin `name`, if it runs.
    async fn plugin_actor(&self, name: &str) -> Result<Option<ActorCell>, StackError> {
        Ok(self.plugin_child(name).await?.flatten())
    }

    /// Reloads plugin `name` at the same version, make-before-break: a new host opens the
    /// library while the old one serves, then the old one finishes its message and hands its
    /// state over, and the new one starts with it. A plugin in the stack that is not running
    /// is started. `Ok(false)`: the plugin is not in the stack.
    pub async fn reload_plugin(&self, name: &str) -> Result<bool, StackError> {
        if let Some(done) = self.reload_on_node(name).await {
            return done.map(|()| true);
        }
        let failed = |reason: String| StackError::plugin(name, reason);
        if let Some(door) = self.runtime.doors.get(name) {
            let version = door.version();
            if let Some(done) = crate::services::plugin::swap_at_door(&door, &version).await {
                return done.map(|()| true).map_err(failed);
            }
        }
        match self.plugin_child(name).await? {
            None => Ok(false),
            Some(Some(actor)) => {
                let version = self
                    .runtime
                    .doors
                    .get(name)
                    .map(|door| door.version())
                    .ok_or_else(|| failed(format!("plugin {name} has no door")))?;
                crate::services::plugin::swap(&actor, &version)
                    .await
                    .map_err(failed)?;
                Ok(true)
            }
            Some(None) => {
                crate::restart_child(&self.running_plugins()?, name).await?;
                Ok(true)
            }
        }
    }

    /// Hands running plugin `name` the configuration now in its file (see [`ConfigTaken`]);
    /// `Ok(None)` when it is not running (it reads the file when it next starts).
    pub async fn configure_plugin(&self, name: &str) -> Result<Option<ConfigTaken>, StackError> {
        let Some(door) = self.runtime.doors.get(name) else {
            return Ok(None);
        };
        crate::services::plugin::configure_at_door(&door)
            .await
            .transpose()
            .map_err(|reason| StackError::plugin(name, reason))
    }

    /// Replaces plugin `name`'s running `previous` version with `version`, state carried over,
    /// make-before-break (see [`Stack::reload_plugin`]). If the new version does not open, the
    /// old one never stopped; if it does not start, `previous` is brought back with the state;
    /// either way the error says so. A plugin that is not running is just started at `version`.
    pub async fn update_plugin(
        &self,
        name: &str,
        version: &str,
        previous: &str,
    ) -> Result<(), StackError> {
        let failed = |reason: String| StackError::plugin(name, reason);
        let on_node = self.runtime.placements.node_of(name).is_some();
        if let Some(door) = self.runtime.doors.get(name).filter(|_| !on_node) {
            if let Some(done) = crate::services::plugin::swap_at_door(&door, version).await {
                return done.map_err(failed);
            }
        }
        // On a node, the new version is placed anew (stop, then start there); here, swapped.
        if let Some(actor) = self.plugin_actor(name).await?.filter(|_| !on_node) {
            return crate::services::plugin::swap(&actor, version)
                .await
                .map_err(failed);
        }
        let plugins = self.running_plugins()?;
        crate::remove_child(&plugins, name).await?;
        match self.load_plugin(name, version).await {
            Ok(()) => Ok(()),
            Err(err) => match self.load_plugin(name, previous).await {
                Ok(()) => Err(failed(format!(
                    "v{version} failed: {err}; rolled back: v{previous} runs again with its state"
                ))),
                Err(again) => Err(failed(format!(
                    "v{version} failed: {err}; and v{previous} did not come back either: {again}"
                ))),
            },
        }
    }
}

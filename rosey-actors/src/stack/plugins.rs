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
        Some(self.ask_node(&node, name, &request).await.map(|_| ()))
    }

    /// Asks node `node` to do `request` for plugin `name`, waiting as long as a start may
    /// take; its answer, or why there is none (an error naming the node).
    async fn ask_node(
        &self,
        node: &str,
        name: &str,
        request: &rosey_core::messaging::NodeRequest,
    ) -> Result<rosey_core::messaging::NodeReply, StackError> {
        let asked = async {
            let client = self.client().await.map_err(|err| err.to_string())?;
            let payload = serde_json::to_vec(request).map_err(|err| err.to_string())?;
            let timeout = self.ctx.config.plugin_settings(name).host.ready_timeout()
                + std::time::Duration::from_secs(10);
            let answer = tokio::time::timeout(
                timeout,
                client.request(
                    rosey_core::messaging::node_requests_subject(node),
                    payload.into(),
                ),
            )
            .await
            .map_err(|_| format!("node {node} did not answer within {timeout:?}"))?
            .map_err(|err| format!("node {node}: {err}"))?;
            let reply: rosey_core::messaging::NodeReply =
                serde_json::from_slice(&answer.payload).map_err(|err| err.to_string())?;
            match reply.error {
                None => Ok(reply),
                Some(error) => Err(format!("on node {node}: {error}")),
            }
        };
        asked
            .await
            .map_err(|reason| StackError::plugin(name, reason))
    }

    /// The operator's settings of plugin `name`, for its node.
    fn config_text(&self, name: &str) -> Result<Option<String>, StackError> {
        super::archives::operator_config(&self.ctx.home, name)
            .map_err(|reason| StackError::plugin(name, reason))
    }

    /// Updates plugin `name`, running on node `node`, to `version` there: the archive goes
    /// into the cluster and the node swaps it in make-before-break (rolling back if it fails).
    async fn update_on_node(
        &self,
        node: &str,
        name: &str,
        version: &str,
    ) -> Result<(), StackError> {
        let client = self.client().await?;
        let js = async_nats::jetstream::new(client);
        let sha256 = super::archives::publish(&js, &self.ctx.store, &self.ctx.home, name, version)
            .await
            .map_err(|reason| StackError::plugin(name, reason))?;
        let request = rosey_core::messaging::NodeRequest::Update {
            plugin: name.to_owned(),
            version: version.to_owned(),
            sha256,
            config: self.config_text(name)?,
        };
        self.ask_node(node, name, &request).await?;
        // Where the main daemon starts it next (a restart, or here should the node be lost).
        if let Some(door) = self.runtime.doors.get(name) {
            door.set_version(version, door.wants());
        }
        self.ctx
            .board
            .update(&crate::services::plugin::unit_name(name), |report| {
                report.version = Some(version.to_owned());
            });
        Ok(())
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
        if let Some(node) = self.runtime.placements.node_of(name) {
            let request = rosey_core::messaging::NodeRequest::Configure {
                plugin: name.to_owned(),
                config: self.config_text(name)?,
            };
            let reply = self.ask_node(&node, name, &request).await?;
            use rosey_core::messaging::SettingsTaken;
            return Ok(match reply.taken {
                Some(SettingsTaken::Live) => Some(ConfigTaken::Live),
                Some(SettingsTaken::Reloaded) => Some(ConfigTaken::Reloaded),
                Some(SettingsTaken::NotRunning) | None => None,
            });
        }
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
        if let Some(node) = self.runtime.placements.node_of(name) {
            return self.update_on_node(&node, name, version).await;
        }
        if let Some(door) = self.runtime.doors.get(name) {
            if let Some(done) = crate::services::plugin::swap_at_door(&door, version).await {
                return done.map_err(failed);
            }
        }
        if let Some(actor) = self.plugin_actor(name).await? {
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

    /// On the main daemon of a cluster: removes from the cluster the handed-over state of
    /// every plugin no longer installed, in the background, so a plugin removed and installed
    /// again starts afresh (as its handoff file, removed with it, makes it on one machine).
    /// Run after each change of the registry the daemon hears of, and at start.
    pub fn forget_uninstalled_state(&self) {
        if self.ctx.node.is_some() || !self.ctx.store.clustered() {
            return;
        }
        let stack = self.clone();
        tokio::spawn(async move {
            let registry = match rosey_core::registry::Registry::load(&stack.ctx.home) {
                Ok(registry) => registry,
                Err(err) => {
                    tracing::debug!("the cluster's handed-over state is not swept: {err}");
                    return;
                }
            };
            let forgotten = match stack.client().await {
                Ok(client) => {
                    crate::services::plugin::shared_state::forget_uninstalled(&client, |name| {
                        registry.get(name).is_some()
                    })
                    .await
                }
                Err(err) => Err(err.to_string()),
            };
            match forgotten {
                Ok(names) => {
                    for plugin in names {
                        tracing::info!(
                            plugin = %plugin,
                            "its handed-over state is removed from the cluster: it is not installed"
                        );
                    }
                }
                Err(err) => tracing::debug!("the cluster's handed-over state is not swept: {err}"),
            }
        });
    }
}

//! What the serving loop does between messages besides swapping: fire the plugin's due
//! timers and hand it new configuration. Each is a step like a message (the host gets one
//! frame and answers `Done`), seen through the same way: deadline, heartbeats, a crash.

use rosey_core::{logs::Level, plugin_config::PluginConfig};
use rosey_host::wire::{Outcome, ToHost};
use tokio::{sync::oneshot, time::Instant};

use super::{
    serve::{ConfigTaken, Serving},
    swap::Preparing,
};

impl Serving {
    /// Runs the plugin's hook for the timer that is due, if one still is (a message may have
    /// come first). A timer's hook is a handler like any other: its deadline and heartbeats
    /// apply, its failure is logged, and a crash in it fails the instance (with its timers).
    pub(super) async fn fire_timer(&mut self) -> Result<(), String> {
        let Some(firing) = self.host.frames.timers.take_due(Instant::now()) else {
            return Ok(());
        };
        self.step_seq += 1;
        self.last_timer = Instant::now();
        let seq = self.step_seq;
        let cause = format!("timer {:?}", firing.name);
        let frame = ToHost::Timer {
            seq,
            name: firing.name.clone(),
            id: firing.id,
            due_ms: firing.due_ms,
        };
        if self.host.send(&frame).await.is_err() {
            return Err(self.died().await);
        }
        let id = format!("timer:{}:{}", firing.name, firing.due_ms);
        let outcome = self.see_through(seq, cause.clone(), &id, &cause).await?;
        self.busy = None;
        self.outputs.settle().await;
        match outcome {
            Outcome::Ok | Outcome::NotHandled => Ok(()),
            Outcome::Failed(err) => {
                self.outputs
                    .plugin_line(Level::Error, &format!("{cause} failed: {err}"));
                Ok(())
            }
            Outcome::Panicked(panic) => {
                self.outputs.host_line(
                    Level::Error,
                    &format!("plugin panicked on {cause}: {panic}"),
                );
                Err(self.died().await)
            }
        }
    }

    /// Hands the running instance the configuration now in its file: `on_config` takes it,
    /// or (no `on_config`) a reload at the same version brings it in with the state. A plugin
    /// that refuses it keeps running with the old one; the refusal goes back to the operator.
    pub(super) async fn configure(
        &mut self,
        reply: oneshot::Sender<Result<ConfigTaken, String>>,
        preparing: &mut Option<Preparing>,
    ) -> Result<(), String> {
        let config = match PluginConfig::load(&self.args.home.plugin_config_file(&self.args.name)) {
            Ok(config) => config,
            Err(err) => {
                let _ = reply.send(Err(err.to_string()));
                return Ok(());
            }
        };
        self.step_seq += 1;
        let seq = self.step_seq;
        let frame = ToHost::Config {
            seq,
            json: config.json.clone(),
            flat: config.flat.clone(),
        };
        if self.host.send(&frame).await.is_err() {
            let _ = reply.send(Err("the plugin's host is gone".to_owned()));
            return Err(self.died().await);
        }
        let cause = "new configuration".to_owned();
        let outcome = match self.see_through(seq, cause.clone(), "config", &cause).await {
            Ok(outcome) => outcome,
            Err(reason) => {
                let _ = reply.send(Err(format!("the plugin died taking it: {reason}")));
                return Err(reason);
            }
        };
        self.busy = None;
        self.outputs.settle().await;
        match outcome {
            Outcome::Ok => {
                self.config = config;
                self.outputs
                    .host_line(Level::Info, "took the new configuration live (on_config)");
                let _ = reply.send(Ok(ConfigTaken::Live));
                Ok(())
            }
            Outcome::Failed(err) => {
                let _ = reply.send(Err(format!("the plugin refused it: {err}")));
                Ok(())
            }
            Outcome::NotHandled => {
                // No `on_config`: the next instance reads the file, and gets the state.
                let (swapped, done) = oneshot::channel();
                tokio::spawn(async move {
                    let result = match done.await {
                        Ok(Ok(())) => Ok(ConfigTaken::Reloaded),
                        Ok(Err(err)) => Err(format!("the reload to take it failed: {err}")),
                        Err(_) => Err("the plugin stopped during the reload".to_owned()),
                    };
                    let _ = reply.send(result);
                });
                let version = self.plan.version.clone();
                self.begin_swap(version, swapped, preparing).await
            }
            Outcome::Panicked(panic) => {
                self.outputs.host_line(
                    Level::Error,
                    &format!("plugin panicked on {cause}: {panic}"),
                );
                let _ = reply.send(Err(format!("the plugin panicked taking it: {panic}")));
                Err(self.died().await)
            }
        }
    }
}

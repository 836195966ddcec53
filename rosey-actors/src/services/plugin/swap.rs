//! Reload and update, make-before-break: the new host is started and its library opened (ABI
//! checked) while the old host still serves; then, between two messages, the old host unloads
//! and hands its state over, the state is written to disk (for a daemon that dies right then),
//! and the new host starts with it and gets the next message. If the new version fails to open,
//! or the plugin's configuration file cannot be read, the old one never stopped; if it fails to
//! start, the old version is brought back with the state.

use rosey_core::{logs::Level, messaging, plugin_config::PluginConfig};
use rosey_host::wire::{FromHost, ToHost};
use tokio::{sync::oneshot, task::JoinHandle, time::Instant};

use super::{
    link::{Host, StepError},
    output::{Outputs, Rest},
    serve::Serving,
    start::{self, Plan},
    unit_name, PluginArgs,
};

/// How long after a swap the old host, unloaded, is let go to exit.
const RETIRE_AFTER: std::time::Duration = std::time::Duration::from_millis(5);

/// A new host being opened while the old one serves.
pub struct Preparing {
    version: String,
    task: JoinHandle<Result<(Host, Plan), String>>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// A finished preparation.
pub struct Prepared {
    version: String,
    result: Result<(Host, Plan), String>,
    reply: oneshot::Sender<Result<(), String>>,
}

impl Preparing {
    /// Starts opening `version` in a host of its own.
    pub fn begin(
        args: &PluginArgs,
        version: String,
        reply: oneshot::Sender<Result<(), String>>,
    ) -> Preparing {
        let args = args.clone();
        let wanted = version.clone();
        let task = tokio::spawn(async move {
            let plan = Plan::load(&args, &wanted)?;
            let host = start::open(&args, &plan).await?;
            Ok((host, plan))
        });
        Preparing {
            version,
            task,
            reply,
        }
    }

    /// Gives up on this preparation (its host, if any, is killed).
    pub fn abandon(self, why: &str) {
        self.task.abort();
        let _ = self.reply.send(Err(format!("v{}: {why}", self.version)));
    }

    /// Resolves when the preparation in `slot` is done; never while there is none.
    pub async fn ready(slot: &mut Option<Preparing>) -> Prepared {
        let Some(preparing) = slot.as_mut() else {
            return std::future::pending().await;
        };
        let result = match (&mut preparing.task).await {
            Ok(result) => result,
            Err(err) => Err(format!("the preparation ended: {err}")),
        };
        match slot.take() {
            Some(done) => Prepared {
                version: done.version,
                result,
                reply: done.reply,
            },
            None => std::future::pending().await,
        }
    }
}

/// Asks `host` to unload; its state, or `None` when unload failed (logged).
pub async fn unload(host: &mut Host, outputs: &mut Outputs, args: &PluginArgs) -> Option<Vec<u8>> {
    if host.send(&ToHost::Unload).await.is_err() {
        outputs.host_line(Level::Warn, "the host was gone before it could unload");
        return None;
    }
    let mut said = Vec::new();
    let unloaded = host
        .expect(
            "unload",
            args.shutdown_timeout,
            |frame| match frame {
                FromHost::Unloaded { state } => Some(state.clone()),
                _ => None,
            },
            |frame| said.push(frame),
        )
        .await;
    for frame in said {
        if let Rest::Frame(other) = outputs.take(frame, None).await {
            tracing::debug!(plugin = %args.name, "ignored a {other:?} during unload");
        }
    }
    outputs.settle().await;
    match unloaded {
        Ok(state) => {
            let note = if state.is_empty() {
                "unloaded (no state to hand over)".to_owned()
            } else {
                format!("unloaded; handing over {} bytes of state", state.len())
            };
            outputs.host_line(Level::Info, &note);
            Some(state)
        }
        Err(StepError(reason)) => {
            outputs.host_line(
                Level::Error,
                &format!("unload failed: {reason}; the next instance starts without state"),
            );
            None
        }
    }
}

/// Writes handed-over state where the next instance finds it if the daemon dies first.
/// `durable` (a graceful stop: the next start may follow a reboot) also fsyncs it; a swap
/// does not (the file only has to outlive the daemon for the moment the swap takes, and an
/// fsync there would cost the reload milliseconds).
pub fn save_state(args: &PluginArgs, outputs: &Outputs, state: &[u8], durable: bool) {
    let path = args.home.plugin_handoff_file(&args.name);
    let written = if durable {
        rosey_core::fsutil::write_atomic(&path, state)
    } else {
        rosey_core::fsutil::write_replace(&path, state)
    };
    if let Err(err) = written {
        outputs.host_line(
            Level::Error,
            &format!("cannot write {}: {err}", path.display()),
        );
    }
}

/// The next instance is ready: the state on disk is consumed (and the cluster's copy waits
/// for no instance any more).
pub fn forget_state(args: &PluginArgs, outputs: &Outputs) {
    if args.shared_state.is_some() {
        super::shared_state::taken(&args.client, &args.name);
    }
    let path = args.home.plugin_handoff_file(&args.name);
    if let Err(err) = std::fs::remove_file(&path) {
        if err.kind() != std::io::ErrorKind::NotFound {
            outputs.host_line(
                Level::Warn,
                &format!("cannot remove {}: {err}", path.display()),
            );
        }
    }
}

/// Announces the running host: board, log, `ready` notice.
pub async fn announce_ready(args: &PluginArgs, outputs: &Outputs) {
    // An update in place: refusals counted so far stay.
    args.board.update(&unit_name(&args.name), |report| {
        report.pid = Some(outputs.pid);
        report.version = Some(outputs.version.clone());
        report.detail = None;
        report.sandbox = Some(outputs.sandbox.clone());
    });
    outputs.host_line(
        Level::Info,
        &format!(
            "{} v{} ready (pid {})",
            args.name, outputs.version, outputs.pid
        ),
    );
    outputs.announce(messaging::ready_subject(&args.name)).await;
}

impl Serving {
    /// Starts a swap to `version`. A reload with a standby at hand switches at once (its plan
    /// is the running one's: an installed version's files never change); anything else first
    /// opens a host in the background while this one serves. `Err` as for [`Serving::switch`].
    pub(super) async fn begin_swap(
        &mut self,
        version: String,
        reply: oneshot::Sender<Result<(), String>>,
        preparing: &mut Option<Preparing>,
    ) -> Result<(), String> {
        if let Some(earlier) = preparing.take() {
            earlier.abandon("another reload came first");
        }
        if version == self.plan.version {
            if let Some(host) = self.door.take_standby(&version) {
                let plan = self.plan.clone();
                return self
                    .switch(Prepared {
                        version,
                        result: Ok((host, plan)),
                        reply,
                    })
                    .await;
            }
        }
        *preparing = Some(Preparing::begin(&self.args, version, reply));
        Ok(())
    }

    /// Puts a prepared host in the old one's place (the loop is between messages here).
    /// `Err` only when neither version runs any more: the actor then fails.
    pub(super) async fn switch(&mut self, prepared: Prepared) -> Result<(), String> {
        let Prepared {
            version,
            result,
            reply,
        } = prepared;
        let old = self.plan.version.clone();
        let (new_host, new_plan) = match result {
            Ok(ready) => ready,
            Err(err) => {
                let _ = reply.send(Err(format!(
                    "v{version} failed: {err}; rolled back: v{old} kept serving throughout"
                )));
                return Ok(());
            }
        };
        // Read while the old instance still serves: a file that cannot be read fails the swap
        // before anything stops, and the read is off the way between unload and start.
        let config = match PluginConfig::load(&self.args.home.plugin_config_file(&self.args.name)) {
            Ok(config) => config,
            Err(err) => {
                drop(new_host);
                let _ = reply.send(Err(format!(
                    "v{version} failed: {err}; rolled back: v{old} kept serving throughout"
                )));
                return Ok(());
            }
        };
        let state = unload(&mut self.host, &mut self.outputs, &self.args).await;
        if let Some(state) = state.as_ref().filter(|state| !state.is_empty()) {
            save_state(&self.args, &self.outputs, state, false);
        }
        // The last handed-over state, for a restart elsewhere should this machine be lost.
        self.cluster_copies
            .keep(&self.args, state.as_deref().unwrap_or_default(), false);
        let old_host = std::mem::replace(&mut self.host, new_host);
        self.outputs
            .announce(messaging::stopped_subject(&self.args.name))
            .await;
        // Let go of and reaped in the background, RETIRE_AFTER from now (by then the new
        // instance has usually started and had its first message): the old host waits for
        // that to exit, so the kernel's work of ending a process does not compete with the
        // new one's start for a CPU.
        tokio::spawn(async move {
            let mut old_host = old_host;
            tokio::time::sleep(RETIRE_AFTER).await;
            old_host.release().await;
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), old_host.child.wait())
                .await;
            old_host.child.kill().await;
        });
        let state = state.filter(|state| !state.is_empty());
        match start::start(
            &self.args,
            &mut self.host,
            &new_plan,
            state.clone(),
            Some(config),
            &mut self.outputs,
        )
        .await
        {
            Ok(config) => {
                self.config = config;
                self.door.set_version(&version, new_plan.wants.clone());
                if let Err(err) = self.door.attach().await {
                    // Read again on the next message; nothing is lost meanwhile but what the
                    // new subjects carry before the consumer is brought in line.
                    self.outputs.host_line(
                        Level::Warn,
                        &format!("cannot update the plugin's JetStream consumer: {err}"),
                    );
                }
                self.door.mark_churned();
                self.standby_due = Some(Instant::now() + super::serve::STANDBY_DELAY);
                self.plan = new_plan;
                self.last_beat = Instant::now();
                forget_state(&self.args, &self.outputs);
                announce_ready(&self.args, &self.outputs).await;
                let _ = reply.send(Ok(()));
                Ok(())
            }
            Err(err) => {
                self.outputs.host_line(
                    Level::Error,
                    &format!("v{version} failed to start: {err}; bringing v{old} back"),
                );
                // With the configuration it ran with: a reload for a new configuration it
                // cannot load fails with the file, not the old instance.
                let back = match Plan::load(&self.args, &old) {
                    Ok(plan) => start::bring_up(
                        &self.args,
                        &plan,
                        state,
                        Some(self.config.clone()),
                        &mut self.outputs,
                    )
                    .await
                    .map(|(host, _)| (host, plan)),
                    Err(err) => Err(err),
                };
                match back {
                    Ok((host, plan)) => {
                        self.host = host;
                        self.plan = plan;
                        self.last_beat = Instant::now();
                        forget_state(&self.args, &self.outputs);
                        announce_ready(&self.args, &self.outputs).await;
                        let _ = reply.send(Err(format!(
                            "v{version} failed: {err}; rolled back: v{old} runs again with its state"
                        )));
                        Ok(())
                    }
                    Err(again) => {
                        let _ = reply.send(Err(format!(
                            "v{version} failed: {err}; and v{old} did not come back either: {again}"
                        )));
                        Err(again)
                    }
                }
            }
        }
    }
}

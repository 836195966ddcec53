//! Bringing a host up for one plugin version, in the two steps the channel has: `Open` (the
//! library is loaded and its ABI checked; no plugin code runs) and `Start` (the plugin's `load`
//! with its config and handed-over state). A reload does the first step while the old host
//! still serves.

use std::{path::PathBuf, sync::Arc, time::Duration};

use rosey_core::{logs::Level, manifest::Manifest, messaging, plugin_config::PluginConfig};
use rosey_host::wire::{FromHost, Network, Open, Start, ToHost};

use super::{
    door::Wants,
    link::{Host, StepError},
    output::{Outputs, Rest},
    PluginArgs,
};

/// What running one version takes, from its manifest.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The version.
    pub version: String,
    /// Absolute path of its library.
    pub library: PathBuf,
    /// `RLIMIT_DATA` in MiB.
    pub memory_mb: u64,
    /// `RLIMIT_NOFILE`.
    pub open_files: u64,
    /// The version folder (read-only in the sandbox).
    pub version_dir: PathBuf,
    /// What TCP the sandbox lets through.
    pub network: Network,
    /// How long one handler may run.
    pub handler_timeout: Duration,
    /// What its consumer reads.
    pub wants: Wants,
    /// Its manifest: what the plugin may send ([`Outputs`] enforces it).
    pub manifest: Arc<Manifest>,
}

impl Plan {
    /// Reads the manifest of installed `version` of plugin `args.name`.
    pub fn load(args: &PluginArgs, version: &str) -> Result<Plan, String> {
        let dir = args.home.plugin_version_dir(&args.name, version);
        let manifest = Manifest::load(&args.home.plugin_version_manifest(&args.name, version))
            .map_err(|err| format!("{} v{version}: {err}", args.name))?;
        if manifest.name != args.name {
            return Err(format!(
                "{} holds plugin {:?}, not {:?}",
                dir.display(),
                manifest.name,
                args.name
            ));
        }
        let library = absolute(&dir.join(&manifest.library));
        Ok(Plan {
            version_dir: absolute(&dir),
            version: version.to_owned(),
            library,
            memory_mb: manifest.limits.memory_mb,
            open_files: manifest.limits.open_files,
            network: manifest
                .network
                .as_ref()
                .map_or(Network::None, |network| network.to_wire()),
            handler_timeout: Duration::from_millis(manifest.limits.handler_timeout_ms),
            wants: Wants {
                filter_subjects: messaging::consumer_filter_subjects(
                    &args.name,
                    &rosey_core::manifest::command_names(&manifest.commands),
                    &manifest.events,
                ),
                ack_wait: args.ack_wait,
            },
            manifest: Arc::new(manifest),
        })
    }
}

/// `path`, made absolute against the current folder (the home is absolute already; this is
/// belt and braces for the host, which takes only absolute paths).
fn absolute(path: &std::path::Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// A host with `plan`'s library open, not started yet: the plugin's standby when it keeps one
/// for this version, else a fresh one.
pub async fn open(args: &PluginArgs, plan: &Plan) -> Result<Host, String> {
    if let Some(host) = args.door.take_standby(&plan.version) {
        return Ok(host);
    }
    open_fresh(args, plan).await
}

/// Opens a standby host for `plan` in the background, unless one is kept already: called once
/// a plugin has crashed or been reloaded, so its next start skips opening the library.
pub fn prepare_standby(args: &PluginArgs, plan: &Plan) {
    if args.standby_off || args.door.has_standby() {
        return;
    }
    let args = args.clone();
    let plan = plan.clone();
    tokio::spawn(async move {
        match open_fresh(&args, &plan).await {
            Ok(host) => args.door.keep_standby(&plan.version, host),
            Err(err) => tracing::debug!(plugin = %args.name, "no standby host: {err}"),
        }
    });
}

/// A new host (a warm spare, or a new process) with `plan`'s library open.
async fn open_fresh(args: &PluginArgs, plan: &Plan) -> Result<Host, String> {
    let mut host = args
        .spares
        .host_for(&args.name)
        .await
        .map_err(|err| format!("cannot start a plugin host: {err}"))?;
    let mut said = Vec::new();
    let opened = async {
        host.hello(args.ready_timeout).await?;
        host.send(&ToHost::Open(Open {
            library: plan.library.display().to_string(),
            memory_mb: plan.memory_mb,
            log_level: args.log_level,
            open_files: plan.open_files,
            version_dir: plan.version_dir.display().to_string(),
            storage_dir: args
                .home
                .plugin_storage_dir(&args.name)
                .display()
                .to_string(),
            network: plan.network.clone(),
            sandbox_required: args.sandbox_required,
        }))
        .await?;
        host.expect(
            "open the library",
            args.ready_timeout,
            |frame| match frame {
                FromHost::Opened { sandbox_gaps } => Some(sandbox_gaps.clone()),
                _ => None,
            },
            |frame| said.push(frame),
        )
        .await
    }
    .await;
    // Only log lines can come before the plugin runs. They go to the plugin's log whether
    // the library opened or not: a refused library's loader report is among them.
    let mut outputs = args.outputs();
    for frame in said {
        if let FromHost::Log { .. } = frame {
            outputs.take(frame, None).await;
        }
    }
    match opened {
        Ok(gaps) => {
            host.sandbox_gaps = gaps;
            if args.sandbox_required && !host.sandbox_gaps.is_empty() {
                // The host checks this itself; a host that opened anyway is not believed.
                return Err(format!(
                    "the sandbox is partial ({}) and rosey.yaml sets plugin_host.sandbox: required",
                    host.sandbox_gaps.join("; ")
                ));
            }
            Ok(host)
        }
        Err(StepError(reason)) => Err(reason),
    }
}

/// Starts the plugin in an opened host with `state` and `config` (`None`: the plugin's config
/// file as it is now); the configuration it started with, or why it did not start.
pub async fn start(
    args: &PluginArgs,
    host: &mut Host,
    plan: &Plan,
    state: Option<Vec<u8>>,
    config: Option<PluginConfig>,
    outputs: &mut Outputs,
) -> Result<PluginConfig, String> {
    let config = match config {
        Some(config) => config,
        None => PluginConfig::load(&args.home.plugin_config_file(&args.name))
            .map_err(|err| err.to_string())?,
    };
    let started_with = config.clone();
    let storage_dir = args.home.plugin_storage_dir(&args.name);
    if let Some(service) = host.service.take() {
        super::questions::serve(
            args.name.clone(),
            plan.manifest.clone(),
            service,
            args.client.clone(),
            outputs.refusals(),
            host.acting.clone(),
        );
    }
    host.send(&ToHost::Start(Start {
        name: args.name.clone(),
        version: plan.version.clone(),
        storage_dir: storage_dir.display().to_string(),
        config_json: config.json,
        config_flat: config.flat,
        state,
        heartbeat_ms: u32::try_from(args.heartbeat.as_millis()).unwrap_or(u32::MAX),
    }))
    .await
    .map_err(|StepError(reason)| reason)?;
    let mut said = Vec::new();
    let started = host
        .expect(
            "load the plugin",
            args.ready_timeout,
            |frame| matches!(frame, FromHost::Started).then_some(()),
            |frame| said.push(frame),
        )
        .await;
    outputs.pid = host.child.pid();
    outputs.version = plan.version.clone();
    outputs.manifest = Some(plan.manifest.clone());
    outputs.sandbox = describe_sandbox(&host.sandbox_gaps);
    if !host.sandbox_gaps.is_empty() {
        outputs.host_line(
            Level::Warn,
            &format!(
                "the plugin runs in a partial sandbox: {} (plugin_host.sandbox: required refuses that)",
                host.sandbox_gaps.join("; ")
            ),
        );
    }
    // What the plugin said while loading goes out now (or is logged, if it failed).
    for frame in said {
        if let Rest::Frame(other) = outputs.take(frame, None).await {
            tracing::debug!(plugin = %args.name, "ignored a {other:?} during start");
        }
    }
    started
        .map(|()| started_with)
        .map_err(|StepError(reason)| reason)
}

/// The longest reason status shows for a partial sandbox (the host's report is its own
/// words: bounded here so it cannot flood status).
const MAX_SANDBOX_REASON: usize = 400;

/// The status line's words for a host's sandbox: `full`, or `partial (…why…)`.
pub fn describe_sandbox(gaps: &[String]) -> String {
    if gaps.is_empty() {
        return "full".to_owned();
    }
    let mut reason = gaps.join("; ");
    if reason.len() > MAX_SANDBOX_REASON {
        let mut end = MAX_SANDBOX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    format!("partial ({reason})")
}

/// Opens and starts `plan` in a fresh host, with `config` (`None`: the file's); the host and
/// the configuration it started with.
pub async fn bring_up(
    args: &PluginArgs,
    plan: &Plan,
    state: Option<Vec<u8>>,
    config: Option<PluginConfig>,
    outputs: &mut Outputs,
) -> Result<(Host, PluginConfig), String> {
    let mut host = open(args, plan).await?;
    let config = start(args, &mut host, plan, state, config, outputs).await?;
    Ok((host, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_reads_full_or_partial_with_a_bounded_reason() {
        assert_eq!(describe_sandbox(&[]), "full");
        assert_eq!(
            describe_sandbox(&["a".to_owned(), "b".to_owned()]),
            "partial (a; b)"
        );
        let long = describe_sandbox(&["é".repeat(1000)]);
        assert!(
            long.starts_with("partial (é") && long.ends_with("…)"),
            "{long}"
        );
        assert!(long.len() < MAX_SANDBOX_REASON + 20, "{}", long.len());
        // Cut on a character's boundary even when the limit falls inside one.
        let wide = describe_sandbox(&["€".repeat(1000)]);
        assert!(wide.ends_with("€…)"), "{wide}");
        assert!(
            wide.len() <= "partial (…)".len() + MAX_SANDBOX_REASON,
            "{}",
            wide.len()
        );
    }
}

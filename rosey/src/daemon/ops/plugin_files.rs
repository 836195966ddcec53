//! Installing and removing plugins from inside the daemon, for the dashboard: the same code
//! path as `rosey plugin install|update|remove` ([`crate::plugin_cmd::files`]), with the
//! running stack reached directly rather than over the control socket. Validation, the load
//! check in a throwaway process, make-before-break swaps with rollback, the registry as the
//! commit point and every message are the CLI's.

use std::{path::PathBuf, sync::Arc};

use rosey_core::{config::Config, install::InstallError, manifest::Manifest};

use super::{Daemon, OpError};
use crate::{
    control::Request,
    plugin_cmd::{
        files::{self, Refusal},
        live::Live,
    },
};

/// What kind of problem stopped an install or a remove, so the dashboard can answer with a
/// fitting status code; the message is the CLI's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOpKind {
    /// No such plugin is installed.
    NotFound,
    /// The archive breaks a rule (structure, checksums, manifest, ABI, a library that does
    /// not load): the operator needs another archive.
    Invalid,
    /// The archive is fine but the home refuses it as it stands (the version is installed
    /// already or older, another plugin claims a command, nothing to update).
    Conflict,
    /// It was tried and failed (the running stack, the disk).
    Failed,
}

/// Why an install or a remove from the dashboard did not happen.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FileOpError {
    /// What kind of problem it is.
    pub kind: FileOpKind,
    /// The CLI's own message (`cannot install x.roseyplug: …`).
    pub message: String,
}

impl FileOpError {
    /// Classifies an error of the shared install and remove path by the [`InstallError`] in
    /// its chain, keeping the message as the CLI prints it.
    fn of(err: &anyhow::Error) -> FileOpError {
        let kind = match err
            .chain()
            .find_map(|cause| cause.downcast_ref::<InstallError>())
        {
            Some(InstallError::NotInstalled { .. }) => FileOpKind::NotFound,
            Some(InstallError::Archive(_) | InstallError::LoadFailed { .. }) => FileOpKind::Invalid,
            Some(
                InstallError::AlreadyInstalled { .. }
                | InstallError::NotNewer { .. }
                | InstallError::CommandClaimed { .. },
            ) => FileOpKind::Conflict,
            Some(_) => FileOpKind::Failed,
            None => match err.downcast_ref::<Refusal>() {
                Some(Refusal::NothingToUpdate { .. }) => FileOpKind::Conflict,
                Some(Refusal::NotUnloaded { .. }) | None => FileOpKind::Failed,
            },
        };
        FileOpError {
            kind,
            message: format!("{err:#}"),
        }
    }

    fn failed(message: impl Into<String>) -> FileOpError {
        FileOpError {
            kind: FileOpKind::Failed,
            message: message.into(),
        }
    }
}

/// What an install or update from the dashboard did.
#[derive(Debug, serde::Serialize)]
pub struct InstallReport {
    /// The plugin.
    pub name: String,
    /// The version now installed.
    pub version: String,
    /// The version it replaced, for an update.
    pub previous: Option<String>,
    /// How long the running stack took to start it or swap it in (ms); `None` when the
    /// change waits for a restart (hot reload off).
    pub ms: Option<f64>,
    /// One sentence: `installed dice-roller v0.1.0 in 412 ms`.
    pub message: String,
    /// What the plugin may send, as the CLI lists it after an install.
    pub notes: Vec<String>,
}

/// What a remove from the dashboard did.
#[derive(Debug, serde::Serialize)]
pub struct RemoveReport {
    /// The version that was installed.
    pub version: String,
    /// Whether its storage and config were kept.
    pub kept_data: bool,
    /// One sentence: `removed dice-roller v0.1.0`.
    pub message: String,
}

/// Whether changes reach the running stack now: this daemon runs, so only `hot_reload`
/// decides, as it does for the CLI.
async fn live(daemon: &Daemon) -> Result<Live, FileOpError> {
    let home = daemon.home.clone();
    let config = tokio::task::spawn_blocking(move || Config::load(&home))
        .await
        .map_err(|err| FileOpError::failed(format!("reading rosey.yaml did not finish: {err}")))?
        .map_err(|err| FileOpError::failed(format!("cannot read rosey.yaml: {err}")))?;
    Ok(if config.hot_reload {
        Live::Now
    } else {
        Live::HotReloadOff
    })
}

/// Runs one plugin change on the running stack, as the control socket would for the CLI.
async fn apply(daemon: &Daemon, request: Request) -> Result<f64, String> {
    let result = match request {
        Request::PluginLoad { name, version } => super::load_plugin(daemon, &name, &version).await,
        Request::PluginUpdate {
            name,
            version,
            previous,
        } => super::update_plugin(daemon, &name, &version, &previous).await,
        Request::PluginUnload { name } => super::unload_plugin(daemon, &name).await,
        Request::RoutesChanged => daemon
            .stack
            .refresh_routes()
            .await
            .map(|()| 0.0)
            .map_err(OpError::failed),
        other => Err(OpError::Failed(format!(
            "{other:?} is not a plugin change the dashboard makes"
        ))),
    };
    result.map_err(|err| err.to_string())
}

/// The blocking install or remove `work`, given a way to apply changes to the running stack,
/// run off the async threads (the load check waits for a child process, the registry for its
/// lock) while the changes themselves run on them.
async fn blocking<T: Send + 'static>(
    daemon: &Arc<Daemon>,
    work: impl FnOnce(&mut dyn FnMut(Request) -> Result<f64, String>) -> T + Send + 'static,
) -> Result<T, FileOpError> {
    let runtime = tokio::runtime::Handle::current();
    let daemon = daemon.clone();
    tokio::task::spawn_blocking(move || {
        let mut apply = |request| runtime.block_on(apply(&daemon, request));
        work(&mut apply)
    })
    .await
    .map_err(|err| FileOpError::failed(format!("the operation did not finish: {err}")))
}

/// The manifest of the plugin in `archive` and the version of it installed now, if any: what
/// the dashboard needs to ask before an upload replaces an installed version. `None` when the
/// archive cannot be read; installing it then says why, in the CLI's words.
pub async fn peek(
    daemon: &Daemon,
    archive: PathBuf,
) -> Option<(Manifest, Option<semver::Version>)> {
    let home = daemon.home.clone();
    tokio::task::spawn_blocking(move || {
        let manifest = rosey_core::install::archive_manifest(&archive).ok()?;
        let installed = rosey_core::registry::Registry::load(&home)
            .ok()?
            .get(&manifest.name)
            .map(|plugin| plugin.version.clone());
        Some((manifest, installed))
    })
    .await
    .ok()
    .flatten()
}

/// Installs (or, when `update`, updates) the plugin in `archive` as `rosey plugin
/// install|update <archive>` does, and loads it into the running stack (an update is swapped
/// in make-before-break, rolled back when the new version fails).
pub async fn install(
    daemon: &Arc<Daemon>,
    archive: PathBuf,
    update: bool,
) -> Result<InstallReport, FileOpError> {
    let live = live(daemon).await?;
    let home = daemon.home.clone();
    let installed = blocking(daemon, move |apply| {
        files::install_archive_via(&home, &archive, update, live, apply)
            .map(|installed| {
                let before = files::previous_manifest(
                    &home,
                    &installed.manifest.name,
                    installed.previous.as_ref(),
                );
                let notes = files::permission_lines(&installed.manifest, before.as_ref());
                (installed, notes)
            })
            .map_err(|err| FileOpError::of(&err))
    })
    .await??;
    let (installed, mut notes) = installed;
    let manifest = &installed.manifest;
    let what = match &installed.previous {
        Some(previous) => format!(
            "updated {} v{previous} → v{}",
            manifest.name, manifest.version
        ),
        None => format!("installed {} v{}", manifest.name, manifest.version),
    };
    let message = match (installed.swapped_in_ms, installed.live.deferred_note()) {
        (Some(ms), _) => format!("{what} in {ms:.0} ms"),
        (None, Some(note)) => format!("{what}; {note}"),
        (None, None) => format!("{what}; it is not running (enable it to start it)"),
    };
    if let Some(warning) = installed.routes_warning {
        notes.push(format!("warning: {warning}"));
    }
    tracing::info!("{message} (from the dashboard)");
    Ok(InstallReport {
        name: manifest.name.clone(),
        version: manifest.version.to_string(),
        previous: installed.previous.map(|previous| previous.to_string()),
        ms: installed.swapped_in_ms,
        message,
        notes,
    })
}

/// Removes plugin `name` as `rosey plugin remove <name> [--keep-data] --yes` does: unloaded
/// from the running stack first (nothing removed when that fails), then its files.
pub async fn remove(
    daemon: &Arc<Daemon>,
    name: &str,
    keep_data: bool,
) -> Result<RemoveReport, FileOpError> {
    let live = live(daemon).await?;
    let home = daemon.home.clone();
    let owned = name.to_owned();
    let removal = blocking(daemon, move |apply| {
        files::remove_plugin_via(&home, &owned, keep_data, live, apply)
            .map_err(|err| FileOpError::of(&err))
    })
    .await??;
    let mut message = format!("removed {name} v{}", removal.removed.version);
    if removal.removed.kept_data {
        message.push_str(" (its storage and config.yaml were kept)");
    }
    if let Some(note) = live.deferred_note() {
        message = format!("{message}; {note}");
    }
    if let Some(warning) = removal.routes_warning {
        message = format!("{message}; warning: {warning}");
    }
    tracing::info!("{message} (from the dashboard)");
    Ok(RemoveReport {
        version: removal.removed.version.to_string(),
        kept_data: removal.removed.kept_data,
        message,
    })
}

/// Fails unless plugin `name` is installed (before the dashboard asks about its data).
pub async fn ensure_installed(daemon: &Daemon, name: &str) -> Result<(), FileOpError> {
    let home = daemon.home.clone();
    let owned = name.to_owned();
    tokio::task::spawn_blocking(move || files::ensure_installed(&home, &owned))
        .await
        .map_err(|err| FileOpError::failed(format!("the registry read did not finish: {err}")))?
        .map_err(|err| FileOpError::of(&anyhow::Error::from(err)))
}

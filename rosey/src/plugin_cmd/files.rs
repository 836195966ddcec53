//! Installing, updating and removing a plugin's files, following through in the running
//! stack: the one code path behind both `rosey plugin install|update|remove` and the
//! dashboard's upload and remove buttons, so both validate the same way and say the same
//! thing.
//!
//! The two front ends differ only in how a change reaches the running stack ([`Apply`]): the
//! CLI sends the daemon a control request over its socket, the daemon (for the dashboard)
//! runs the same operation directly. Whether it reaches it at all ([`Live`]) is the caller's
//! decision, as is any question asked before (a terminal prompt, the page's confirmation).

use std::path::Path;

use anyhow::{Context, Result};
use rosey_core::{install, manifest::Manifest, paths::Home, registry::Registry};

use super::{host_check, live::Live};
use crate::control::Request;

/// The shared path's own refusals (the rest are rosey-core's [`install::InstallError`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    /// `update` named an archive of a plugin that is not installed.
    #[error("{name} is not installed, so there is nothing to update: install it with `rosey plugin install {}`", file.display())]
    NothingToUpdate {
        /// The archive's plugin.
        name: String,
        /// The archive.
        file: std::path::PathBuf,
    },
    /// The running stack could not stop the plugin, so its files stay.
    #[error("cannot unload {name} from the running bot, so nothing was removed: {reason}")]
    NotUnloaded {
        /// The plugin.
        name: String,
        /// The daemon's reason.
        reason: String,
    },
}

/// Sends one plugin change to the running stack (`PluginLoad`, `PluginUpdate`,
/// `PluginUnload` or `RoutesChanged`, as the control socket knows them); the time it took in
/// ms, or the daemon's reason in a sentence.
pub(crate) type Apply<'a> = &'a mut dyn FnMut(Request) -> Result<f64, String>;

/// What an install or update did, for the caller to report.
pub(crate) struct Installed {
    /// The plugin's manifest as installed.
    pub manifest: Manifest,
    /// The version it replaced, for an update.
    pub previous: Option<semver::Version>,
    /// How long the running stack took to swap it in (ms), when it did.
    pub swapped_in_ms: Option<f64>,
    /// Whether the change reached the running stack, or why not.
    pub live: Live,
    /// Why the bot did not pick up the new command routes, when it did not (it will at the
    /// next start): a warning, since the install itself succeeded.
    pub routes_warning: Option<String>,
}

/// Installs (or, when `update`, updates) the plugin in `file` and, when `live` is
/// [`Live::Now`], loads it into the running stack (or swaps it in, with rollback) through
/// `apply`. Every refusal is the CLI's message, `cannot install <file>: <why>`; a refused
/// install leaves the home as it was and the running plugins untouched.
pub(crate) fn install_archive_via(
    home: &Home,
    file: &Path,
    update: bool,
    live: Live,
    apply: Apply<'_>,
) -> Result<Installed> {
    if update {
        let name = install::archive_name(file)
            .with_context(|| format!("cannot update from {}", file.display()))?;
        let registry = Registry::load(home)?;
        if registry.get(&name).is_none() {
            return Err(Refusal::NothingToUpdate {
                name,
                file: file.to_path_buf(),
            }
            .into());
        }
    }
    let mut swapped_in_ms = None;
    let mut activate = |manifest: &Manifest,
                        previous: Option<&rosey_core::registry::InstalledPlugin>|
     -> Result<(), install::HookError> {
        if live != Live::Now {
            return Ok(());
        }
        let name = manifest.name.clone();
        let version = manifest.version.to_string();
        let request = match previous {
            Some(previous) => Request::PluginUpdate {
                name,
                version,
                previous: previous.version.to_string(),
            },
            None => Request::PluginLoad { name, version },
        };
        swapped_in_ms = Some(apply(request)?);
        Ok(())
    };
    let installed =
        install::install_with(home, file, &host_check, &mut activate).with_context(|| {
            let verb = if update { "update from" } else { "install" };
            format!("cannot {verb} {}", file.display())
        })?;
    let routes_warning = if swapped_in_ms.is_some() {
        routes_changed(apply)
    } else {
        None
    };
    Ok(Installed {
        manifest: installed.manifest,
        previous: installed.previous,
        swapped_in_ms,
        live,
        routes_warning,
    })
}

/// Tells the running stack the registry changed, so the bot routes commands by it; the
/// warning to show when it did not.
fn routes_changed(apply: Apply<'_>) -> Option<String> {
    apply(Request::RoutesChanged)
        .err()
        .map(|err| format!("the bot did not pick up the new command routes: {err}"))
}

/// Fails unless plugin `name` is installed: checked before any question is asked about
/// removing it.
pub(crate) fn ensure_installed(home: &Home, name: &str) -> Result<(), install::InstallError> {
    let registry = Registry::load(home)?;
    if registry.get(name).is_none() {
        return Err(install::InstallError::NotInstalled {
            name: name.to_string(),
            installed: registry.names(),
        });
    }
    Ok(())
}

/// What a remove did.
pub(crate) struct Removal {
    /// What rosey-core's remove did (the version, whether the data was kept).
    pub removed: install::Removed,
    /// Whether it was unloaded from the running stack first.
    pub unloaded: bool,
    /// As for [`Installed::routes_warning`].
    pub routes_warning: Option<String>,
}

/// Removes plugin `name`: when `live` is [`Live::Now`], stops it gracefully in the running
/// stack first (its message finished, its unload hook run), and removes nothing when that
/// fails; then its files (and, unless `keep_data`, its storage and config). The caller has
/// asked whatever it asks first.
pub(crate) fn remove_plugin_via(
    home: &Home,
    name: &str,
    keep_data: bool,
    live: Live,
    apply: Apply<'_>,
) -> Result<Removal> {
    if live == Live::Now {
        apply(Request::PluginUnload {
            name: name.to_owned(),
        })
        .map_err(|reason| Refusal::NotUnloaded {
            name: name.to_owned(),
            reason,
        })?;
    }
    let removed =
        install::remove(home, name, keep_data).with_context(|| format!("cannot remove {name}"))?;
    let routes_warning = if live == Live::Now {
        routes_changed(apply)
    } else {
        None
    };
    Ok(Removal {
        removed,
        unloaded: live == Live::Now,
        routes_warning,
    })
}

/// What a plugin may send, for the operator at install and update: its permissions, the event
/// kinds it publishes, and for an update whatever the new version asks for that `before` did
/// not. The plugin actor refuses anything else.
pub(crate) fn permission_lines(manifest: &Manifest, before: Option<&Manifest>) -> Vec<String> {
    let mut lines = Vec::new();
    if manifest.permissions.is_empty() {
        lines.push("Permissions: none".to_owned());
    } else {
        lines.push(format!("Permissions: {}", manifest.permissions.join(", ")));
    }
    if !manifest.publishes.is_empty() {
        lines.push(format!(
            "Publishes events: {}",
            manifest.publishes.join(", ")
        ));
    }
    if !manifest.channel.is_empty() {
        lines.push(format!(
            "Acts on the channel: {}",
            manifest.channel.join(", ")
        ));
    }
    if let Some(before) = before {
        let new = |now: &[String], then: &[String]| -> Vec<String> {
            now.iter().filter(|p| !then.contains(p)).cloned().collect()
        };
        for (label, added) in [
            (
                "new permissions",
                new(&manifest.permissions, &before.permissions),
            ),
            (
                "new event kinds",
                new(&manifest.publishes, &before.publishes),
            ),
            (
                "new channel actions",
                new(&manifest.channel, &before.channel),
            ),
        ] {
            if !added.is_empty() {
                lines.push(format!("! {label}: {}", added.join(", ")));
            }
        }
    }
    lines.push(
        "rosey enforces these: chat, PMs and events the manifest does not allow are refused."
            .to_owned(),
    );
    lines
}

/// The manifest of `name`'s version `previous` as installed, to compare an update with.
pub(crate) fn previous_manifest(
    home: &Home,
    name: &str,
    previous: Option<&semver::Version>,
) -> Option<Manifest> {
    let previous = previous?;
    Manifest::load(&home.plugin_version_manifest(name, &previous.to_string())).ok()
}

#[cfg(test)]
mod tests {
    use rosey_core::manifest::Manifest;

    fn manifest(permissions: &str, publishes: &str) -> Manifest {
        Manifest::parse(&format!(
            "name: quote-db\nversion: 1.0.0\ndescription: d\nauthor: a\nlibrary: libq.so\nabi: {}\npermissions: [{permissions}]\npublishes: [{publishes}]\n",
            rosey_abi::ABI_VERSION
        ))
        .expect("manifest")
    }

    #[test]
    fn an_update_names_what_it_asks_for_anew() {
        let old = manifest("send_messages", "");
        let new = manifest("send_messages, send_pms, publish_events", "quote.added");
        let lines = super::permission_lines(&new, Some(&old)).join("\n");
        assert!(
            lines.contains("Permissions: send_messages, send_pms, publish_events"),
            "{lines}"
        );
        assert!(lines.contains("Publishes events: quote.added"), "{lines}");
        assert!(
            lines.contains("new permissions: send_pms, publish_events"),
            "{lines}"
        );
        assert!(lines.contains("new event kinds: quote.added"), "{lines}");
        assert!(!lines.contains("informational"), "{lines}");
        let same = super::permission_lines(&old, Some(&old)).join("\n");
        assert!(!same.contains("new "), "{same}");
        let none = super::permission_lines(&manifest("", ""), None).join("\n");
        assert!(none.contains("Permissions: none"), "{none}");
    }
}

//! The plugin commands that change what is installed or running: install, update, reload,
//! enable, disable and remove, each following through in a running bot when hot reload is on
//! (see [`super::live`]).

use std::{
    io::{IsTerminal, Write},
    path::Path,
    process::ExitCode,
};

use anyhow::{bail, Context, Result};
use rosey_core::{install, paths::Home, registry::Registry};

use super::{host_check, live};

/// What an install or update did, for the caller to report.
pub(crate) struct Installed {
    /// The plugin's manifest as installed.
    pub manifest: rosey_core::manifest::Manifest,
    /// The version it replaced, for an update.
    pub previous: Option<semver::Version>,
    /// How long the running stack took to swap it in (ms), when it did.
    pub swapped_in_ms: Option<f64>,
    /// Whether the change reached the running stack, or why not.
    pub live: live::Live,
}

/// Installs (or, when `update`, updates) the plugin in `file` and follows through in a running
/// bot: the whole operation behind `rosey plugin install|update`, without its printing, so
/// `rosey dev` can reuse it.
pub(crate) fn install_archive(
    home: &Home,
    file: &Path,
    no_reload: bool,
    update: bool,
) -> Result<Installed> {
    let live = live::Live::decide(home, no_reload)?;
    if update {
        let name = install::archive_name(file)
            .with_context(|| format!("cannot update from {}", file.display()))?;
        let registry = Registry::load(home)?;
        if registry.get(&name).is_none() {
            bail!("{name} is not installed, so there is nothing to update: install it with `rosey plugin install {}`", file.display());
        }
    }
    let mut swapped_in_ms = None;
    let mut activate = |manifest: &rosey_core::manifest::Manifest,
                        previous: Option<&rosey_core::registry::InstalledPlugin>|
     -> Result<(), install::HookError> {
        if live != live::Live::Now {
            return Ok(());
        }
        let name = manifest.name.clone();
        let version = manifest.version.to_string();
        let request = match previous {
            Some(previous) => crate::control::Request::PluginUpdate {
                name,
                version,
                previous: previous.version.to_string(),
            },
            None => crate::control::Request::PluginLoad { name, version },
        };
        swapped_in_ms = Some(live::call(home, request)?);
        Ok(())
    };
    let installed =
        install::install_with(home, file, &host_check, &mut activate).with_context(|| {
            let verb = if update { "update from" } else { "install" };
            format!("cannot {verb} {}", file.display())
        })?;
    if swapped_in_ms.is_some() {
        live::routes_changed(home);
    }
    Ok(Installed {
        manifest: installed.manifest,
        previous: installed.previous,
        swapped_in_ms,
        live,
    })
}

/// What a plugin may send, for the operator at install and update: its permissions, the event
/// kinds it publishes, and for an update whatever the new version asks for that `before` did
/// not. The plugin actor refuses anything else.
fn permission_lines(
    manifest: &rosey_core::manifest::Manifest,
    before: Option<&rosey_core::manifest::Manifest>,
) -> Vec<String> {
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
        let new: Vec<&str> = manifest
            .permissions
            .iter()
            .filter(|p| !before.permissions.contains(p))
            .map(String::as_str)
            .collect();
        if !new.is_empty() {
            lines.push(format!("! new permissions: {}", new.join(", ")));
        }
        let new_kinds: Vec<&str> = manifest
            .publishes
            .iter()
            .filter(|kind| !before.publishes.contains(kind))
            .map(String::as_str)
            .collect();
        if !new_kinds.is_empty() {
            lines.push(format!("! new event kinds: {}", new_kinds.join(", ")));
        }
        let new_actions: Vec<&str> = manifest
            .channel
            .iter()
            .filter(|p| !before.channel.contains(p))
            .map(String::as_str)
            .collect();
        if !new_actions.is_empty() {
            lines.push(format!("! new channel actions: {}", new_actions.join(", ")));
        }
    }
    lines.push(
        "rosey enforces these: chat, PMs and events the manifest does not allow are refused."
            .to_owned(),
    );
    lines
}

pub(super) fn run_install(home: &Home, file: &Path, no_reload: bool, update: bool) -> Result<()> {
    println!(
        "{}",
        if update {
            "Updating plugin..."
        } else {
            "Installing plugin..."
        }
    );
    let installed = install_archive(home, file, no_reload, update)?;
    let (live, swapped_in_ms) = (installed.live, installed.swapped_in_ms);
    let manifest = &installed.manifest;
    match &installed.previous {
        Some(previous) => println!(
            "✓ Installed {} v{} (upgraded from v{previous}; its files stay until `rosey plugin remove`)",
            manifest.name, manifest.version
        ),
        None => println!("✓ Installed {} v{}", manifest.name, manifest.version),
    }
    println!();
    let before = installed.previous.as_ref().and_then(|previous| {
        rosey_core::manifest::Manifest::load(
            &home.plugin_version_manifest(&manifest.name, &previous.to_string()),
        )
        .ok()
    });
    for line in permission_lines(manifest, before.as_ref()) {
        println!("{line}");
    }
    println!();
    match (live, swapped_in_ms) {
        (live::Live::Now, Some(ms)) => {
            println!("Bot is running - loading plugin dynamically...");
            println!(
                "✓ Plugin {} loaded successfully (hot reload, {ms:.0} ms)",
                manifest.name
            );
            println!();
        }
        (live, _) => {
            if let Some(note) = live.deferred_note() {
                println!("{note}");
                println!();
            }
        }
    }
    println!("Next steps:");
    let list = "rosey plugin list".to_string();
    let info = format!("rosey plugin info {}", manifest.name);
    let width = list.len().max(info.len()) + 2;
    println!("  {list:width$}# Verify installation");
    println!("  {info:width$}# Show details");
    Ok(())
}

/// `rosey plugin reload <name>`: exit 3 when no daemon runs (there is nothing to reload).
pub(super) fn run_reload(home: &Home, name: &str) -> ExitCode {
    if !live::running(home) {
        eprintln!("rosey is not running in {}: nothing to reload (the next `rosey start` loads the installed version)", home.root().display());
        return rosey_host::exit_codes::exit_code(rosey_host::exit_codes::NOT_RUNNING);
    }
    match live::call(
        home,
        crate::control::Request::PluginReload {
            name: name.to_owned(),
        },
    ) {
        Ok(ms) => {
            println!("✓ Plugin {name} reloaded successfully (hot reload, {ms:.0} ms)");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: cannot reload {name}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `rosey plugin enable|disable <name>`.
pub(super) fn run_enable(home: &Home, name: &str, enable: bool, no_reload: bool) -> Result<()> {
    let live = live::Live::decide(home, no_reload)?;
    let version = set_enabled(home, name, enable)?;
    let word = if enable { "Enabled" } else { "Disabled" };
    println!("✓ {word} {name}");
    if live == live::Live::Now {
        let request = if enable {
            crate::control::Request::PluginLoad {
                name: name.to_owned(),
                version,
            }
        } else {
            crate::control::Request::PluginUnload {
                name: name.to_owned(),
            }
        };
        let result = live::call(home, request);
        live::routes_changed(home);
        match result {
            Ok(_) if enable => println!("✓ Plugin {name} loaded successfully (hot reload)"),
            Ok(_) => println!("✓ Plugin {name} unloaded successfully"),
            Err(err) if enable && err.contains("already running") => {}
            Err(err) => {
                bail!("{word} in the registry, but the running bot could not follow: {err}")
            }
        }
    } else if let Some(note) = live.deferred_note() {
        println!("{note}");
    }
    Ok(())
}

/// Marks installed plugin `name` enabled or disabled in the registry; its version. The one
/// place that flips the flag, for `rosey plugin enable|disable` and the dashboard.
pub(crate) fn set_enabled(
    home: &Home,
    name: &str,
    enable: bool,
) -> Result<String, install::InstallError> {
    Registry::update(home, |registry: &mut Registry| {
        let installed = registry.names();
        let Some(plugin) = registry.plugins.get_mut(name) else {
            return Err(install::InstallError::NotInstalled {
                name: name.to_owned(),
                installed,
            });
        };
        plugin.enabled = enable;
        Ok(plugin.version.to_string())
    })
}

pub(super) fn run_remove(
    home: &Home,
    name: &str,
    keep_data: bool,
    yes: bool,
    no_reload: bool,
) -> Result<()> {
    // Unknown names fail before any question is asked.
    let registry = Registry::load(home)?;
    if registry.get(name).is_none() {
        return Err(install::InstallError::NotInstalled {
            name: name.to_string(),
            installed: registry.names(),
        }
        .into());
    }
    if !keep_data && !yes {
        confirm_data_removal(home, name)?;
    }
    let live = live::Live::decide(home, no_reload)?;
    if live == live::Live::Now {
        // Stopped gracefully first: it finishes its message and its unload hook runs.
        live::call(
            home,
            crate::control::Request::PluginUnload {
                name: name.to_owned(),
            },
        )
        .map_err(|err| {
            anyhow::anyhow!(
                "cannot unload {name} from the running bot, so nothing was removed: {err}"
            )
        })?;
        println!("✓ Plugin {name} unloaded successfully");
    }
    let removed =
        install::remove(home, name, keep_data).with_context(|| format!("cannot remove {name}"))?;
    if live == live::Live::Now {
        live::routes_changed(home);
    }
    println!("✓ Removed {name} v{}", removed.version);
    if removed.kept_data {
        println!(
            "  Its data was kept: {} and {}",
            home.plugin_storage_dir(name).display(),
            home.plugin_config_file(name).display()
        );
    }
    if let Some(note) = live
        .deferred_note()
        .filter(|_| live != live::Live::NotRunning)
    {
        println!("{note}");
    }
    Ok(())
}

/// Asks on the terminal before deleting a plugin's data; without a terminal, refuses and says
/// which flag to pass, since a script cannot answer.
fn confirm_data_removal(home: &Home, name: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "removing {name} deletes its data ({} and {}): pass --yes to confirm, or --keep-data to keep it",
            home.plugin_storage_dir(name).display(),
            home.plugin_config_file(name).display()
        );
    }
    eprint!("Remove {name} and delete its storage and config.yaml? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        bail!("not confirmed; nothing was removed");
    }
    Ok(())
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

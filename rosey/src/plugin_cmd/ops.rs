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

use super::{
    files::{self, permission_lines},
    live,
};
pub(crate) use files::Installed;

/// Installs (or, when `update`, updates) the plugin in `file` and follows through in a running
/// bot: the whole operation behind `rosey plugin install|update`, without its printing, so
/// `rosey dev` can reuse it. The daemon is asked over its control socket.
pub(crate) fn install_archive(
    home: &Home,
    file: &Path,
    no_reload: bool,
    update: bool,
) -> Result<Installed> {
    let live = live::Live::decide(home, no_reload)?;
    let installed = files::install_archive_via(home, file, update, live, &mut |request| {
        live::call(home, request)
    })?;
    if let Some(warning) = &installed.routes_warning {
        eprintln!("warning: {warning}");
    }
    Ok(installed)
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
    let before = files::previous_manifest(home, &manifest.name, installed.previous.as_ref());
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
    files::ensure_installed(home, name)?;
    if !keep_data && !yes {
        confirm_data_removal(home, name)?;
    }
    let live = live::Live::decide(home, no_reload)?;
    let removal = files::remove_plugin_via(home, name, keep_data, live, &mut |request| {
        live::call(home, request)
    })?;
    if removal.unloaded {
        println!("✓ Plugin {name} unloaded successfully");
    }
    if let Some(warning) = &removal.routes_warning {
        eprintln!("warning: {warning}");
    }
    let removed = removal.removed;
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

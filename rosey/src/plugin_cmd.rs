//! `rosey plugin …`: new, pack, install, update, reload, remove, enable, disable, config, list
//! and info.
//!
//! The rules of the home live in rosey-core ([`rosey_core::install`], [`rosey_core::archive`]);
//! with a daemon running, changes also reach the running stack at once ([`live`]: hot reload).
//! This module adds what only the binary can do: run cargo, run the throwaway
//! `rosey plugin-host check` process that proves a library loads, talk to the terminal.

mod config;
pub(crate) mod files;
pub(crate) mod live;
pub(crate) mod new;
pub(crate) mod ops;
pub(crate) mod pack;
pub(crate) use ops::set_enabled;

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use clap::Subcommand;
use rosey_core::{install, paths::Home, registry::Registry};

/// How long the load check may take before the library counts as hanging on load.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// The `rosey plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Create a new plugin crate, ready to build, pack and install (and for `rosey dev`).
    New {
        /// The plugin's name: 3 to 50 characters of a-z, 0-9 and -.
        name: String,
        /// The crate folder to create (default: ./NAME); must not exist yet, or be empty.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
    },
    /// Build a plugin crate (cargo, release) and pack it into NAME-VERSION.roseyplug.
    Pack {
        /// The plugin crate's folder (holding Cargo.toml and manifest.yaml).
        crate_dir: PathBuf,
        /// Where to write the archive (default: the current folder).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Validate a .roseyplug archive and install it (a running bot loads it at once).
    Install {
        /// The archive.
        file: PathBuf,
        /// Leave a running bot alone: the change waits for a restart.
        #[arg(long)]
        no_reload: bool,
    },
    /// Install a newer version of an installed plugin; a running bot swaps it in with the
    /// plugin's state carried over, and keeps the old one if the new one fails.
    Update {
        /// The archive of the newer version.
        file: PathBuf,
        /// Leave a running bot alone: the change waits for a restart.
        #[arg(long)]
        no_reload: bool,
    },
    /// Restart a running plugin at the same version, its state carried over.
    Reload {
        /// The plugin's name.
        name: String,
    },
    /// Enable an installed plugin (a running bot starts it).
    Enable {
        /// The plugin's name.
        name: String,
        /// Leave a running bot alone: the change waits for a restart.
        #[arg(long)]
        no_reload: bool,
    },
    /// Disable an installed plugin (a running bot stops it; it stays installed).
    Disable {
        /// The plugin's name.
        name: String,
        /// Leave a running bot alone: the change waits for a restart.
        #[arg(long)]
        no_reload: bool,
    },
    /// Show a plugin's settings, one of them, or set one (a running plugin takes it at once).
    Config {
        /// The plugin's name.
        name: String,
        /// A setting, by dotted path (`limits.max_dice`); without it, all are shown.
        key: Option<String>,
        /// The new value; without it, the setting is shown.
        value: Option<String>,
    },
    /// List installed plugins.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show an installed plugin's manifest and files.
    Info {
        /// The plugin's name.
        name: String,
    },
    /// Remove an installed plugin (and, unless --keep-data, its storage and config).
    Remove {
        /// The plugin's name.
        name: String,
        /// Keep the plugin's storage/ and config.yaml.
        #[arg(long)]
        keep_data: bool,
        /// Do not ask before deleting the plugin's data.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Leave a running bot alone: the plugin keeps running until a restart.
        #[arg(long)]
        no_reload: bool,
    },
}

/// Runs one `rosey plugin` subcommand; prints the error and fails with exit code 1 if it
/// fails.
pub fn run(home: &Home, command: PluginCommand) -> ExitCode {
    let result = match command {
        PluginCommand::New { name, path } => new::run_new(&name, path.as_deref()),
        PluginCommand::Pack { crate_dir, out } => run_pack(&crate_dir, out.as_deref()),
        PluginCommand::Install { file, no_reload } => {
            ops::run_install(home, &file, no_reload, false)
        }
        PluginCommand::Update { file, no_reload } => ops::run_install(home, &file, no_reload, true),
        PluginCommand::Reload { name } => return ops::run_reload(home, &name),
        PluginCommand::Enable { name, no_reload } => ops::run_enable(home, &name, true, no_reload),
        PluginCommand::Disable { name, no_reload } => {
            ops::run_enable(home, &name, false, no_reload)
        }
        PluginCommand::Config { name, key, value } => {
            config::run_config(home, &name, key.as_deref(), value.as_deref())
        }
        PluginCommand::List { json } => run_list(home, json),
        PluginCommand::Info { name } => run_info(home, &name),
        PluginCommand::Remove {
            name,
            keep_data,
            yes,
            no_reload,
        } => ops::run_remove(home, &name, keep_data, yes, no_reload),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_pack(crate_dir: &Path, out: Option<&Path>) -> Result<()> {
    let (manifest, path) = pack::pack(crate_dir, out)
        .with_context(|| format!("cannot pack {}", crate_dir.display()))?;
    println!(
        "✓ Packed {} v{} → {}",
        manifest.name,
        manifest.version,
        path.display()
    );
    Ok(())
}

/// Loads `library` in a throwaway `rosey plugin-host check` process, so a library that
/// crashes or hangs on load takes that process down rather than this one. The host prints one
/// line on stderr when the library does not load; that line is the reason.
pub(crate) fn host_check(library: &Path) -> Result<(), rosey_core::install::HookError> {
    let exe = std::env::current_exe()
        .map_err(|err| format!("cannot find the rosey binary to run the load check: {err}"))?;
    let mut child = Command::new(exe)
        .args(["plugin-host", "check", "--library"])
        .arg(library)
        // The library's constructors run in there: none of this process's environment (it
        // may hold secrets such as ROSEY_CYTUBE_PASSWORD) goes with them.
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot start the load check (rosey plugin-host check): {err}"))?;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > CHECK_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "loading it did not finish within {} s (does its initialization hang?)",
                    CHECK_TIMEOUT.as_secs()
                )
                .into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(err) => return Err(format!("cannot wait for the load check: {err}").into()),
        }
    };
    let stderr = reader.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let reason = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty());
    use std::os::unix::process::ExitStatusExt;
    Err(match (reason, status.signal()) {
        (Some(reason), _) => reason.to_string(),
        (None, Some(signal)) => format!("loading it killed the check process (signal {signal})"),
        (None, None) => format!("the load check failed ({status}) without saying why"),
    }
    .into())
}

/// The running daemon's state of each plugin, when a daemon runs for this home, and what
/// to say of a plugin it does not list: `not loaded` (disabled, or installed since it
/// started), or why none is listed (the plugin supervisor is stopped, or did not answer).
fn running_states(home: &Home) -> Option<(std::collections::BTreeMap<String, String>, String)> {
    let response = crate::control::call(
        home,
        &crate::control::Request::Status,
        std::time::Duration::from_secs(5),
    )
    .ok()
    .filter(|response| response.ok)?;
    let report: crate::control::StatusReport = serde_json::from_value(response.data).ok()?;
    let unlisted = if let Some(supervisor) = &report.plugin_supervisor {
        format!("not running (the plugin supervisor is {supervisor})")
    } else if report
        .unknown
        .iter()
        .any(|unknown| unknown.what == crate::control::UNKNOWN_PLUGINS)
    {
        "unknown (the plugin supervisor did not answer)".to_owned()
    } else {
        "not loaded".to_owned()
    };
    let states = report
        .plugins
        .into_iter()
        .map(|unit| (unit.name, unit.state))
        .collect();
    Some((states, unlisted))
}

fn run_list(home: &Home, json: bool) -> Result<()> {
    let registry = Registry::load(home)?;
    let states = running_states(home);
    // With a daemon running, a plugin it does not list says why; with none, there is no
    // state to show.
    let state_of = |name: &str| {
        states.as_ref().map(|(states, unlisted)| {
            states
                .get(name)
                .cloned()
                .unwrap_or_else(|| unlisted.clone())
        })
    };
    if json {
        let plugins: Vec<_> = registry
            .plugins
            .iter()
            .map(|(name, plugin)| {
                serde_json::json!({
                    "name": name,
                    "version": plugin.version.to_string(),
                    "enabled": plugin.enabled,
                    "state": state_of(name),
                    "installed_at_ms": plugin.installed_at_ms,
                    "commands": rosey_core::manifest::command_names(&plugin.commands),
                    "events": plugin.events,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&plugins)?);
        return Ok(());
    }
    if registry.plugins.is_empty() {
        println!("No plugins installed");
        println!("Install one with: rosey plugin install <file.roseyplug>");
        return Ok(());
    }
    let mut header = vec!["NAME", "VERSION", "ENABLED"];
    if states.is_some() {
        header.push("STATE");
    }
    header.push("COMMANDS");
    let rows: Vec<Vec<String>> = registry
        .plugins
        .iter()
        .map(|(name, plugin)| {
            let mut row = vec![
                name.clone(),
                plugin.version.to_string(),
                if plugin.enabled { "yes" } else { "no" }.to_string(),
            ];
            row.extend(state_of(name));
            row.push(list_or_none(&rosey_core::manifest::command_names(
                &plugin.commands,
            )));
            row
        })
        .collect();
    let header: Vec<String> = header.into_iter().map(str::to_string).collect();
    let columns = header.len();
    let widths: Vec<usize> = (0..columns)
        .map(|col| {
            rows.iter()
                .chain([&header])
                .map(|row| row[col].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [&header].into_iter().chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(col, cell)| {
                if col + 1 == columns {
                    cell.clone()
                } else {
                    format!("{cell:width$}", width = widths[col])
                }
            })
            .collect();
        println!("{}", cells.join("  "));
    }
    Ok(())
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}

fn run_info(home: &Home, name: &str) -> Result<()> {
    let info = install::info(home, name)?;
    let manifest = &info.manifest;
    let installed_at = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(info.installed.installed_at_ms) * 1_000_000,
    )
    .ok()
    .and_then(|at| {
        at.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_else(|| format!("{} ms after the epoch", info.installed.installed_at_ms));
    let versions: Vec<String> = info
        .versions_present
        .iter()
        .map(|version| {
            if *version == info.installed.version {
                format!("{version} (active)")
            } else {
                version.to_string()
            }
        })
        .collect();
    let config = if info.config_file.exists() {
        info.config_file.display().to_string()
    } else {
        format!(
            "{} (not created; defaults apply)",
            info.config_file.display()
        )
    };
    println!("{} v{}", info.name, manifest.version);
    println!("  {}", manifest.description);
    println!();
    let field = |label: &str, value: &dyn std::fmt::Display| println!("  {label:<13}{value}");
    field("Author:", &manifest.author);
    field(
        "Enabled:",
        &if info.installed.enabled { "yes" } else { "no" },
    );
    field("Installed:", &installed_at);
    field(
        "Library:",
        &format!("{} (ABI v{})", manifest.library, manifest.abi),
    );
    field(
        "Commands:",
        &list_or_none(&rosey_core::manifest::command_names(&manifest.commands)),
    );
    for command in &manifest.commands {
        if let Some(about) = describe_command(command) {
            println!("  {:<13}  {}: {about}", "", command.name);
        }
    }
    field("Events:", &list_or_none(&manifest.events));
    field("Permissions:", &list_or_none(&manifest.permissions));
    if !manifest.channel.is_empty() {
        field("Channel:", &manifest.channel.join(", "));
    }
    if !manifest.publishes.is_empty() {
        field("Publishes:", &manifest.publishes.join(", "));
    }
    let memory = match manifest.limits.memory_mb {
        0 => "no memory limit".to_string(),
        mb => format!("memory {mb} MiB"),
    };
    field(
        "Limits:",
        &format!(
            "{memory}, handler timeout {} ms",
            manifest.limits.handler_timeout_ms
        ),
    );
    field("Versions:", &list_or_none(&versions));
    field("Files:", &info.version_dir.display());
    field("Storage:", &info.storage_dir.display());
    field("Config:", &config);
    Ok(())
}

/// What `plugin info` says of a command under the list: its help, usage and least rank, when
/// its manifest gives any.
fn describe_command(command: &rosey_core::manifest::CommandSpec) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(help) = &command.help {
        parts.push(help.clone());
    }
    if let Some(usage) = &command.usage {
        parts.push(format!("usage: {usage}"));
    }
    if let Some(rank) = command.min_rank {
        parts.push(format!("rank {rank} or higher"));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

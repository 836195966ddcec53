//! Installing, inspecting and removing plugins in a home.
//!
//! An install proves everything before it touches the home: the archive is unpacked and
//! validated in a temporary folder outside the home, checked against the registry (version,
//! command conflicts), and its library is loaded by a throwaway process the caller provides.
//! Only then, under the registry lock, is the version copied into a staging folder beside its
//! final place, renamed into place, and the registry written last as the commit point. A
//! refused install leaves the home exactly as it was.

use std::{
    fs::File,
    path::{Path, PathBuf},
};

use crate::{
    archive::{self, ArchiveError, UnpackedArchive},
    manifest::Manifest,
    paths::Home,
    registry::{now_ms, InstalledPlugin, Registry, RegistryError},
};

/// What a caller's [`LoadCheck`] or [`Activate`] reports. Those are the embedder's own code
/// (a child process, a plugin runtime, a running stack), so their errors are whatever type it
/// has; boxed, they reach [`InstallError`] whole and can be downcast back.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Loads a plugin library in isolation and says why it cannot be loaded. Given the absolute
/// path of the unpacked library; the `rosey` binary runs `rosey plugin-host check` in a child
/// process, an embedding bot whatever it uses to run plugins.
pub type LoadCheck<'a> = &'a dyn Fn(&Path) -> Result<(), HookError>;

/// Called once the new version's files are in place and before the registry commits to it,
/// with the new manifest and the entry it replaces: a running stack starts the new version
/// here (or swaps it in for the old one). An `Err` undoes the install: the files go, the
/// registry stays as it was, and the error is the install's.
pub type Activate<'a> =
    &'a mut dyn FnMut(&Manifest, Option<&InstalledPlugin>) -> Result<(), HookError>;

/// Why an install, remove or info failed. Messages name the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The archive broke a rule.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The registry could not be read or written.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// This exact version is already installed: most often an author repacked changed code
    /// without a new version, so the message points to a version bump and to `rosey dev`.
    #[error("{name} v{version} is already installed: to update it, bump `version` in the plugin crate's Cargo.toml (`rosey plugin pack` writes it into manifest.yaml) and pack it again; while developing, use `rosey dev`, which rebuilds and reloads the plugin on every save; to restart the same version, `rosey plugin reload {name}`")]
    AlreadyInstalled {
        /// The plugin.
        name: String,
        /// Its version.
        version: semver::Version,
    },
    /// A newer version is installed than the one offered.
    #[error("{name} v{installed} is installed, which is newer than v{offered}; to go back to v{offered}, remove it first with `rosey plugin remove {name} --keep-data`, then install")]
    NotNewer {
        /// The plugin.
        name: String,
        /// The installed version.
        installed: semver::Version,
        /// The archive's version.
        offered: semver::Version,
    },
    /// Another installed plugin handles one of the archive's commands.
    #[error("{name} claims the command `{command}`, which the installed plugin {owner} already handles: remove {owner} first (`rosey plugin remove {owner}`), or drop `{command}` from {name}'s manifest")]
    CommandClaimed {
        /// The plugin being installed.
        name: String,
        /// The contested command.
        command: String,
        /// The installed plugin that has it.
        owner: String,
    },
    /// The running stack could not start the new version (the old one, if any, runs on).
    #[error(
        "{name} v{version} did not start in the running stack, so nothing was installed: {reason}"
    )]
    ActivationFailed {
        /// The plugin.
        name: String,
        /// The version that failed.
        version: semver::Version,
        /// The running stack's explanation (part of the message, not a separate cause).
        reason: HookError,
    },
    /// The library does not load.
    #[error("the plugin library {library} does not load: {reason}")]
    LoadFailed {
        /// The library's file name.
        library: String,
        /// Why, as the load check reported it (part of the message, not a separate cause).
        reason: HookError,
    },
    /// No plugin of that name is installed.
    #[error("no plugin named {name:?} is installed; {}", installed_list(.installed))]
    NotInstalled {
        /// The name asked for.
        name: String,
        /// The names that are installed.
        installed: Vec<String>,
    },
    /// The registry lists the plugin but its files are missing or broken.
    #[error("plugin {name} is registered, but {problem}: reinstall it (`rosey plugin remove {name} --keep-data`, then `rosey plugin install`)")]
    Broken {
        /// The plugin.
        name: String,
        /// What is wrong with its files.
        problem: String,
    },
    /// A file or folder in the home (or a temporary folder) could not be written or removed.
    #[error("cannot {what} {}: {error}; check the permissions and free space of the home", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error (part of the message, not a separate cause).
        error: std::io::Error,
    },
}

fn installed_list(installed: &[String]) -> String {
    if installed.is_empty() {
        "no plugins are installed".to_string()
    } else {
        format!("installed: {}", installed.join(", "))
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_path_buf();
    move |error| InstallError::Io { what, path, error }
}

/// What an install did.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The installed plugin's manifest.
    pub manifest: Manifest,
    /// The version it replaced as the active one, when it was an upgrade.
    pub previous: Option<semver::Version>,
    /// Where its files now are.
    pub version_dir: PathBuf,
    /// Whether `config.default.yaml` was copied to the plugin's `config.yaml`.
    pub config_created: bool,
}

/// The name of the plugin in `archive` (validating the archive on the way), for commands
/// that must know it before installing (`rosey plugin update` checks it is installed).
pub fn archive_name(archive: &Path) -> Result<String, InstallError> {
    Ok(archive_manifest(archive)?.name)
}

/// The manifest of the plugin in `archive` (validating the archive on the way), for front
/// ends that decide before installing: the dashboard asks the operator before an upload
/// replaces an installed version.
pub fn archive_manifest(archive: &Path) -> Result<Manifest, InstallError> {
    let temp = tempfile::tempdir().map_err(io_err(
        "create a temporary folder in",
        &std::env::temp_dir(),
    ))?;
    Ok(archive::unpack(archive, temp.path())?.manifest)
}

/// Installs the archive at `archive` into `home`, or refuses with the home unchanged.
/// `load_check` is given the absolute path of the library unpacked in a temporary folder.
pub fn install(
    home: &Home,
    archive: &Path,
    load_check: LoadCheck<'_>,
) -> Result<Installed, InstallError> {
    install_with(home, archive, load_check, &mut |_, _| Ok(()))
}

/// [`install`], with `activate` run between placing the files and committing the registry
/// (see [`Activate`]). The registry lock is held throughout, so installs stay serialized.
pub fn install_with(
    home: &Home,
    archive: &Path,
    load_check: LoadCheck<'_>,
    activate: Activate<'_>,
) -> Result<Installed, InstallError> {
    let temp = tempfile::tempdir().map_err(io_err(
        "create a temporary folder in",
        &std::env::temp_dir(),
    ))?;
    let unpacked = archive::unpack(archive, temp.path())?;
    let manifest = &unpacked.manifest;
    check_conflicts(&Registry::load(home)?, manifest)?;
    load_check(&unpacked.library_path()).map_err(|reason| InstallError::LoadFailed {
        library: manifest.library.clone(),
        reason,
    })?;

    let mut transaction = Registry::begin(home)?;
    let previous = check_conflicts(&transaction.registry, manifest)?;
    let mut undo = Undo::default();
    let placed = place_files(home, &unpacked, &mut undo).and_then(|config_created| {
        activate(manifest, previous.as_ref()).map_err(|reason| InstallError::ActivationFailed {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            reason,
        })?;
        Ok(config_created)
    });
    let committed = placed.and_then(|config_created| {
        transaction.registry.plugins.insert(
            manifest.name.clone(),
            InstalledPlugin {
                version: manifest.version.clone(),
                enabled: previous
                    .as_ref()
                    .map(|plugin| plugin.enabled)
                    .unwrap_or(true),
                installed_at_ms: now_ms(),
                commands: manifest.commands.clone(),
                events: manifest.events.clone(),
            },
        );
        transaction.commit()?;
        Ok(config_created)
    });
    let config_created = committed.inspect_err(|_| undo.run())?;
    drop(transaction);
    Ok(Installed {
        manifest: manifest.clone(),
        previous: previous.map(|plugin| plugin.version),
        version_dir: home.plugin_version_dir(&manifest.name, &manifest.version.to_string()),
        config_created,
    })
}

/// Refuses an archive whose version is not newer than the installed one, or whose commands
/// another plugin claims; returns the installed entry it would replace.
fn check_conflicts(
    registry: &Registry,
    manifest: &Manifest,
) -> Result<Option<InstalledPlugin>, InstallError> {
    let installed = registry.get(&manifest.name).cloned();
    if let Some(installed) = &installed {
        if installed.version == manifest.version {
            return Err(InstallError::AlreadyInstalled {
                name: manifest.name.clone(),
                version: manifest.version.clone(),
            });
        }
        if installed.version > manifest.version {
            return Err(InstallError::NotNewer {
                name: manifest.name.clone(),
                installed: installed.version.clone(),
                offered: manifest.version.clone(),
            });
        }
    }
    for command in &manifest.commands {
        if let Some(owner) = registry.command_owner(&command.name) {
            if owner != manifest.name {
                return Err(InstallError::CommandClaimed {
                    name: manifest.name.clone(),
                    command: command.name.clone(),
                    owner: owner.to_string(),
                });
            }
        }
    }
    Ok(installed)
}

/// What an install created, so a failure before the commit can take it back out.
#[derive(Default)]
struct Undo {
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl Undo {
    fn run(&self) {
        for file in self.files.iter().rev() {
            let _ = std::fs::remove_file(file);
        }
        for dir in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Creates `dir` with whatever folders below `within` it lacks, and records the topmost one
/// it made, so a failed install takes them all back (`data/plugins/` on a fresh home, the
/// plugin's folder, or `versions/` when only its storage was kept).
fn create_dir_undoably(dir: &Path, within: &Path, undo: &mut Undo) -> Result<(), InstallError> {
    let topmost = dir
        .ancestors()
        .take_while(|path| *path != within && !path.exists())
        .last()
        .map(Path::to_path_buf);
    std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    undo.dirs.extend(topmost);
    Ok(())
}

/// Copies the unpacked archive into `versions/.staging-…`, renames it to `versions/<version>`,
/// creates `storage/` and the initial `config.yaml`. Returns whether `config.yaml` was created.
fn place_files(
    home: &Home,
    unpacked: &UnpackedArchive,
    undo: &mut Undo,
) -> Result<bool, InstallError> {
    let name = &unpacked.manifest.name;
    let version = unpacked.manifest.version.to_string();
    let versions_dir = home.plugin_versions_dir(name);
    create_dir_undoably(&versions_dir, &home.data_dir(), undo)?;
    remove_stale_staging(&versions_dir);

    let staging = versions_dir.join(format!(".staging-{version}-{}", std::process::id()));
    undo.dirs.push(staging.clone());
    std::fs::create_dir(&staging).map_err(io_err("create", &staging))?;
    for dir in &unpacked.dirs {
        let target = staging.join(dir);
        std::fs::create_dir_all(&target).map_err(io_err("create", &target))?;
    }
    for file in &unpacked.files {
        let target = staging.join(file);
        std::fs::copy(unpacked.root.join(file), &target).map_err(io_err("write", &target))?;
        File::open(&target)
            .and_then(|written| written.sync_all())
            .map_err(io_err("sync", &target))?;
    }
    sync_dir(&staging)?;

    // The registry does not list this version (checked under the lock), so a folder already
    // at its place is the leftover of an install that crashed before its commit.
    let version_dir = home.plugin_version_dir(name, &version);
    if version_dir.exists() {
        std::fs::remove_dir_all(&version_dir).map_err(io_err("remove", &version_dir))?;
    }
    std::fs::rename(&staging, &version_dir).map_err(io_err("move into place", &version_dir))?;
    undo.dirs.pop();
    undo.dirs.push(version_dir);
    sync_dir(&versions_dir)?;

    let storage = home.plugin_storage_dir(name);
    if !storage.exists() {
        std::fs::create_dir_all(&storage).map_err(io_err("create", &storage))?;
        undo.dirs.push(storage);
    }
    let config = home.plugin_config_file(name);
    let config_created = match unpacked.default_config() {
        Some(default) if !config.exists() => {
            std::fs::copy(&default, &config).map_err(io_err("write", &config))?;
            undo.files.push(config);
            true
        }
        _ => false,
    };
    Ok(config_created)
}

/// Removes `.staging-*` folders left by installs that crashed mid-copy.
fn remove_stale_staging(versions_dir: &Path) {
    let Ok(children) = std::fs::read_dir(versions_dir) else {
        return;
    };
    for child in children.flatten() {
        if child.file_name().to_string_lossy().starts_with(".staging-") {
            let _ = std::fs::remove_dir_all(child.path());
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), InstallError> {
    File::open(dir)
        .and_then(|opened| opened.sync_all())
        .map_err(io_err("sync", dir))
}

/// What a remove did.
#[derive(Debug, Clone)]
pub struct Removed {
    /// The version that was active.
    pub version: semver::Version,
    /// Whether `storage/` and `config.yaml` were left in place.
    pub kept_data: bool,
}

/// Unregisters the plugin `name` (the commit point), then deletes its versions and handed-over
/// state, and, unless `keep_data`, its storage and configuration.
pub fn remove(home: &Home, name: &str, keep_data: bool) -> Result<Removed, InstallError> {
    let not_installed = |registry: &Registry| InstallError::NotInstalled {
        name: name.to_string(),
        installed: registry.names(),
    };
    // Refuse unknown names before the lock, which would create data/registry.lock.
    let registry = Registry::load(home)?;
    if registry.get(name).is_none() {
        return Err(not_installed(&registry));
    }
    let mut transaction = Registry::begin(home)?;
    let Some(entry) = transaction.registry.plugins.remove(name) else {
        return Err(not_installed(&transaction.registry));
    };
    transaction.commit()?;

    let plugin_dir = home.plugin_dir(name);
    let versions = home.plugin_versions_dir(name);
    if versions.exists() {
        std::fs::remove_dir_all(&versions).map_err(io_err("remove", &versions))?;
    }
    remove_file_if_present(&home.plugin_handoff_file(name))?;
    remove_file_if_present(&home.plugin_attempts_file(name))?;
    if !keep_data {
        let storage = home.plugin_storage_dir(name);
        if storage.exists() {
            std::fs::remove_dir_all(&storage).map_err(io_err("remove", &storage))?;
        }
        remove_file_if_present(&home.plugin_config_file(name))?;
        // Only when empty: anything else in it is not rosey's to delete.
        let _ = std::fs::remove_dir(&plugin_dir);
    }
    drop(transaction);
    Ok(Removed {
        version: entry.version,
        kept_data: keep_data,
    })
}

fn remove_file_if_present(path: &Path) -> Result<(), InstallError> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", path)(err)),
        _ => Ok(()),
    }
}

/// Everything known about one installed plugin.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// Its registry entry.
    pub installed: InstalledPlugin,
    /// The active version's manifest.
    pub manifest: Manifest,
    /// The active version's folder.
    pub version_dir: PathBuf,
    /// Its storage folder.
    pub storage_dir: PathBuf,
    /// Its configuration file (which may not exist).
    pub config_file: PathBuf,
    /// Every version folder present (older ones are kept until remove), sorted.
    pub versions_present: Vec<semver::Version>,
}

/// Reads what is known about the installed plugin `name`.
pub fn info(home: &Home, name: &str) -> Result<PluginInfo, InstallError> {
    let registry = Registry::load(home)?;
    let Some(installed) = registry.get(name).cloned() else {
        return Err(InstallError::NotInstalled {
            name: name.to_string(),
            installed: registry.names(),
        });
    };
    let version = installed.version.to_string();
    let version_dir = home.plugin_version_dir(name, &version);
    let manifest_path = home.plugin_version_manifest(name, &version);
    let manifest = Manifest::load(&manifest_path).map_err(|err| InstallError::Broken {
        name: name.to_string(),
        problem: format!("its manifest is unusable ({err})"),
    })?;
    let mut versions_present: Vec<semver::Version> =
        std::fs::read_dir(home.plugin_versions_dir(name))
            .map(|children| {
                children
                    .flatten()
                    .filter_map(|child| child.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
    versions_present.sort();
    Ok(PluginInfo {
        name: name.to_string(),
        manifest,
        version_dir,
        storage_dir: home.plugin_storage_dir(name),
        config_file: home.plugin_config_file(name),
        versions_present,
        installed,
    })
}

#[cfg(test)]
mod tests;

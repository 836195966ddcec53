//! `data/registry.json`: which plugins are installed, at which version, claiming which commands.
//!
//! The registry is the commit point of every install and remove, so it is only ever replaced
//! whole (temporary file, fsync, rename, fsync of the folder) and only by one writer at a time:
//! [`Registry::update`] holds an exclusive lock on `data/registry.lock` across re-read, change
//! and write, so two `rosey plugin install` processes cannot lose each other's entry. Readers
//! ([`Registry::load`]) need no lock: a rename is atomic, so they see the old or the new file.

use std::{
    collections::BTreeMap,
    fs::File,
    io::Write,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::paths::Home;

/// The registry format this rosey reads and writes.
pub const SCHEMA: u32 = 1;

/// Everything installed in a home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    /// The format version ([`SCHEMA`]); a newer one is refused rather than misread.
    pub schema: u32,
    /// Installed plugins by name.
    #[serde(default)]
    pub plugins: BTreeMap<String, InstalledPlugin>,
}

/// One installed plugin: what the daemon needs to start and route to it without opening its
/// manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPlugin {
    /// The active version; its files are in `data/plugins/<name>/versions/<version>/`.
    pub version: semver::Version,
    /// Whether the daemon should run it.
    pub enabled: bool,
    /// When the active version was installed, in ms since the Unix epoch.
    pub installed_at_ms: u64,
    /// Commands it claims (no other plugin may claim them), with their help and least rank.
    #[serde(default)]
    pub commands: Vec<crate::manifest::CommandSpec>,
    /// Event kinds it subscribes to.
    #[serde(default)]
    pub events: Vec<String>,
}

/// Why the registry cannot be read or written. Messages name the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file exists but cannot be read, or cannot be written.
    #[error("cannot {what} {}: {error}; check the permissions of the home's data folder", path.display())]
    Io {
        /// `read`, `write`, `lock`, …
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error (part of the message, not a separate cause).
        error: std::io::Error,
    },
    /// The file is not a registry (truncated, hand-edited badly, not JSON).
    #[error("{} is corrupt ({reason}); rosey will not guess what is installed: restore it from a backup, or fix the JSON by hand (move it aside to start with no plugins registered)", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser found.
        reason: String,
    },
    /// Written by a newer rosey.
    #[error("{} has schema {found}, but this rosey understands schema {SCHEMA}: upgrade rosey", path.display())]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its schema.
        found: u32,
    },
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            schema: SCHEMA,
            plugins: BTreeMap::new(),
        }
    }
}

impl Registry {
    /// Reads the registry of `home`; a home without one has nothing installed. Takes no lock
    /// and creates nothing.
    pub fn load(home: &Home) -> Result<Registry, RegistryError> {
        let path = home.registry_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Registry::default())
            }
            Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
                return Err(RegistryError::Corrupt {
                    path,
                    reason: "not UTF-8 text".into(),
                })
            }
            Err(error) => {
                return Err(RegistryError::Io {
                    what: "read",
                    path,
                    error,
                })
            }
        };
        let registry: Registry =
            serde_json::from_str(&text).map_err(|err| RegistryError::Corrupt {
                path: path.clone(),
                reason: err.to_string(),
            })?;
        if registry.schema > SCHEMA {
            return Err(RegistryError::NewerSchema {
                path,
                found: registry.schema,
            });
        }
        if let Some(name) = registry
            .plugins
            .keys()
            .find(|name| !crate::manifest::is_valid_plugin_name(name))
        {
            return Err(RegistryError::Corrupt {
                path,
                reason: format!("{name:?} is not a valid plugin name"),
            });
        }
        Ok(registry)
    }

    /// The installed plugin called `name`.
    pub fn get(&self, name: &str) -> Option<&InstalledPlugin> {
        self.plugins.get(name)
    }

    /// The installed plugin that claims `command`, if any.
    pub fn command_owner(&self, command: &str) -> Option<&str> {
        self.plugins
            .iter()
            .find(|(_, plugin)| {
                plugin
                    .commands
                    .iter()
                    .any(|claimed| claimed.name == command)
            })
            .map(|(name, _)| name.as_str())
    }

    /// Names of all installed plugins, sorted.
    pub fn names(&self) -> Vec<String> {
        self.plugins.keys().cloned().collect()
    }

    /// Changes the registry of `home` as one transaction: takes the exclusive lock on
    /// `data/registry.lock` (waiting for any other writer, in this process or another),
    /// re-reads the file, runs `change`, and, when it returns `Ok`, writes the result
    /// atomically before releasing the lock. When `change` fails nothing is written. Creates
    /// `data/` when missing.
    pub fn update<T, E>(
        home: &Home,
        change: impl FnOnce(&mut Registry) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<RegistryError>,
    {
        let mut transaction = Registry::begin(home)?;
        let value = change(&mut transaction.registry)?;
        transaction.commit()?;
        Ok(value)
    }

    /// Starts a transaction by hand, for changes that must do more under the lock than edit the
    /// registry (an install moves files into place before, and takes them back out if the
    /// write fails, while no other writer can interfere). [`Registry::update`] is the simple
    /// form.
    pub fn begin(home: &Home) -> Result<RegistryTransaction, RegistryError> {
        let data_dir = home.data_dir();
        std::fs::create_dir_all(&data_dir).map_err(|error| RegistryError::Io {
            what: "create",
            path: data_dir.clone(),
            error,
        })?;
        let lock_path = home.registry_lock();
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|error| RegistryError::Io {
                what: "open",
                path: lock_path.clone(),
                error,
            })?;
        // File::lock is flock(2) on Linux: per open file, so threads of one process exclude
        // each other too, and the kernel drops it if this process dies.
        lock.lock().map_err(|error| RegistryError::Io {
            what: "lock",
            path: lock_path,
            error,
        })?;
        let registry = Registry::load(home)?;
        Ok(RegistryTransaction {
            _lock: lock,
            path: home.registry_file(),
            registry,
        })
    }
}

/// The registry of a home, held under its exclusive lock until dropped. Change
/// [`RegistryTransaction::registry`], then [`RegistryTransaction::commit`]; dropping it without
/// committing writes nothing.
#[derive(Debug)]
pub struct RegistryTransaction {
    _lock: File,
    path: PathBuf,
    /// The registry as read under the lock; edit it in place.
    pub registry: Registry,
}

impl RegistryTransaction {
    /// Writes the registry atomically. The lock stays held until the transaction is dropped,
    /// so work that must follow the commit (deleting a removed plugin's files, undoing an
    /// install whose write failed) still happens with no other writer around.
    pub fn commit(&mut self) -> Result<(), RegistryError> {
        self.registry.schema = SCHEMA;
        write_atomically(&self.path, &self.registry)
    }
}

/// Replaces `path` with `registry` so that a crash at any moment leaves the old or the new
/// file, never a mix: temporary file in the same folder, fsync, rename, fsync of the folder.
fn write_atomically(path: &Path, registry: &Registry) -> Result<(), RegistryError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |what: &'static str, at: &Path| {
        let at = at.to_path_buf();
        move |error| RegistryError::Io {
            what,
            path: at,
            error,
        }
    };
    let mut text = serde_json::to_string_pretty(registry).map_err(|err| RegistryError::Io {
        what: "serialize",
        path: path.to_path_buf(),
        error: std::io::Error::other(err),
    })?;
    text.push('\n');
    let mut temp = tempfile::Builder::new()
        .prefix(".registry-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io("create a temporary file in", dir))?;
    temp.write_all(text.as_bytes())
        .map_err(io("write", temp.path()))?;
    temp.as_file()
        .sync_all()
        .map_err(io("write", temp.path()))?;
    temp.persist(path).map_err(|err| RegistryError::Io {
        what: "replace",
        path: path.to_path_buf(),
        error: err.error,
    })?;
    // Durability of the rename; the replacement itself has happened, so a failure here must
    // not be reported as a failed commit (the caller would undo what the registry now lists).
    let _ = File::open(dir).and_then(|dir| dir.sync_all());
    Ok(())
}

/// Milliseconds since the Unix epoch, for `installed_at_ms`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    mod broken_homes;

    fn plugin(version: &str, commands: &[&str]) -> InstalledPlugin {
        InstalledPlugin {
            version: version.parse().expect("version"),
            enabled: true,
            installed_at_ms: 1,
            commands: commands.iter().map(|c| c.to_string().into()).collect(),
            events: vec![],
        }
    }

    #[test]
    fn a_missing_registry_is_empty_and_not_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        assert_eq!(Registry::load(&home).expect("load"), Registry::default());
        assert!(!home.data_dir().exists());
    }

    #[test]
    fn update_writes_and_load_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        Registry::update(&home, |registry| {
            registry
                .plugins
                .insert("dice-roller".into(), plugin("1.2.0", &["roll"]));
            Ok::<_, RegistryError>(())
        })
        .expect("update");
        let registry = Registry::load(&home).expect("load");
        assert_eq!(
            registry.get("dice-roller"),
            Some(&plugin("1.2.0", &["roll"]))
        );
        assert_eq!(registry.command_owner("roll"), Some("dice-roller"));
        let text = std::fs::read_to_string(home.registry_file()).expect("read");
        assert!(text.contains("\"schema\": 1"), "{text}");
        assert!(text.contains("\"version\": \"1.2.0\""), "{text}");
        // No temporary files are left beside it.
        let leftovers: Vec<_> = std::fs::read_dir(home.data_dir())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_failed_change_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        let result: Result<(), RegistryError> = Registry::update(&home, |registry| {
            registry.plugins.insert("abc".into(), plugin("1.0.0", &[]));
            Err(RegistryError::Corrupt {
                path: "x".into(),
                reason: "test".into(),
            })
        });
        assert!(result.is_err());
        assert!(!home.registry_file().exists());
    }

    #[test]
    fn a_corrupt_registry_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        std::fs::create_dir_all(home.data_dir()).expect("mkdir");
        std::fs::write(home.registry_file(), "{\"schema\": 1, \"plugins\": {").expect("write");
        let err = Registry::load(&home).expect_err("corrupt").to_string();
        assert!(err.contains("registry.json is corrupt"), "{err}");
        assert!(err.contains("restore it from a backup"), "{err}");
        let err = Registry::update(&home, |_| Ok::<_, RegistryError>(()))
            .expect_err("corrupt")
            .to_string();
        assert!(err.contains("corrupt"), "{err}");
        assert_eq!(
            std::fs::read_to_string(home.registry_file()).expect("read"),
            "{\"schema\": 1, \"plugins\": {"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        std::fs::create_dir_all(home.data_dir()).expect("mkdir");
        std::fs::write(home.registry_file(), "{\"schema\": 9, \"plugins\": {}}").expect("write");
        let err = Registry::load(&home).expect_err("newer").to_string();
        assert!(err.contains("upgrade rosey"), "{err}");
    }

    #[test]
    fn concurrent_updates_from_threads_all_land() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let home = home.clone();
                std::thread::spawn(move || {
                    for j in 0..5 {
                        Registry::update(&home, |registry| {
                            // Widen the read-modify-write window: without the lock, entries
                            // written by other threads meanwhile would be lost.
                            std::thread::sleep(std::time::Duration::from_millis(1));
                            registry
                                .plugins
                                .insert(format!("plugin-{i}-{j}"), plugin("1.0.0", &[]));
                            Ok::<_, RegistryError>(())
                        })
                        .expect("update");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        let registry = Registry::load(&home).expect("load");
        assert_eq!(registry.plugins.len(), 40);
    }
}

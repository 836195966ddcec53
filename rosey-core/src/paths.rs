//! The layout of a rosey home: the one place that spells a path inside it.
//!
//! ```text
//! rosey.yaml                                 config
//! data/registry.json                         installed plugins
//! data/plugins/<name>/versions/<version>/    unpacked archive (manifest.yaml, the library, …)
//! data/plugins/<name>/storage/               the plugin's own files and kv.sqlite3
//! data/plugins/<name>/config.yaml            operator's settings for the plugin
//! data/plugins/<name>/handoff.state          state handed from one instance to the next
//! data/nats/                                 JetStream store
//! data/nats-auth/credentials                 NATS users' passwords (folder 0700, file 0600)
//! data/nats-auth/nats-server.conf            the managed nats-server's config (0600)
//! data/run/rosey.lock, rosey.pid, rosey.sock the running daemon
//! data/web-token                             the dashboard's generated token (mode 0600)
//! logs/rosey.log, bot.log, nats.log, web.log  logs (rotated: rosey.log.1, …)
//! logs/plugins/<name>.log
//! .tools/nats/bin/nats-server                a nats-server of the home's own (optional)
//! ```

use std::path::{Path, PathBuf};

use crate::archive::MANIFEST_FILE;

/// The config file's name (`rosey.yaml`), also how its errors name it.
pub const CONFIG_FILE_NAME: &str = "rosey.yaml";

/// Where `scripts/install-nats` puts nats-server, relative to a home or to a checkout.
pub const NATS_SERVER_TOOL: &str = ".tools/nats/bin/nats-server";

/// A rosey home folder. Cheap to clone; computes paths, touches nothing on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home rooted at `root` (made absolute against the current directory when relative, so
    /// paths handed to child processes stay valid wherever they run).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()
                .map(|cwd| cwd.join(&root))
                .unwrap_or(root)
        };
        // `--home .` would otherwise show up as `/srv/rosey/./data/...` in every message.
        let root = root
            .components()
            .filter(|part| !matches!(part, std::path::Component::CurDir))
            .collect();
        Home { root }
    }

    /// The layout inside any home, rooted nowhere: its paths are relative (`data/web-token`),
    /// for telling an operator where a file goes in a home on another machine, or in a home
    /// not chosen yet.
    pub fn layout() -> Self {
        Home {
            root: PathBuf::new(),
        }
    }

    /// The home folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `rosey.yaml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join(CONFIG_FILE_NAME)
    }

    /// `data/`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `data/registry.json`.
    pub fn registry_file(&self) -> PathBuf {
        self.data_dir().join("registry.json")
    }

    /// `data/registry.lock`: held while the registry is read-modified-written.
    pub fn registry_lock(&self) -> PathBuf {
        self.data_dir().join("registry.lock")
    }

    /// `data/plugins/`.
    pub fn plugins_dir(&self) -> PathBuf {
        self.data_dir().join("plugins")
    }

    /// `data/plugins/<name>/`.
    pub fn plugin_dir(&self, name: &str) -> PathBuf {
        self.plugins_dir().join(name)
    }

    /// `data/plugins/<name>/versions/`.
    pub fn plugin_versions_dir(&self, name: &str) -> PathBuf {
        self.plugin_dir(name).join("versions")
    }

    /// `data/plugins/<name>/versions/<version>/`: one unpacked archive.
    pub fn plugin_version_dir(&self, name: &str, version: &str) -> PathBuf {
        self.plugin_versions_dir(name).join(version)
    }

    /// `data/plugins/<name>/versions/<version>/manifest.yaml`: that version's manifest.
    pub fn plugin_version_manifest(&self, name: &str, version: &str) -> PathBuf {
        self.plugin_version_dir(name, version).join(MANIFEST_FILE)
    }

    /// `data/plugins/<name>/storage/`: the only folder the plugin itself may write.
    pub fn plugin_storage_dir(&self, name: &str) -> PathBuf {
        self.plugin_dir(name).join("storage")
    }

    /// `data/plugins/<name>/config.yaml`.
    pub fn plugin_config_file(&self, name: &str) -> PathBuf {
        self.plugin_dir(name).join("config.yaml")
    }

    /// `data/plugins/<name>/handoff.state`: state an unloading instance leaves for the next one.
    pub fn plugin_handoff_file(&self, name: &str) -> PathBuf {
        self.plugin_dir(name).join("handoff.state")
    }

    /// `data/plugins/<name>/attempts.json`: how many hosts died holding each message, kept so a
    /// poison message is still recognised after the daemon restarts.
    pub fn plugin_attempts_file(&self, name: &str) -> PathBuf {
        self.plugin_dir(name).join("attempts.json")
    }

    /// `data/nats/`: the JetStream store.
    pub fn nats_store_dir(&self) -> PathBuf {
        self.data_dir().join("nats")
    }

    /// `data/nats-auth/`: the NATS credentials and the server config that holds them
    /// (mode 0700: nobody but the operator may read a password).
    pub fn nats_auth_dir(&self) -> PathBuf {
        self.data_dir().join("nats-auth")
    }

    /// `data/nats-auth/credentials`: one `user: password` line per NATS user, made at the
    /// first start and reused (mode 0600).
    pub fn nats_credentials_file(&self) -> PathBuf {
        self.nats_auth_dir().join("credentials")
    }

    /// `data/nats-auth/cluster-secret`: the route password every server of a NATS cluster
    /// shares (made by `rosey node secret`, copied to every machine; mode 0600).
    pub fn nats_cluster_secret_file(&self) -> PathBuf {
        self.nats_auth_dir().join("cluster-secret")
    }

    /// `data/nats-auth/nats-server.conf`: written by the daemon at each start of nats-server
    /// (mode 0600: it holds the passwords).
    pub fn nats_server_config(&self) -> PathBuf {
        self.nats_auth_dir().join("nats-server.conf")
    }

    /// `data/run/`.
    pub fn run_dir(&self) -> PathBuf {
        self.data_dir().join("run")
    }

    /// How the folders an upload to the dashboard is kept in while it installs start
    /// (`data/run/.upload-XXXX/`); what a killed daemon left of them goes at its next start.
    pub const UPLOAD_PREFIX: &'static str = ".upload-";

    /// `data/run/rosey.lock`: the `flock` held for the running daemon's life.
    pub fn lock_file(&self) -> PathBuf {
        self.run_dir().join("rosey.lock")
    }

    /// `data/run/rosey.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir().join("rosey.pid")
    }

    /// `data/run/rosey.sock`: the control socket.
    pub fn socket_file(&self) -> PathBuf {
        self.run_dir().join("rosey.sock")
    }

    /// `data/web-token`: the dashboard's token, generated at the first start when `web.token`
    /// is not set (mode 0600: whoever reads it drives the bot).
    pub fn web_token_file(&self) -> PathBuf {
        self.data_dir().join("web-token")
    }

    /// `.tools/nats/bin/nats-server`: a nats-server kept in the home, used when present.
    pub fn nats_server_tool(&self) -> PathBuf {
        self.root.join(NATS_SERVER_TOOL)
    }

    /// `logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `logs/<service>.log` (`rosey`, `bot`, `nats`, `web`).
    pub fn service_log(&self, service: &str) -> PathBuf {
        self.logs_dir().join(format!("{service}.log"))
    }

    /// `logs/plugins/`: one log per plugin.
    pub fn plugin_logs_dir(&self) -> PathBuf {
        self.logs_dir().join("plugins")
    }

    /// `logs/plugins/<name>.log`.
    pub fn plugin_log(&self, name: &str) -> PathBuf {
        self.plugin_logs_dir().join(format!("{name}.log"))
    }
}

/// The `n`-th rotated file of log `path` (`bot.log` → `bot.log.1`, the newest rotated one).
pub fn rotated_log(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The key-value store's file inside a plugin's storage folder (the host opens it).
pub use rosey_host::storage::KV_FILE_NAME;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_components_are_dropped() {
        assert_eq!(Home::new("/srv/./rosey/.").root(), Path::new("/srv/rosey"));
        assert!(!Home::new(".")
            .registry_file()
            .to_string_lossy()
            .contains("/./"));
    }

    #[test]
    fn relative_roots_become_absolute() {
        let home = Home::new("some/where");
        assert!(home.root().is_absolute());
        assert!(home
            .registry_file()
            .ends_with("some/where/data/registry.json"));
    }

    #[test]
    fn plugin_paths_stay_inside_the_plugin_folder() {
        let home = Home::new("/srv/rosey");
        let dir = home.plugin_dir("quote-db");
        for path in [
            home.plugin_storage_dir("quote-db"),
            home.plugin_config_file("quote-db"),
            home.plugin_handoff_file("quote-db"),
            home.plugin_attempts_file("quote-db"),
            home.plugin_version_dir("quote-db", "1.0.0"),
            home.plugin_version_manifest("quote-db", "1.0.0"),
        ] {
            assert!(path.starts_with(&dir), "{path:?} outside {dir:?}");
        }
    }
}

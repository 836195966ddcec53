//! The lock on the message bus: who may connect to the managed nats-server and what each may do.
//!
//! The daemon's nats-server never accepts an anonymous client. At the first start the daemon
//! makes one random password per user ([`BusUser`]) and keeps them in
//! `data/nats-auth/credentials` (folder 0700, file 0600); later starts reuse them. The server
//! runs from a config file this module writes (`data/nats-auth/nats-server.conf`, 0600), which
//! names the users and their permissions:
//!
//! - `rosey` ([`BusUser::Daemon`]): everything. Only the daemon (and tests and benchmarks that
//!   stand in for it) connect as it.
//! - `rosey-reader` ([`BusUser::Reader`]): for the operator's own tools. It may subscribe to
//!   `rosey.>` and JetStream advisories, and read stream and consumer info; it may not publish
//!   a command or an event, nor create, change or delete a stream or consumer. A leaked reader
//!   password shows what the bot hears, and nothing more.
//!
//! Every connection to the bus is built here ([`Credentials::connect_options`]), so passwords
//! are handled in one place and never appear in a URL, a log line or a status report.

use std::{
    fmt,
    fs::{self, Permissions},
    io::{self, Read},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use crate::{config::NatsTls, messaging, paths::Home};

mod cluster;
#[cfg(feature = "tls")]
mod tls;

pub use cluster::{make_cluster_secret, ClusterSettings, ROUTE_USER};

/// A NATS user of the managed server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusUser {
    /// The daemon: may do everything.
    Daemon,
    /// The operator's tools: may watch, not act.
    Reader,
}

impl BusUser {
    /// Every user, in the order the credentials file lists them.
    pub const ALL: [BusUser; 2] = [BusUser::Daemon, BusUser::Reader];

    /// The user name the server knows it by.
    pub fn name(self) -> &'static str {
        match self {
            BusUser::Daemon => "rosey",
            BusUser::Reader => "rosey-reader",
        }
    }
}

/// What the read-only user may publish: JetStream's read-only API requests (answers come to
/// its `_INBOX`).
const READER_PUBLISH: &[&str] = messaging::JETSTREAM_READ_ONLY_API;

/// What the read-only user may subscribe to.
const READER_SUBSCRIBE: &[&str] = &[
    messaging::ROSEY_ALL,
    messaging::INBOX_ALL,
    messaging::JETSTREAM_EVENTS_ALL,
];

/// The passwords of the bus's users, and the server's certificate when the bus uses TLS.
/// `Debug` never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    daemon: String,
    reader: String,
    /// The routes' password (the user [`ROUTE_USER`]), shared by every server of a cluster:
    /// read from the home's cluster secret by [`Credentials::with_cluster_secret`].
    route: Option<String>,
    /// The server certificate (DER) clients accept, when `nats.tls` is set.
    server_cert: Option<Vec<u8>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

/// Why the bus's credentials or server config could not be read, made or used.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The credentials file is missing or unreadable.
    #[error("cannot read the NATS credentials {}: {source} (the daemon makes them at its first start)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The credentials file does not hold a password for every user.
    #[error("the NATS credentials {} are damaged: {reason}; remove the file and restart the daemon to make new ones", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong (part of the message, not a separate cause).
        reason: CredentialsError,
    },
    /// `nats.cluster` is set and the home has no cluster secret.
    #[error("nats.cluster is set but {} is missing: run `rosey node secret` on one machine of the cluster and copy the file it makes to this path on every other one (mode 0600)", path.display())]
    NoClusterSecret {
        /// Where it should be.
        path: PathBuf,
    },
    /// The cluster secret's file holds no usable secret.
    #[error("the cluster secret {} holds no secret (a line of at least 16 characters, no spaces): copy the file again from the machine where `rosey node secret` made it", path.display())]
    BadClusterSecret {
        /// The file.
        path: PathBuf,
    },
    /// A file or folder could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `nats.tls` names a certificate that cannot be used.
    #[error("nats.tls: {0}")]
    Tls(String),
    /// The system's random source failed.
    #[error("cannot make a random password: {0}")]
    Random(io::Error),
    /// The server refused or could not be reached.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The URL (never with credentials).
        url: String,
        /// Why.
        reason: String,
    },
}

/// What is wrong with the text of a credentials file, so a tool can name the user whose
/// password is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// No line gives `user` a non-empty password.
    #[error("no password for user {}", user.name())]
    NoPassword {
        /// The user without one.
        user: BusUser,
    },
}

impl Credentials {
    /// Reads the credentials the daemon made for `home`.
    pub fn load(home: &Home) -> Result<Credentials, BusError> {
        let path = home.nats_credentials_file();
        let text = fs::read_to_string(&path).map_err(|source| BusError::Read {
            path: path.clone(),
            source,
        })?;
        Credentials::parse(&text).map_err(|reason| BusError::Malformed { path, reason })
    }

    /// Reads the credentials of `home`, making them first when there are none (the daemon's
    /// first start). The folder is kept at 0700 and the file at 0600 either way.
    pub fn load_or_create(home: &Home) -> Result<Credentials, BusError> {
        let path = home.nats_credentials_file();
        if keep_private(home, &path)? {
            return Credentials::load(home);
        }
        let credentials = Credentials {
            daemon: random_password()?,
            reader: random_password()?,
            route: None,
            server_cert: None,
        };
        write_private(&path, &credentials.render())?;
        Ok(credentials)
    }

    /// These credentials, with clients requiring TLS and accepting only the certificate
    /// `nats.tls` names (its path relative to `home` unless absolute); unchanged when `tls`
    /// is `None`.
    pub fn with_tls(mut self, home: &Home, tls: Option<&NatsTls>) -> Result<Credentials, BusError> {
        let Some(tls) = tls else {
            return Ok(self);
        };
        #[cfg(feature = "tls")]
        {
            let cert = tls::read_cert(&tls.cert_path(home))
                .map_err(|err| BusError::Tls(err.to_string()))?;
            self.server_cert = Some(cert);
            Ok(self)
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (home, tls, &mut self);
            Err(BusError::Tls(
                "this rosey was built without TLS (feature `tls`)".to_owned(),
            ))
        }
    }

    /// Reads the credentials of `home` and its `rosey.yaml`'s `nats.tls`: what a client other
    /// than the daemon (a test, the benchmark harness) needs to connect as the daemon does.
    pub fn load_for_clients(home: &Home) -> Result<Credentials, BusError> {
        let config =
            crate::config::Config::load(home).map_err(|err| BusError::Tls(err.to_string()))?;
        Credentials::load(home)?.with_tls(home, config.nats.tls.as_ref())
    }

    /// The password of `user`.
    pub fn password(&self, user: BusUser) -> &str {
        match user {
            BusUser::Daemon => &self.daemon,
            BusUser::Reader => &self.reader,
        }
    }

    /// Connect options for `user`: the one place a client gets a password.
    pub fn connect_options(&self, user: BusUser) -> async_nats::ConnectOptions {
        let options = async_nats::ConnectOptions::with_user_and_password(
            user.name().to_owned(),
            self.password(user).to_owned(),
        );
        #[cfg(feature = "tls")]
        if let Some(cert) = &self.server_cert {
            // A config that cannot be built leaves TLS required and unconfigured: the
            // connection fails, it never falls back to clear text.
            let options = options.require_tls(true);
            return match tls::pinned_client_config(cert) {
                Ok(config) => options.tls_client_config(config),
                Err(_) => options,
            };
        }
        options
    }

    /// Connects to `url` as `user`, naming the connection `name` (shown by the server).
    pub async fn connect(
        &self,
        url: &str,
        user: BusUser,
        name: &str,
    ) -> Result<async_nats::Client, BusError> {
        self.connect_options(user)
            .name(name)
            .connect(url)
            .await
            .map_err(|err| BusError::Connect {
                url: url.to_owned(),
                reason: err.to_string(),
            })
    }

    fn render(&self) -> String {
        let mut text = String::from(
            "# NATS passwords of this rosey home, made at the daemon's first start.\n\
             # Keep this file private (0600). Remove it and restart the daemon for new ones.\n",
        );
        for user in BusUser::ALL {
            text.push_str(&format!("{}: {}\n", user.name(), self.password(user)));
        }
        text
    }

    fn parse(text: &str) -> Result<Credentials, CredentialsError> {
        let find = |user: BusUser| {
            text.lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim() == user.name())
                .map(|(_, password)| password.trim().to_owned())
                .filter(|password| !password.is_empty())
                .ok_or(CredentialsError::NoPassword { user })
        };
        Ok(Credentials {
            daemon: find(BusUser::Daemon)?,
            reader: find(BusUser::Reader)?,
            route: None,
            server_cert: None,
        })
    }
}

/// Makes `data/nats-auth/` (0700) and keeps `path`, a file in it, at 0600 when it exists;
/// whether it exists. Every secret of the bus lives there, readable by the operator only.
fn keep_private(home: &Home, path: &Path) -> Result<bool, BusError> {
    let dir = home.nats_auth_dir();
    let written = |path: &Path| {
        let path = path.to_owned();
        move |source| BusError::Write { path, source }
    };
    fs::create_dir_all(&dir).map_err(written(&dir))?;
    fs::set_permissions(&dir, Permissions::from_mode(0o700)).map_err(written(&dir))?;
    if !path.exists() {
        return Ok(false);
    }
    fs::set_permissions(path, Permissions::from_mode(0o600)).map_err(written(path))?;
    Ok(true)
}

/// Writes a secret file (a temp file is made 0600 before anything is written to it).
fn write_private(path: &Path, text: &str) -> Result<(), BusError> {
    crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|source| BusError::Write {
        path: path.to_owned(),
        source,
    })
}

/// 160 random bits from the kernel, as 40 hex digits (safe in any config syntax).
pub(crate) fn random_password() -> Result<String, BusError> {
    let mut bytes = [0u8; 20];
    fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(BusError::Random)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Where and how the managed nats-server listens.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Listen address.
    pub host: String,
    /// Listen port (resolved: not 0).
    pub port: u16,
    /// The JetStream store.
    pub store_dir: PathBuf,
    /// Certificate and key files (absolute), when clients must use TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The most the JetStream file store may use ([`crate::messaging::StoreBudget::total`]).
    pub max_file_store: u64,
    /// The cluster this server joins (`nats.cluster`); `None`: it stands alone.
    pub cluster: Option<ClusterSettings>,
}

/// A string in the server config's syntax (a JSON string is one).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn quoted_list(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|item| quoted(item)).collect();
    format!("[{}]", items.join(", "))
}

/// The nats-server config for `settings` with `credentials`: authentication required, no
/// anonymous user, the reader's permissions.
pub fn server_config(credentials: &Credentials, settings: &ServerSettings) -> String {
    let mut config = String::from(
        "# Written by the rosey daemon at each start of nats-server: edits are overwritten.\n",
    );
    config.push_str(&format!(
        "host: {}\nport: {}\n",
        quoted(&settings.host),
        settings.port
    ));
    config.push_str(&format!(
        "jetstream {{\n  store_dir: {}\n  max_file_store: {}\n}}\n",
        quoted(&settings.store_dir.to_string_lossy()),
        settings.max_file_store
    ));
    if let Some((cert, key)) = &settings.tls {
        config.push_str(&format!(
            "tls {{\n  cert_file: {}\n  key_file: {}\n}}\n",
            quoted(&cert.to_string_lossy()),
            quoted(&key.to_string_lossy())
        ));
    }
    config.push_str("authorization {\n  users: [\n");
    config.push_str(&format!(
        "    {{ user: {}, password: {} }}\n",
        quoted(BusUser::Daemon.name()),
        quoted(credentials.password(BusUser::Daemon))
    ));
    config.push_str(&format!(
        "    {{ user: {}, password: {}, permissions: {{ publish: {{ allow: {} }}, subscribe: {{ allow: {} }} }} }}\n",
        quoted(BusUser::Reader.name()),
        quoted(credentials.password(BusUser::Reader)),
        quoted_list(READER_PUBLISH),
        quoted_list(READER_SUBSCRIBE)
    ));
    config.push_str("  ]\n}\n");
    if let Some(cluster) = &settings.cluster {
        config.push_str(&cluster.render(credentials));
    }
    config
}

/// Writes [`server_config`] to `data/nats-auth/nats-server.conf` (mode 0600) and returns its
/// path.
pub fn write_server_config(
    home: &Home,
    credentials: &Credentials,
    settings: &ServerSettings,
) -> Result<PathBuf, BusError> {
    let path = home.nats_server_config();
    crate::fsutil::write_atomic(&path, server_config(credentials, settings).as_bytes()).map_err(
        |source| BusError::Write {
            path: path.clone(),
            source,
        },
    )?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    mod failures;

    #[test]
    fn credentials_are_made_once_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        let first = Credentials::load_or_create(&home).expect("made");
        assert_eq!(first.password(BusUser::Daemon).len(), 40);
        assert_ne!(
            first.password(BusUser::Daemon),
            first.password(BusUser::Reader)
        );
        let mode = |path: PathBuf| fs::metadata(path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(home.nats_credentials_file()), 0o600);
        assert_eq!(mode(home.nats_auth_dir()), 0o700);
        let again = Credentials::load_or_create(&home).expect("reused");
        assert_eq!(again, first);
        assert!(!format!("{first:?}").contains(first.password(BusUser::Daemon)));
    }

    #[test]
    fn a_damaged_file_names_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        fs::create_dir_all(home.nats_auth_dir()).expect("dir");
        fs::write(home.nats_credentials_file(), "rosey: abc\n").expect("write");
        let err = Credentials::load(&home).expect_err("no reader");
        assert!(err.to_string().contains("rosey-reader"), "{err}");
    }

    #[test]
    fn the_server_config_locks_every_user() {
        let credentials = Credentials {
            daemon: "d".repeat(40),
            reader: "r".repeat(40),
            route: None,
            server_cert: None,
        };
        let config = server_config(
            &credentials,
            &ServerSettings {
                host: "127.0.0.1".into(),
                port: 4222,
                store_dir: "/srv/ro\"sey/data/nats".into(),
                tls: None,
                max_file_store: 64 * 1024 * 1024,
                cluster: None,
            },
        );
        assert!(
            config.contains(r#"store_dir: "/srv/ro\"sey/data/nats""#),
            "{config}"
        );
        assert!(config.contains("authorization"), "{config}");
        assert!(!config.contains("no_auth_user"), "{config}");
        assert!(config.contains(&"r".repeat(40)));
    }
}

//! The cluster block of the managed nats-server's config: this server's name, where it takes
//! routes, the routes it opens, all with the shared route password (and TLS when asked).
//!
//! Every server of a cluster reads the same secret (`data/nats-auth/cluster-secret`, made
//! once by `rosey node secret` and copied to every machine), so the route password it checks
//! is the one the others send. Client passwords stay each home's own: a daemon only ever
//! connects to its own machine's server, and the cluster carries messages between them.

use std::{fs, path::PathBuf};

use super::{keep_private, quoted, random_password, write_private, BusError, Credentials};
use crate::paths::Home;

/// The user the servers of a cluster log in as on each other's routes.
pub const ROUTE_USER: &str = "rosey-route";

/// How this server joins the cluster (`nats.cluster`, resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The cluster's name.
    pub name: String,
    /// This server's unique name.
    pub server_name: String,
    /// Where it listens for routes.
    pub listen: (String, u16),
    /// The other servers' route addresses.
    pub routes: Vec<(String, u16)>,
    /// Certificate, key and CA files (absolute) when the routes use TLS.
    pub tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

/// `host:port`, with brackets around an IPv6 host.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl ClusterSettings {
    /// The lines added to the server config. Without a route password (credentials made
    /// before clusters, on a node that was given an old copy) the routes would be open to
    /// anyone, so none is listed and the block takes no route: see [`Credentials::route`].
    pub(super) fn render(&self, credentials: &Credentials) -> String {
        let mut block = format!("server_name: {}\n", quoted(&self.server_name));
        let Some(password) = credentials.route.as_deref() else {
            return block;
        };
        block.push_str("cluster {\n");
        block.push_str(&format!("  name: {}\n", quoted(&self.name)));
        block.push_str(&format!(
            "  listen: {}\n",
            quoted(&host_port(&self.listen.0, self.listen.1))
        ));
        block.push_str(&format!(
            "  authorization {{ user: {}, password: {} }}\n",
            quoted(ROUTE_USER),
            quoted(password)
        ));
        let routes: Vec<String> = self
            .routes
            .iter()
            .map(|(host, port)| {
                quoted(&format!(
                    "nats-route://{ROUTE_USER}:{password}@{}",
                    host_port(host, *port)
                ))
            })
            .collect();
        block.push_str(&format!("  routes: [{}]\n", routes.join(", ")));
        if let Some((cert, key, ca)) = &self.tls {
            block.push_str(&format!(
                "  tls {{\n    cert_file: {}\n    key_file: {}\n    ca_file: {}\n    verify: true\n  }}\n",
                quoted(&cert.to_string_lossy()),
                quoted(&key.to_string_lossy()),
                quoted(&ca.to_string_lossy())
            ));
        }
        block.push_str("}\n");
        block
    }
}

impl Credentials {
    /// The routes' password, when the home's cluster secret was read.
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// These credentials with the home's cluster secret as the routes' password: what a
    /// start with `nats.cluster` needs. Missing, the error names `rosey node secret`.
    pub fn with_cluster_secret(mut self, home: &Home) -> Result<Credentials, BusError> {
        let path = home.nats_cluster_secret_file();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(BusError::NoClusterSecret { path })
            }
            Err(source) => return Err(BusError::Read { path, source }),
        };
        let secret = text
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with('#'))
            .filter(|secret| secret.len() >= 16 && !secret.contains(char::is_whitespace));
        let Some(secret) = secret else {
            return Err(BusError::BadClusterSecret { path });
        };
        self.route = Some(secret.to_owned());
        Ok(self)
    }
}

/// Makes the home's cluster secret unless it has one; returns its path and whether it was
/// made now. `rosey node secret` runs this on one machine; the file is then copied to the
/// others.
pub fn make_cluster_secret(home: &Home) -> Result<(PathBuf, bool), BusError> {
    let path = home.nats_cluster_secret_file();
    if keep_private(home, &path)? {
        return Ok((path, false));
    }
    let text = format!(
        "# The route password of this rosey cluster: the same file on every machine.\n{}\n",
        random_password()?
    );
    write_private(&path, &text)?;
    Ok((path, true))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn settings() -> ClusterSettings {
        ClusterSettings {
            name: "rosey".into(),
            server_name: "box2".into(),
            listen: ("0.0.0.0".into(), 6222),
            routes: vec![("10.0.0.1".into(), 6222), ("::1".into(), 7000)],
            tls: None,
        }
    }

    fn credentials(route: Option<&str>) -> Credentials {
        Credentials {
            daemon: "d".repeat(40),
            reader: "r".repeat(40),
            route: route.map(str::to_owned),
            server_cert: None,
        }
    }

    #[test]
    fn routes_authenticate_with_the_shared_password() {
        let block = settings().render(&credentials(Some("p4ss")));
        assert!(block.starts_with("server_name: \"box2\"\n"), "{block}");
        assert!(block.contains("name: \"rosey\""), "{block}");
        assert!(block.contains("listen: \"0.0.0.0:6222\""), "{block}");
        assert!(
            block.contains(r#"authorization { user: "rosey-route", password: "p4ss" }"#),
            "{block}"
        );
        assert!(
            block.contains(r#""nats-route://rosey-route:p4ss@10.0.0.1:6222""#),
            "{block}"
        );
        assert!(
            block.contains(r#""nats-route://rosey-route:p4ss@[::1]:7000""#),
            "{block}"
        );
        assert!(!block.contains("tls"), "{block}");
    }

    #[test]
    fn tls_routes_check_their_peers() {
        let mut settings = settings();
        settings.tls = Some(("/h/c.pem".into(), "/h/k.pem".into(), "/h/ca.pem".into()));
        let block = settings.render(&credentials(Some("p")));
        assert!(block.contains("ca_file: \"/h/ca.pem\""), "{block}");
        assert!(block.contains("verify: true"), "{block}");
    }

    #[test]
    fn the_secret_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        let none = credentials(None).with_cluster_secret(&home).unwrap_err();
        assert!(none.to_string().contains("rosey node secret"), "{none}");
        let (path, made) = make_cluster_secret(&home).expect("made");
        assert!(made);
        assert_eq!(
            fs::metadata(&path).expect("stat").permissions().mode() & 0o777,
            0o600
        );
        assert!(!make_cluster_secret(&home).expect("kept").1);
        let read = credentials(None).with_cluster_secret(&home).expect("read");
        assert_eq!(read.route().map(str::len), Some(40));
        fs::write(&path, "# only a comment\n").expect("write");
        let broken = credentials(None).with_cluster_secret(&home).unwrap_err();
        assert!(broken.to_string().contains("cluster secret"), "{broken}");
    }

    #[test]
    fn no_route_password_opens_no_route() {
        let block = settings().render(&credentials(None));
        assert!(!block.contains("cluster"), "{block}");
    }
}

//! The bus's failures, each named with its file or address: credentials not made yet, a
//! server config or certificate that cannot be written or read, a server nobody answers at.

use super::*;

/// Credentials with fixed passwords.
fn fixed() -> Credentials {
    Credentials {
        daemon: "d".repeat(40),
        reader: "r".repeat(40),
        route: None,
        server_cert: None,
    }
}

#[test]
fn missing_credentials_are_named_with_who_makes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let err = Credentials::load(&home).expect_err("none yet");
    assert!(
        matches!(&err, BusError::Read { path, source }
            if *path == home.nats_credentials_file()
                && source.kind() == io::ErrorKind::NotFound),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("(the daemon makes them at its first start)"),
        "{err}"
    );
}

#[test]
fn a_server_config_that_cannot_be_written_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    fs::create_dir_all(home.data_dir()).expect("data");
    fs::write(home.nats_auth_dir(), "a file, not a folder").expect("write");
    let settings = ServerSettings {
        host: "127.0.0.1".into(),
        port: 4222,
        store_dir: dir.path().join("store"),
        tls: None,
        max_file_store: 64 * 1024 * 1024,
        cluster: None,
    };
    let err = write_server_config(&home, &fixed(), &settings).expect_err("no folder");
    assert!(
        matches!(&err, BusError::Write { path, .. } if *path == home.nats_server_config()),
        "{err}"
    );
}

#[cfg(feature = "tls")]
#[test]
fn a_tls_certificate_that_cannot_be_read_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let tls = NatsTls {
        cert: "certs/nats.pem".into(),
        key: "certs/nats.key".into(),
    };
    let err = fixed()
        .with_tls(&home, Some(&tls))
        .expect_err("no certificate");
    assert!(
        matches!(&err, BusError::Tls(reason) if reason.starts_with(&format!(
            "cannot read the certificate {}: ",
            dir.path().join("certs/nats.pem").display()
        ))),
        "{err}"
    );
    assert_eq!(fixed().with_tls(&home, None).expect("no TLS"), fixed());
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_is_named_without_the_password() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let err = fixed()
        .connect(&url, BusUser::Daemon, "test")
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(&err, BusError::Connect { url: named, .. } if *named == url),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot connect to NATS at {url}: ")),
        "{message}"
    );
    assert!(!message.contains(&"d".repeat(40)), "{message}");
}

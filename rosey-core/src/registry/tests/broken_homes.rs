//! A registry that cannot be trusted or a data folder that cannot be written: each is an error
//! naming the file and why, and no update writes anything past it.

use super::*;

/// A home in a fresh temporary folder, with its `data/` folder made.
fn home_with_data() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    std::fs::create_dir_all(home.data_dir()).expect("mkdir data");
    (dir, home)
}

/// An update that would register one plugin.
fn register_one(home: &Home) -> Result<(), RegistryError> {
    Registry::update(home, |registry| {
        registry
            .plugins
            .insert("dice-roller".into(), plugin("1.0.0", &["roll"]));
        Ok::<_, RegistryError>(())
    })
}

#[test]
fn a_registry_that_is_not_utf8_is_corrupt() {
    let (_dir, home) = home_with_data();
    std::fs::write(
        home.registry_file(),
        b"{\"schema\": 1, \"plugins\": {\"\xff\": {}}}",
    )
    .expect("write");
    let err = Registry::load(&home).expect_err("not UTF-8");
    assert!(
        matches!(&err, RegistryError::Corrupt { path, reason }
            if *path == home.registry_file() && reason == "not UTF-8 text"),
        "{err}"
    );
}

#[test]
fn a_registry_that_cannot_be_read_is_an_io_error_naming_it() {
    let (_dir, home) = home_with_data();
    std::fs::create_dir(home.registry_file()).expect("a folder in its place");
    let err = Registry::load(&home).expect_err("a folder");
    assert!(
        matches!(&err, RegistryError::Io { what: "read", path, error }
            if *path == home.registry_file()
                && error.kind() == std::io::ErrorKind::IsADirectory),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("; check the permissions of the home's data folder"),
        "{err}"
    );
}

#[test]
fn a_registered_name_that_is_not_a_plugin_name_is_corrupt() {
    let (_dir, home) = home_with_data();
    std::fs::write(
        home.registry_file(),
        r#"{"schema": 1, "plugins": {"../evil": {"version": "1.0.0", "enabled": true, "installed_at_ms": 1}}}"#,
    )
    .expect("write");
    let err = Registry::load(&home).expect_err("bad name");
    assert!(
        matches!(&err, RegistryError::Corrupt { reason, .. }
            if reason == "\"../evil\" is not a valid plugin name"),
        "{err}"
    );
}

#[test]
fn an_update_fails_naming_a_data_folder_that_is_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    std::fs::write(home.data_dir(), "not a folder").expect("write");
    let err = register_one(&home).expect_err("no data folder");
    assert!(
        matches!(&err, RegistryError::Io { what: "create", path, .. } if *path == home.data_dir()),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(home.data_dir()).expect("read"),
        "not a folder"
    );
}

#[test]
fn an_update_fails_naming_a_lock_file_that_cannot_be_opened_and_writes_nothing() {
    let (_dir, home) = home_with_data();
    std::fs::create_dir(home.registry_lock()).expect("a folder in its place");
    let err = register_one(&home).expect_err("no lock");
    assert!(
        matches!(&err, RegistryError::Io { what: "open", path, .. } if *path == home.registry_lock()),
        "{err}"
    );
    assert!(!home.registry_file().exists());
}

#[test]
fn a_commit_that_cannot_replace_the_registry_fails_and_leaves_no_temporary_file() {
    let (_dir, home) = home_with_data();
    let mut transaction = Registry::begin(&home).expect("begin");
    transaction
        .registry
        .plugins
        .insert("dice-roller".into(), plugin("1.0.0", &["roll"]));
    // Something puts a folder where the registry goes while the transaction runs.
    std::fs::create_dir(home.registry_file()).expect("a folder in its place");
    let err = transaction.commit().expect_err("cannot replace");
    assert!(
        matches!(&err, RegistryError::Io { what: "replace", path, .. } if *path == home.registry_file()),
        "{err}"
    );
    drop(transaction);
    let mut left: Vec<String> = std::fs::read_dir(home.data_dir())
        .expect("data")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["registry.json", "registry.lock"]);
    assert!(home.registry_file().is_dir());
}

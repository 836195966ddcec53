//! Plugin archives through a real nats-server's object store, as the main daemon publishes
//! them and a node fetches them: a round trip lands the version whole, and a node refuses an
//! archive whose SHA-256 is not the one the main daemon sent, one that does not unpack, and
//! one that holds another plugin, leaving nothing in its home.

use async_nats::jetstream;
use rosey_core::{
    archive::sha256_hex,
    messaging::{archive_object, StoreBudget, PLUGIN_ARCHIVES_BUCKET},
    paths::Home,
};

use super::nats::TestNats;
use crate::stack::archives;

/// A store budget of one copy (one server).
fn store() -> StoreBudget {
    StoreBudget::new(256 * 1024 * 1024)
}

/// The manifest of version `version` of plugin `name`.
fn manifest_text(name: &str, version: &str) -> String {
    format!(
        "name: {name}\nversion: {version}\ndescription: Rolls dice\nauthor: rosey\n\
         library: libplugin.so\nabi: {}\ncommands: [roll]\nevents: []\n\
         permissions: [send_messages]\n",
        rosey_abi::ABI_VERSION
    )
}

/// A home with version `version` of plugin `name` installed (a manifest, a library and a
/// default config).
fn home_with(name: &str, version: &str) -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().expect("temp home");
    let home = Home::new(dir.path());
    let version_dir = home.plugin_version_dir(name, version);
    std::fs::create_dir_all(&version_dir).expect("version folder");
    std::fs::write(
        home.plugin_version_manifest(name, version),
        manifest_text(name, version),
    )
    .expect("manifest");
    std::fs::write(version_dir.join("libplugin.so"), b"\x7fELF not really").expect("library");
    std::fs::write(version_dir.join("config.default.yaml"), b"sides: 6\n").expect("config");
    (dir, home)
}

/// An empty home, as a node's is before its first plugin.
fn empty_home() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().expect("temp home");
    let home = Home::new(dir.path());
    (dir, home)
}

/// What is in the plugin's versions folder of `home` (hidden work folders too).
fn versions_of(home: &Home, name: &str) -> Vec<String> {
    match std::fs::read_dir(home.plugin_versions_dir(name)) {
        Ok(entries) => entries
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Puts `bytes` in the archives bucket as the object of `name` v`version`.
async fn put_raw(js: &jetstream::Context, name: &str, version: &str, bytes: &[u8]) {
    let bucket = js
        .get_object_store(PLUGIN_ARCHIVES_BUCKET)
        .await
        .expect("the bucket the publish made");
    bucket
        .put(archive_object(name, version).as_str(), &mut &bytes[..])
        .await
        .expect("put");
}

/// The bytes of the object of `name` v`version`.
async fn get_raw(js: &jetstream::Context, name: &str, version: &str) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let bucket = js
        .get_object_store(PLUGIN_ARCHIVES_BUCKET)
        .await
        .expect("bucket");
    let mut object = bucket
        .get(archive_object(name, version).as_str())
        .await
        .expect("object");
    let mut bytes = Vec::new();
    object.read_to_end(&mut bytes).await.expect("read");
    bytes
}

/// A server, a connection to its JetStream, and dice v1.2.0 published from a main home (the
/// server and the home live as long as what is returned); the last item is its SHA-256.
async fn published() -> (TestNats, jetstream::Context, tempfile::TempDir, String) {
    let nats = TestNats::start(256 * 1024 * 1024).await;
    let js = jetstream::new(nats.client().await);
    let (main_dir, main) = home_with("dice", "1.2.0");
    let sha256 = archives::publish(&js, &store(), &main, "dice", "1.2.0")
        .await
        .expect("published");
    (nats, js, main_dir, sha256)
}

#[tokio::test]
async fn a_published_version_is_fetched_whole_and_checked_and_a_second_fetch_keeps_it() {
    let (_nats, js, _main, sha256) = published().await;
    assert_eq!(sha256, sha256_hex(&get_raw(&js, "dice", "1.2.0").await));

    let (_node_dir, node) = empty_home();
    archives::fetch(&js, &store(), &node, "dice", "1.2.0", &sha256)
        .await
        .expect("fetched");
    let placed = node.plugin_version_dir("dice", "1.2.0");
    assert_eq!(
        std::fs::read(placed.join("libplugin.so")).expect("library"),
        b"\x7fELF not really"
    );
    assert_eq!(
        std::fs::read_to_string(placed.join("config.default.yaml")).expect("default config"),
        "sides: 6\n"
    );
    assert_eq!(versions_of(&node, "dice"), vec!["1.2.0".to_owned()]);
    // Already there: kept as it is, not fetched again (the object may be gone by now).
    js.get_object_store(PLUGIN_ARCHIVES_BUCKET)
        .await
        .expect("bucket")
        .delete(archive_object("dice", "1.2.0").as_str())
        .await
        .expect("delete");
    archives::fetch(&js, &store(), &node, "dice", "1.2.0", &sha256)
        .await
        .expect("kept");
}

#[tokio::test]
async fn a_node_refuses_an_archive_changed_in_the_store_and_keeps_nothing_of_it() {
    let (_nats, js, _main, sha256) = published().await;
    let (_node_dir, node) = empty_home();

    // Someone with access to the store swapped the object: its SHA-256 is not the one sent.
    let mut tampered = get_raw(&js, "dice", "1.2.0").await;
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    put_raw(&js, "dice", "1.2.0", &tampered).await;
    let refused = archives::fetch(&js, &store(), &node, "dice", "1.2.0", &sha256)
        .await
        .expect_err("a changed archive is refused");
    assert!(
        refused.contains("SHA-256") && refused.contains(&sha256),
        "{refused}"
    );
    assert!(versions_of(&node, "dice").is_empty(), "nothing placed");

    // An object whose SHA-256 matches what was sent but that is no archive: the unpack's
    // checks refuse it, and its work folder goes with the refusal.
    let junk = b"not a roseyplug at all".to_vec();
    put_raw(&js, "dice", "1.2.0", &junk).await;
    let refused = archives::fetch(&js, &store(), &node, "dice", "1.2.0", &sha256_hex(&junk))
        .await
        .expect_err("junk is refused");
    assert!(refused.contains("is refused"), "{refused}");
    assert!(
        versions_of(&node, "dice").is_empty(),
        "{:?}",
        versions_of(&node, "dice")
    );

    // A good archive of another plugin under this one's name: refused for what it holds.
    let (_other_dir, other) = home_with("impostor", "1.2.0");
    archives::publish(&js, &store(), &other, "impostor", "1.2.0")
        .await
        .expect("published");
    let impostor = get_raw(&js, "impostor", "1.2.0").await;
    put_raw(&js, "dice", "1.2.0", &impostor).await;
    let refused = archives::fetch(
        &js,
        &store(),
        &node,
        "dice",
        "1.2.0",
        &sha256_hex(&impostor),
    )
    .await
    .expect_err("another plugin is refused");
    assert!(refused.contains("holds impostor v1.2.0"), "{refused}");
    assert!(
        versions_of(&node, "dice").is_empty(),
        "{:?}",
        versions_of(&node, "dice")
    );

    // And a version nobody published is a clear error, not a wait.
    let missing = archives::fetch(&js, &store(), &node, "dice", "9.9.9", &sha256)
        .await
        .expect_err("no such object");
    assert!(missing.contains("cannot fetch dice v9.9.9"), "{missing}");
}

#[tokio::test]
async fn a_version_that_is_not_installed_is_not_published() {
    let nats = TestNats::start(256 * 1024 * 1024).await;
    let js = jetstream::new(nats.client().await);
    let (_dir, home) = empty_home();
    let refused = archives::publish(&js, &store(), &home, "dice", "1.2.0")
        .await
        .expect_err("nothing to pack");
    assert!(refused.contains("plugin dice"), "{refused}");
}

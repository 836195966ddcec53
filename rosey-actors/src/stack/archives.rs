//! Plugin archives across machines: the main daemon packs an installed version into a
//! `.roseyplug` and puts it in the cluster's object store ([`PLUGIN_ARCHIVES_BUCKET`]); a node
//! fetches it, checks its SHA-256 against the one the main daemon sent and every file against
//! the archive's own checksums (the install's rules, by unpacking it), and places the version
//! folder in its own home. A node never reads the main daemon's home.

use std::path::Path;

use async_nats::jetstream::{self, object_store};
use rosey_core::{
    archive::{self, sha256_hex, PackSource},
    manifest::Manifest,
    messaging::{archive_object, StoreBudget, PLUGIN_ARCHIVES_BUCKET},
    paths::Home,
};
use tokio::io::AsyncReadExt;

/// How long a node may take to fetch one archive.
const FETCH_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// The bucket, made (with `store`'s copies and room) if missing.
async fn bucket(
    js: &jetstream::Context,
    store: &StoreBudget,
) -> Result<object_store::ObjectStore, String> {
    if let Ok(bucket) = js.get_object_store(PLUGIN_ARCHIVES_BUCKET).await {
        return Ok(bucket);
    }
    js.create_object_store(object_store::Config {
        bucket: PLUGIN_ARCHIVES_BUCKET.to_owned(),
        description: Some("rosey plugin archives, for plugin nodes".to_owned()),
        max_bytes: i64::try_from(StoreBudget::ARCHIVES).unwrap_or(i64::MAX),
        num_replicas: store.replicas(),
        ..Default::default()
    })
    .await
    .map_err(|err| format!("cannot make the object store {PLUGIN_ARCHIVES_BUCKET}: {err}"))
}

/// Packs installed version `version` of plugin `name` from `home` and puts it in the object
/// store; returns its SHA-256 (hex), which a node checks what it fetched against.
pub(crate) async fn publish(
    js: &jetstream::Context,
    store: &StoreBudget,
    home: &Home,
    name: &str,
    version: &str,
) -> Result<String, String> {
    let bytes = pack_installed(home, name, version)?;
    let sha256 = sha256_hex(&bytes);
    // Tried again while the cluster is electing a leader, or a bucket made a moment ago does
    // not take chunks on every server yet.
    crate::services::cluster_store::patiently(|| async {
        bucket(js, store)
            .await?
            .put(
                archive_object(name, version).as_str(),
                &mut bytes.as_slice(),
            )
            .await
            .map_err(|err| format!("cannot put {name} v{version} in the object store: {err}"))
    })
    .await?;
    Ok(sha256)
}

/// The text of plugin `name`'s `config.yaml` in the main daemon's home, which travels to its
/// node with a start, an update or new settings (`None`: the operator has none).
pub(crate) fn operator_config(home: &Home, name: &str) -> Result<Option<String>, String> {
    match std::fs::read_to_string(home.plugin_config_file(name)) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("cannot read the plugin's config.yaml: {err}")),
    }
}

/// The `.roseyplug` of an installed version, as bytes (packed into a temporary folder, with
/// the install's checks).
fn pack_installed(home: &Home, name: &str, version: &str) -> Result<Vec<u8>, String> {
    let dir = home.plugin_version_dir(name, version);
    let manifest = Manifest::load(&home.plugin_version_manifest(name, version))
        .map_err(|err| format!("plugin {name}: {err}"))?;
    let default_config = dir.join(archive::DEFAULT_CONFIG_FILE);
    let assets = dir.join(archive::ASSETS_DIR);
    let library = dir.join(&manifest.library);
    let out =
        tempfile::tempdir().map_err(|err| format!("cannot make a temporary folder: {err}"))?;
    let packed = archive::pack(
        &PackSource {
            manifest: &manifest,
            library: &library,
            default_config: default_config.is_file().then_some(default_config.as_path()),
            assets: assets.is_dir().then_some(assets.as_path()),
        },
        out.path(),
    )
    .map_err(|err| format!("cannot pack {name} v{version}: {err}"))?;
    std::fs::read(&packed).map_err(|err| format!("cannot read {}: {err}", packed.display()))
}

/// Makes sure version `version` of plugin `name` is unpacked in `home`: fetched from the
/// object store, checked against `sha256` and its own checksums, and moved into place whole
/// (a half-fetched version never appears).
pub(crate) async fn fetch(
    js: &jetstream::Context,
    store: &StoreBudget,
    home: &Home,
    name: &str,
    version: &str,
    sha256: &str,
) -> Result<(), String> {
    let target = home.plugin_version_dir(name, version);
    if target.is_dir() {
        return Ok(());
    }
    // Bounded: a read the cluster stops feeding (a server lost mid-read) fails this start,
    // which the main daemon tries again, rather than holding the node's requests.
    let fetched = async {
        let bucket = bucket(js, store).await?;
        let mut object = bucket
            .get(archive_object(name, version).as_str())
            .await
            .map_err(|err| {
                format!("cannot fetch {name} v{version} from the object store: {err}")
            })?;
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|err| format!("cannot read {name} v{version} from the object store: {err}"))?;
        Ok::<_, String>(bytes)
    };
    let bytes = tokio::time::timeout(FETCH_TIME, fetched)
        .await
        .map_err(|_| {
            format!("{name} v{version} did not come from the object store within {FETCH_TIME:?}")
        })??;
    let got = sha256_hex(&bytes);
    if got != sha256 {
        return Err(format!(
            "the archive of {name} v{version} fetched from the object store has SHA-256 {got}, not the {sha256} the main daemon sent: not installed"
        ));
    }
    place(home, name, version, &bytes, &target)
}

/// Unpacks `bytes` (checked) beside `target` and renames it into place.
fn place(
    home: &Home,
    name: &str,
    version: &str,
    bytes: &[u8],
    target: &Path,
) -> Result<(), String> {
    let versions = home.plugin_versions_dir(name);
    std::fs::create_dir_all(&versions)
        .map_err(|err| format!("cannot create {}: {err}", versions.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&versions)
        .map_err(|err| format!("cannot make a folder in {}: {err}", versions.display()))?;
    let file = work.path().join("archive.roseyplug");
    std::fs::write(&file, bytes)
        .map_err(|err| format!("cannot write {}: {err}", file.display()))?;
    let unpacked_dir = work.path().join("unpacked");
    let unpacked = archive::unpack(&file, &unpacked_dir)
        .map_err(|err| format!("the archive of {name} v{version} is refused: {err}"))?;
    if unpacked.manifest.name != name || unpacked.manifest.version.to_string() != version {
        return Err(format!(
            "the object store's archive for {name} v{version} holds {} v{}: not installed",
            unpacked.manifest.name, unpacked.manifest.version
        ));
    }
    std::fs::rename(&unpacked_dir, target)
        .map_err(|err| format!("cannot move {name} v{version} into place: {err}"))
}

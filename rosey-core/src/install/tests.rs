//! Tests of install, remove and info, with archives written by [`crate::archive::pack`] around a
//! fake library and a load check that needs no plugin host.

use std::{collections::BTreeMap, path::Path};

use super::*;
use crate::archive::{pack, PackSource};

struct Fixture {
    dir: tempfile::TempDir,
    home: Home,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path().join("home"));
    std::fs::create_dir_all(home.root()).expect("home");
    Fixture { dir, home }
}

impl Fixture {
    /// Packs a plugin `name` v`version` claiming `commands`, with a default config.
    fn archive(&self, name: &str, version: &str, commands: &[&str]) -> PathBuf {
        self.archive_with_assets(name, version, commands, None)
    }

    /// [`Fixture::archive`], with the files of `assets` packed as `assets/…`.
    fn archive_with_assets(
        &self,
        name: &str,
        version: &str,
        commands: &[&str],
        assets: Option<&Path>,
    ) -> PathBuf {
        let src = self.dir.path().join(format!("src-{name}-{version}"));
        std::fs::create_dir_all(&src).expect("src");
        let library = src.join("libplugin.so");
        std::fs::write(&library, format!("{name} {version}")).expect("lib");
        let config = src.join("config.default.yaml");
        std::fs::write(&config, format!("version: {version}\n")).expect("config");
        let manifest = Manifest {
            failure_reply: true,
            name: name.into(),
            version: version.parse().expect("version"),
            description: "test plugin".into(),
            author: "tests".into(),
            library: "libplugin.so".into(),
            abi: rosey_abi::ABI_VERSION,
            commands: commands.iter().map(|c| c.to_string().into()).collect(),
            events: vec!["chat.message".into()],
            permissions: vec!["send_messages".into()],
            channel: Vec::new(),
            publishes: Vec::new(),
            limits: Default::default(),
            network: None,
        };
        let source = PackSource {
            manifest: &manifest,
            library: &library,
            default_config: Some(&config),
            assets,
        };
        pack(&source, &self.dir.path().join("archives")).expect("pack")
    }
}

fn loads(_: &Path) -> Result<(), HookError> {
    Ok(())
}

/// Every path under `root` with its content (folders as `None`).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut tree = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for child in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = child.path();
            if path.is_dir() {
                tree.insert(path.clone(), None);
                stack.push(path);
            } else {
                tree.insert(path.clone(), Some(std::fs::read(&path).expect("read")));
            }
        }
    }
    tree
}

#[test]
fn install_places_files_and_registers() {
    let f = fixture();
    let installed = install(
        &f.home,
        &f.archive("dice-roller", "1.0.0", &["roll"]),
        &loads,
    )
    .expect("install");
    assert!(installed.previous.is_none());
    assert!(installed.config_created);
    let dir = f.home.plugin_version_dir("dice-roller", "1.0.0");
    assert_eq!(installed.version_dir, dir);
    assert!(dir.join("libplugin.so").is_file());
    assert!(dir.join("manifest.yaml").is_file());
    assert!(f.home.plugin_storage_dir("dice-roller").is_dir());
    assert_eq!(
        std::fs::read_to_string(f.home.plugin_config_file("dice-roller")).expect("config"),
        "version: 1.0.0\n"
    );
    let registry = Registry::load(&f.home).expect("registry");
    let entry = registry.get("dice-roller").expect("entry");
    assert_eq!(entry.version, semver::Version::new(1, 0, 0));
    assert!(entry.enabled);
    assert_eq!(entry.commands, vec!["roll"]);
    // No staging folders left behind.
    let versions: Vec<_> = std::fs::read_dir(f.home.plugin_versions_dir("dice-roller"))
        .expect("versions")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(versions, vec!["1.0.0"]);
}

#[test]
fn the_load_check_sees_the_unpacked_library_outside_the_home_and_can_refuse() {
    let f = fixture();
    let before = snapshot(f.home.root());
    let home_root = f.home.root().to_path_buf();
    let check = move |library: &Path| -> Result<(), HookError> {
        assert!(library.is_absolute() && library.is_file());
        assert!(!library.starts_with(&home_root));
        Err("root module not found in libplugin.so".into())
    };
    let err = install(
        &f.home,
        &f.archive("dice-roller", "1.0.0", &["roll"]),
        &check,
    )
    .expect_err("refused");
    assert!(matches!(err, InstallError::LoadFailed { .. }), "{err}");
    assert!(err.to_string().contains("root module not found"), "{err}");
    assert_eq!(snapshot(f.home.root()), before);
}

#[test]
fn same_and_older_versions_are_refused_newer_ones_upgrade() {
    let f = fixture();
    install(
        &f.home,
        &f.archive("dice-roller", "1.1.0", &["roll"]),
        &loads,
    )
    .expect("install");
    std::fs::write(f.home.plugin_config_file("dice-roller"), "mine\n").expect("edit config");
    let before = snapshot(f.home.root());

    let err = install(
        &f.home,
        &f.archive("dice-roller", "1.1.0", &["roll"]),
        &loads,
    )
    .expect_err("same");
    assert!(
        matches!(err, InstallError::AlreadyInstalled { .. }),
        "{err}"
    );
    // Most often an author repacked changed code: the fix is a new version, or `rosey dev`.
    let message = err.to_string();
    for part in [
        "dice-roller v1.1.0 is already installed",
        "bump `version`",
        "`rosey dev`",
        "`rosey plugin reload dice-roller`",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    assert!(!message.contains("remove it first"), "{message}");
    let err = install(
        &f.home,
        &f.archive("dice-roller", "1.0.0", &["roll"]),
        &loads,
    )
    .expect_err("older");
    assert!(matches!(err, InstallError::NotNewer { .. }), "{err}");
    assert_eq!(snapshot(f.home.root()), before);

    let upgraded = install(
        &f.home,
        &f.archive("dice-roller", "2.0.0", &["roll", "flip"]),
        &loads,
    )
    .expect("upgrade");
    assert_eq!(upgraded.previous, Some(semver::Version::new(1, 1, 0)));
    assert!(!upgraded.config_created);
    assert!(f.home.plugin_version_dir("dice-roller", "1.1.0").is_dir());
    assert!(f.home.plugin_version_dir("dice-roller", "2.0.0").is_dir());
    assert_eq!(
        std::fs::read_to_string(f.home.plugin_config_file("dice-roller")).expect("config"),
        "mine\n"
    );
    let info = info(&f.home, "dice-roller").expect("info");
    assert_eq!(info.manifest.version, semver::Version::new(2, 0, 0));
    assert_eq!(info.installed.commands, vec!["roll", "flip"]);
    assert_eq!(info.versions_present.len(), 2);
}

#[test]
fn a_command_claimed_by_another_plugin_is_refused_naming_both() {
    let f = fixture();
    install(
        &f.home,
        &f.archive("dice-roller", "1.0.0", &["roll"]),
        &loads,
    )
    .expect("install");
    let before = snapshot(f.home.root());
    let err = install(
        &f.home,
        &f.archive("better-dice", "1.0.0", &["d20", "roll"]),
        &loads,
    )
    .expect_err("conflict");
    let text = err.to_string();
    assert!(
        text.contains("`roll`") && text.contains("dice-roller"),
        "{text}"
    );
    assert_eq!(snapshot(f.home.root()), before);
}

#[test]
fn a_leftover_of_a_crashed_install_is_replaced() {
    let f = fixture();
    let leftover = f.home.plugin_version_dir("dice-roller", "1.0.0");
    std::fs::create_dir_all(&leftover).expect("mkdir");
    std::fs::write(leftover.join("half-written"), "x").expect("write");
    let staging = f
        .home
        .plugin_versions_dir("dice-roller")
        .join(".staging-1.0.0-1");
    std::fs::create_dir_all(&staging).expect("mkdir");
    install(
        &f.home,
        &f.archive("dice-roller", "1.0.0", &["roll"]),
        &loads,
    )
    .expect("install");
    assert!(!leftover.join("half-written").exists());
    assert!(!staging.exists());
}

#[test]
fn remove_deletes_everything_or_keeps_data() {
    let f = fixture();
    install(
        &f.home,
        &f.archive("dice-roller", "1.0.0", &["roll"]),
        &loads,
    )
    .expect("install");
    install(&f.home, &f.archive("quote-db", "1.0.0", &["quote"]), &loads).expect("install");
    std::fs::write(
        f.home.plugin_storage_dir("quote-db").join("quotes.txt"),
        "hi",
    )
    .expect("data");
    std::fs::write(f.home.plugin_handoff_file("quote-db"), "state").expect("handoff");

    let removed = remove(&f.home, "quote-db", true).expect("remove");
    assert!(removed.kept_data);
    assert!(!f.home.plugin_versions_dir("quote-db").exists());
    assert!(!f.home.plugin_handoff_file("quote-db").exists());
    assert!(f
        .home
        .plugin_storage_dir("quote-db")
        .join("quotes.txt")
        .is_file());
    assert!(f.home.plugin_config_file("quote-db").is_file());
    assert!(Registry::load(&f.home)
        .expect("registry")
        .get("quote-db")
        .is_none());

    remove(&f.home, "dice-roller", false).expect("remove");
    assert!(!f.home.plugin_dir("dice-roller").exists());
    assert!(Registry::load(&f.home)
        .expect("registry")
        .plugins
        .is_empty());

    let err = remove(&f.home, "dice-roller", false).expect_err("gone");
    assert!(
        err.to_string().contains("no plugins are installed"),
        "{err}"
    );
}

#[test]
fn unknown_names_list_the_installed_ones() {
    let f = fixture();
    install(
        &f.home,
        &f.archive("dice-roller", "1.0.0", &["roll"]),
        &loads,
    )
    .expect("install");
    install(&f.home, &f.archive("quote-db", "1.0.0", &["quote"]), &loads).expect("install");
    let before = snapshot(f.home.root());
    for err in [
        remove(&f.home, "dice", false).expect_err("unknown"),
        info(&f.home, "dice").expect_err("unknown"),
    ] {
        assert!(
            err.to_string().contains("installed: dice-roller, quote-db"),
            "{err}"
        );
    }
    assert_eq!(snapshot(f.home.root()), before);
}

#[test]
fn asset_folders_are_installed_with_the_version() {
    let f = fixture();
    let assets = f.dir.path().join("assets");
    std::fs::create_dir_all(assets.join("faces/large")).expect("mkdir");
    std::fs::write(assets.join("faces/large/six.txt"), "six").expect("write");
    let archive = f.archive_with_assets("dice-roller", "1.0.0", &["roll"], Some(&assets));
    let installed = install(&f.home, &archive, &loads).expect("install");
    assert_eq!(
        std::fs::read_to_string(installed.version_dir.join("assets/faces/large/six.txt"))
            .expect("asset"),
        "six"
    );
}

#[test]
fn a_failed_activation_takes_back_the_files_it_made_including_the_new_config() {
    let f = fixture();
    // What a plugin removed with --keep-data leaves: its storage, without a config.
    let storage = f.home.plugin_storage_dir("dice-roller");
    std::fs::create_dir_all(&storage).expect("storage");
    std::fs::write(storage.join("kept.db"), "kept").expect("data");

    let mut activate = |manifest: &Manifest, previous: Option<&InstalledPlugin>| {
        assert_eq!(manifest.name, "dice-roller");
        assert!(previous.is_none());
        assert!(
            f.home.plugin_config_file("dice-roller").is_file(),
            "the config is in place when the stack starts the plugin"
        );
        Err::<(), HookError>("the new version did not answer".into())
    };
    let err = install_with(
        &f.home,
        &f.archive("dice-roller", "1.0.0", &["roll"]),
        &loads,
        &mut activate,
    )
    .expect_err("activation failed");
    assert!(
        matches!(err, InstallError::ActivationFailed { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "dice-roller v1.0.0 did not start in the running stack, so nothing was installed: the new version did not answer"
    );
    assert!(!f.home.plugin_config_file("dice-roller").exists());
    assert!(
        !f.home.plugin_versions_dir("dice-roller").exists(),
        "the versions folder it made is gone too"
    );
    assert_eq!(
        std::fs::read_to_string(storage.join("kept.db")).expect("kept data"),
        "kept"
    );
    assert!(Registry::load(&f.home)
        .expect("registry")
        .get("dice-roller")
        .is_none());
}

#[test]
fn info_on_a_plugin_whose_manifest_is_gone_says_it_is_broken_and_how_to_fix_it() {
    let f = fixture();
    install(
        &f.home,
        &f.archive("dice-roller", "1.0.0", &["roll"]),
        &loads,
    )
    .expect("install");
    let manifest = f.home.plugin_version_manifest("dice-roller", "1.0.0");
    std::fs::remove_file(&manifest).expect("lose the manifest");
    let err = info(&f.home, "dice-roller").expect_err("broken");
    assert!(
        matches!(&err, InstallError::Broken { name, .. } if name == "dice-roller"),
        "{err}"
    );
    let message = err.to_string();
    let start = format!(
        "plugin dice-roller is registered, but its manifest is unusable (manifest.yaml does not parse: cannot read {}: ",
        manifest.display()
    );
    assert!(message.starts_with(&start), "{message}");
    assert!(
        message.ends_with("): reinstall it (`rosey plugin remove dice-roller --keep-data`, then `rosey plugin install`)"),
        "{message}"
    );
}

#[test]
fn a_failed_activation_on_a_fresh_home_leaves_no_plugin_folders() {
    let f = fixture();
    assert!(!f.home.plugins_dir().exists(), "a fresh home has none");
    let mut activate = |_: &Manifest, _: Option<&InstalledPlugin>| {
        Err::<(), HookError>("the new version did not answer".into())
    };
    install_with(
        &f.home,
        &f.archive("dice-roller", "1.0.0", &["roll"]),
        &loads,
        &mut activate,
    )
    .expect_err("activation failed");
    assert!(
        !f.home.plugins_dir().exists(),
        "every folder the install made was taken back"
    );
}

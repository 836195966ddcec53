//! `rosey plugin pack|install|list|info|remove` on a real plugin (`plugins/dice-roller`),
//! through the real binary; and `rosey plugin new`, whose crate is packed, installed and asked
//! for an answer without an edit.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use rosey_e2e::{
    cli::{
        read_zip, rosey_bin, sha256_hex, with_checksums, workspace_root, zip_bytes, TempHome,
        HOME_MARK_ENV,
    },
    stack::{TestStack, TEST_CONFIG},
};

/// A copy of the archive at `archive` with its manifest's version changed to `version`
/// (checksums recomputed), in the home's scratch folder.
fn with_version(home: &TempHome, archive: &Path, version: &str) -> PathBuf {
    let mut files = read_zip(archive);
    files.retain(|(name, _)| name != "checksums.sha256");
    let manifest = files
        .iter_mut()
        .find(|(name, _)| name == "manifest.yaml")
        .expect("manifest in archive");
    let text = String::from_utf8(manifest.1.clone()).expect("utf-8 manifest");
    let changed = text.replace("version: 0.1.0", &format!("version: {version}"));
    assert_ne!(text, changed, "no `version: 0.1.0` in {text}");
    manifest.1 = changed.into_bytes();
    let path = home
        .scratch()
        .join(format!("dice-roller-{version}.roseyplug"));
    std::fs::write(&path, zip_bytes(&with_checksums(files))).expect("write archive");
    path
}

#[test]
fn pack_writes_a_complete_archive() {
    let home = TempHome::new();
    let archive = home.pack("dice-roller");
    assert_eq!(
        archive.file_name().and_then(|n| n.to_str()),
        Some("dice-roller-0.1.0.roseyplug")
    );
    let files = read_zip(&archive);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "manifest.yaml",
        "libdice_roller.so",
        "config.default.yaml",
        "checksums.sha256",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let manifest = String::from_utf8(files[0].1.clone()).expect("manifest");
    assert!(manifest.contains("version: 0.1.0"), "{manifest}");
    assert!(
        manifest.contains("library: libdice_roller.so"),
        "{manifest}"
    );
    assert!(
        manifest.contains(&format!("abi: {}", rosey_abi::ABI_VERSION)),
        "{manifest}"
    );
    let sums = files
        .iter()
        .find(|(name, _)| name == "checksums.sha256")
        .map(|(_, data)| String::from_utf8_lossy(data).into_owned())
        .expect("checksums");
    for (name, data) in files.iter().filter(|(name, _)| name != "checksums.sha256") {
        assert!(
            sums.contains(&format!("{}  {name}\n", sha256_hex(data))),
            "{name} not listed correctly in:\n{sums}"
        );
    }
    // Packing never touches the home.
    assert!(home.snapshot().is_empty());
}

#[test]
fn pack_refuses_what_is_not_a_plugin_crate() {
    let home = TempHome::new();
    let scratch = home.scratch();
    let stderr = home.run_err(&["plugin", "pack", scratch.to_str().expect("utf-8")]);
    assert!(stderr.contains("is not a Rust crate"), "{stderr}");
    let missing = scratch.join("nowhere");
    let stderr = home.run_err(&["plugin", "pack", missing.to_str().expect("utf-8")]);
    assert!(
        stderr.contains("cannot open the plugin crate folder"),
        "{stderr}"
    );
}

#[test]
fn list_on_an_empty_home_says_so_and_creates_nothing() {
    let home = TempHome::new();
    assert!(home
        .run_ok(&["plugin", "list"])
        .contains("No plugins installed"));
    let json: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["plugin", "list", "--json"])).expect("json");
    assert_eq!(json, serde_json::json!([]));
    let stderr = home.run_err(&["plugin", "info", "dice-roller"]);
    assert!(stderr.contains("no plugins are installed"), "{stderr}");
    assert!(home.snapshot().is_empty(), "{:?}", home.snapshot());
}

#[test]
fn install_list_info_upgrade_and_remove() {
    let home = TempHome::new();
    let archive = home.pack("dice-roller");
    let stdout = home.run_ok(&["plugin", "install", archive.to_str().expect("utf-8")]);
    let expected = "Installing plugin...\n\
                    ✓ Installed dice-roller v0.1.0\n\
                    \n\
                    Permissions: send_messages\n\
                    rosey enforces these: chat, PMs and events the manifest does not allow are refused.\n\
                    \n\
                    rosey is not running: the change takes effect at the next `rosey start`.\n\
                    \n\
                    Next steps:\n\
                    \x20 rosey plugin list              # Verify installation\n\
                    \x20 rosey plugin info dice-roller  # Show details\n";
    assert_eq!(stdout, expected);
    let plugin_dir = home.path().join("data/plugins/dice-roller");
    assert!(plugin_dir
        .join("versions/0.1.0/libdice_roller.so")
        .is_file());
    assert!(plugin_dir.join("storage").is_dir());
    assert!(plugin_dir.join("config.yaml").is_file());

    let list = home.run_ok(&["plugin", "list"]);
    assert!(list.contains("NAME") && list.contains("COMMANDS"), "{list}");
    let row = list
        .lines()
        .find(|line| line.starts_with("dice-roller"))
        .unwrap_or_else(|| panic!("no row in {list}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns, ["dice-roller", "0.1.0", "yes", "roll,", "flip"]);
    let json: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["plugin", "list", "--json"])).expect("json");
    assert_eq!(json[0]["name"], "dice-roller");
    assert_eq!(json[0]["version"], "0.1.0");
    assert_eq!(json[0]["enabled"], true);
    assert_eq!(json[0]["commands"], serde_json::json!(["roll", "flip"]));

    let info = home.run_ok(&["plugin", "info", "dice-roller"]);
    for expected in [
        "dice-roller v0.1.0",
        "Rolls dice",
        "Author:      rosey",
        "Commands:    roll, flip",
        "Permissions: send_messages",
        "Limits:",
        "Versions:    0.1.0 (active)",
        "versions/0.1.0",
        "dice-roller/storage",
        "dice-roller/config.yaml",
    ] {
        assert!(info.contains(expected), "{expected:?} not in:\n{info}");
    }
    let stderr = home.run_err(&["plugin", "info", "dice"]);
    assert!(stderr.contains("installed: dice-roller"), "{stderr}");

    // An upgrade keeps the old version's files and the operator's config.
    std::fs::write(plugin_dir.join("config.yaml"), "max_dice: 3\n").expect("edit config");
    let newer = with_version(&home, &archive, "0.2.0");
    let stdout = home.run_ok(&["plugin", "install", newer.to_str().expect("utf-8")]);
    assert!(
        stdout.contains("✓ Installed dice-roller v0.2.0 (upgraded from v0.1.0"),
        "{stdout}"
    );
    assert!(plugin_dir.join("versions/0.1.0").is_dir());
    assert!(plugin_dir
        .join("versions/0.2.0/libdice_roller.so")
        .is_file());
    assert_eq!(
        std::fs::read_to_string(plugin_dir.join("config.yaml")).expect("config"),
        "max_dice: 3\n"
    );
    let info = home.run_ok(&["plugin", "info", "dice-roller"]);
    assert!(
        info.contains("Versions:    0.1.0, 0.2.0 (active)"),
        "{info}"
    );
    let stderr = home.run_err(&["plugin", "install", archive.to_str().expect("utf-8")]);
    assert!(stderr.contains("which is newer than v0.1.0"), "{stderr}");

    // Without a terminal, deleting data needs --yes.
    std::fs::write(plugin_dir.join("handoff.state"), "state").expect("handoff");
    std::fs::write(plugin_dir.join("storage/kv.sqlite3"), "data").expect("storage");
    let before = home.snapshot();
    let stderr = home.run_err(&["plugin", "remove", "dice-roller"]);
    assert!(stderr.contains("pass --yes to confirm"), "{stderr}");
    assert_eq!(home.snapshot(), before);
    let stderr = home.run_err(&["plugin", "remove", "dice", "--yes"]);
    assert!(
        stderr.contains("no plugin named \"dice\" is installed; installed: dice-roller"),
        "{stderr}"
    );
    assert_eq!(home.snapshot(), before);

    // --keep-data: versions and handed-over state go, storage and config stay.
    let stdout = home.run_ok(&["plugin", "remove", "dice-roller", "--keep-data"]);
    assert!(stdout.contains("✓ Removed dice-roller"), "{stdout}");
    assert!(stdout.contains("data was kept"), "{stdout}");
    assert!(!plugin_dir.join("versions").exists());
    assert!(!plugin_dir.join("handoff.state").exists());
    assert!(plugin_dir.join("storage/kv.sqlite3").is_file());
    assert!(plugin_dir.join("config.yaml").is_file());
    assert!(home
        .run_ok(&["plugin", "list"])
        .contains("No plugins installed"));

    // Reinstalling finds the kept data; a full remove deletes the plugin's folder.
    home.run_ok(&["plugin", "install", archive.to_str().expect("utf-8")]);
    assert_eq!(
        std::fs::read_to_string(plugin_dir.join("config.yaml")).expect("config"),
        "max_dice: 3\n"
    );
    assert!(plugin_dir.join("storage/kv.sqlite3").is_file());
    let stdout = home.run_ok(&["plugin", "remove", "dice-roller", "--yes"]);
    assert!(stdout.contains("✓ Removed dice-roller"), "{stdout}");
    assert!(!plugin_dir.exists());
    let json: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["plugin", "list", "--json"])).expect("json");
    assert_eq!(json, serde_json::json!([]));
}

/// A dependency-free crate in the scratch folder (its own workspace, so it builds in a second
/// without touching this one), with `lib_rs` as its source and `template` as manifest.yaml.
fn tiny_crate(
    home: &TempHome,
    name: &str,
    crate_types: &str,
    lib_rs: &str,
    template: &str,
) -> PathBuf {
    let dir = home.scratch().join(name);
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.3.0\"\nedition = \"2021\"\n\n\
             [lib]\ncrate-type = [{crate_types}]\n\n[workspace]\n"
        ),
    )
    .expect("Cargo.toml");
    std::fs::write(dir.join("src/lib.rs"), lib_rs).expect("lib.rs");
    std::fs::write(dir.join("manifest.yaml"), template).expect("manifest.yaml");
    dir
}

const TEMPLATE: &str = "name: tiny-plugin\ndescription: Tiny\nauthor: tests\ncommands: [tiny]\n";

#[test]
fn pack_reports_build_failures_and_disagreements() {
    let home = TempHome::new();

    let broken = tiny_crate(
        &home,
        "broken",
        "\"cdylib\"",
        "pub fn broken( {\n",
        TEMPLATE,
    );
    let stderr = home.run_err(&["plugin", "pack", broken.to_str().expect("utf-8")]);
    assert!(stderr.contains("cargo build failed"), "{stderr}");
    assert!(
        stderr.contains("unclosed delimiter"),
        "the compiler's rendered diagnostics reach the user: {stderr}"
    );

    let rlib = tiny_crate(&home, "rlib-only", "\"rlib\"", "", TEMPLATE);
    let stderr = home.run_err(&["plugin", "pack", rlib.to_str().expect("utf-8")]);
    assert!(
        stderr.contains("does not build a shared library"),
        "{stderr}"
    );

    let versioned = tiny_crate(
        &home,
        "versioned",
        "\"cdylib\"",
        "",
        &format!("{TEMPLATE}version: 9.9.9\n"),
    );
    let stderr = home.run_err(&["plugin", "pack", versioned.to_str().expect("utf-8")]);
    assert!(stderr.contains("Cargo.toml says 0.3.0"), "{stderr}");

    let invalid = tiny_crate(
        &home,
        "invalid",
        "\"cdylib\"",
        "",
        &TEMPLATE.replace("tiny-plugin", "Tiny"),
    );
    let stderr = home.run_err(&["plugin", "pack", invalid.to_str().expect("utf-8")]);
    assert!(stderr.contains("manifest.yaml: name:"), "{stderr}");

    // A good one packs into the current folder by default, with assets.
    let good = tiny_crate(&home, "good", "\"cdylib\"", "", TEMPLATE);
    std::fs::create_dir_all(good.join("assets/words")).expect("assets");
    std::fs::write(good.join("assets/words/list.txt"), "a\nb\n").expect("asset");
    let stdout = home.run_ok(&["plugin", "pack", good.to_str().expect("utf-8")]);
    assert!(
        stdout.contains("✓ Packed tiny-plugin v0.3.0 → ")
            && stdout.contains("tiny-plugin-0.3.0.roseyplug"),
        "{stdout}"
    );
    let archive = home.scratch().join("tiny-plugin-0.3.0.roseyplug");
    let names: Vec<String> = read_zip(&archive)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(
        names.contains(&"assets/words/list.txt".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"libgood.so".to_string()), "{names:?}");
    assert!(
        !names.contains(&"config.default.yaml".to_string()),
        "{names:?}"
    );
}

/// The workspace's target folder: a crate made by `rosey plugin new` builds into it, so its
/// build reuses the rosey-abi and abi_stable the workspace's builds compiled.
fn shared_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs `rosey --home <home> <args>` from `cwd`, cargo building into [`shared_target`].
fn rosey_in(home: &TempHome, cwd: &Path, args: &[&str]) -> Output {
    Command::new(rosey_bin())
        .arg("--home")
        .arg(home.path())
        .args(args)
        .current_dir(cwd)
        .env_remove("ROSEY_HOME")
        .env(HOME_MARK_ENV, home.path())
        .env("CARGO_TARGET_DIR", shared_target())
        .stdin(Stdio::null())
        .output()
        .expect("run rosey")
}

/// Runs `cargo <args>` building into [`shared_target`]; asserts success, returns stdout.
fn cargo_ok(args: &[&str]) -> String {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(args)
        .env("CARGO_TARGET_DIR", shared_target())
        .stdin(Stdio::null())
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every path under `dir` (relative, sorted), hidden ones included: equal listings mean
/// nothing was left behind.
fn tree(dir: &Path) -> Vec<String> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            let relative = path.strip_prefix(dir).expect("inside").to_owned();
            paths.push(relative.to_string_lossy().into_owned());
        }
    }
    paths.sort();
    paths
}

#[test]
fn plugin_new_makes_a_crate_that_tests_packs_installs_and_answers() {
    let home = TempHome::new();
    std::fs::write(home.path().join("rosey.yaml"), TEST_CONFIG).expect("write rosey.yaml");
    let dir = home.scratch().join("greeter");
    let stdout = home.run_ok(&[
        "plugin",
        "new",
        "greeter",
        "--path",
        dir.to_str().expect("utf-8"),
    ]);
    let real = home
        .scratch()
        .canonicalize()
        .expect("canonical")
        .join("greeter");
    assert!(
        stdout.starts_with(&format!("✓ Created plugin greeter in {}\n", real.display())),
        "{stdout}"
    );
    for expected in [
        "manifest.yaml",
        "src/lib.rs",
        "Next steps:",
        "rosey plugin pack ",
        "rosey plugin install greeter-0.1.0.roseyplug",
        "dev.watch",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }
    assert_eq!(
        tree(&home.scratch()),
        [
            "greeter",
            "greeter/.gitignore",
            "greeter/Cargo.toml",
            "greeter/README.md",
            "greeter/config.default.yaml",
            "greeter/manifest.yaml",
            "greeter/src",
            "greeter/src/lib.rs",
        ]
    );
    // Outside any workspace: a workspace of its own, on this checkout's rosey-abi.
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    let abi = workspace_root()
        .join("rosey-abi")
        .canonicalize()
        .expect("rosey-abi");
    assert!(
        cargo_toml.contains(&format!("rosey-abi = {{ path = \"{}\" }}\n", abi.display())),
        "{cargo_toml}"
    );
    assert!(cargo_toml.contains("\n[workspace]\n"), "{cargo_toml}");

    // The versions rosey was built with (as a fresh resolve would pick, but without the
    // network), so the build reuses what the workspace compiled.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock"))
        .expect("copy Cargo.lock");
    let manifest_path = dir.join("Cargo.toml");
    let tests = cargo_ok(&[
        "test",
        "--manifest-path",
        manifest_path.to_str().expect("utf-8"),
    ]);
    assert!(
        tests.contains("test result: ok. 3 passed")
            && tests.contains("the_plugin_answers_through_the_testing_kit ... ok"),
        "its unit tests and its test through the testing kit pass: {tests}"
    );

    let packs = home.scratch().join("packs");
    let output = rosey_in(
        &home,
        &home.scratch(),
        &[
            "plugin",
            "pack",
            dir.to_str().expect("utf-8"),
            "--out",
            packs.to_str().expect("utf-8"),
        ],
    );
    let packed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pack failed:\n{packed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(packed.contains("✓ Packed greeter v0.1.0 → "), "{packed}");
    let archive = packs.join("greeter-0.1.0.roseyplug");
    let installed = home.run_ok(&["plugin", "install", archive.to_str().expect("utf-8")]);
    assert!(
        installed.contains("✓ Installed greeter v0.1.0"),
        "{installed}"
    );
    assert!(
        installed.contains("Permissions: send_messages"),
        "{installed}"
    );
    let info = home.run_ok(&["plugin", "info", "greeter"]);
    assert!(info.contains("usage: !greeter [name]"), "{info}");

    // The plugin reads the key its config.default.yaml documents.
    let config = home.path().join("data/plugins/greeter/config.yaml");
    let defaults = std::fs::read_to_string(&config).expect("config.yaml from the defaults");
    assert!(defaults.contains("\ngreeting: Hello\n"), "{defaults}");
    std::fs::write(&config, "greeting: Howdy\n").expect("edit config.yaml");

    let stack = TestStack { home };
    stack.start();
    let reply = stack.say_until("!greeter", "Howdy, you!", Duration::from_secs(40));
    assert_eq!(reply, "Howdy, you!\n");
    assert_eq!(stack.say("!greeter \"Mary Ann\""), "Howdy, Mary Ann!\n");
    assert_eq!(
        stack.say("!greeter bob carol"),
        "unexpected \"carol\"\n",
        "the argument error is the reply, as it is"
    );
}

#[test]
fn plugin_new_refuses_a_taken_folder_or_a_bad_name_and_writes_nothing() {
    let home = TempHome::new();
    let scratch = home.scratch();
    std::fs::create_dir(scratch.join("taken")).expect("mkdir");
    std::fs::write(scratch.join("taken/notes.txt"), "mine").expect("write");
    let before = tree(&scratch);

    let taken = scratch.join("taken");
    let stderr = home.run_err(&[
        "plugin",
        "new",
        "greeter",
        "--path",
        taken.to_str().expect("utf-8"),
    ]);
    assert!(
        stderr.contains("already exists and is not empty"),
        "{stderr}"
    );
    assert!(
        stderr.contains("choose another plugin name, or pass --path"),
        "{stderr}"
    );
    // The default folder is ./<name>, here the scratch folder's.
    std::fs::create_dir(scratch.join("greeter")).expect("mkdir");
    std::fs::write(scratch.join("greeter/x"), "").expect("write");
    let stderr = home.run_err(&["plugin", "new", "greeter"]);
    assert!(
        stderr.contains("already exists and is not empty"),
        "{stderr}"
    );
    std::fs::remove_dir_all(scratch.join("greeter")).expect("rm");

    for (name, expected) in [
        ("Greeter", "\"Greeter\" is not a valid plugin name: use 3 to 50 characters of a-z, 0-9 and - (for example \"greeter\")"),
        ("my_plugin", "(for example \"my-plugin\")"),
        ("ab", "is not a valid plugin name"),
        ("bot", "\"bot\" is the name of a part of rosey itself"),
        ("rosey", "for example \"rosey-plugin\""),
        ("greeter-", "start and end the name with a letter or digit"),
    ] {
        let stderr = home.run_err(&["plugin", "new", name]);
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
    assert_eq!(
        tree(&scratch),
        before,
        "nothing written, nothing left behind"
    );
    assert!(home.snapshot().is_empty(), "the home is not touched");
}

#[test]
fn plugin_new_in_a_workspace_plugins_folder_joins_the_workspace() {
    let home = TempHome::new();
    // A workspace laid out like a rosey checkout, with a stand-in rosey-abi.
    let workspace = home.scratch().join("checkout");
    std::fs::create_dir_all(workspace.join("rosey-abi/src")).expect("mkdir");
    std::fs::create_dir_all(workspace.join("plugins")).expect("mkdir");
    std::fs::write(
        workspace.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"rosey-abi\", \"plugins/*\"]\n",
    )
    .expect("write");
    std::fs::write(
        workspace.join("rosey-abi/Cargo.toml"),
        "[package]\nname = \"rosey-abi\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .expect("write");
    std::fs::write(workspace.join("rosey-abi/src/lib.rs"), "").expect("write");
    let plugins = workspace.join("plugins");

    let output = rosey_in(&home, &plugins, &["plugin", "new", "hello-world"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("a member of the workspace at"), "{stdout}");
    assert!(stdout.contains("Or run `rosey dev` from"), "{stdout}");
    let dir = plugins.join("hello-world");
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    assert!(!cargo_toml.contains("[workspace]"), "{cargo_toml}");
    assert!(
        cargo_toml.contains("rosey-abi = { path = \"../../rosey-abi\" }\n"),
        "{cargo_toml}"
    );
    let manifest = std::fs::read_to_string(dir.join("manifest.yaml")).expect("manifest.yaml");
    assert!(manifest.contains("\nname: hello-world\n"), "{manifest}");
    assert!(manifest.contains("\n  - name: hello\n"), "{manifest}");
    assert!(manifest.contains("usage: \"!hello [name]\""), "{manifest}");

    // Cargo sees it as a member of the workspace (what `rosey dev` builds from there).
    let metadata: serde_json::Value = serde_json::from_str(&cargo_ok(&[
        "metadata",
        "--offline",
        "--no-deps",
        "--format-version",
        "1",
        "--manifest-path",
        workspace.join("Cargo.toml").to_str().expect("utf-8"),
    ]))
    .expect("metadata json");
    let members: Vec<&str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|package| package["name"].as_str())
        .collect();
    assert!(members.contains(&"hello-world"), "{members:?}");

    // The same plugin again, in another folder of the workspace, would break `rosey dev`.
    let before = tree(&workspace);
    let other = plugins.join("other");
    let output = rosey_in(
        &home,
        &plugins,
        &[
            "plugin",
            "new",
            "hello-world",
            "--path",
            other.to_str().expect("utf-8"),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("already has a crate named hello-world"),
        "{stderr}"
    );
    assert_eq!(tree(&workspace), before);
}

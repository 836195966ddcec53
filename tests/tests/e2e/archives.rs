//! `rosey plugin install` refuses every bad archive with its own message, exit code 1 and the
//! home byte-for-byte unchanged; two installs at once both land.
//!
//! Needs the `rosey` binary (`cargo build -p rosey`); the tests that install a real plugin
//! pack `plugins/dice-roller` (and friends) with `rosey plugin pack`, which builds them.

use std::{io::Cursor, process::Command};

use rosey_e2e::cli::{
    fake_plugin_files, manifest_yaml, patch_central, rosey_bin, with_checksums, zip_bytes, TempHome,
};
use zip::{write::SimpleFileOptions, ZipWriter};

/// Writes `bytes` as an archive in the scratch folder, installs it, and asserts a refusal
/// whose message contains `expected`, leaving the home exactly as it was.
fn assert_refused(home: &TempHome, label: &str, bytes: &[u8], expected: &str) {
    let path = home.scratch().join(format!("{label}.roseyplug"));
    std::fs::write(&path, bytes).expect("write archive");
    let before = home.snapshot();
    let stderr = home.run_err(&["plugin", "install", path.to_str().expect("utf-8")]);
    println!("{label}: {}", stderr.trim_end());
    assert!(
        stderr.contains(expected),
        "{label}: expected {expected:?} in:\n{stderr}"
    );
    let message_lines = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count();
    assert_eq!(message_lines, 1, "{label}: one message, got:\n{stderr}");
    assert_eq!(home.snapshot(), before, "{label}: the home changed");
}

fn good() -> Vec<(String, Vec<u8>)> {
    with_checksums(fake_plugin_files("fake-plugin", "1.0.0", &["fake"]))
}

fn with(mut files: Vec<(String, Vec<u8>)>, name: &str, data: &[u8]) -> Vec<(String, Vec<u8>)> {
    files.push((name.into(), data.to_vec()));
    files
}

/// Every archive rule, each its own message, on an empty home and on one with a plugin in it.
#[test]
fn bad_archives_are_refused_each_with_its_own_message_and_the_home_unchanged() {
    let empty = TempHome::new();
    let populated = TempHome::new();
    let dice = populated.pack("dice-roller");
    populated.run_ok(&["plugin", "install", dice.to_str().expect("utf-8")]);

    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    cases.push(("not-zip", b"just some text\n".to_vec(), "not a zip file"));
    let bytes = zip_bytes(&good());
    cases.push((
        "truncated",
        bytes[..bytes.len() - 40].to_vec(),
        "corrupt zip archive",
    ));
    let no_manifest = fake_plugin_files("fake-plugin", "1.0.0", &[]).split_off(1);
    cases.push((
        "no-manifest",
        zip_bytes(&with_checksums(no_manifest)),
        "has no manifest.yaml",
    ));
    let mut bad_manifest = fake_plugin_files("fake-plugin", "1.0.0", &[]);
    bad_manifest[0].1 = manifest_yaml("Fake_Plugin", "1.0.0", &[]).into_bytes();
    cases.push((
        "bad-manifest",
        zip_bytes(&with_checksums(bad_manifest)),
        "manifest.yaml: name:",
    ));
    let mut no_library = fake_plugin_files("fake-plugin", "1.0.0", &[]);
    no_library.remove(1);
    cases.push((
        "no-library",
        zip_bytes(&with_checksums(no_library)),
        "names the library \"libfake.so\", but the archive has no such file",
    ));
    cases.push((
        "no-checksums",
        zip_bytes(&fake_plugin_files("fake-plugin", "1.0.0", &[])),
        "has no checksums.sha256",
    ));
    cases.push((
        "malformed-checksums",
        zip_bytes(&with(
            fake_plugin_files("fake-plugin", "1.0.0", &[]),
            "checksums.sha256",
            b"deadbeef manifest.yaml\n",
        )),
        "checksums.sha256 line 1 is malformed",
    ));
    let mut listed_missing = good();
    listed_missing.retain(|(name, _)| name != "assets/readme.txt");
    cases.push((
        "listed-missing",
        zip_bytes(&listed_missing),
        "checksums.sha256 lists \"assets/readme.txt\"",
    ));
    cases.push((
        "unlisted",
        zip_bytes(&with(good(), "assets/extra.txt", b"extra")),
        "\"assets/extra.txt\" is not listed in checksums.sha256",
    ));
    let mut mismatch = good();
    mismatch[1].1 = b"\x7fELF tampered with".to_vec();
    cases.push((
        "mismatch",
        zip_bytes(&mismatch),
        "\"libfake.so\" does not match its sha256",
    ));
    let mut oversize = zip_bytes(&good());
    patch_central(&mut oversize, "assets/readme.txt", 24, 4, 65 << 20);
    cases.push((
        "oversize",
        oversize,
        "more than the limit of 64 MiB per file",
    ));
    let mut total_files = good();
    for i in 0..5 {
        total_files.push((format!("assets/big{i}"), vec![1; 10]));
    }
    let mut total = zip_bytes(&total_files);
    for i in 0..5 {
        patch_central(&mut total, &format!("assets/big{i}"), 24, 4, 60 << 20);
    }
    cases.push((
        "total",
        total,
        "the archive unpacks to 300.0 MiB, more than the limit of 256 MiB",
    ));
    let mut many = good();
    for i in 0..1000 {
        many.push((format!("assets/n{i}"), Vec::new()));
    }
    cases.push((
        "many",
        zip_bytes(&many),
        "entries, more than the limit of 1000",
    ));
    cases.push((
        "bomb",
        zip_bytes(&with(good(), "assets/zeros", &vec![0; 4 << 20])),
        "(a zip bomb?)",
    ));
    let mut liar = zip_bytes(&with(good(), "assets/liar", &[7; 50_000]));
    patch_central(&mut liar, "assets/liar", 24, 4, 10);
    cases.push(("lying-size", liar, "declares 10 bytes but holds more"));
    cases.push((
        "absolute",
        zip_bytes(&with(good(), "/etc/x", b"x")),
        "\"/etc/x\" has an absolute path",
    ));
    cases.push((
        "parent",
        zip_bytes(&with(good(), "../evil", b"x")),
        "\"../evil\" contains a `..` component",
    ));
    cases.push(("symlink", symlink_archive(), "is a symlink"));
    cases.push((
        "duplicate-dot-slash",
        zip_bytes(&with(good(), "./libfake.so", b"x")),
        "holds \"libfake.so\" more than once",
    ));
    cases.push((
        "duplicate-exact",
        exact_duplicate_archive(),
        "holds \"assets/aaaa.txt\" more than once",
    ));
    cases.push((
        "unloadable",
        zip_bytes(&good()),
        "libfake.so: file too short",
    ));

    for (label, bytes, expected) in &cases {
        assert_refused(&empty, label, bytes, expected);
        assert_refused(&populated, label, bytes, expected);
    }
    // A refused install creates nothing at all in an empty home.
    assert!(empty.snapshot().is_empty(), "{:?}", empty.snapshot());
}

fn symlink_archive() -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    for (name, data) in good() {
        zip.start_file(name, options).expect("start");
        std::io::Write::write_all(&mut zip, &data).expect("write");
    }
    zip.add_symlink("assets/passwd", "/etc/passwd", options)
        .expect("symlink");
    zip.finish().expect("finish").into_inner()
}

/// Two entries with exactly the same name (the zip writer refuses, so rename one afterwards).
fn exact_duplicate_archive() -> Vec<u8> {
    let mut files = good();
    files.push(("assets/aaaa.txt".into(), b"one".to_vec()));
    files.push(("assets/aaab.txt".into(), b"two".to_vec()));
    let mut bytes = zip_bytes(&files);
    let needle = b"assets/aaab.txt";
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(needle.len()).position(|w| w == needle) {
        bytes[at + found..at + found + needle.len()].copy_from_slice(b"assets/aaaa.txt");
        at += found + 1;
    }
    bytes
}

/// Conflicts with what is installed: same version, older version, a claimed command.
#[test]
fn conflicts_with_installed_plugins_are_refused_and_the_home_unchanged() {
    let home = TempHome::new();
    let dice = home.pack("dice-roller");
    let dice = dice.to_str().expect("utf-8");
    home.run_ok(&["plugin", "install", dice]);

    let before = home.snapshot();
    // The same version again, by install or update: most often an author repacked changed
    // code, so the message points to a version bump, `rosey dev`, or a reload.
    for command in ["install", "update"] {
        let stderr = home.run_err(&["plugin", command, dice]);
        assert!(
            stderr.contains("dice-roller v0.1.0 is already installed")
                && stderr.contains("bump `version`")
                && stderr.contains("`rosey dev`")
                && stderr.contains("`rosey plugin reload dice-roller`")
                && !stderr.contains("remove it first"),
            "{command}: {stderr}"
        );
        let verb = if command == "update" {
            "cannot update from"
        } else {
            "cannot install"
        };
        assert!(
            stderr.contains(verb),
            "{command} says what failed: {stderr}"
        );
        assert_eq!(home.snapshot(), before, "{command}");
    }

    assert_refused(
        &home,
        "older",
        &zip_bytes(&with_checksums(fake_plugin_files(
            "dice-roller",
            "0.0.1",
            &["roll"],
        ))),
        "dice-roller v0.1.0 is installed, which is newer than v0.0.1",
    );
    assert_refused(
        &home,
        "claims-roll",
        &zip_bytes(&with_checksums(fake_plugin_files("other-dice", "1.0.0", &["d20", "roll"]))),
        "other-dice claims the command `roll`, which the installed plugin dice-roller already handles",
    );
}

/// A library built for another ABI: refused with the host's one line.
#[test]
fn an_abi_mismatch_is_refused_with_the_hosts_reason() {
    let home = TempHome::new();
    let archive = home.pack("fixtures/abi-mismatch");
    let stderr = home.run_err(&["plugin", "install", archive.to_str().expect("utf-8")]);
    assert!(
        stderr.contains("does not load") && stderr.contains("v999"),
        "{stderr}"
    );
    assert!(home.snapshot().is_empty(), "{:?}", home.snapshot());
}

/// The example plugins' crate folders.
const EXAMPLES: [&str; 8] = [
    "dice-roller",
    "quote-db",
    "8ball",
    "markov-chat",
    "remind",
    "trivia",
    "playlist",
    "automod",
];

/// Two `rosey plugin install` processes at once, for different plugins: both end installed
/// and the registry is whole.
#[test]
fn concurrent_installs_both_land() {
    let home = TempHome::new();
    let archives: Vec<_> = EXAMPLES.iter().map(|plugin| home.pack(plugin)).collect();
    for round in 0..3 {
        let children: Vec<_> = archives
            .iter()
            .map(|archive| {
                Command::new(rosey_bin())
                    .arg("--home")
                    .arg(home.path())
                    .args(["plugin", "install"])
                    .arg(archive)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn rosey")
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().expect("wait");
            assert!(
                output.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let registry: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(home.path().join("data/registry.json")).expect("registry"),
        )
        .expect("registry is JSON");
        let names: Vec<_> = registry["plugins"]
            .as_object()
            .expect("plugins")
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            names,
            [
                "8ball",
                "automod",
                "dice-roller",
                "markov-chat",
                "playlist",
                "quote-db",
                "remind",
                "trivia"
            ]
        );
        for plugin in EXAMPLES {
            home.run_ok(&["plugin", "remove", plugin, "--yes"]);
        }
        assert!(home
            .run_ok(&["plugin", "list"])
            .contains("No plugins installed"));
    }
}

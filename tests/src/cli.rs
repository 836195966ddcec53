//! Running the real `rosey` CLI against a throwaway home: the binary, a temp home with a
//! snapshot of everything in it (to prove a refused command changed nothing), packing plugin
//! crates, and building `.roseyplug` archives by hand, good or deliberately broken.

use std::{
    collections::BTreeMap,
    io::{Cursor, Read, Write},
    path::{Path, PathBuf},
    process::{Command, Output},
};

use sha2::{Digest, Sha256};
use zip::{write::SimpleFileOptions, CompressionMethod, ZipArchive, ZipWriter};

/// The workspace root (the folder holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `rosey` binary built from this workspace (`$CARGO_TARGET_DIR` or `<workspace>/target`,
/// debug profile). Panics, saying what to run, when it has not been built.
pub fn rosey_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let bin = target.join("debug/rosey");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p rosey` first",
        bin.display()
    );
    bin
}

/// The environment variable every `rosey` the tests run carries, set to its home, so a stack's
/// processes can all be found (see [`crate::stack::processes_mentioning`]). Plugin hosts do not
/// inherit it (the daemon starts them with an empty environment): they are found as the
/// daemon's children.
pub const HOME_MARK_ENV: &str = "ROSEY_E2E_HOME";

/// A rosey home in a temp folder (removed on drop), plus a scratch folder beside it for
/// archives, so that nothing the test writes lands in the home by accident.
pub struct TempHome {
    dir: tempfile::TempDir,
}

impl Default for TempHome {
    fn default() -> Self {
        Self::new()
    }
}

impl TempHome {
    /// A fresh, empty home.
    pub fn new() -> TempHome {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("home")).expect("home dir");
        std::fs::create_dir(dir.path().join("scratch")).expect("scratch dir");
        TempHome { dir }
    }

    /// The home folder.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A folder outside the home for archives and other test files.
    pub fn scratch(&self) -> PathBuf {
        self.dir.path().join("scratch")
    }

    /// Runs `rosey --home <home> <args>` to completion, from the scratch folder, with stdin
    /// closed (so nothing can wait for an answer).
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_env(args, &[])
    }

    /// As [`TempHome::run`], with `env` added to the environment `rosey` inherits (and so the
    /// daemon it starts).
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(rosey_bin())
            .arg("--home")
            .arg(self.path())
            .args(args)
            .current_dir(self.scratch())
            .env_remove("ROSEY_HOME")
            .env(HOME_MARK_ENV, self.path())
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run rosey")
    }

    /// Runs `rosey` and asserts success; returns stdout.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "rosey {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs `rosey` and asserts it failed with exit code 1; returns stderr.
    pub fn run_err(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "rosey {args:?} should fail with 1:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Every path in the home (relative), with the sha256 of each file's content (`dir/` for
    /// folders, `-> target` for symlinks): equal snapshots mean nothing on disk changed.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        let root = self.path();
        let mut tree = BTreeMap::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
                let path = entry.path();
                let relative = path
                    .strip_prefix(&root)
                    .expect("inside home")
                    .to_string_lossy()
                    .into_owned();
                let kind = std::fs::symlink_metadata(&path).expect("stat").file_type();
                let value = if kind.is_symlink() {
                    format!(
                        "-> {}",
                        std::fs::read_link(&path).expect("readlink").display()
                    )
                } else if kind.is_dir() {
                    stack.push(path);
                    "dir/".to_string()
                } else {
                    hex::encode(Sha256::digest(std::fs::read(&path).expect("read")))
                };
                tree.insert(relative, value);
            }
        }
        tree
    }

    /// Packs `plugins/<crate_dir>` with `rosey plugin pack --out <scratch>`; returns the
    /// archive's path.
    pub fn pack(&self, crate_dir: &str) -> PathBuf {
        let dir = workspace_root().join("plugins").join(crate_dir);
        let out = self.scratch().join("packs");
        let stdout = self.run_ok(&[
            "plugin",
            "pack",
            dir.to_str().expect("utf-8 path"),
            "--out",
            out.to_str().expect("utf-8 path"),
        ]);
        let path = stdout
            .lines()
            .find_map(|line| line.strip_prefix("✓ Packed ")?.split(" → ").nth(1))
            .unwrap_or_else(|| panic!("no `✓ Packed … → path` line in {stdout:?}"));
        PathBuf::from(path)
    }
}

/// The sha256 of `data` as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `files` plus a `checksums.sha256` listing all of them.
pub fn with_checksums(mut files: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    let mut text = String::new();
    for (name, data) in &files {
        text.push_str(&format!("{}  {name}\n", sha256_hex(data)));
    }
    files.push(("checksums.sha256".into(), text.into_bytes()));
    files
}

/// A zip (deflate) of `files`, in order, exactly as given.
pub fn zip_bytes(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in files {
        zip.start_file(name.as_str(), options).expect("start file");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("finish zip").into_inner()
}

/// Every file of the zip at `path`, in archive order.
pub fn read_zip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).expect("read archive");
    let mut zip = ZipArchive::new(Cursor::new(bytes)).expect("zip");
    (0..zip.len())
        .map(|i| {
            let mut file = zip.by_index(i).expect("entry");
            let mut data = Vec::new();
            file.read_to_end(&mut data).expect("read entry");
            (file.name().to_string(), data)
        })
        .collect()
}

/// Rewrites `name`'s 32-bit (`width` 4) or 16-bit (`width` 2) field at `offset` in its central
/// directory header, which is what zip readers trust: how tests forge size headers and
/// compression methods the zip writer would never produce.
pub fn patch_central(bytes: &mut [u8], name: &str, offset: usize, width: usize, value: u32) {
    let mut at = 0;
    let mut patched = false;
    while let Some(found) = bytes[at..].windows(4).position(|w| w == b"PK\x01\x02") {
        let header = at + found;
        let name_len = usize::from(u16::from_le_bytes([bytes[header + 28], bytes[header + 29]]));
        if bytes.get(header + 46..header + 46 + name_len) == Some(name.as_bytes()) {
            bytes[header + offset..header + offset + width]
                .copy_from_slice(&value.to_le_bytes()[..width]);
            patched = true;
        }
        at = header + 4;
    }
    assert!(patched, "no central directory header for {name}");
}

/// The text of a valid manifest for plugin `name` v`version` with library `libfake.so` and
/// the given commands.
pub fn manifest_yaml(name: &str, version: &str, commands: &[&str]) -> String {
    format!(
        "name: {name}\nversion: {version}\ndescription: A test plugin\nauthor: tests\n\
         library: libfake.so\nabi: {}\ncommands: [{}]\nevents: [chat.message]\n\
         permissions: [read_messages, send_messages]\n",
        rosey_abi::ABI_VERSION,
        commands.join(", ")
    )
}

/// The files of a structurally valid archive whose library is not a real plugin (so it passes
/// every archive rule but fails the load check), without `checksums.sha256`.
pub fn fake_plugin_files(name: &str, version: &str, commands: &[&str]) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "manifest.yaml".into(),
            manifest_yaml(name, version, commands).into_bytes(),
        ),
        ("libfake.so".into(), b"\x7fELF but not a library".to_vec()),
        ("config.default.yaml".into(), b"greeting: hi\n".to_vec()),
        ("assets/readme.txt".into(), b"hello".to_vec()),
    ]
}

//! What the harness needs before it can measure anything: the release `rosey` binary,
//! nats-server, and plugin archives (packed with `rosey plugin pack`, which builds the plugin
//! crates in release mode), plus copies of an archive under other names for the many-plugin
//! cold starts.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};
use rosey_core::{
    archive::{self, PackSource},
    manifest::Manifest,
};

/// Paths to everything the measures use.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The workspace root.
    pub workspace: PathBuf,
    /// `target/bench`: homes, archives, Errbot's venv, results.
    pub bench_dir: PathBuf,
    /// The release `rosey` binary.
    pub rosey: PathBuf,
    /// nats-server.
    pub nats: PathBuf,
}

/// The cargo to run: the one running us under `cargo run`, else PATH's.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `command`, failing with its output when it fails; returns its stdout.
pub fn run(command: &mut Command, what: &str) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Finds (and, with `build`, builds) everything: `cargo build --release -p rosey -p rosey-host` (or the
/// `rosey` binary given), and nats-server from `$ROSEY_NATS_SERVER` or `scripts/install-nats`.
pub fn prepare(build: bool, rosey: Option<&Path>) -> Result<Tools> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the benches crate has no parent folder")?
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                workspace.join(dir)
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    let bench_dir = target.join("bench");
    std::fs::create_dir_all(&bench_dir)
        .with_context(|| format!("cannot create {}", bench_dir.display()))?;
    if build {
        eprintln!("building: cargo build --release -p rosey -p rosey-host");
        let status = cargo()
            .current_dir(&workspace)
            .args(["build", "--release", "-p", "rosey", "-p", "rosey-host"])
            .status()
            .context("cannot run cargo")?;
        if !status.success() {
            bail!("`cargo build --release -p rosey -p rosey-host` failed ({status})");
        }
    }
    let rosey = match rosey {
        Some(path) => path
            .canonicalize()
            .with_context(|| format!("cannot find {}", path.display()))?,
        None => target.join("release/rosey"),
    };
    if !rosey.is_file() {
        bail!(
            "{} is missing: run `cargo build --release -p rosey -p rosey-host` (or drop --no-build)",
            rosey.display()
        );
    }
    let nats = match std::env::var_os("ROSEY_NATS_SERVER") {
        Some(path) => PathBuf::from(path),
        None => {
            let script = workspace.join("scripts/install-nats");
            PathBuf::from(run(&mut Command::new(&script), "scripts/install-nats")?.trim())
        }
    };
    if !nats.is_file() {
        bail!(
            "nats-server not found at {}: run scripts/install-nats or set ROSEY_NATS_SERVER",
            nats.display()
        );
    }
    Ok(Tools {
        workspace,
        bench_dir,
        rosey,
        nats,
    })
}

impl Tools {
    /// Packs the plugin crate at `crate_dir` (relative to the workspace) with `rosey plugin
    /// pack` (a release build) into `target/bench/packs/<crate>/`; returns the archive.
    pub fn pack(&self, crate_dir: &str) -> Result<PathBuf> {
        let leaf = Path::new(crate_dir)
            .file_name()
            .context("empty crate path")?;
        let out = self.bench_dir.join("packs").join(leaf);
        if out.exists() {
            std::fs::remove_dir_all(&out)
                .with_context(|| format!("cannot empty {}", out.display()))?;
        }
        eprintln!("packing {crate_dir} (cargo build --release of the plugin)");
        run(
            Command::new(&self.rosey)
                .args(["plugin", "pack"])
                .arg(self.workspace.join(crate_dir))
                .arg("--out")
                .arg(&out),
            &format!("rosey plugin pack {crate_dir}"),
        )?;
        let archive = std::fs::read_dir(&out)
            .with_context(|| format!("cannot list {}", out.display()))?
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                path.extension()
                    .is_some_and(|ext| ext == archive::EXTENSION)
            })
            .with_context(|| format!("rosey plugin pack left no archive in {}", out.display()))?;
        Ok(archive)
    }
}

/// Writes a copy of `archive` whose plugin is called `name` and claims `commands` instead
/// (commands must be unique across the plugins of a home) into `out_dir`; returns its path.
/// The library is the same; checksums are recomputed by the packer.
pub fn clone_archive(
    archive: &Path,
    name: &str,
    commands: Vec<String>,
    out_dir: &Path,
) -> Result<PathBuf> {
    let scratch = tempfile::tempdir_in(out_dir)
        .with_context(|| format!("cannot create a scratch folder in {}", out_dir.display()))?;
    let unpacked = archive::unpack(archive, &scratch.path().join("unpacked"))
        .with_context(|| format!("cannot unpack {}", archive.display()))?;
    let manifest = Manifest {
        failure_reply: true,
        name: name.to_owned(),
        commands: commands.into_iter().map(Into::into).collect(),
        ..unpacked.manifest.clone()
    };
    let assets = unpacked.root.join(archive::ASSETS_DIR);
    let library = unpacked.library_path();
    let default_config = unpacked.default_config();
    let source = PackSource {
        manifest: &manifest,
        library: &library,
        default_config: default_config.as_deref(),
        assets: assets.is_dir().then_some(assets.as_path()),
    };
    archive::pack(&source, out_dir).with_context(|| format!("cannot pack a copy named {name}"))
}

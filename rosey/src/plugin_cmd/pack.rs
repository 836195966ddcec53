//! `rosey plugin pack <crate dir>`: build a plugin crate with cargo and pack the library, its
//! manifest (the crate's `manifest.yaml` template, completed) and its files into a
//! `.roseyplug`.
//!
//! Version, library and ABI are facts of the build, not something an author should have to
//! keep in sync by hand: the version comes from Cargo.toml, the library name from cargo's
//! artifact report, the ABI from the rosey-abi this rosey was built with. A template may state
//! them anyway, but then they must agree.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};
use rosey_core::{
    archive::{self, PackSource},
    manifest::{Limits, Manifest, NetworkAccess},
};
use serde::Deserialize;
use serde_json::Value;

/// The crate's `manifest.yaml`: a manifest whose build facts may be left out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Template {
    name: String,
    version: Option<semver::Version>,
    description: String,
    author: String,
    library: Option<String>,
    abi: Option<u32>,
    #[serde(default)]
    commands: Vec<rosey_core::manifest::CommandSpec>,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    channel: Vec<String>,
    #[serde(default)]
    publishes: Vec<String>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    network: Option<NetworkAccess>,
    #[serde(default = "yes")]
    failure_reply: bool,
}

fn yes() -> bool {
    true
}

/// The cargo to run: the one that runs us when there is one (`cargo run`, tests), else PATH's.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Builds and packs the crate in `crate_dir` into `out_dir` (default: the current folder);
/// returns the manifest and the archive's path.
pub fn pack(crate_dir: &Path, out_dir: Option<&Path>) -> Result<(Manifest, PathBuf)> {
    pack_with(crate_dir, out_dir, None)
}

/// [`pack`], with `dev_build` set as the version's build metadata (`0.1.0+dev.3`): `rosey dev`
/// packs every rebuild as a version of its own, so it installs beside the running one and goes
/// through the same update (and rollback) as an operator's.
pub fn pack_with(
    crate_dir: &Path,
    out_dir: Option<&Path>,
    dev_build: Option<&semver::BuildMetadata>,
) -> Result<(Manifest, PathBuf)> {
    let crate_dir = crate_dir.canonicalize().with_context(|| {
        format!(
            "cannot open the plugin crate folder {}",
            crate_dir.display()
        )
    })?;
    let cargo_toml = crate_dir.join("Cargo.toml");
    if !cargo_toml.is_file() {
        bail!(
            "{} is not a Rust crate (it has no Cargo.toml): pass the folder of a plugin crate",
            crate_dir.display()
        );
    }
    let template_path = crate_dir.join(archive::MANIFEST_FILE);
    let template_text = std::fs::read_to_string(&template_path).with_context(|| {
        format!(
            "cannot read {}: a plugin crate needs a manifest.yaml with name, description, author, \
             commands, events and permissions (see docs/PLUGINS.md)",
            template_path.display()
        )
    })?;
    let template: Template = serde_yaml_ng::from_str(&template_text)
        .with_context(|| format!("{} does not parse", template_path.display()))?;

    let version = cargo_version(&cargo_toml)?;
    let library = build(&cargo_toml)?;
    let library_name = library
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_string)
        .with_context(|| {
            format!(
                "cargo reported an unusable library path {}",
                library.display()
            )
        })?;

    let mut manifest = complete(template, version, library_name)
        .with_context(|| format!("{} disagrees with the build", template_path.display()))?;
    if let Some(dev_build) = dev_build {
        manifest.version.build = dev_build.clone();
    }
    manifest
        .validate()
        .with_context(|| format!("{} is not a valid plugin manifest", template_path.display()))?;

    let default_config = crate_dir.join(archive::DEFAULT_CONFIG_FILE);
    let assets = crate_dir.join(archive::ASSETS_DIR);
    let source = PackSource {
        manifest: &manifest,
        library: &library,
        default_config: default_config.is_file().then_some(default_config.as_path()),
        assets: assets.is_dir().then_some(assets.as_path()),
    };
    let out_dir = match out_dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().context("cannot determine the current folder")?,
    };
    let path = archive::pack(&source, &out_dir)?;
    Ok((manifest, path))
}

/// Fills the build facts into the template, refusing explicit values that disagree.
fn complete(template: Template, version: semver::Version, library: String) -> Result<Manifest> {
    if let Some(stated) = &template.version {
        if *stated != version {
            bail!(
                "it says version {stated}, but Cargo.toml says {version}: remove `version` from \
                 manifest.yaml (pack fills it in from Cargo.toml) or make them agree"
            );
        }
    }
    if let Some(stated) = &template.library {
        if *stated != library {
            bail!(
                "it says library {stated:?}, but cargo built {library:?}: remove `library` from \
                 manifest.yaml (pack fills it in) or make them agree"
            );
        }
    }
    if let Some(stated) = template.abi {
        if stated != rosey_abi::ABI_VERSION {
            bail!(
                "it says abi {stated}, but the crate is built for this rosey's ABI v{}: remove \
                 `abi` from manifest.yaml (pack fills it in)",
                rosey_abi::ABI_VERSION
            );
        }
    }
    Ok(Manifest {
        failure_reply: template.failure_reply,
        name: template.name,
        version,
        description: template.description,
        author: template.author,
        library,
        abi: rosey_abi::ABI_VERSION,
        commands: template.commands,
        events: template.events,
        permissions: template.permissions,
        channel: template.channel,
        publishes: template.publishes,
        limits: template.limits,
        network: template.network,
    })
}

/// The package version of the crate whose manifest is `cargo_toml`, from `cargo metadata`;
/// also checks the crate builds a cdylib, so the author learns that before a long build.
fn cargo_version(cargo_toml: &Path) -> Result<semver::Version> {
    let output = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(cargo_toml)
        .stderr(Stdio::inherit())
        .output()
        .context(
            "cannot run cargo: install a Rust toolchain (https://rustup.rs) or put cargo on PATH",
        )?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed for {} (see cargo's message above)",
            cargo_toml.display()
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .context("`cargo metadata` printed unreadable JSON")?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| same_file(&package["manifest_path"], cargo_toml))
        .with_context(|| format!("`cargo metadata` does not list {}", cargo_toml.display()))?;
    let builds_cdylib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|target| {
            target["crate_types"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|kind| kind == "cdylib")
        });
    if !builds_cdylib {
        bail!(
            "{} does not build a shared library: add `[lib]` with `crate-type = [\"cdylib\"]` to it",
            cargo_toml.display()
        );
    }
    let version = package["version"].as_str().unwrap_or_default();
    version
        .parse()
        .with_context(|| format!("`cargo metadata` reports an unusable version {version:?}"))
}

/// `true` when the JSON string `reported` names the same file as `path`.
fn same_file(reported: &Value, path: &Path) -> bool {
    reported.as_str().is_some_and(|reported| {
        let reported = Path::new(reported);
        reported == path
            || reported
                .canonicalize()
                .is_ok_and(|canonical| canonical == path)
    })
}

/// Runs the release build of the crate's library, with the compiler's messages going to the
/// user's terminal, and returns the cdylib cargo reports for it.
fn build(cargo_toml: &Path) -> Result<PathBuf> {
    let mut child = cargo()
        .args([
            "build",
            "--release",
            "--lib",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(cargo_toml)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context(
            "cannot run cargo: install a Rust toolchain (https://rustup.rs) or put cargo on PATH",
        )?;
    let mut library = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("cannot read cargo's output")?;
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if message["reason"] != "compiler-artifact"
                || !same_file(&message["manifest_path"], cargo_toml)
                || !message["target"]["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib"))
            {
                continue;
            }
            library = message["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|file| file.ends_with(std::env::consts::DLL_SUFFIX))
                .map(PathBuf::from);
        }
    }
    let status = child.wait().context("cannot wait for cargo")?;
    if !status.success() {
        bail!(
            "cargo build failed for {} (the compiler's messages are above): fix the errors and try again",
            cargo_toml.display()
        );
    }
    library.with_context(|| {
        format!(
            "cargo built {} but reported no shared library: check `crate-type = [\"cdylib\"]` under [lib]",
            cargo_toml.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(extra: &str) -> Template {
        serde_yaml_ng::from_str(&format!(
            "name: dice-roller\ndescription: Rolls dice\nauthor: rosey\ncommands: [roll]\n{extra}"
        ))
        .expect("template parses")
    }

    fn v(text: &str) -> semver::Version {
        text.parse().expect("version")
    }

    #[test]
    fn build_facts_are_filled_in() {
        let manifest =
            complete(template(""), v("1.2.0"), "libdice_roller.so".into()).expect("complete");
        assert_eq!(manifest.version, v("1.2.0"));
        assert_eq!(manifest.library, "libdice_roller.so");
        assert_eq!(manifest.abi, rosey_abi::ABI_VERSION);
        assert_eq!(manifest.commands, vec!["roll"]);
        manifest.validate().expect("valid");
    }

    #[test]
    fn stated_build_facts_must_agree() {
        let abi = rosey_abi::ABI_VERSION;
        let agreeing = format!("version: 1.2.0\nlibrary: libdice_roller.so\nabi: {abi}\n");
        complete(template(&agreeing), v("1.2.0"), "libdice_roller.so".into()).expect("agrees");
        for (extra, word) in [
            ("version: 1.0.0\n", "Cargo.toml says 1.2.0"),
            (
                "library: libother.so\n",
                "cargo built \"libdice_roller.so\"",
            ),
            ("abi: 999\n", "remove `abi`"),
        ] {
            let err = complete(template(extra), v("1.2.0"), "libdice_roller.so".into())
                .expect_err(extra)
                .to_string();
            assert!(err.contains(word), "{extra}: {err}");
        }
    }

    #[test]
    fn unknown_template_fields_are_refused() {
        let result: Result<Template, _> =
            serde_yaml_ng::from_str("name: x\ndescription: d\nauthor: a\nentrypoint: main\n");
        let err = result.expect_err("unknown field").to_string();
        assert!(err.contains("entrypoint"), "{err}");
    }
}

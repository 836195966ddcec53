//! Where a new plugin crate goes: its folder, the workspace it joins, and where its rosey-abi
//! comes from.

use std::path::{Component, Path, PathBuf};

use super::Names;

/// Where the new crate's `rosey-abi` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sdk {
    /// The workspace's own, by a path relative to the crate.
    Workspace,
    /// A rosey checkout's, by its absolute path.
    Checkout(PathBuf),
    /// crates.io, at this rosey's SDK version: no checkout was found.
    Registry,
}

/// Where the crate goes and how it builds there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The crate folder: absolute, its parent folders resolved.
    pub dir: PathBuf,
    /// The root of the workspace the crate joins, when it is created in one's `plugins/`.
    pub workspace: Option<PathBuf>,
    /// Where its `rosey-abi` comes from.
    pub sdk: Sdk,
}

/// Decides where the crate at `dir` (absolute, resolved) belongs: in the workspace whose
/// `plugins/` holds it, or on its own; `find_sdk` looks for a checkout's rosey-abi.
pub(super) fn place(dir: &Path, find_sdk: impl Fn() -> Option<PathBuf>) -> Placement {
    let workspace = dir
        .parent()
        .filter(|parent| parent.file_name().is_some_and(|name| name == "plugins"))
        .and_then(Path::parent)
        .filter(|root| lists_plugins(root))
        .map(Path::to_path_buf);
    let sdk = match &workspace {
        Some(root) if is_sdk_crate(&root.join("rosey-abi")) => Sdk::Workspace,
        _ => find_sdk().map_or(Sdk::Registry, Sdk::Checkout),
    };
    Placement {
        dir: dir.to_path_buf(),
        workspace,
        sdk,
    }
}

/// Whether `root` holds a Cargo.toml that declares a workspace with `plugins/*` as members,
/// as a rosey checkout's does (and as `rosey dev` looks for).
fn lists_plugins(root: &Path) -> bool {
    std::fs::read_to_string(root.join("Cargo.toml")).is_ok_and(|text| {
        text.lines().any(|line| line.trim() == "[workspace]")
            && (text.contains("\"plugins/*\"") || text.contains("'plugins/*'"))
    })
}

/// Whether `dir` is the rosey-abi crate.
pub(super) fn is_sdk_crate(dir: &Path) -> bool {
    package_name(&dir.join("Cargo.toml")).is_some_and(|name| name == "rosey-abi")
}

/// The `name` of the `[package]` of the Cargo.toml at `path`, if it has one.
fn package_name(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if key.trim() == "name" {
                return Some(value.trim().trim_matches(['"', '\'']).to_owned());
            }
        }
    }
    None
}

/// The rosey-abi of the checkout this rosey comes from: above the running binary
/// (`<checkout>/target/<profile>/rosey`), else where it was compiled.
pub(super) fn find_sdk() -> Option<PathBuf> {
    let from_exe = std::env::current_exe()
        .and_then(|exe| exe.canonicalize())
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .skip(1)
                .map(|dir| dir.join("rosey-abi"))
                .find(|dir| is_sdk_crate(dir))
        });
    from_exe
        .or_else(|| {
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../rosey-abi"))
                .filter(|dir| is_sdk_crate(dir))
        })
        .and_then(|dir| dir.canonicalize().ok())
        // A path cargo could not read back as written is no use in Cargo.toml.
        .filter(|dir| dir.to_str().is_some())
}

/// A crate or plugin of the workspace at `root` that already has the new crate's name or the
/// new plugin's: two would break the workspace's build, or `rosey dev`.
pub(super) fn taken_in_workspace(root: &Path, names: &Names) -> Option<(PathBuf, String)> {
    let mut dirs = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let cargo_toml = dir.join("Cargo.toml");
        if package_name(&cargo_toml).as_deref() == Some(&names.crate_name) {
            return Some((dir, format!("a crate named {}", names.crate_name)));
        }
        if plugin_name(&dir).as_deref() == Some(&names.plugin) {
            return Some((dir, format!("the plugin {}", names.plugin)));
        }
        if depth == 3 {
            continue;
        }
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let searched = entry
                .file_name()
                .to_str()
                .is_some_and(|name| !name.starts_with('.') && name != "target");
            if searched && path.is_dir() {
                dirs.push((path, depth + 1));
            }
        }
    }
    None
}

/// The plugin name in the manifest.yaml of the crate at `dir`, if it has one.
fn plugin_name(dir: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct NameOnly {
        name: String,
    }
    let text = std::fs::read_to_string(dir.join(rosey_core::archive::MANIFEST_FILE)).ok()?;
    serde_yaml_ng::from_str::<NameOnly>(&text)
        .ok()
        .map(|manifest| manifest.name)
}

/// `path` made absolute against `cwd`, with `.` and `..` resolved by name.
pub(super) fn absolute(path: &Path, cwd: &Path) -> PathBuf {
    let mut result = PathBuf::new();
    for component in cwd.join(path).components() {
        match component {
            Component::ParentDir => {
                result.pop();
            }
            Component::CurDir => {}
            other => result.push(other),
        }
    }
    result
}

/// `path` (absolute) with its deepest existing folder resolved (symlinks, so a checkout reached
/// through a link is still recognized) and the folders still to be created after it.
pub(super) fn resolved(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut existing = path;
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |dir, name| dir.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// For a crate at `dir` (resolved) deeper inside the `plugins/` of a workspace that lists
/// `plugins/*`: the folder directly in `plugins/` it would go through, when that folder does not
/// exist yet (created, it would be a member without a Cargo.toml).
pub(super) fn new_folder_in_plugins(dir: &Path) -> Option<PathBuf> {
    let parent = dir.parent()?;
    let plugins = parent.ancestors().skip(1).find(|folder| {
        folder.file_name().is_some_and(|name| name == "plugins")
            && folder.parent().is_some_and(lists_plugins)
    })?;
    let first = dir.strip_prefix(plugins).ok()?.components().next()?;
    let between = plugins.join(first);
    (!between.exists()).then_some(between)
}

//! Which plugin crates `rosey dev` watches: the ones `dev.watch` names, or, when it names
//! none, the `plugins/*` crates of the cargo workspace rosey is run from, including crates
//! created there while dev mode runs (see [`examine_new`]).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rosey_core::{archive, config::DevConfig, paths::Home};
use serde::Deserialize;

/// One watched plugin crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The plugin's name (from the crate's manifest.yaml).
    pub name: String,
    /// The crate folder, canonical.
    pub dir: PathBuf,
}

/// What dev mode watches: the plugin crates, and the folder new ones may appear in.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// The plugin crates found at start.
    pub targets: Vec<Target>,
    /// The workspace's `plugins/` folder (canonical) when the targets came from it, so that a
    /// crate created there later is picked up without restarting `rosey dev`; `None` when
    /// `dev.watch` lists the crates (the operator chose them) or no workspace was found.
    pub plugins_dir: Option<PathBuf>,
}

/// What a folder that appeared in (or changed directly under) the watched `plugins/` is.
#[derive(Debug, PartialEq, Eq)]
pub enum NewCrate {
    /// No Cargo.toml: not a crate (yet).
    NotACrate,
    /// A crate without a manifest.yaml: not a plugin (yet).
    NoManifest,
    /// A plugin crate, ready to be watched and built.
    Plugin(Target),
}

/// The part of a crate's manifest.yaml template dev mode needs.
#[derive(Deserialize)]
struct NameOnly {
    name: String,
}

/// What to watch for `home`: `dev.watch` resolved against the home, or the workspace's
/// plugins found from `cwd` or the home upwards. An entry that is not a plugin crate is an
/// error that names it; finding no workspace is not (dev mode then watches nothing, and says
/// so).
pub fn resolve(home: &Home, dev: &DevConfig, cwd: &Path) -> Result<Watched> {
    let mut targets = Vec::new();
    let mut plugins_dir = None;
    if dev.watch.is_empty() {
        if let Some(workspace) = find_workspace(cwd).or_else(|| find_workspace(home.root())) {
            let plugins = workspace.join("plugins");
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&plugins)
                .with_context(|| format!("cannot list {}", plugins.display()))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|dir| is_plugin_crate(dir))
                .collect();
            dirs.sort();
            for dir in dirs {
                targets.push(target(&dir)?);
            }
            plugins_dir = Some(plugins);
        }
    } else {
        for (index, entry) in dev.watch.iter().enumerate() {
            let dir = home.root().join(entry);
            if !is_plugin_crate(&dir) {
                bail!(
                    "rosey.yaml: dev.watch[{index}]: {} is not a plugin crate (a folder with Cargo.toml \
                     and manifest.yaml); fix the path (it is relative to the home) or remove the entry",
                    dir.display()
                );
            }
            targets.push(target(&dir)?);
        }
    }
    for (index, first) in targets.iter().enumerate() {
        if let Some(second) = targets[index + 1..].iter().find(|t| t.name == first.name) {
            bail!(
                "{} and {} are both the plugin {}: watch only one of them (dev.watch in rosey.yaml)",
                first.dir.display(),
                second.dir.display(),
                first.name
            );
        }
    }
    Ok(Watched {
        targets,
        plugins_dir,
    })
}

/// What the folder `dir` under the watched `plugins/` is now, for a crate created while dev
/// mode runs. A plugin whose manifest cannot be read, or whose name one of `existing` already
/// has, is an error naming the fix.
pub fn examine_new(dir: &Path, existing: &[Target]) -> Result<NewCrate> {
    if !dir.join("Cargo.toml").is_file() {
        return Ok(NewCrate::NotACrate);
    }
    if !dir.join(archive::MANIFEST_FILE).is_file() {
        return Ok(NewCrate::NoManifest);
    }
    let new = target(dir).map_err(|err| {
        anyhow::anyhow!("{err:#}: fix its manifest.yaml (it needs `name:`) and save it again")
    })?;
    if let Some(other) = existing.iter().find(|t| t.name == new.name) {
        bail!(
            "{} is the plugin {}, like {}: give it another name in its manifest.yaml and save it again",
            new.dir.display(),
            new.name,
            other.dir.display()
        );
    }
    Ok(NewCrate::Plugin(new))
}

/// A folder with a Cargo.toml and a manifest.yaml.
fn is_plugin_crate(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join(archive::MANIFEST_FILE).is_file()
}

fn target(dir: &Path) -> Result<Target> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let manifest = dir.join(archive::MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let NameOnly { name } = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} has no plugin name", manifest.display()))?;
    Ok(Target { name, dir })
}

/// The nearest folder at or above `start` whose Cargo.toml declares a workspace and which has
/// a `plugins/` folder: a rosey checkout, or a plugin author's workspace laid out like one.
fn find_workspace(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        let is_workspace = manifest.lines().any(|line| line.trim() == "[workspace]");
        (is_workspace && dir.join("plugins").is_dir()).then(|| dir.to_path_buf())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin_crate(dir: &Path, name: &str) {
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        std::fs::write(
            dir.join("Cargo.toml"),
            format!("[package]\nname = \"{name}\"\n"),
        )
        .expect("write");
        std::fs::write(
            dir.join("manifest.yaml"),
            format!("name: {name}\ndescription: d\nauthor: a\n"),
        )
        .expect("write");
    }

    #[test]
    fn the_workspace_plugins_are_found_from_a_folder_inside_it() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            root.path().join("Cargo.toml"),
            "[workspace]\nmembers = []\n",
        )
        .expect("write");
        plugin_crate(&root.path().join("plugins/zeta-one"), "zeta-one");
        plugin_crate(&root.path().join("plugins/alpha-two"), "alpha-two");
        std::fs::create_dir_all(root.path().join("plugins/fixtures")).expect("mkdir");
        let home = Home::new(root.path().join("demo-home"));
        std::fs::create_dir_all(home.root()).expect("mkdir");
        let watched =
            resolve(&home, &DevConfig::default(), &home.root().join("nowhere")).expect("resolve");
        let names: Vec<_> = watched.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["alpha-two", "zeta-one"]);
        assert_eq!(
            watched.plugins_dir,
            Some(
                root.path()
                    .canonicalize()
                    .expect("canonical")
                    .join("plugins")
            )
        );
    }

    #[test]
    fn a_new_folder_is_a_plugin_once_it_has_cargo_toml_and_manifest_yaml() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("plugins/fresh");
        std::fs::create_dir_all(&dir).expect("mkdir");
        assert_eq!(
            examine_new(&dir, &[]).expect("examine"),
            NewCrate::NotACrate
        );
        std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"fresh\"\n").expect("write");
        assert_eq!(
            examine_new(&dir, &[]).expect("examine"),
            NewCrate::NoManifest
        );
        plugin_crate(&dir, "fresh");
        let NewCrate::Plugin(new) = examine_new(&dir, &[]).expect("examine") else {
            panic!("not a plugin");
        };
        assert_eq!(new.name, "fresh");

        let taken = Target {
            name: "fresh".into(),
            dir: root.path().join("plugins/older"),
        };
        let err = examine_new(&dir, &[taken]).expect_err("same name");
        assert!(err.to_string().contains("another name"), "{err}");
    }

    #[test]
    fn configured_paths_are_relative_to_the_home_and_must_be_plugin_crates() {
        let root = tempfile::tempdir().expect("tempdir");
        plugin_crate(&root.path().join("mine"), "my-plugin");
        let home = Home::new(root.path().join("home"));
        std::fs::create_dir_all(home.root()).expect("mkdir");
        let dev = DevConfig {
            watch: vec!["../mine".into()],
            ..DevConfig::default()
        };
        let watched = resolve(&home, &dev, root.path()).expect("resolve");
        assert_eq!(watched.targets.len(), 1);
        assert_eq!(watched.targets[0].name, "my-plugin");
        assert_eq!(watched.plugins_dir, None, "dev.watch is the whole list");

        let dev = DevConfig {
            watch: vec!["../missing".into()],
            ..DevConfig::default()
        };
        let err = resolve(&home, &dev, root.path()).expect_err("not a crate");
        assert!(err.to_string().contains("dev.watch[0]"), "{err}");
    }

    #[test]
    fn no_workspace_means_nothing_to_watch() {
        let root = tempfile::tempdir().expect("tempdir");
        let home = Home::new(root.path());
        let watched = resolve(&home, &DevConfig::default(), root.path()).expect("resolve");
        assert!(watched.targets.is_empty());
        assert_eq!(watched.plugins_dir, None);
    }
}

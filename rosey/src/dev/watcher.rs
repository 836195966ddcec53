//! Turns file-system events in the watched plugin crates into "plugin X changed", debounced.
//!
//! What counts as a change is a write under a crate's own files: never its `target/`, its
//! `Cargo.lock` (cargo writes it during the very build a change starts), hidden files, editor
//! swap and backup files, or anything under the rosey home (its logs and data change all the
//! time, and a home kept inside a crate must not rebuild that crate forever).
//!
//! When the crates came from a workspace's `plugins/`, that folder and each of its other
//! folders are watched too (not recursively), so a plugin crate created there while dev mode
//! runs is adopted once it has a Cargo.toml and a manifest.yaml and is quiet: watched like the
//! others and built at once, without restarting `rosey dev`.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::mpsc,
    time::Duration,
};

use anyhow::{Context, Result};
use notify::{event::ModifyKind, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use super::targets::{self, NewCrate, Target, Watched};

/// Watches the targets' folders; [`ChangeWatcher::next_batch`] yields the plugins whose sources
/// changed once the sources have been quiet for the debounce period.
pub struct ChangeWatcher {
    targets: Vec<Target>,
    plugins_dir: Option<PathBuf>,
    ignored_root: PathBuf,
    debounce: Duration,
    events: mpsc::Receiver<notify::Result<notify::Event>>,
    watcher: RecommendedWatcher,
    /// Crates under `plugins/` already told they lack a manifest.yaml, so it is said once.
    noted: BTreeSet<PathBuf>,
}

impl ChangeWatcher {
    /// Starts watching. `ignored_root` (the home) is never a source of changes.
    pub fn start(watched: Watched, ignored_root: &Path, debounce: Duration) -> Result<Self> {
        let (tx, events) = mpsc::channel();
        let watcher =
            notify::recommended_watcher(tx).context("cannot start watching files (inotify)")?;
        let mut this = ChangeWatcher {
            targets: watched.targets,
            plugins_dir: watched.plugins_dir,
            ignored_root: ignored_root.to_path_buf(),
            debounce,
            events,
            watcher,
            noted: BTreeSet::new(),
        };
        for dir in this
            .targets
            .iter()
            .map(|t| t.dir.clone())
            .collect::<Vec<_>>()
        {
            this.watch_crate(&dir)?;
        }
        if let Some(plugins) = this.plugins_dir.clone() {
            // The folder for crates created in it, and each folder in it that is not a plugin
            // yet (a crate still without manifest.yaml) for the files that will make it one.
            this.watcher
                .watch(&plugins, RecursiveMode::NonRecursive)
                .with_context(|| format!("cannot watch {}", plugins.display()))?;
            let entries = std::fs::read_dir(&plugins)
                .with_context(|| format!("cannot list {}", plugins.display()))?;
            for entry in entries.filter_map(|entry| entry.ok()) {
                let path = entry.path();
                if this.is_candidate(&path) {
                    this.watcher
                        .watch(&path, RecursiveMode::NonRecursive)
                        .with_context(|| format!("cannot watch {}", path.display()))?;
                }
            }
        }
        Ok(this)
    }

    /// Watches a plugin crate: the crate folder itself only for its top-level files, then each
    /// source folder recursively (a recursive watch of the whole crate would also watch
    /// target/, tens of thousands of folders, and run out of inotify watches).
    fn watch_crate(&mut self, dir: &Path) -> Result<()> {
        self.watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch {}", dir.display()))?;
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries.filter_map(|entry| entry.ok()) {
            let path = entry.path();
            if path.is_dir() && is_source_dir(&path) && !path.starts_with(&self.ignored_root) {
                self.watcher
                    .watch(&path, RecursiveMode::Recursive)
                    .with_context(|| format!("cannot watch {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// Blocks until some plugin's sources changed and then stayed quiet for the debounce
    /// period; returns those plugins (in target order), a plugin crate new under `plugins/`
    /// among them. `None` when watching ended.
    pub fn next_batch(&mut self) -> Option<Vec<Target>> {
        loop {
            let mut changed = BTreeSet::new();
            let mut new_dirs = BTreeSet::new();
            loop {
                let event = if changed.is_empty() && new_dirs.is_empty() {
                    self.events.recv().ok()?
                } else {
                    match self.events.recv_timeout(self.debounce) {
                        Ok(event) => event,
                        Err(mpsc::RecvTimeoutError::Timeout) => break,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                    }
                };
                let Ok(event) = event else { continue };
                if matches!(event.kind, EventKind::Access(_) | EventKind::Other) {
                    continue;
                }
                for path in &event.paths {
                    self.watch_new_dir(&event.kind, path);
                    if let Some(index) = self.target_of(path) {
                        changed.insert(index);
                    } else if let Some(dir) = self.new_crate_dir(path) {
                        new_dirs.insert(dir);
                    }
                }
            }
            for dir in new_dirs {
                if let Some(index) = self.adopt(&dir) {
                    changed.insert(index);
                }
            }
            if !changed.is_empty() {
                return Some(
                    changed
                        .into_iter()
                        .map(|index| self.targets[index].clone())
                        .collect(),
                );
            }
        }
    }

    /// The index of the target whose source `path` is, if it is a source at all.
    fn target_of(&self, path: &Path) -> Option<usize> {
        if path.starts_with(&self.ignored_root) {
            return None;
        }
        let index = self
            .targets
            .iter()
            .position(|target| path.starts_with(&target.dir))?;
        let relative = path.strip_prefix(&self.targets[index].dir).ok()?;
        is_source_path(relative).then_some(index)
    }

    /// Whether `dir`, directly under the watched `plugins/`, may become a plugin crate: a
    /// folder that is not hidden, not `target/`, not a target already and not in the home.
    fn is_candidate(&self, dir: &Path) -> bool {
        dir.is_dir()
            && is_source_dir(dir)
            && !dir.starts_with(&self.ignored_root)
            && !self.targets.iter().any(|target| target.dir == dir)
    }

    /// The folder directly under the watched `plugins/` that `path` is in (or is), when that
    /// folder is not a target yet: a crate in the making.
    fn new_crate_dir(&self, path: &Path) -> Option<PathBuf> {
        let plugins = self.plugins_dir.as_ref()?;
        let first = path.strip_prefix(plugins).ok()?.components().next()?;
        let dir = plugins.join(first);
        self.is_candidate(&dir).then_some(dir)
    }

    /// Takes a quiet new folder under `plugins/` on as a target when it has become a plugin
    /// crate, and returns its index; says once when it is a crate without a manifest.yaml, and
    /// each time when its manifest is wrong.
    fn adopt(&mut self, dir: &Path) -> Option<usize> {
        match targets::examine_new(dir, &self.targets) {
            Ok(NewCrate::NotACrate) => None,
            Ok(NewCrate::NoManifest) => {
                if self.noted.insert(dir.to_path_buf()) {
                    println!(
                        "· {}: a crate without manifest.yaml, so not a plugin yet; add one (docs/PLUGINS.md) and it is built as a plugin",
                        dir.display()
                    );
                }
                None
            }
            Ok(NewCrate::Plugin(target)) => {
                if let Err(err) = self.watch_crate(&target.dir) {
                    println!(
                        "✗ {}: {err:#}; restart `rosey dev` to watch it",
                        target.name
                    );
                    return None;
                }
                println!(
                    "+ {}: new plugin crate {}, now watched",
                    target.name,
                    target.dir.display()
                );
                self.targets.push(target);
                Some(self.targets.len() - 1)
            }
            Err(err) => {
                println!("✗ {err:#}");
                None
            }
        }
    }

    /// A source folder created at a crate's top level (a new `assets/`) gets watched too, and
    /// so does a folder created in the watched `plugins/` (a new crate's Cargo.toml and
    /// manifest.yaml go in there).
    fn watch_new_dir(&mut self, kind: &EventKind, path: &Path) {
        let appeared = matches!(
            kind,
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_))
        );
        if !appeared || !path.is_dir() {
            return;
        }
        let top_level = self
            .targets
            .iter()
            .any(|target| path.parent() == Some(target.dir.as_path()));
        if top_level && is_source_dir(path) && !path.starts_with(&self.ignored_root) {
            let _ = self.watcher.watch(path, RecursiveMode::Recursive);
        }
        let in_plugins = self
            .plugins_dir
            .as_deref()
            .is_some_and(|plugins| path.parent() == Some(plugins));
        if in_plugins && self.is_candidate(path) {
            let _ = self.watcher.watch(path, RecursiveMode::NonRecursive);
        }
    }
}

/// A top-level folder of a crate that holds sources (not `target/`, not hidden).
fn is_source_dir(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name != "target" && !name.starts_with('.'))
}

/// Whether a path inside a crate (relative to it) is one of its sources.
fn is_source_path(relative: &Path) -> bool {
    let mut components = relative.components().peekable();
    if relative == Path::new("Cargo.lock") {
        return false;
    }
    if let Some(first) = components.peek() {
        if first.as_os_str() == "target" {
            return false;
        }
    }
    let Some(name) = relative.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    let hidden = relative.components().any(|component| {
        component
            .as_os_str()
            .to_str()
            .is_some_and(|part| part.starts_with('.'))
    });
    let editor_scratch = name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name == "4913";
    !hidden && !editor_scratch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_from_build_output_and_editor_scratch() {
        for source in [
            "src/lib.rs",
            "Cargo.toml",
            "manifest.yaml",
            "assets/words.txt",
        ] {
            assert!(is_source_path(Path::new(source)), "{source}");
        }
        for other in [
            "target/release/libx.so",
            "Cargo.lock",
            ".git/index",
            "src/.lib.rs.swp",
            "src/lib.rs~",
            "src/4913",
        ] {
            assert!(!is_source_path(Path::new(other)), "{other}");
        }
    }

    #[test]
    fn a_save_is_one_change_after_the_quiet_period() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("plug").canonicalize_or_create();
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        let home = root.path().join("home");
        std::fs::create_dir_all(&home).expect("mkdir");
        let target = Target {
            name: "plug".into(),
            dir: dir.clone(),
        };
        let mut watcher =
            ChangeWatcher::start(watched(vec![target]), &home, Duration::from_millis(200))
                .expect("watch");
        for round in 0..5 {
            std::fs::write(dir.join("src/lib.rs"), format!("// {round}")).expect("write");
        }
        let batch = watcher.next_batch().expect("a batch");
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].name, "plug");
    }

    #[test]
    fn writes_in_the_home_inside_a_crate_are_not_changes() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("plug").canonicalize_or_create();
        let home = dir.join("home");
        std::fs::create_dir_all(home.join("logs")).expect("mkdir");
        std::fs::create_dir_all(dir.join("target")).expect("mkdir");
        let target = Target {
            name: "plug".into(),
            dir: dir.clone(),
        };
        let watcher =
            ChangeWatcher::start(watched(vec![target]), &home, Duration::from_millis(100))
                .expect("watch");
        for ignored in [
            "home/logs/rosey.log",
            "home/data/registry.json",
            "target/out",
            "Cargo.lock",
        ] {
            assert_eq!(watcher.target_of(&dir.join(ignored)), None, "{ignored}");
        }
        assert_eq!(watcher.target_of(&dir.join("Cargo.toml")), Some(0));
        assert_eq!(watcher.target_of(&root.path().join("elsewhere.rs")), None);
    }

    #[test]
    fn a_plugin_crate_created_in_plugins_is_adopted_and_built() {
        let root = tempfile::tempdir().expect("tempdir");
        let plugins = root.path().join("plugins").canonicalize_or_create();
        let old = plugins.join("old").canonicalize_or_create();
        let home = root.path().join("home");
        std::fs::create_dir_all(&home).expect("mkdir");
        let watched = Watched {
            targets: vec![Target {
                name: "old".into(),
                dir: old,
            }],
            plugins_dir: Some(plugins.clone()),
        };
        let mut watcher =
            ChangeWatcher::start(watched, &home, Duration::from_millis(200)).expect("watch");

        // As an author makes one: the folder, then its files one by one.
        let fresh = plugins.join("fresh");
        std::fs::create_dir_all(fresh.join("src")).expect("mkdir");
        std::fs::write(fresh.join("Cargo.toml"), "[package]\nname = \"fresh\"\n").expect("write");
        std::fs::write(fresh.join("src/lib.rs"), "// one").expect("write");
        std::fs::write(
            fresh.join("manifest.yaml"),
            "name: fresh\ndescription: d\nauthor: a\n",
        )
        .expect("write");
        let batch = watcher.next_batch().expect("a batch");
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].name, "fresh");
        assert_eq!(batch[0].dir, fresh);

        // From then on it is watched like the others, its sources included.
        std::fs::write(fresh.join("src/lib.rs"), "// two").expect("write");
        let batch = watcher.next_batch().expect("a batch");
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].name, "fresh");
    }

    fn watched(targets: Vec<Target>) -> Watched {
        Watched {
            targets,
            plugins_dir: None,
        }
    }

    trait CanonicalizeOrCreate {
        fn canonicalize_or_create(self) -> PathBuf;
    }

    impl CanonicalizeOrCreate for PathBuf {
        fn canonicalize_or_create(self) -> PathBuf {
            std::fs::create_dir_all(&self).expect("mkdir");
            self.canonicalize().expect("canonical")
        }
    }
}

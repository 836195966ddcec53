//! Turns file-system events in the watched plugin crates into "plugin X changed", debounced.
//!
//! What counts as a change is a write under a crate's own files: never its `target/`, its
//! `Cargo.lock` (cargo writes it during the very build a change starts), hidden files, editor
//! swap and backup files, or anything under the rosey home (its logs and data change all the
//! time, and a home kept inside a crate must not rebuild that crate forever).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::mpsc,
    time::Duration,
};

use anyhow::{Context, Result};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use super::targets::Target;

/// Watches the targets' folders; [`ChangeWatcher::next_batch`] yields the plugins whose sources
/// changed once the sources have been quiet for the debounce period.
pub struct ChangeWatcher {
    targets: Vec<Target>,
    ignored_root: PathBuf,
    debounce: Duration,
    events: mpsc::Receiver<notify::Result<notify::Event>>,
    watcher: RecommendedWatcher,
}

impl ChangeWatcher {
    /// Starts watching. `ignored_root` (the home) is never a source of changes.
    pub fn start(targets: Vec<Target>, ignored_root: &Path, debounce: Duration) -> Result<Self> {
        let (tx, events) = mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(tx).context("cannot start watching files (inotify)")?;
        for target in &targets {
            // The crate folder itself only for its top-level files, then each source folder
            // recursively: a recursive watch of the whole crate would also watch target/, tens
            // of thousands of folders, and run out of inotify watches.
            watcher
                .watch(&target.dir, RecursiveMode::NonRecursive)
                .with_context(|| format!("cannot watch {}", target.dir.display()))?;
            let entries = std::fs::read_dir(&target.dir)
                .with_context(|| format!("cannot list {}", target.dir.display()))?;
            for entry in entries.filter_map(|entry| entry.ok()) {
                let path = entry.path();
                if path.is_dir() && is_source_dir(&path) && !path.starts_with(ignored_root) {
                    watcher
                        .watch(&path, RecursiveMode::Recursive)
                        .with_context(|| format!("cannot watch {}", path.display()))?;
                }
            }
        }
        Ok(ChangeWatcher {
            targets,
            ignored_root: ignored_root.to_path_buf(),
            debounce,
            events,
            watcher,
        })
    }

    /// Blocks until some plugin's sources changed and then stayed quiet for the debounce
    /// period; returns those plugins (in target order). `None` when watching ended.
    pub fn next_batch(&mut self) -> Option<Vec<Target>> {
        let mut changed = BTreeSet::new();
        loop {
            let event = if changed.is_empty() {
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
                }
            }
        }
        Some(
            changed
                .into_iter()
                .map(|index| self.targets[index].clone())
                .collect(),
        )
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

    /// A source folder created at a crate's top level (a new `assets/`) gets watched too.
    fn watch_new_dir(&mut self, kind: &EventKind, path: &Path) {
        if !matches!(kind, EventKind::Create(_)) || !path.is_dir() {
            return;
        }
        let top_level = self
            .targets
            .iter()
            .any(|target| path.parent() == Some(target.dir.as_path()));
        if top_level && is_source_dir(path) && !path.starts_with(&self.ignored_root) {
            let _ = self.watcher.watch(path, RecursiveMode::Recursive);
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
            ChangeWatcher::start(vec![target], &home, Duration::from_millis(200)).expect("watch");
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
            ChangeWatcher::start(vec![target], &home, Duration::from_millis(100)).expect("watch");
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

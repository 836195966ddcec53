//! The hidden folder a new crate is written into, then moved into place; removed on failure.

use std::{
    io::ErrorKind,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

/// The folder the crate is written into before it is moved into place, and the parent
/// folders created for it; all removed unless [`Staging::finish`] completes.
pub(super) struct Staging {
    dir: PathBuf,
    created_parents: Vec<PathBuf>,
    done: bool,
}

impl Staging {
    /// A new hidden folder in `within` for the crate that goes to `target`, after creating
    /// `target`'s missing parent folders.
    pub(super) fn new(target: &Path, within: &Path) -> Result<Staging> {
        let parent = target
            .parent()
            .with_context(|| format!("{} has no parent folder", target.display()))?;
        let mut staging = Staging {
            dir: PathBuf::new(),
            created_parents: parent
                .ancestors()
                .take_while(|dir| !dir.exists())
                .map(Path::to_path_buf)
                .collect(),
            done: false,
        };
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder {}", parent.display()))?;
        let leaf = target
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let dir = within.join(format!(".{leaf}.rosey-new-{}-{stamp}", std::process::id()));
        std::fs::create_dir(&dir)
            .with_context(|| format!("cannot create a folder in {}", within.display()))?;
        staging.dir = dir;
        Ok(staging)
    }

    /// Writes `contents` to `relative` inside the staging folder.
    pub(super) fn write(&self, relative: &str, contents: &str) -> Result<()> {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the folder {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Moves the crate to `target`: the staging folder is renamed to it when it does not exist;
    /// an existing (empty) folder keeps its identity (it may be a shell's current folder) and
    /// gets the files moved in, Cargo.toml last, so that `rosey dev` sees a whole crate.
    pub(super) fn finish(mut self, target: &Path) -> Result<()> {
        let moved = |err: std::io::Error| {
            anyhow::anyhow!(
                "cannot move the new crate into {}: {err} (did something write there meanwhile?)",
                target.display()
            )
        };
        if !target.exists() {
            std::fs::rename(&self.dir, target).map_err(moved)?;
            self.done = true;
            return Ok(());
        }
        let mut entries: Vec<std::ffi::OsString> = std::fs::read_dir(&self.dir)
            .map_err(moved)?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<Result<_, _>>()
            .map_err(moved)?;
        entries.sort_by_key(|name| name == "Cargo.toml");
        let mut placed = Vec::new();
        for name in entries {
            let into = target.join(&name);
            if let Err(err) = no_clobber_rename(&self.dir.join(&name), &into) {
                for name in placed {
                    // Ours: the folder was empty.
                    let path = target.join(name);
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
                return Err(moved(err));
            }
            placed.push(name);
        }
        self.done = true;
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }
}

/// Renames `from` to `to`, refusing to replace something at `to`.
fn no_clobber_rename(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(std::io::Error::new(
            ErrorKind::AlreadyExists,
            format!("{} appeared", to.display()),
        ));
    }
    std::fs::rename(from, to)
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        // Deepest first; `remove_dir` leaves a folder something else has written to.
        for dir in &self.created_parents {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

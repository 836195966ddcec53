//! A log file that rotates by size: `name.log` → `name.log.1` → … → `name.log.<keep>`, the
//! oldest deleted. Rotation is checked before each line, so a line is never split across
//! files. The file is opened lazily, reopened after an error, and reopened when its path no
//! longer names the open file (checked at most once a second): a deleted `logs/` folder, or a
//! file moved away by another tool, comes back within a second.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// How often the path is checked against the open file.
const RECHECK: Duration = Duration::from_secs(1);

use crate::{config::LogsConfig, paths::rotated_log};

/// One rotating log file, written by one owner.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    limits: LogsConfig,
    file: Option<File>,
    size: u64,
    checked: Instant,
}

impl RotatingFile {
    /// A writer for `path`; nothing is opened until the first line.
    pub fn new(path: impl Into<PathBuf>, limits: LogsConfig) -> RotatingFile {
        RotatingFile {
            path: path.into(),
            limits,
            file: None,
            size: 0,
            checked: Instant::now(),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes the limits; they apply from the next line.
    pub fn set_limits(&mut self, limits: LogsConfig) {
        self.limits = limits;
    }

    /// Appends `text` (one or more whole lines), rotating first when it would push the file
    /// past `max_size`. A file holding nothing is never rotated, so an over-long line still
    /// lands somewhere.
    pub fn write(&mut self, text: &[u8]) -> io::Result<()> {
        if self.file.is_some() && self.checked.elapsed() >= RECHECK {
            self.checked = Instant::now();
            if !self.path_names_open_file() {
                self.file = None;
            }
        }
        if self.file.is_none() {
            self.open()?;
        }
        if self.size > 0 && self.size.saturating_add(text.len() as u64) > self.limits.max_size {
            self.rotate()?;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("log file not open"));
        };
        match file.write_all(text) {
            Ok(()) => {
                self.size += text.len() as u64;
                Ok(())
            }
            Err(err) => {
                // Reopen on the next line: the file or its folder may have been removed.
                self.file = None;
                Err(err)
            }
        }
    }

    /// Whether the path still leads to the file being written.
    fn path_names_open_file(&self) -> bool {
        let (Some(file), Ok(on_disk)) = (self.file.as_ref(), std::fs::metadata(&self.path)) else {
            return false;
        };
        file.metadata()
            .is_ok_and(|open| (open.dev(), open.ino()) == (on_disk.dev(), on_disk.ino()))
    }

    fn open(&mut self) -> io::Result<()> {
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    /// Shifts every rotated file up by one (dropping those past `keep`), moves the current
    /// file to `.1` and opens a fresh one.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let keep = self.limits.keep.max(1);
        // Files past `keep` (left by a larger `keep` before) go too.
        let mut extra = keep;
        while rotated_log(&self.path, extra).exists() {
            remove_if_there(&rotated_log(&self.path, extra))?;
            extra += 1;
        }
        for n in (1..keep).rev() {
            let from = rotated_log(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, rotated_log(&self.path, n + 1))?;
            }
        }
        match std::fs::rename(&self.path, rotated_log(&self.path, 1)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        self.open()
    }
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

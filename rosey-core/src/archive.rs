//! `.roseyplug` archives: the one way a plugin travels from its author to a rosey home.
//!
//! An archive is a zip holding `manifest.yaml`, the plugin's shared library, `checksums.sha256`
//! (sha256sum format, one line for every other file), optionally `config.default.yaml`, and
//! optionally `assets/…`. Archives come from strangers, so reading one is defensive:
//! [`unpack`] refuses anything that could escape the folder it is unpacked into, lie about its
//! size, smuggle a symlink, or disagree with its own checksums, and it does so before the
//! caller has put anything in its home. [`pack`] writes archives that pass those checks.

mod checksums;
mod pack;
mod validate;

use std::path::{Path, PathBuf};

use crate::manifest::{Manifest, ManifestError};

pub use checksums::{parse_checksums, render_checksums, sha256_hex};
pub use pack::{archive_file_name, pack, PackSource};
pub use validate::unpack;

/// The manifest's name inside an archive.
pub const MANIFEST_FILE: &str = "manifest.yaml";
/// The checksum list's name inside an archive.
pub const CHECKSUMS_FILE: &str = "checksums.sha256";
/// The default plugin configuration's name inside an archive.
pub const DEFAULT_CONFIG_FILE: &str = "config.default.yaml";
/// The folder for a plugin's extra files inside an archive.
pub const ASSETS_DIR: &str = "assets";
/// The file extension of plugin archives.
pub const EXTENSION: &str = "roseyplug";

/// The largest `.roseyplug` file accepted, compressed, so the central directory itself cannot be
/// used to exhaust memory.
pub const MAX_ARCHIVE_BYTES: u64 = 256 * 1024 * 1024;
/// The largest single file inside an archive, uncompressed.
pub const MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;
/// The most bytes all files of an archive may unpack to.
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;
/// The most entries (files and folders) an archive may hold.
pub const MAX_ENTRIES: usize = 1000;
/// The highest uncompressed-to-compressed ratio accepted for a large entry: deflate on real
/// plugin files stays far below it, a zip bomb far above.
pub const MAX_COMPRESSION_RATIO: u64 = 100;
/// Entries smaller than this are exempt from the ratio check: they cannot hurt, and tiny text
/// files of repeated bytes legitimately compress very well.
pub const RATIO_CHECK_MIN_BYTES: u64 = 1024 * 1024;
/// The largest `manifest.yaml` or `checksums.sha256` read into memory.
pub const MAX_METADATA_BYTES: u64 = 1024 * 1024;

/// The advice that ends most archive errors: the archive itself is at fault, so the fix is a
/// good copy of it.
const REPACK: &str =
    "re-pack the plugin with `rosey plugin pack` or get a fresh copy from its author";

/// What to do about an archive that cannot be opened, by why.
fn open_fix(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            "check the path (`rosey plugin pack <folder>` makes an archive from a plugin's source)"
        }
        std::io::ErrorKind::IsADirectory => "pass the .roseyplug file `rosey plugin pack` wrote",
        std::io::ErrorKind::PermissionDenied => "make it readable by the user running rosey",
        _ => "check that the file is whole and readable, or get a fresh copy",
    }
}

/// Why an archive cannot be read, installed or written. Each message names the problem (and
/// the entry at fault) and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive file could not be opened or read.
    #[error("cannot read {}: {error}; {}", path.display(), open_fix(error))]
    Open {
        /// The archive.
        path: PathBuf,
        /// The OS error (part of the message, not a separate cause, so the message stays one
        /// line however it is printed).
        error: std::io::Error,
    },
    /// The archive file itself is larger than [`MAX_ARCHIVE_BYTES`].
    #[error("{} is {}, more than the {} a .roseyplug may have: {REPACK}", path.display(), mib(*size), mib(*max))]
    ArchiveTooLarge {
        /// The archive.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file is not a zip at all.
    #[error("{} is not a .roseyplug archive (not a zip file): pass the file `rosey plugin pack` wrote", path.display())]
    NotZip {
        /// The file.
        path: PathBuf,
    },
    /// The file starts like a zip but its structure is broken.
    #[error("{} is a corrupt zip archive ({reason}): {REPACK}", path.display())]
    Corrupt {
        /// The archive.
        path: PathBuf,
        /// What the zip reader found.
        reason: String,
    },
    /// More than [`MAX_ENTRIES`] entries.
    #[error("the archive holds {count} entries, more than the limit of {max}: {REPACK}")]
    TooManyEntries {
        /// Entries found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Two entries unpack to the same path.
    #[error("the archive holds {name:?} more than once (as {first:?} and {second:?}), so which one wins is ambiguous: {REPACK}")]
    DuplicateEntry {
        /// The path both unpack to.
        name: String,
        /// The first entry's raw name.
        first: String,
        /// The second entry's raw name.
        second: String,
    },
    /// An entry with an absolute path (`/etc/x`, `C:\x`).
    #[error("archive entry {name:?} has an absolute path; entries must be relative to the archive's root: {REPACK}")]
    AbsolutePath {
        /// The entry's raw name.
        name: String,
    },
    /// An entry with a `..` component, which could unpack outside its folder.
    #[error("archive entry {name:?} contains a `..` component and could unpack outside the plugin's folder: {REPACK}")]
    ParentComponent {
        /// The entry's raw name.
        name: String,
    },
    /// An entry whose name is empty, holds a NUL or a backslash.
    #[error("archive entry {name:?} has an unusable name ({reason}): {REPACK}")]
    BadName {
        /// The entry's raw name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A symlink, device, FIFO or socket entry.
    #[error("archive entry {name:?} is a {kind}; archives may hold only regular files and folders: {REPACK}")]
    NotRegularFile {
        /// The entry's raw name.
        name: String,
        /// What it is instead (`symlink`, `device`, …).
        kind: &'static str,
    },
    /// An encrypted entry: rosey has no password to give.
    #[error("archive entry {name:?} is encrypted; rosey cannot read encrypted archives: {REPACK}")]
    Encrypted {
        /// The entry's raw name.
        name: String,
    },
    /// An entry compressed with something other than store or deflate.
    #[error("archive entry {name:?} uses the {method} compression method; only stored and deflate are supported: {REPACK}")]
    UnsupportedCompression {
        /// The entry's raw name.
        name: String,
        /// The method found.
        method: String,
    },
    /// An entry over [`MAX_ENTRY_BYTES`].
    #[error("archive entry {name:?} unpacks to {}, more than the limit of {} per file: shrink the file or leave it out of the plugin", mib(*size), mib(*max))]
    EntryTooLarge {
        /// The entry.
        name: String,
        /// Its declared size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// All entries together over [`MAX_TOTAL_BYTES`].
    #[error("the archive unpacks to {}, more than the limit of {}: shrink the plugin's files", mib(*total), mib(*max))]
    TotalTooLarge {
        /// The declared total.
        total: u64,
        /// The limit.
        max: u64,
    },
    /// An entry compressed far beyond what real files allow: a zip bomb.
    #[error("archive entry {name:?} expands {ratio}:1 when unpacked, more than the {max}:1 allowed (a zip bomb?): {REPACK}")]
    CompressionBomb {
        /// The entry.
        name: String,
        /// Its uncompressed:compressed ratio.
        ratio: u64,
        /// The limit.
        max: u64,
    },
    /// An entry produced more (or fewer) bytes than its header declared: a forged header meant
    /// to slip past the size limits, or a damaged archive.
    #[error("archive entry {name:?} declares {declared} bytes but holds {found}: the archive is corrupt or forged; {REPACK}")]
    SizeMismatch {
        /// The entry.
        name: String,
        /// What its header says.
        declared: u64,
        /// `"more"` or `"fewer"`.
        found: &'static str,
    },
    /// An entry's data could not be decompressed (bad CRC, truncated stream, …).
    #[error("archive entry {name:?} is corrupt ({reason}): {REPACK}")]
    EntryCorrupt {
        /// The entry.
        name: String,
        /// What the reader found.
        reason: String,
    },
    /// One entry is a file and another treats it as a folder.
    #[error("archive entry {file:?} is a file, but {other:?} puts something inside it: {REPACK}")]
    PathConflict {
        /// The file.
        file: String,
        /// The entry below it.
        other: String,
    },
    /// No `manifest.yaml` at the top level.
    #[error("the archive has no manifest.yaml at its top level, so it is not a rosey plugin: pack the plugin crate with `rosey plugin pack`")]
    MissingManifest,
    /// `manifest.yaml` or `checksums.sha256` is over [`MAX_METADATA_BYTES`].
    #[error("{name} in the archive is {}, more than the {} allowed: {REPACK}", mib(*size), mib(*max))]
    MetadataTooLarge {
        /// Which file.
        name: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// `manifest.yaml` breaks a rule.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The library the manifest names is not in the archive.
    #[error("manifest.yaml names the library {library:?}, but the archive has no such file at its top level: {REPACK}")]
    MissingLibrary {
        /// The manifest's `library`.
        library: String,
    },
    /// No `checksums.sha256`.
    #[error("the archive has no checksums.sha256, so its contents cannot be verified: {REPACK}")]
    MissingChecksums,
    /// `checksums.sha256` is not in sha256sum format.
    #[error("checksums.sha256 line {line} is malformed ({reason}); each line must be `<64 hex digits>  <path>`: {REPACK}")]
    MalformedChecksums {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// `checksums.sha256` lists a file the archive lacks.
    #[error("checksums.sha256 lists {name:?}, but the archive has no such file: {REPACK}")]
    ChecksumListedMissing {
        /// The listed path.
        name: String,
    },
    /// A file is in the archive but not in `checksums.sha256`.
    #[error("archive entry {name:?} is not listed in checksums.sha256, so it cannot be verified: {REPACK}")]
    ChecksumUnlisted {
        /// The unlisted file.
        name: String,
    },
    /// A file's sha256 differs from the listed one.
    #[error("archive entry {name:?} does not match its sha256 in checksums.sha256 (corrupted or tampered with): {REPACK}")]
    ChecksumMismatch {
        /// The file.
        name: String,
    },
    /// A file or folder could not be written or read outside the archive (unpack target, pack
    /// sources, output).
    #[error("cannot {what} {}: {error}", path.display())]
    Io {
        /// What was being done (`write`, `create folder`, …).
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error (part of the message, not a separate cause, so the message stays one
        /// line however it is printed).
        error: std::io::Error,
    },
    /// A pack source that cannot go into an archive (a symlink in `assets/`, a bad file name).
    #[error("cannot pack {}: {problem}", path.display())]
    PackSource {
        /// The offending source path.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

/// A size for people: `64 MiB`, `1.5 MiB`.
fn mib(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    }
}

impl ArchiveError {
    /// Shorthand for [`ArchiveError::Io`].
    pub(crate) fn io(what: &'static str, path: &Path, error: std::io::Error) -> Self {
        ArchiveError::Io {
            what,
            path: path.to_path_buf(),
            error,
        }
    }
}

/// A validated archive unpacked into a folder of the caller's choosing (a temporary folder,
/// normally), ready to be load-checked and moved into a home.
#[derive(Debug, Clone)]
pub struct UnpackedArchive {
    /// The folder it was unpacked into.
    pub root: PathBuf,
    /// Its parsed, validated manifest.
    pub manifest: Manifest,
    /// Every regular file, as normalized `/`-separated paths relative to `root`, sorted.
    pub files: Vec<String>,
    /// Every folder entry (and folder implied by a file path), normalized, sorted.
    pub dirs: Vec<String>,
}

impl UnpackedArchive {
    /// The unpacked plugin library.
    pub fn library_path(&self) -> PathBuf {
        self.root.join(&self.manifest.library)
    }

    /// The unpacked `config.default.yaml`, when the archive has one.
    pub fn default_config(&self) -> Option<PathBuf> {
        self.files
            .iter()
            .any(|file| file == DEFAULT_CONFIG_FILE)
            .then(|| self.root.join(DEFAULT_CONFIG_FILE))
    }
}

#[cfg(test)]
mod tests;

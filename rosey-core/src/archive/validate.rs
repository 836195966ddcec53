//! Reading an untrusted `.roseyplug`: every rule is checked on the zip's metadata before a
//! byte is written, data is read through bounded readers (a forged size header cannot make it
//! write more than the limits), and the result is checked against `checksums.sha256` and the
//! manifest before the caller sees it.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::File,
    io::{BufReader, ErrorKind, Read, Seek, SeekFrom, Write},
    path::Path,
};

use sha2::{Digest, Sha256};
use zip::{CompressionMethod, ZipArchive};

use super::{
    checksums::parse_checksums, ArchiveError, UnpackedArchive, CHECKSUMS_FILE, MANIFEST_FILE,
    MAX_ARCHIVE_BYTES, MAX_COMPRESSION_RATIO, MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_METADATA_BYTES,
    MAX_TOTAL_BYTES, RATIO_CHECK_MIN_BYTES,
};
use crate::manifest::{Manifest, ManifestError};

/// Why an entry name is unusable, before it is tied to the entry's raw name.
#[derive(Debug)]
pub(crate) enum NameProblem {
    Absolute,
    Parent,
    Bad(&'static str),
}

impl std::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameProblem::Absolute => f.write_str("it is an absolute path"),
            NameProblem::Parent => f.write_str("it contains a `..` component"),
            NameProblem::Bad(reason) => f.write_str(reason),
        }
    }
}

impl NameProblem {
    fn into_error(self, raw: &str) -> ArchiveError {
        let name = raw.to_string();
        match self {
            NameProblem::Absolute => ArchiveError::AbsolutePath { name },
            NameProblem::Parent => ArchiveError::ParentComponent { name },
            NameProblem::Bad(reason) => ArchiveError::BadName { name, reason },
        }
    }
}

/// The one spelling of an entry path: `/`-separated, no empty or `.` components, no trailing
/// slash. Two entries with the same normalized name would unpack to the same place.
pub(crate) fn normalize_name(raw: &str) -> Result<String, NameProblem> {
    if raw.contains('\0') {
        return Err(NameProblem::Bad("it contains a NUL byte"));
    }
    if raw.contains('\\') {
        return Err(NameProblem::Bad(
            "it contains a backslash; folders are separated by `/`",
        ));
    }
    let bytes = raw.as_bytes();
    if raw.starts_with('/')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
    {
        return Err(NameProblem::Absolute);
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(NameProblem::Parent),
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(NameProblem::Bad("it names no file"));
    }
    Ok(parts.join("/"))
}

/// One entry that passed the metadata checks.
struct Planned {
    index: usize,
    raw: String,
    name: String,
    is_dir: bool,
    size: u64,
    compressed: u64,
}

/// Validates the archive at `archive` completely and unpacks it into `dest`, an existing empty
/// folder outside any home (a temporary one). Nothing is written before every entry's
/// metadata has passed; on an error `dest` may hold a partial unpack, which the caller throws
/// away with the temporary folder.
pub fn unpack(archive: &Path, dest: &Path) -> Result<UnpackedArchive, ArchiveError> {
    let open_err = |error| ArchiveError::Open {
        path: archive.to_path_buf(),
        error,
    };
    let mut file = File::open(archive).map_err(open_err)?;
    let metadata = file.metadata().map_err(open_err)?;
    if metadata.is_dir() {
        return Err(open_err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a folder",
        )));
    }
    let size = metadata.len();
    if size > MAX_ARCHIVE_BYTES {
        return Err(ArchiveError::ArchiveTooLarge {
            path: archive.to_path_buf(),
            size,
            max: MAX_ARCHIVE_BYTES,
        });
    }
    let mut magic = [0u8; 4];
    let not_zip = || ArchiveError::NotZip {
        path: archive.to_path_buf(),
    };
    file.read_exact(&mut magic).map_err(|_| not_zip())?;
    if magic != *b"PK\x03\x04" && magic != *b"PK\x05\x06" {
        return Err(not_zip());
    }
    file.seek(SeekFrom::Start(0)).map_err(open_err)?;
    let corrupt = |reason: String| ArchiveError::Corrupt {
        path: archive.to_path_buf(),
        reason,
    };
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|err| corrupt(err.to_string()))?;

    check_raw_names(archive, zip.central_directory_start(), zip.len()).map_err(
        |err| match err {
            RawNamesError::Io(err) => corrupt(format!("unreadable central directory: {err}")),
            RawNamesError::Archive(err) => err,
        },
    )?;
    let planned = plan(&mut zip)?;

    let mut digests = BTreeMap::new();
    for entry in &planned {
        let target = dest.join(&entry.name);
        if entry.is_dir {
            std::fs::create_dir_all(&target)
                .map_err(|err| ArchiveError::io("create folder", &target, err))?;
        } else {
            let digest = extract_file(&mut zip, entry, &target)?;
            digests.insert(entry.name.clone(), digest);
        }
    }

    let files: Vec<String> = digests.keys().cloned().collect();
    if !digests.contains_key(MANIFEST_FILE) {
        return Err(ArchiveError::MissingManifest);
    }
    if !digests.contains_key(CHECKSUMS_FILE) {
        return Err(ArchiveError::MissingChecksums);
    }
    let sums = parse_checksums(&read_metadata(dest, CHECKSUMS_FILE)?)?;
    for (name, digest) in &digests {
        if name == CHECKSUMS_FILE {
            continue;
        }
        match sums.get(name) {
            None => return Err(ArchiveError::ChecksumUnlisted { name: name.clone() }),
            Some(listed) if *listed != hex::encode(digest) => {
                return Err(ArchiveError::ChecksumMismatch { name: name.clone() })
            }
            Some(_) => {}
        }
    }
    if let Some(name) = sums.keys().find(|name| !digests.contains_key(*name)) {
        return Err(ArchiveError::ChecksumListedMissing { name: name.clone() });
    }

    let manifest = Manifest::parse(&read_metadata(dest, MANIFEST_FILE)?)?;
    if !digests.contains_key(&manifest.library) {
        return Err(ArchiveError::MissingLibrary {
            library: manifest.library.clone(),
        });
    }
    let mut dirs: BTreeSet<String> = planned
        .iter()
        .filter(|entry| entry.is_dir)
        .map(|entry| entry.name.clone())
        .collect();
    dirs.extend(
        files
            .iter()
            .flat_map(|file| ancestors(file))
            .map(str::to_string),
    );
    Ok(UnpackedArchive {
        root: dest.to_path_buf(),
        manifest,
        files,
        dirs: dirs.into_iter().collect(),
    })
}

/// `a`, `a/b` for `a/b/c`.
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/').map(move |(at, _)| &name[..at])
}

enum RawNamesError {
    Io(std::io::Error),
    Archive(ArchiveError),
}

impl From<std::io::Error> for RawNamesError {
    fn from(err: std::io::Error) -> Self {
        RawNamesError::Io(err)
    }
}

/// Walks the central directory itself, because the zip reader keeps only the last of several
/// entries with the same name: counts the entries against [`MAX_ENTRIES`] and finds exact
/// duplicates the reader would have hidden.
fn check_raw_names(archive: &Path, dir_start: u64, unique: usize) -> Result<(), RawNamesError> {
    let mut reader = BufReader::new(File::open(archive)?);
    reader.seek(SeekFrom::Start(dir_start))?;
    let mut seen: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut count = 0usize;
    loop {
        let mut header = [0u8; 46];
        match reader.read_exact(&mut header) {
            Err(err) if err.kind() == ErrorKind::UnexpectedEof => break,
            other => other?,
        }
        if header[..4] != *b"PK\x01\x02" {
            break;
        }
        let field = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let mut name = vec![0u8; usize::from(field(28))];
        reader.read_exact(&mut name)?;
        reader.seek_relative(i64::from(field(30)) + i64::from(field(32)))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(RawNamesError::Archive(ArchiveError::TooManyEntries {
                count: unique.max(count),
                max: MAX_ENTRIES,
            }));
        }
        if !seen.insert(name.clone()) {
            let name = String::from_utf8_lossy(&name).into_owned();
            return Err(RawNamesError::Archive(ArchiveError::DuplicateEntry {
                first: name.clone(),
                second: name.clone(),
                name,
            }));
        }
    }
    if unique > MAX_ENTRIES {
        return Err(RawNamesError::Archive(ArchiveError::TooManyEntries {
            count: unique,
            max: MAX_ENTRIES,
        }));
    }
    Ok(())
}

/// What a unix mode's file-type bits say an entry is, when it is not a regular file or folder.
fn special_kind(mode: u32) -> Option<&'static str> {
    match mode & 0o170000 {
        0 | 0o100000 | 0o040000 => None,
        0o120000 => Some("symlink"),
        0o020000 | 0o060000 => Some("device"),
        0o010000 => Some("FIFO"),
        0o140000 => Some("socket"),
        _ => Some("special file"),
    }
}

/// Checks every entry's metadata (name, type, encryption, compression, sizes, then compression
/// ratios and file/folder clashes) and returns the entries to unpack, in archive order.
fn plan<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Result<Vec<Planned>, ArchiveError> {
    let mut planned = Vec::with_capacity(zip.len());
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    let mut total = 0u64;
    for index in 0..zip.len() {
        let listed = zip.name_for_index(index).unwrap_or("?").to_string();
        let entry = zip
            .by_index_raw(index)
            .map_err(|err| ArchiveError::EntryCorrupt {
                name: listed,
                reason: err.to_string(),
            })?;
        let raw = entry.name().to_string();
        let name = normalize_name(&raw).map_err(|problem| problem.into_error(&raw))?;
        let mode = entry.unix_mode().unwrap_or(0);
        if let Some(kind) = special_kind(mode) {
            return Err(ArchiveError::NotRegularFile { name: raw, kind });
        }
        let is_dir = raw.ends_with('/');
        if mode & 0o170000 == 0o040000 && !is_dir {
            return Err(ArchiveError::BadName {
                name: raw,
                reason: "it is a folder whose name does not end in `/`",
            });
        }
        if entry.encrypted() {
            return Err(ArchiveError::Encrypted { name: raw });
        }
        let size = entry.size();
        if is_dir && size > 0 {
            return Err(ArchiveError::BadName {
                name: raw,
                reason: "it is a folder entry that holds data",
            });
        }
        let method = entry.compression();
        if !matches!(
            method,
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(ArchiveError::UnsupportedCompression {
                name: raw,
                method: method.to_string(),
            });
        }
        if size > MAX_ENTRY_BYTES {
            return Err(ArchiveError::EntryTooLarge {
                name: raw,
                size,
                max: MAX_ENTRY_BYTES,
            });
        }
        total = total.saturating_add(size);
        if total > MAX_TOTAL_BYTES {
            return Err(ArchiveError::TotalTooLarge {
                total,
                max: MAX_TOTAL_BYTES,
            });
        }
        if let Some(first) = by_name.insert(name.clone(), raw.clone()) {
            return Err(ArchiveError::DuplicateEntry {
                name,
                first,
                second: raw,
            });
        }
        planned.push(Planned {
            index,
            raw,
            name,
            is_dir,
            size,
            compressed: entry.compressed_size(),
        });
    }
    let files: BTreeSet<&str> = planned
        .iter()
        .filter(|entry| !entry.is_dir)
        .map(|entry| entry.name.as_str())
        .collect();
    for entry in &planned {
        if entry.size >= RATIO_CHECK_MIN_BYTES {
            let ratio = entry.size / entry.compressed.max(1);
            if ratio > MAX_COMPRESSION_RATIO {
                return Err(ArchiveError::CompressionBomb {
                    name: entry.raw.clone(),
                    ratio,
                    max: MAX_COMPRESSION_RATIO,
                });
            }
        }
        for ancestor in ancestors(&entry.name) {
            if files.contains(ancestor) {
                return Err(ArchiveError::PathConflict {
                    file: ancestor.to_string(),
                    other: entry.name.clone(),
                });
            }
        }
    }
    Ok(planned)
}

/// Writes one file entry to `target` through a reader bounded by its declared size, hashing
/// as it goes; a stream longer or shorter than declared is refused.
fn extract_file<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    entry: &Planned,
    target: &Path,
) -> Result<[u8; 32], ArchiveError> {
    let corrupt = |err: &dyn std::fmt::Display| ArchiveError::EntryCorrupt {
        name: entry.name.clone(),
        reason: err.to_string(),
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|err| ArchiveError::io("create folder", parent, err))?;
    }
    let mut out = File::create_new(target).map_err(|err| ArchiveError::io("write", target, err))?;
    let mut reader = zip.by_index(entry.index).map_err(|err| corrupt(&err))?;
    let mut bounded = (&mut reader).take(entry.size.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        let read = bounded.read(&mut buffer).map_err(|err| corrupt(&err))?;
        if read == 0 {
            break;
        }
        written += read as u64;
        if written > entry.size {
            return Err(ArchiveError::SizeMismatch {
                name: entry.name.clone(),
                declared: entry.size,
                found: "more",
            });
        }
        hasher.update(&buffer[..read]);
        out.write_all(&buffer[..read])
            .map_err(|err| ArchiveError::io("write", target, err))?;
    }
    if written < entry.size {
        return Err(ArchiveError::SizeMismatch {
            name: entry.name.clone(),
            declared: entry.size,
            found: "fewer",
        });
    }
    Ok(hasher.finalize().into())
}

/// Reads an unpacked metadata file (`manifest.yaml`, `checksums.sha256`) as text, refusing
/// oversized ones.
fn read_metadata(dest: &Path, name: &'static str) -> Result<String, ArchiveError> {
    let path = dest.join(name);
    let size = std::fs::metadata(&path)
        .map_err(|err| ArchiveError::io("read", &path, err))?
        .len();
    if size > MAX_METADATA_BYTES {
        return Err(ArchiveError::MetadataTooLarge {
            name,
            size,
            max: MAX_METADATA_BYTES,
        });
    }
    let bytes = std::fs::read(&path).map_err(|err| ArchiveError::io("read", &path, err))?;
    String::from_utf8(bytes).map_err(|err| match name {
        MANIFEST_FILE => ArchiveError::Manifest(ManifestError::Parse(
            "it is not UTF-8 text: save it as UTF-8".into(),
        )),
        _ => {
            // The line holding the first byte that is not UTF-8.
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            ArchiveError::MalformedChecksums {
                line: 1 + valid.iter().filter(|byte| **byte == b'\n').count(),
                reason: "it is not UTF-8 text".into(),
            }
        }
    })
}

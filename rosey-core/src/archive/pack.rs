//! Writing a `.roseyplug`: the files a plugin crate built, put into a zip with their checksums,
//! written beside its final name and renamed into place only once it has been read back and
//! passed every rule an install applies.

use std::{
    fs::File,
    io::{BufReader, Read, Write},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};
use zip::{write::SimpleFileOptions, CompressionMethod, ZipWriter};

use super::{
    render_checksums, unpack, ArchiveError, ASSETS_DIR, CHECKSUMS_FILE, DEFAULT_CONFIG_FILE,
    EXTENSION, MANIFEST_FILE, MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES,
};
use crate::manifest::Manifest;

/// What goes into an archive. The manifest is final (version, library and ABI filled in);
/// the library is stored under the manifest's `library` name whatever its path is called.
#[derive(Debug, Clone, Copy)]
pub struct PackSource<'a> {
    /// The plugin's manifest, written as `manifest.yaml`.
    pub manifest: &'a Manifest,
    /// The built shared library.
    pub library: &'a Path,
    /// The crate's `config.default.yaml`, when it has one.
    pub default_config: Option<&'a Path>,
    /// The crate's `assets/` folder, when it has one; packed recursively as `assets/…`.
    pub assets: Option<&'a Path>,
}

/// The file name an archive of `manifest`'s plugin gets: `<name>-<version>.roseyplug`.
pub fn archive_file_name(manifest: &Manifest) -> String {
    format!("{}-{}.{EXTENSION}", manifest.name, manifest.version)
}

/// Where an entry's bytes come from.
enum Content {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// Packs `source` into `out_dir/<name>-<version>.roseyplug` (creating `out_dir` if needed) and
/// returns that path. The archive is written to a temporary file in `out_dir`, unpacked again
/// into a temporary folder to prove it installs, then renamed over any older file of that name.
pub fn pack(source: &PackSource<'_>, out_dir: &Path) -> Result<PathBuf, ArchiveError> {
    source.manifest.validate()?;
    let mut entries = vec![
        (
            MANIFEST_FILE.to_string(),
            Content::Bytes(source.manifest.to_yaml().into_bytes()),
        ),
        (
            source.manifest.library.clone(),
            Content::File(source.library.to_path_buf()),
        ),
    ];
    if let Some(config) = source.default_config {
        entries.push((
            DEFAULT_CONFIG_FILE.to_string(),
            Content::File(config.to_path_buf()),
        ));
    }
    if let Some(assets) = source.assets {
        collect_assets(assets, ASSETS_DIR, &mut entries)?;
    }
    check_sizes(&entries)?;

    std::fs::create_dir_all(out_dir)
        .map_err(|err| ArchiveError::io("create folder", out_dir, err))?;
    let final_path = out_dir.join(archive_file_name(source.manifest));
    let mut temp = tempfile::Builder::new()
        .prefix(".rosey-pack-")
        .suffix(".tmp")
        .tempfile_in(out_dir)
        .map_err(|err| ArchiveError::io("create a temporary file in", out_dir, err))?;
    let temp_path = temp.path().to_path_buf();
    let write_err = |err: &dyn std::fmt::Display| ArchiveError::Io {
        what: "write",
        path: temp_path.clone(),
        error: std::io::Error::other(err.to_string()),
    };

    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(temp.as_file_mut());
    let mut digests = Vec::with_capacity(entries.len());
    for (name, content) in &entries {
        zip.start_file(name.as_str(), options)
            .map_err(|err| write_err(&err))?;
        let digest = match content {
            Content::Bytes(bytes) => {
                zip.write_all(bytes).map_err(|err| write_err(&err))?;
                Sha256::digest(bytes).into()
            }
            Content::File(path) => copy_hashing(path, &mut zip)?,
        };
        digests.push((name.clone(), digest));
    }
    let checksums = render_checksums(digests.iter().map(|(name, digest)| (name.as_str(), digest)));
    zip.start_file(CHECKSUMS_FILE, options)
        .map_err(|err| write_err(&err))?;
    zip.write_all(checksums.as_bytes())
        .map_err(|err| write_err(&err))?;
    zip.finish().map_err(|err| write_err(&err))?;
    temp.as_file().sync_all().map_err(|err| write_err(&err))?;

    let check_dir = tempfile::tempdir().map_err(|err| {
        ArchiveError::io("create a temporary folder in", &std::env::temp_dir(), err)
    })?;
    unpack(temp.path(), check_dir.path())?;

    temp.persist(&final_path)
        .map_err(|err| ArchiveError::io("write", &final_path, err.error))?;
    Ok(final_path)
}

/// Adds every regular file under `dir` as `<prefix>/<relative path>`, in sorted order so the
/// same crate always packs the same archive. Symlinks and special files are refused: an
/// archive holds regular files only.
fn collect_assets(
    dir: &Path,
    prefix: &str,
    entries: &mut Vec<(String, Content)>,
) -> Result<(), ArchiveError> {
    let read_err = |err| ArchiveError::io("read folder", dir, err);
    let mut children = std::fs::read_dir(dir)
        .map_err(read_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    children.sort_by_key(|child| child.file_name());
    for child in children {
        let path = child.path();
        let bad = |problem: &str| ArchiveError::PackSource {
            path: path.clone(),
            problem: problem.to_string(),
        };
        let Some(name) = child.file_name().to_str().map(str::to_string) else {
            return Err(bad("the file name is not UTF-8; rename it"));
        };
        if name.contains('\\') {
            return Err(bad("the file name contains a backslash; rename it"));
        }
        let kind = std::fs::symlink_metadata(&path)
            .map_err(|err| ArchiveError::io("read", &path, err))?
            .file_type();
        let entry_name = format!("{prefix}/{name}");
        if kind.is_dir() {
            collect_assets(&path, &entry_name, entries)?;
        } else if kind.is_file() {
            entries.push((entry_name, Content::File(path)));
        } else if kind.is_symlink() {
            return Err(bad(
                "it is a symlink; archives hold regular files only, so copy the file it points to",
            ));
        } else {
            return Err(bad(
                "it is not a regular file; archives hold regular files only",
            ));
        }
        if entries.len() > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries {
                count: entries.len(),
                max: MAX_ENTRIES,
            });
        }
    }
    Ok(())
}

/// Refuses, before writing anything, files an install would refuse for their size.
fn check_sizes(entries: &[(String, Content)]) -> Result<(), ArchiveError> {
    let mut total = 0u64;
    for (name, content) in entries {
        let size = match content {
            Content::Bytes(bytes) => bytes.len() as u64,
            Content::File(path) => std::fs::metadata(path)
                .map_err(|err| ArchiveError::io("read", path, err))?
                .len(),
        };
        if size > MAX_ENTRY_BYTES {
            return Err(ArchiveError::EntryTooLarge {
                name: name.clone(),
                size,
                max: MAX_ENTRY_BYTES,
            });
        }
        total = total.saturating_add(size);
    }
    if total > MAX_TOTAL_BYTES {
        return Err(ArchiveError::TotalTooLarge {
            total,
            max: MAX_TOTAL_BYTES,
        });
    }
    Ok(())
}

/// Copies the file at `path` into `out`, returning its sha256.
fn copy_hashing(path: &Path, out: &mut impl Write) -> Result<[u8; 32], ArchiveError> {
    let file = File::open(path).map_err(|err| ArchiveError::io("read", path, err))?;
    let mut reader = BufReader::new(file);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = reader
            .read(&mut buffer)
            .map_err(|err| ArchiveError::io("read", path, err))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        out.write_all(&buffer[..read])
            .map_err(|err| ArchiveError::Io {
                what: "write the archive for",
                path: path.to_path_buf(),
                error: err,
            })?;
    }
    Ok(hasher.finalize().into())
}

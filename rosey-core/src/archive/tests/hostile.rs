//! Hostile and broken archives `unpack` must refuse, each naming the entry at fault, and the
//! odd but harmless ones it must still take (folder entries, stored entries, a zip comment).
//! Archives are built with the zip crate and patched by hand where it will not write
//! something malformed; refusals made on the metadata leave the destination empty.

use std::{
    io::{Cursor, Write},
    path::Path,
};

use sha2::{Digest, Sha256};
use zip::{write::SimpleFileOptions, CompressionMethod, ZipWriter};

use super::*;

/// One `unpack` into a fresh, empty folder, which lives as long as this does.
struct Attempt {
    /// The archive and the destination folder, removed when the attempt is dropped.
    _dir: tempfile::TempDir,
    /// What `unpack` said.
    result: Result<UnpackedArchive, ArchiveError>,
    /// Every path it left in its destination folder (relative, sorted).
    written: Vec<String>,
}

/// Unpacks `bytes` as an archive into a fresh, empty folder.
fn unpack_into_empty(bytes: &[u8]) -> Attempt {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("test.roseyplug");
    std::fs::write(&path, bytes).expect("write archive");
    let dest = dir.path().join("out");
    std::fs::create_dir(&dest).expect("mkdir");
    let result = unpack(&path, &dest);
    let written = listing(&dest);
    Attempt {
        _dir: dir,
        result,
        written,
    }
}

/// Every path under `root`, relative to it, sorted.
fn listing(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for child in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = child.path();
            let relative = path.strip_prefix(root).expect("under root");
            found.push(relative.to_string_lossy().into_owned());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The error `unpack` refuses `bytes` with, checking that it wrote nothing first.
fn refused_before_writing(bytes: &[u8]) -> ArchiveError {
    let attempt = unpack_into_empty(bytes);
    match attempt.result {
        Ok(unpacked) => panic!("accepted: {unpacked:?}"),
        Err(err) => {
            assert!(
                attempt.written.is_empty(),
                "{err}: wrote {:?}",
                attempt.written
            );
            err
        }
    }
}

/// A good archive (files with checksums) plus whatever `extra` adds after them.
fn good_archive_plus(extra: impl FnOnce(&mut ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in with_checksums(good_files()) {
        zip.start_file(name, options()).expect("start");
        zip.write_all(&data).expect("write");
    }
    extra(&mut zip);
    zip.finish().expect("finish").into_inner()
}

/// A good archive plus one extra file `name` holding `data`.
fn good_archive_with_file(name: &str, data: &[u8]) -> Vec<u8> {
    good_archive_plus(|zip| {
        zip.start_file(name, options()).expect("start");
        zip.write_all(data).expect("write");
    })
}

/// The offset of the first local file header of entry `name`.
fn local_header(bytes: &[u8], name: &str) -> usize {
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(4).position(|w| w == b"PK\x03\x04") {
        let header = at + found;
        let name_len = u16::from_le_bytes([bytes[header + 26], bytes[header + 27]]) as usize;
        if bytes.get(header + 30..header + 30 + name_len) == Some(name.as_bytes()) {
            return header;
        }
        at = header + 4;
    }
    panic!("no local header for {name}");
}

#[test]
fn a_folder_or_a_missing_file_given_as_the_archive_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("dice-roller");
    std::fs::create_dir(&folder).expect("mkdir");
    let dest = dir.path().join("out");
    std::fs::create_dir(&dest).expect("mkdir");
    let err = unpack(&folder, &dest).expect_err("a folder");
    assert!(matches!(err, ArchiveError::Open { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: it is a folder; pass the .roseyplug file `rosey plugin pack` wrote",
            folder.display()
        )
    );
    assert!(listing(&dest).is_empty());
    let missing = dir.path().join("dice-roller-1.0.0.roseyplug");
    let err = unpack(&missing, &dest).expect_err("no such file");
    assert!(
        err.to_string().ends_with(
            "; check the path (`rosey plugin pack <folder>` makes an archive from a plugin's source)"
        ),
        "{err}"
    );
}

#[test]
fn an_archive_file_over_the_size_limit_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.roseyplug");
    // Sparse: the size is all the check looks at, and it takes no disk space.
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(MAX_ARCHIVE_BYTES + 1).expect("set_len");
    let dest = dir.path().join("out");
    std::fs::create_dir(&dest).expect("mkdir");
    let err = unpack(&path, &dest).expect_err("too large");
    assert!(
        matches!(
            err,
            ArchiveError::ArchiveTooLarge {
                size,
                max: MAX_ARCHIVE_BYTES,
                ..
            } if size == MAX_ARCHIVE_BYTES + 1
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} is 256.0 MiB, more than the 256 MiB a .roseyplug may have: {REPACK}",
            path.display()
        )
    );
    assert!(listing(&dest).is_empty());
}

#[test]
fn an_entry_name_with_a_nul_byte_is_refused() {
    let err = refused_before_writing(&good_archive_with_file("assets/a\0.txt", b"x"));
    assert!(
        matches!(
            &err,
            ArchiveError::BadName { name, reason: "it contains a NUL byte" }
                if name == "assets/a\0.txt"
        ),
        "{err}"
    );
}

#[test]
fn an_entry_naming_no_file_is_refused() {
    let err = refused_before_writing(&good_archive_with_file("./", b""));
    assert!(
        matches!(
            &err,
            ArchiveError::BadName { name, reason: "it names no file" } if name == "./"
        ),
        "{err}"
    );
}

#[test]
fn device_fifo_socket_and_unknown_special_entries_are_refused_naming_their_kind() {
    for (mode, kind) in [
        (0o020644, "device"),
        (0o060644, "device"),
        (0o010644, "FIFO"),
        (0o140644, "socket"),
        (0o170644, "special file"),
    ] {
        let mut bytes = good_archive_with_file("assets/special", b"");
        // The external attributes of the central header: the unix mode in the high half.
        patch_central(&mut bytes, "assets/special", 38, 4, mode << 16);
        let err = refused_before_writing(&bytes);
        assert!(
            matches!(
                &err,
                ArchiveError::NotRegularFile { name, kind: found }
                    if name == "assets/special" && *found == kind
            ),
            "{mode:o}: {err}"
        );
        assert_eq!(
            err.to_string(),
            format!("archive entry \"assets/special\" is a {kind}; archives may hold only regular files and folders: {REPACK}")
        );
    }
}

#[test]
fn a_folder_entry_whose_name_lacks_the_trailing_slash_is_refused() {
    let mut bytes = good_archive_with_file("assets/dir", b"");
    patch_central(&mut bytes, "assets/dir", 38, 4, 0o040755 << 16);
    let err = refused_before_writing(&bytes);
    assert!(
        matches!(
            &err,
            ArchiveError::BadName {
                name,
                reason: "it is a folder whose name does not end in `/`"
            } if name == "assets/dir"
        ),
        "{err}"
    );
}

#[test]
fn an_encrypted_entry_is_refused_naming_it() {
    let mut bytes = good_archive_with_file("assets/secret.txt", b"hidden");
    // General purpose flag bit 0: encrypted.
    patch_central(&mut bytes, "assets/secret.txt", 8, 2, 1);
    let err = refused_before_writing(&bytes);
    assert!(
        matches!(&err, ArchiveError::Encrypted { name } if name == "assets/secret.txt"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("archive entry \"assets/secret.txt\" is encrypted; rosey cannot read encrypted archives: {REPACK}")
    );
}

#[test]
fn a_folder_entry_holding_data_is_refused() {
    let err = refused_before_writing(&good_archive_with_file("assets/dir/", b"payload"));
    assert!(
        matches!(
            &err,
            ArchiveError::BadName {
                name,
                reason: "it is a folder entry that holds data"
            } if name == "assets/dir/"
        ),
        "{err}"
    );
}

#[test]
fn an_entry_whose_local_header_is_broken_is_refused_as_corrupt() {
    let mut bytes = good_archive_with_file("assets/broken.txt", b"x");
    let header = local_header(&bytes, "assets/broken.txt");
    bytes[header..header + 4].copy_from_slice(b"XXXX");
    let err = refused_before_writing(&bytes);
    assert!(
        matches!(&err, ArchiveError::EntryCorrupt { name, .. } if name == "assets/broken.txt"),
        "{err}"
    );
}

#[test]
fn an_entry_holding_fewer_bytes_than_declared_is_refused() {
    let mut bytes = zip_bytes(&with_checksums(good_files()));
    // "six" is 3 bytes; the central directory, which readers trust, says 300.
    patch_central(&mut bytes, "assets/faces/six.txt", 24, 4, 300);
    let err = unpack_into_empty(&bytes).result.expect_err("short entry");
    assert!(
        matches!(
            &err,
            ArchiveError::SizeMismatch {
                name,
                declared: 300,
                found: "fewer",
            } if name == "assets/faces/six.txt"
        ),
        "{err}"
    );
}

#[test]
fn folder_entries_unpack_as_folders_even_when_empty() {
    let bytes = good_archive_plus(|zip| {
        zip.add_directory("assets/empty/", options()).expect("dir");
        zip.add_directory("assets/faces/", options()).expect("dir");
    });
    let attempt = unpack_into_empty(&bytes);
    let unpacked = attempt.result.expect("folder entries are fine");
    assert_eq!(unpacked.dirs, ["assets", "assets/empty", "assets/faces"]);
    assert!(unpacked.root.join("assets/empty").is_dir());
    assert!(
        attempt.written.contains(&"assets/empty".to_string()),
        "{:?}",
        attempt.written
    );
    assert!(!unpacked.files.iter().any(|file| file.contains("empty")));
}

#[test]
fn stored_entries_and_a_long_zip_comment_are_accepted() {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, data) in with_checksums(good_files()) {
        zip.start_file(name, stored).expect("start");
        zip.write_all(&data).expect("write");
    }
    // Longer than a central directory header, so the walk over the directory meets it.
    zip.set_comment("packed by hand, with a comment long enough to look like a header");
    let bytes = zip.finish().expect("finish").into_inner();
    let attempt = unpack_into_empty(&bytes);
    let unpacked = attempt.result.expect("stored entries are fine");
    assert_eq!(
        std::fs::read(unpacked.root.join("assets/faces/six.txt")).expect("read"),
        b"six"
    );
}

/// A good archive whose `name` is `data`, stored uncompressed, with checksums that match.
fn good_archive_with_metadata(name: &str, data: Vec<u8>) -> Vec<u8> {
    let mut files = good_files();
    files.retain(|(file, _)| file != name);
    files.push((name.to_string(), data));
    let files = if name == CHECKSUMS_FILE {
        files
    } else {
        with_checksums(files)
    };
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, data) in files {
        zip.start_file(name, stored).expect("start");
        zip.write_all(&data).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

#[test]
fn a_manifest_over_the_metadata_limit_is_refused_with_its_size() {
    let mut text = manifest_text();
    let padding = MAX_METADATA_BYTES as usize + 512 * 1024 - text.len();
    text.push('#');
    text.push_str(&" ".repeat(padding - 2));
    text.push('\n');
    let err = unpack_into_empty(&good_archive_with_metadata(
        MANIFEST_FILE,
        text.into_bytes(),
    ))
    .result
    .expect_err("too large");
    assert!(
        matches!(
            err,
            ArchiveError::MetadataTooLarge {
                name: MANIFEST_FILE,
                size,
                max: MAX_METADATA_BYTES,
            } if size == MAX_METADATA_BYTES + 512 * 1024
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("manifest.yaml in the archive is 1.5 MiB, more than the 1 MiB allowed: {REPACK}")
    );
}

#[test]
fn a_manifest_that_is_not_utf8_is_refused_saying_to_save_it_as_utf8() {
    let mut text = manifest_text().into_bytes();
    text.extend_from_slice(b"# caf\xe9\n");
    let err = unpack_into_empty(&good_archive_with_metadata(MANIFEST_FILE, text))
        .result
        .expect_err("latin-1");
    assert!(
        matches!(&err, ArchiveError::Manifest(ManifestError::Parse(reason))
            if reason == "it is not UTF-8 text: save it as UTF-8"),
        "{err}"
    );
}

#[test]
fn a_checksum_list_that_is_not_utf8_is_refused_naming_the_line() {
    let files = good_files();
    let digests: Vec<(String, [u8; 32])> = files
        .iter()
        .map(|(name, data)| (name.clone(), Sha256::digest(data).into()))
        .collect();
    let mut text = render_checksums(digests.iter().map(|(n, d)| (n.as_str(), d))).into_bytes();
    text.extend_from_slice(b"\xff\xfe\n");
    let err = unpack_into_empty(&good_archive_with_metadata(CHECKSUMS_FILE, text))
        .result
        .expect_err("binary");
    // Named by the line that holds the first byte that is not UTF-8.
    let line = 1 + digests.len();
    assert!(
        matches!(&err, ArchiveError::MalformedChecksums { line: at, reason }
            if *at == line && reason == "it is not UTF-8 text"),
        "{err}"
    );
}

#[test]
fn a_header_hidden_between_the_central_directory_and_its_end_is_refused_as_corrupt() {
    // The zip reader reads as many headers as the end record counts and never sees a
    // header slipped in after them; the walk over the directory does, and its name runs
    // past the end of the file.
    let mut bytes = zip_bytes(&with_checksums(good_files()));
    let end_record = bytes.len() - 22;
    assert_eq!(&bytes[end_record..end_record + 4], b"PK\x05\x06");
    let mut hidden = vec![0u8; 46];
    hidden[..4].copy_from_slice(b"PK\x01\x02");
    hidden[28..30].copy_from_slice(&u16::MAX.to_le_bytes());
    bytes.splice(end_record..end_record, hidden);
    let err = refused_before_writing(&bytes);
    assert!(
        matches!(&err, ArchiveError::Corrupt { reason, .. }
            if reason.starts_with("unreadable central directory: ")),
        "{err}"
    );
}

//! Tests of archive reading and writing: one archive per rule, built in memory with the zip
//! crate (and patched by hand where the crate refuses to write something malformed).

use std::io::{Cursor, Write};

use sha2::{Digest, Sha256};
use zip::{write::SimpleFileOptions, CompressionMethod, ZipWriter};

use super::*;

mod hostile;
mod pack_refusals;

fn manifest_text() -> String {
    format!(
        "name: dice-roller\nversion: 1.2.0\ndescription: Rolls dice\nauthor: rosey\n\
         library: libdice_roller.so\nabi: {}\ncommands: [roll]\nevents: [chat.message]\n\
         permissions: [send_messages]\n",
        rosey_abi::ABI_VERSION
    )
}

/// The files of a good archive, without `checksums.sha256`.
fn good_files() -> Vec<(String, Vec<u8>)> {
    vec![
        ("manifest.yaml".into(), manifest_text().into_bytes()),
        ("libdice_roller.so".into(), b"\x7fELF not really".to_vec()),
        ("config.default.yaml".into(), b"sides: 6\n".to_vec()),
        ("assets/faces/six.txt".into(), b"six".to_vec()),
    ]
}

/// `files` plus a correct `checksums.sha256`.
fn with_checksums(mut files: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    let digests: Vec<(String, [u8; 32])> = files
        .iter()
        .map(|(name, data)| (name.clone(), Sha256::digest(data).into()))
        .collect();
    let text = render_checksums(digests.iter().map(|(n, d)| (n.as_str(), d)));
    files.push((CHECKSUMS_FILE.into(), text.into_bytes()));
    files
}

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

fn zip_bytes(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        zip.start_file(name.as_str(), options()).expect("start");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

/// Unpacks `bytes` as an archive into a fresh folder.
fn try_unpack(bytes: &[u8]) -> Result<UnpackedArchive, ArchiveError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("test.roseyplug");
    std::fs::write(&path, bytes).expect("write archive");
    let dest = dir.path().join("out");
    std::fs::create_dir(&dest).expect("mkdir");
    let result = unpack(&path, &dest);
    // Keep the folder alive for the caller's assertions on paths.
    std::mem::forget(dir);
    result
}

fn refused(bytes: &[u8]) -> ArchiveError {
    match try_unpack(bytes) {
        Ok(unpacked) => panic!("accepted: {unpacked:?}"),
        Err(err) => err,
    }
}

/// Rewrites a field of the central-directory header of entry `name` (offset within the header,
/// little-endian u32 or u16 by `width`).
fn patch_central(bytes: &mut [u8], name: &str, offset: usize, width: usize, value: u32) {
    let mut at = 0;
    let mut patched = false;
    while let Some(found) = bytes[at..].windows(4).position(|w| w == b"PK\x01\x02") {
        let header = at + found;
        let name_len = u16::from_le_bytes([bytes[header + 28], bytes[header + 29]]) as usize;
        if &bytes[header + 46..header + 46 + name_len] == name.as_bytes() {
            bytes[header + offset..header + offset + width]
                .copy_from_slice(&value.to_le_bytes()[..width]);
            patched = true;
        }
        at = header + 4;
    }
    assert!(patched, "no central header for {name}");
}

#[test]
fn a_good_archive_unpacks_with_its_manifest() {
    let unpacked = try_unpack(&zip_bytes(&with_checksums(good_files()))).expect("good");
    assert_eq!(unpacked.manifest.name, "dice-roller");
    assert!(unpacked.library_path().is_file());
    assert!(unpacked.default_config().is_some());
    assert!(unpacked.files.contains(&"assets/faces/six.txt".to_string()));
    assert_eq!(unpacked.dirs, vec!["assets", "assets/faces"]);
    assert_eq!(
        std::fs::read(unpacked.root.join("assets/faces/six.txt")).expect("read"),
        b"six"
    );
}

#[test]
fn a_file_that_is_not_a_zip_is_refused() {
    let err = refused(b"#!/bin/sh\necho hi\n");
    assert!(matches!(err, ArchiveError::NotZip { .. }), "{err}");
    assert!(err.to_string().contains("not a zip file"), "{err}");
}

#[test]
fn a_truncated_zip_is_corrupt() {
    let bytes = zip_bytes(&with_checksums(good_files()));
    let err = refused(&bytes[..bytes.len() - 30]);
    assert!(matches!(err, ArchiveError::Corrupt { .. }), "{err}");
}

#[test]
fn a_missing_manifest_is_refused() {
    let files = good_files().into_iter().skip(1).collect();
    let err = refused(&zip_bytes(&with_checksums(files)));
    assert!(matches!(err, ArchiveError::MissingManifest), "{err}");
}

#[test]
fn an_invalid_manifest_names_the_field() {
    let mut files = good_files();
    files[0].1 = manifest_text()
        .replace("name: dice-roller", "name: Dice")
        .into_bytes();
    let err = refused(&zip_bytes(&with_checksums(files)));
    assert!(matches!(err, ArchiveError::Manifest(_)), "{err}");
    assert!(err.to_string().contains("name"), "{err}");
}

#[test]
fn a_missing_library_is_refused() {
    let files = good_files()
        .into_iter()
        .filter(|(name, _)| name != "libdice_roller.so")
        .collect();
    let err = refused(&zip_bytes(&with_checksums(files)));
    assert!(matches!(err, ArchiveError::MissingLibrary { .. }), "{err}");
}

#[test]
fn checksum_problems_are_each_named() {
    // Missing.
    let err = refused(&zip_bytes(&good_files()));
    assert!(matches!(err, ArchiveError::MissingChecksums), "{err}");

    // Malformed.
    let mut files = good_files();
    files.push((CHECKSUMS_FILE.into(), b"not a checksum line\n".to_vec()));
    let err = refused(&zip_bytes(&files));
    assert!(
        matches!(err, ArchiveError::MalformedChecksums { line: 1, .. }),
        "{err}"
    );

    // A listed file missing.
    let mut files = with_checksums(good_files());
    files.retain(|(name, _)| name != "config.default.yaml");
    let err = refused(&zip_bytes(&files));
    assert!(
        matches!(&err, ArchiveError::ChecksumListedMissing { name } if name == "config.default.yaml"),
        "{err}"
    );

    // An unlisted file.
    let mut files = with_checksums(good_files());
    files.push(("assets/extra.txt".into(), b"sneaky".to_vec()));
    let err = refused(&zip_bytes(&files));
    assert!(
        matches!(&err, ArchiveError::ChecksumUnlisted { name } if name == "assets/extra.txt"),
        "{err}"
    );

    // A mismatch.
    let mut files = with_checksums(good_files());
    files[1].1 = b"\x7fELF tampered".to_vec();
    let err = refused(&zip_bytes(&files));
    assert!(
        matches!(&err, ArchiveError::ChecksumMismatch { name } if name == "libdice_roller.so"),
        "{err}"
    );
}

#[test]
fn a_symlink_entry_is_refused() {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in with_checksums(good_files()) {
        zip.start_file(name, options()).expect("start");
        zip.write_all(&data).expect("write");
    }
    zip.add_symlink("assets/passwd", "/etc/passwd", options())
        .expect("symlink");
    let bytes = zip.finish().expect("finish").into_inner();
    let err = refused(&bytes);
    assert!(
        matches!(
            err,
            ArchiveError::NotRegularFile {
                kind: "symlink",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn escaping_and_absolute_paths_are_refused() {
    let mut files = with_checksums(good_files());
    files.push(("../evil".into(), b"x".to_vec()));
    let err = refused(&zip_bytes(&files));
    assert!(matches!(err, ArchiveError::ParentComponent { .. }), "{err}");

    let mut files = with_checksums(good_files());
    files.push(("assets/../../evil".into(), b"x".to_vec()));
    let err = refused(&zip_bytes(&files));
    assert!(matches!(err, ArchiveError::ParentComponent { .. }), "{err}");

    let mut files = with_checksums(good_files());
    files.push(("/etc/x".into(), b"x".to_vec()));
    let err = refused(&zip_bytes(&files));
    assert!(matches!(err, ArchiveError::AbsolutePath { .. }), "{err}");

    let mut files = with_checksums(good_files());
    files.push(("assets\\x".into(), b"x".to_vec()));
    let err = refused(&zip_bytes(&files));
    assert!(matches!(err, ArchiveError::BadName { .. }), "{err}");
}

#[test]
fn duplicate_names_are_refused() {
    // Exactly the same name twice: the zip writer refuses, so write two names and make them
    // equal afterwards (in the local and the central headers).
    let files = vec![
        ("assets/aaaa.txt".to_string(), b"one".to_vec()),
        ("assets/aaab.txt".to_string(), b"two".to_vec()),
    ];
    let mut bytes = zip_bytes(&files);
    let needle = b"assets/aaab.txt";
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(needle.len()).position(|w| w == needle) {
        bytes[at + found..at + found + needle.len()].copy_from_slice(b"assets/aaaa.txt");
        at += found + 1;
    }
    let err = refused(&bytes);
    assert!(matches!(err, ArchiveError::DuplicateEntry { .. }), "{err}");

    // Same after `./`.
    let mut files = with_checksums(good_files());
    files.push(("./manifest.yaml".into(), manifest_text().into_bytes()));
    let err = refused(&zip_bytes(&files));
    assert!(
        matches!(&err, ArchiveError::DuplicateEntry { name, .. } if name == "manifest.yaml"),
        "{err}"
    );

    // Same but for a trailing slash (a folder and a file).
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in with_checksums(good_files()) {
        zip.start_file(name, options()).expect("start");
        zip.write_all(&data).expect("write");
    }
    zip.add_directory("config.default.yaml/", options())
        .expect("dir");
    let err = refused(&zip.finish().expect("finish").into_inner());
    assert!(matches!(err, ArchiveError::DuplicateEntry { .. }), "{err}");
}

#[test]
fn a_file_used_as_a_folder_is_refused() {
    let mut files = with_checksums(good_files());
    files.push(("config.default.yaml/inner".into(), b"x".to_vec()));
    let err = refused(&zip_bytes(&files));
    assert!(matches!(err, ArchiveError::PathConflict { .. }), "{err}");
}

#[test]
fn size_limits_hold() {
    // One entry declaring more than the per-file limit.
    let mut bytes = zip_bytes(&with_checksums(good_files()));
    patch_central(
        &mut bytes,
        "assets/faces/six.txt",
        24,
        4,
        (MAX_ENTRY_BYTES + 1) as u32,
    );
    let err = refused(&bytes);
    assert!(matches!(err, ArchiveError::EntryTooLarge { .. }), "{err}");

    // Several entries each under the limit, together over the total.
    let mut files = with_checksums(good_files());
    for i in 0..5 {
        files.push((format!("assets/big{i}"), vec![1u8; 10]));
    }
    let mut bytes = zip_bytes(&files);
    for i in 0..5 {
        patch_central(
            &mut bytes,
            &format!("assets/big{i}"),
            24,
            4,
            (60 << 20) as u32,
        );
    }
    let err = refused(&bytes);
    assert!(matches!(err, ArchiveError::TotalTooLarge { .. }), "{err}");

    // Too many entries.
    let mut files = with_checksums(good_files());
    for i in 0..MAX_ENTRIES {
        files.push((format!("assets/n{i}"), Vec::new()));
    }
    let err = refused(&zip_bytes(&files));
    assert!(matches!(err, ArchiveError::TooManyEntries { .. }), "{err}");
}

#[test]
fn a_compression_bomb_is_refused() {
    let mut files = with_checksums(good_files());
    files.push(("assets/zeros".into(), vec![0u8; 2 * 1024 * 1024]));
    let err = refused(&zip_bytes(&files));
    assert!(matches!(err, ArchiveError::CompressionBomb { .. }), "{err}");
}

#[test]
fn a_lying_size_header_cannot_write_more_than_declared() {
    let mut files = with_checksums(good_files());
    files.push(("assets/liar".into(), vec![7u8; 100_000]));
    let mut bytes = zip_bytes(&files);
    // Declare 10 bytes for 100 000 in the central directory, which readers trust.
    patch_central(&mut bytes, "assets/liar", 24, 4, 10);
    let err = refused(&bytes);
    assert!(
        matches!(
            err,
            ArchiveError::SizeMismatch {
                declared: 10,
                found: "more",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unsupported_compression_is_refused() {
    let mut bytes = zip_bytes(&with_checksums(good_files()));
    patch_central(&mut bytes, "assets/faces/six.txt", 10, 2, 12); // bzip2
    let err = refused(&bytes);
    assert!(
        matches!(err, ArchiveError::UnsupportedCompression { .. }),
        "{err}"
    );
}

#[test]
fn pack_writes_an_archive_that_unpacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crate_dir = dir.path().join("crate");
    std::fs::create_dir_all(crate_dir.join("assets/sub")).expect("mkdir");
    std::fs::write(crate_dir.join("assets/sub/a.txt"), "a").expect("write");
    std::fs::write(crate_dir.join("assets/b.txt"), "b").expect("write");
    std::fs::write(crate_dir.join("config.default.yaml"), "x: 1\n").expect("write");
    let library = crate_dir.join("libdice_roller.so");
    std::fs::write(&library, b"\x7fELF").expect("write");
    let manifest = crate::manifest::Manifest::parse(&manifest_text()).expect("manifest");
    let source = PackSource {
        manifest: &manifest,
        library: &library,
        default_config: Some(&crate_dir.join("config.default.yaml")),
        assets: Some(&crate_dir.join("assets")),
    };
    let out = dir.path().join("out");
    let path = pack(&source, &out).expect("pack");
    assert_eq!(path, out.join("dice-roller-1.2.0.roseyplug"));
    let leftovers = std::fs::read_dir(&out).expect("out").count();
    assert_eq!(leftovers, 1, "temporary files left in {out:?}");

    let unpacked = try_unpack(&std::fs::read(&path).expect("read")).expect("unpacks");
    assert_eq!(unpacked.manifest, manifest);
    assert_eq!(
        unpacked.files,
        vec![
            "assets/b.txt",
            "assets/sub/a.txt",
            "checksums.sha256",
            "config.default.yaml",
            "libdice_roller.so",
            "manifest.yaml"
        ]
    );
    let sums = std::fs::read_to_string(unpacked.root.join(CHECKSUMS_FILE)).expect("sums");
    let library_line = format!(
        "{}  libdice_roller.so",
        hex::encode(Sha256::digest(b"\x7fELF"))
    );
    assert!(sums.contains(&library_line), "{sums}");
}

#[cfg(unix)]
#[test]
fn pack_refuses_a_symlink_in_assets() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("assets")).expect("mkdir");
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("assets/passwd")).expect("ln");
    let library = dir.path().join("lib.so");
    std::fs::write(&library, b"x").expect("write");
    let manifest = crate::manifest::Manifest::parse(&manifest_text()).expect("manifest");
    let source = PackSource {
        manifest: &manifest,
        library: &library,
        default_config: None,
        assets: Some(&dir.path().join("assets")),
    };
    let err = pack(&source, dir.path()).expect_err("symlink");
    assert!(err.to_string().contains("symlink"), "{err}");
}

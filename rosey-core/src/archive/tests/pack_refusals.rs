//! What `pack` refuses to put into an archive, before it writes one: asset files an archive
//! cannot hold or name, and files an install would refuse for their size. Large files are
//! sparse, so the tests cost no disk space.

use std::{
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
};

use super::*;

/// A plugin crate's built files in a temporary folder: a library, and an `assets/` folder the
/// test fills.
struct Crate {
    /// Holds the crate's files and the output folder.
    dir: tempfile::TempDir,
    /// The manifest packed with them.
    manifest: crate::manifest::Manifest,
}

impl Crate {
    /// A crate with a built library, an empty `assets/` folder and the test manifest.
    fn new() -> Crate {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("assets")).expect("mkdir assets");
        std::fs::write(dir.path().join("libdice_roller.so"), b"\x7fELF").expect("library");
        let manifest = crate::manifest::Manifest::parse(&manifest_text()).expect("manifest");
        Crate { dir, manifest }
    }

    /// The built library.
    fn library(&self) -> PathBuf {
        self.dir.path().join("libdice_roller.so")
    }

    /// The `assets/` folder.
    fn assets(&self) -> PathBuf {
        self.dir.path().join("assets")
    }

    /// Where `pack` is asked to write.
    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Packs the crate into [`Crate::out`].
    fn pack(&self) -> Result<PathBuf, ArchiveError> {
        let library = self.library();
        let assets = self.assets();
        let source = PackSource {
            manifest: &self.manifest,
            library: &library,
            default_config: None,
            assets: Some(&assets),
        };
        pack(&source, &self.out())
    }

    /// Packs the crate, expecting a refusal that left no archive behind.
    fn refused(&self) -> ArchiveError {
        let err = self.pack().expect_err("refused");
        assert!(!self.out().exists(), "{err}: the output folder was made");
        err
    }
}

/// Makes `path` a sparse file of `size` bytes.
fn sparse(path: &Path, size: u64) {
    std::fs::File::create(path)
        .and_then(|file| file.set_len(size))
        .expect("sparse file");
}

#[test]
fn an_asset_whose_name_is_not_utf8_is_refused_naming_the_file() {
    let plugin = Crate::new();
    let path = plugin
        .assets()
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&path, "latin-1").expect("write");
    let err = plugin.refused();
    assert!(
        matches!(&err, ArchiveError::PackSource { path: at, problem }
            if *at == path && problem == "the file name is not UTF-8; rename it"),
        "{err}"
    );
}

#[test]
fn an_asset_whose_name_holds_a_backslash_is_refused_naming_the_file() {
    let plugin = Crate::new();
    let path = plugin.assets().join("faces\\six.txt");
    std::fs::write(&path, "six").expect("write");
    let err = plugin.refused();
    assert!(
        matches!(&err, ArchiveError::PackSource { path: at, problem }
            if *at == path && problem == "the file name contains a backslash; rename it"),
        "{err}"
    );
}

#[test]
fn a_socket_in_assets_is_refused_as_not_a_regular_file() {
    let plugin = Crate::new();
    let path = plugin.assets().join("control.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).expect("socket");
    let err = plugin.refused();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot pack {}: it is not a regular file; archives hold regular files only",
            path.display()
        )
    );
}

#[test]
fn more_assets_than_an_archive_may_hold_are_refused() {
    let plugin = Crate::new();
    // With the manifest and the library, one entry too many.
    for i in 0..MAX_ENTRIES - 1 {
        std::fs::write(plugin.assets().join(format!("n{i:04}")), "").expect("write");
    }
    let err = plugin.refused();
    assert!(
        matches!(
            err,
            ArchiveError::TooManyEntries {
                count,
                max: MAX_ENTRIES
            } if count == MAX_ENTRIES + 1
        ),
        "{err}"
    );
}

#[test]
fn a_library_over_the_per_file_limit_is_refused_before_anything_is_written() {
    let plugin = Crate::new();
    sparse(&plugin.library(), MAX_ENTRY_BYTES + 1);
    let err = plugin.refused();
    assert!(
        matches!(
            &err,
            ArchiveError::EntryTooLarge { name, size, max: MAX_ENTRY_BYTES }
                if name == "libdice_roller.so" && *size == MAX_ENTRY_BYTES + 1
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "archive entry \"libdice_roller.so\" unpacks to 64.0 MiB, more than the limit of 64 MiB per file: shrink the file or leave it out of the plugin"
    );
}

#[test]
fn files_together_over_the_total_limit_are_refused_before_anything_is_written() {
    let plugin = Crate::new();
    for i in 0..5 {
        sparse(&plugin.assets().join(format!("big{i}")), 60 << 20);
    }
    let err = plugin.refused();
    assert!(
        matches!(
            err,
            ArchiveError::TotalTooLarge { total, max: MAX_TOTAL_BYTES }
                if total > 5 * (60 << 20) && total < 5 * (60 << 20) + 4096
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the archive unpacks to 300.0 MiB, more than the limit of 256 MiB: shrink the plugin's files"
    );
}

#[test]
fn an_output_folder_that_is_a_file_is_refused_naming_it() {
    let plugin = Crate::new();
    std::fs::write(plugin.out(), "not a folder").expect("write");
    let err = plugin.pack().expect_err("refused");
    assert!(
        matches!(&err, ArchiveError::Io { what: "create folder", path, .. } if *path == plugin.out()),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(&format!(
            "cannot create folder {}: ",
            plugin.out().display()
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(plugin.out()).expect("read"),
        "not a folder"
    );
}

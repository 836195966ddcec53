//! File-system helpers shared by everything that writes inside a home.

use std::{fs, io, io::Write, path::Path};

/// Writes `bytes` to `path` so that readers see either the old file or the new one, never a
/// torn write: a temp file in the same folder, fsynced, renamed over `path`, folder fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, true)
}

/// Like [`write_atomic`] without the fsyncs: readers still see the old file or the new one,
/// and the file survives the writing process dying (the kernel has it), but not a power loss.
/// For files that only have to outlive a daemon crash and are written on a latency-critical
/// path (a plugin's poison counts, its handed-over state), where an fsync would cost
/// milliseconds each time.
pub fn write_replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    if durable {
        temp.as_file().sync_all()?;
    }
    temp.persist(path).map_err(|err| err.error)?;
    if durable {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_without_fsync_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("counts.json");
        write_replace(&path, b"first, longer content").expect("write");
        write_replace(&path, b"second").expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"second");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn replaces_the_whole_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.json");
        write_atomic(&path, b"first, longer content").expect("write");
        write_atomic(&path, b"second").expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"second");
        assert_eq!(
            fs::read_dir(dir.path()).expect("list").count(),
            1,
            "no temp file left"
        );
    }
}

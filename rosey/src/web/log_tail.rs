//! A plugin's log tail for the dashboard. Kept to one function so the parallel rosey-core
//! log-tail helpers can replace it in one place.

use std::{
    io::{Read, Seek, SeekFrom},
    path::Path,
};

/// How much of the end of a log file is read at most: enough for any sensible `lines`.
const WINDOW: u64 = 256 * 1024;

/// The last `lines` lines of the file at `path` (fewer when it is shorter), reading at most
/// its last [`WINDOW`] bytes; a line cut by that window is left out.
pub fn read_log_tail(path: &Path, lines: usize) -> std::io::Result<Vec<String>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().skip(usize::from(start > 0)).collect();
    Ok(all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.log");
        std::fs::write(&path, "one\ntwo\nthree\n").expect("write");
        assert_eq!(read_log_tail(&path, 2).expect("tail"), ["two", "three"]);
        assert_eq!(read_log_tail(&path, 10).expect("tail").len(), 3);
        let missing = read_log_tail(&dir.path().join("none.log"), 5).expect_err("missing");
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_long_log_is_read_from_its_end_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.log");
        let text: String = (0..50_000).map(|n| format!("line {n}\n")).collect();
        std::fs::write(&path, text).expect("write");
        let tail = read_log_tail(&path, 3).expect("tail");
        assert_eq!(tail, ["line 49997", "line 49998", "line 49999"]);
        let window = read_log_tail(&path, 1_000_000).expect("tail");
        assert!(
            window.len() < 50_000 && window[0].starts_with("line "),
            "{}",
            window[0]
        );
    }
}

//! Reading logs: the last lines of a log (read from the end, reaching into rotated files when
//! the current one holds fewer), and a [`Follower`] that yields each new line as it is written,
//! across rotation.
//!
//! Following polls: each [`Follower::poll`] reads what was appended since the last one, then
//! checks whether the path now names another file (rotated: the old file was renamed to
//! `.1` and a new one created). If so it finishes the old file through the handle it still
//! holds, reads any files rotated past in between in full, and goes on with the new file from
//! its start. A file that shrank in place (truncated) is read again from its start.

use std::{
    fs::File,
    io::{self, Read, Seek, SeekFrom},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use crate::paths::rotated_log;

/// How far back rotated files are searched (more than any `keep` allowed).
const MAX_ROTATED: u32 = 1001;

/// Reads backwards in chunks of this size.
const CHUNK: u64 = 8192;

/// The last `n` complete lines of log `path`, oldest first; lines of `path.1`, `path.2`, …
/// come first when `path` holds fewer. `NotFound` when neither the log nor a rotated file of
/// it exists.
pub fn tail(path: &Path, n: usize) -> io::Result<Vec<String>> {
    match File::open(path) {
        Ok(mut file) => {
            let end = file.metadata()?.len();
            let (lines, _) = last_lines(&mut file, end, n)?;
            Ok(with_rotated(path, lines, n))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            if rotated_log(path, 1).exists() {
                Ok(with_rotated(path, Vec::new(), n))
            } else {
                Err(err)
            }
        }
        Err(err) => Err(err),
    }
}

/// Puts lines from rotated files in front of `lines` until there are `n`.
fn with_rotated(path: &Path, mut lines: Vec<String>, n: usize) -> Vec<String> {
    let mut k = 1;
    while lines.len() < n && k <= MAX_ROTATED {
        let Ok(mut file) = File::open(rotated_log(path, k)) else {
            break;
        };
        let Ok(end) = file.metadata().map(|meta| meta.len()) else {
            break;
        };
        let Ok((mut older, _)) = last_lines(&mut file, end, n - lines.len()) else {
            break;
        };
        older.append(&mut lines);
        lines = older;
        k += 1;
    }
    lines
}

/// The last `n` complete lines in the first `end` bytes of `file`, and the offset just past
/// the last complete line (a line still being written is left for later).
fn last_lines(file: &mut File, end: u64, n: usize) -> io::Result<(Vec<String>, u64)> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut newlines = 0;
    let mut start = end;
    // Read whole chunks backwards until n + 1 newlines are in hand (or the file starts); each
    // chunk is read and counted once, so a long tail costs what it reads.
    while newlines <= n && start > 0 {
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        newlines += chunk.iter().filter(|b| **b == b'\n').count();
        chunks.push(chunk);
        start = from;
    }
    let buf: Vec<u8> = chunks.into_iter().rev().flatten().collect();
    let complete = match buf.iter().rposition(|b| *b == b'\n') {
        Some(last) => last + 1,
        None => 0,
    };
    let through = start + complete as u64;
    let mut lines: Vec<String> = buf[..complete]
        .split(|b| *b == b'\n')
        .map(line_text)
        .collect();
    lines.pop(); // after the final newline
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // begins mid-line
    }
    let skip = lines.len().saturating_sub(n);
    Ok((lines.split_off(skip), through))
}

fn line_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// The identity of a file, which a rename keeps and a new file does not share.
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Yields the lines appended to a log, across rotation, one [`Follower::poll`] at a time.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    open: Option<Open>,
}

#[derive(Debug)]
struct Open {
    file: File,
    id: (u64, u64),
    pos: u64,
    partial: Vec<u8>,
}

impl Open {
    fn new(file: File, pos: u64) -> io::Result<Open> {
        let id = identity(&file.metadata()?);
        Ok(Open {
            file,
            id,
            pos,
            partial: Vec::new(),
        })
    }

    /// Reads from `pos` to the end; complete lines go to `out`.
    fn read_new(&mut self, out: &mut Vec<String>) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(self.pos))?;
        let mut bytes = Vec::new();
        self.file.read_to_end(&mut bytes)?;
        self.pos += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        if let Some(last) = self.partial.iter().rposition(|b| *b == b'\n') {
            let rest = self.partial.split_off(last + 1);
            for line in self.partial[..last].split(|b| *b == b'\n') {
                out.push(line_text(line));
            }
            self.partial = rest;
        }
        Ok(())
    }

    /// Reads to the end and hands over a last line that never got its newline.
    fn finish(&mut self, out: &mut Vec<String>) -> io::Result<()> {
        self.read_new(out)?;
        if !self.partial.is_empty() {
            out.push(line_text(&std::mem::take(&mut self.partial)));
        }
        Ok(())
    }
}

impl Follower {
    /// Starts following log `path`: returns the last `n` lines written so far (reaching into
    /// rotated files when the current one holds fewer) and a follower that yields every line
    /// written after them. A log that does not exist yet is waited for and read from its start.
    pub fn start(path: &Path, n: usize) -> io::Result<(Follower, Vec<String>)> {
        let mut follower = Follower {
            path: path.to_path_buf(),
            open: None,
        };
        let lines = match File::open(path) {
            Ok(mut file) => {
                let end = file.metadata()?.len();
                let (lines, through) = last_lines(&mut file, end, n)?;
                follower.open = Some(Open::new(file, through)?);
                with_rotated(path, lines, n)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => with_rotated(path, Vec::new(), n),
            Err(err) => return Err(err),
        };
        Ok((follower, lines))
    }

    /// The log this follows.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every complete line written since the last poll, oldest first (empty when none).
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        // A few rounds at most: each handles one replacement of the file.
        for _ in 0..4 {
            let open = match self.open.as_mut() {
                Some(open) => open,
                None => match File::open(&self.path) {
                    Ok(file) => self.open.insert(Open::new(file, 0)?),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(out),
                    Err(err) => return Err(err),
                },
            };
            open.read_new(&mut out)?;
            let meta = match std::fs::metadata(&self.path) {
                Ok(meta) => meta,
                // Renamed away, the new one not created yet: the next poll sees it.
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(out),
                Err(err) => return Err(err),
            };
            if identity(&meta) == open.id {
                if meta.len() < open.pos {
                    // Truncated in place: start again from the top.
                    open.pos = 0;
                    open.partial.clear();
                    continue;
                }
                return Ok(out);
            }
            // Rotated: finish the old file, then any rotated past since, then the new one.
            open.finish(&mut out)?;
            let old = open.id;
            self.open = None;
            self.catch_up(old, &mut out)?;
        }
        Ok(out)
    }

    /// After the file `old` was rotated away: the complete files rotated after it (those
    /// between it and the current file), oldest first.
    fn catch_up(&self, old: (u64, u64), out: &mut Vec<String>) -> io::Result<()> {
        let mut newer = Vec::new();
        for k in 1..=MAX_ROTATED {
            let path = rotated_log(&self.path, k);
            match std::fs::metadata(&path) {
                Ok(meta) if identity(&meta) == old => break,
                Ok(_) => newer.push(path),
                // The old file is gone (dropped past `keep`): every rotated file is newer.
                Err(_) => break,
            }
        }
        for path in newer.iter().rev() {
            match File::open(path) {
                Ok(file) => Open::new(file, 0)?.finish(out)?,
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

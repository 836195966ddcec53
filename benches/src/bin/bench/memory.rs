//! Measure 6: memory of a process, from `/proc/<pid>/status` (VmRSS and its anonymous, file
//! and shared-memory parts) and `/proc/<pid>/smaps_rollup` (Pss and private pages, where it is
//! readable).

use anyhow::{Context, Result};
use serde::Serialize;

/// One process's memory, in KiB.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// What it is (`daemon`, `plugin host (dice-roller)`).
    pub what: String,
    /// Its pid.
    pub pid: u32,
    /// Resident set size.
    pub rss_kb: u64,
    /// Resident anonymous memory.
    pub rss_anon_kb: u64,
    /// Resident file-backed memory (the binary and libraries, shared with other processes).
    pub rss_file_kb: u64,
    /// Proportional set size: shared pages divided among their users.
    pub pss_kb: Option<u64>,
    /// Pages only this process uses.
    pub private_kb: Option<u64>,
}

/// The value of `key:` (in kB) in a `/proc` key-value file.
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

/// Reads the memory of `pid`.
pub fn of(what: &str, pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status ({what})"))?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok();
    let rollup_field = |key: &str| rollup.as_deref().and_then(|text| field(text, key));
    let private = match (rollup_field("Private_Clean"), rollup_field("Private_Dirty")) {
        (Some(clean), Some(dirty)) => Some(clean + dirty),
        _ => None,
    };
    Ok(Memory {
        what: what.to_owned(),
        pid,
        rss_kb: field(&status, "VmRSS").context("no VmRSS in /proc/<pid>/status")?,
        rss_anon_kb: field(&status, "RssAnon").unwrap_or(0),
        rss_file_kb: field(&status, "RssFile").unwrap_or(0),
        pss_kb: rollup_field("Pss"),
        private_kb: private,
    })
}

//! Measure 6: memory of a process, from `/proc/<pid>/status` (VmRSS and its anonymous, file
//! and shared-memory parts) and `/proc/<pid>/smaps_rollup` (Pss and private pages, where it is
//! readable).
//!
//! Many hosts at once ([`hosts`]): in a stack of 50 plugins (the largest cold start), once every
//! plugin runs and a moment after, the `Pss:` line of `/proc/<pid>/smaps_rollup` of every host
//! pid the status names is summed, which counts the pages the hosts share (the host binary,
//! libc) once in all rather than once per host, as the machine pays for them; the mean and
//! largest VmRSS are reported beside.

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

/// The plugin hosts of one stack, together.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostsMemory {
    /// Plugins in the stack.
    pub plugins: usize,
    /// Hosts read (a host that exited meanwhile is left out).
    pub hosts: usize,
    /// Sum of every host's `Pss:`, in KiB.
    pub pss_total_kb: u64,
    /// Mean VmRSS of a host, in KiB.
    pub rss_mean_kb: f64,
    /// Largest VmRSS of a host, in KiB.
    pub rss_max_kb: u64,
    /// Sum of every host's VmRSS (shared pages counted once per host), in KiB.
    pub rss_total_kb: u64,
    /// Each host.
    pub each: Vec<Memory>,
}

/// Reads the memory of every plugin host in `status`.
pub fn hosts(status: &crate::stack::Status) -> Result<HostsMemory> {
    let mut all = HostsMemory {
        plugins: status.plugins.len(),
        ..Default::default()
    };
    for unit in &status.plugins {
        let pid = unit
            .pid
            .with_context(|| format!("plugin {} has no pid", unit.name))?;
        let Ok(memory) = of(&format!("plugin host ({})", unit.name), pid) else {
            continue;
        };
        let pss = memory
            .pss_kb
            .with_context(|| format!("no Pss in /proc/{pid}/smaps_rollup"))?;
        all.pss_total_kb += pss;
        all.rss_total_kb += memory.rss_kb;
        all.rss_max_kb = all.rss_max_kb.max(memory.rss_kb);
        all.each.push(memory);
    }
    all.hosts = all.each.len();
    if all.hosts == 0 {
        anyhow::bail!("no plugin host could be read");
    }
    all.rss_mean_kb = all.rss_total_kb as f64 / all.hosts as f64;
    Ok(all)
}

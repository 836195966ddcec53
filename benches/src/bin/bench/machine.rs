//! What machine the numbers come from, and how busy it was while they were taken: CPU count
//! and model, memory, kernel, date, load average, and the share of CPU time in use across the
//! whole machine during each measure (`/proc/stat`; it includes the stack being measured, so
//! compare it with the idle figure taken before the first measure).

use std::time::Duration;

use serde::Serialize;

/// The machine.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// CPU model name.
    pub cpu_model: String,
    /// Memory, in MiB.
    pub memory_mib: u64,
    /// Kernel release.
    pub kernel: String,
    /// When the run started (UTC, ISO 8601).
    pub date: String,
    /// Machine-wide CPU use over one second before any measure, in percent.
    pub idle_busy_percent: Option<f64>,
    /// 1-minute load average before any measure.
    pub load_before: Option<f64>,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Describes this machine; samples its CPU use for one second.
pub fn describe() -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let memory_mib = read("/proc/meminfo")
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024);
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    let load_before = load1();
    let meter = CpuMeter::start();
    std::thread::sleep(Duration::from_secs(1));
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model,
        memory_mib,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        date,
        idle_busy_percent: meter.busy_percent(),
        load_before,
    }
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct Software {
    /// The rosey binary.
    pub rosey: String,
    /// `git describe --always --dirty` of the workspace the binary was built from (unknown
    /// for a binary given with `--rosey`).
    pub git: String,
    /// `nats-server --version`.
    pub nats_server: String,
}

/// Runs a command and returns its trimmed stdout ("unknown" when it fails).
fn output_of(command: &mut std::process::Command) -> String {
    command
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Describes the software under test; `given` when the rosey binary came from `--rosey`.
pub fn software(tools: &crate::setup::Tools, given: bool) -> Software {
    Software {
        rosey: tools.rosey.display().to_string(),
        git: if given {
            "unknown (binary given with --rosey)".to_owned()
        } else {
            output_of(
                std::process::Command::new("git")
                    .arg("-C")
                    .arg(&tools.workspace)
                    .args(["describe", "--always", "--dirty"]),
            )
        },
        nats_server: output_of(std::process::Command::new(&tools.nats).arg("--version")),
    }
}

/// The 1-minute load average.
pub fn load1() -> Option<f64> {
    read("/proc/loadavg")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Jiffies of all CPUs since boot.
#[derive(Clone, Copy)]
struct CpuTimes {
    /// Not idle (user, system, interrupts, and steal).
    busy: u64,
    /// Taken by the hypervisor for other guests while this one wanted to run.
    steal: u64,
    total: u64,
}

fn cpu_times() -> Option<CpuTimes> {
    let stat = read("/proc/stat");
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    // idle + iowait
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total - idle,
        steal: fields.get(7).copied().unwrap_or(0),
        total,
    })
}

/// Measures machine-wide CPU use from its start until asked.
pub struct CpuMeter(Option<CpuTimes>);

impl CpuMeter {
    /// Starts measuring.
    pub fn start() -> CpuMeter {
        CpuMeter(cpu_times())
    }

    /// Percent of all CPUs' time in use since the start.
    pub fn busy_percent(&self) -> Option<f64> {
        self.percent(|times| times.busy)
    }

    /// Percent of all CPUs' time the hypervisor gave to other guests since the start: on a
    /// virtual machine, the part of the noise this guest cannot see in its own processes.
    pub fn steal_percent(&self) -> Option<f64> {
        self.percent(|times| times.steal)
    }

    fn percent(&self, part: impl Fn(&CpuTimes) -> u64) -> Option<f64> {
        let before = self.0?;
        let now = cpu_times()?;
        let total = now.total.checked_sub(before.total)?;
        (total > 0).then(|| part(&now).saturating_sub(part(&before)) as f64 * 100.0 / total as f64)
    }
}

/// How busy the machine was during one measure.
#[derive(Debug, Clone, Serialize)]
pub struct Noise {
    /// The measure.
    pub measure: String,
    /// 1-minute load average when it started.
    pub load_before: Option<f64>,
    /// Machine-wide CPU use during it, in percent (includes the stack measured).
    pub busy_percent: Option<f64>,
    /// Of that, time the hypervisor gave to other guests, in percent.
    pub steal_percent: Option<f64>,
}

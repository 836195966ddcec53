//! One rebuild: build and pack the crate as a dev version of its own (`0.1.0+dev.<ms>`), then
//! install it over the running one exactly as `rosey plugin update` would, so a broken build,
//! a library that does not load, or a version that fails to start leaves the running one in
//! place. Old dev versions are pruned once the new one runs, so a day of edits does not fill
//! the disk.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rosey_core::{paths::Home, registry::Registry};

use super::targets::Target;
use crate::plugin_cmd::{live::Live, ops, pack};

/// Rebuilds and reloads `target`, printing one line for the outcome (the compiler's own
/// messages, if any, go to the terminal above it). Returns whether the new build runs.
pub fn rebuild(home: &Home, target: &Target) -> bool {
    println!("↻ {}: sources changed, rebuilding...", target.name);
    let started = Instant::now();
    match try_rebuild(home, target) {
        Ok(report) => {
            println!(
                "✓ {} v{} {} (built in {:.1} s{})",
                target.name,
                report.version,
                report.what,
                report.build_secs,
                report
                    .swapped_in_ms
                    .map(|ms| format!(", swapped in {ms:.0} ms"))
                    .unwrap_or_default(),
            );
            true
        }
        Err(err) => {
            let running = running_version(home, &target.name);
            println!(
                "✗ {}: {err:#} ({:.1} s); {running}",
                target.name,
                started.elapsed().as_secs_f64()
            );
            false
        }
    }
}

/// What a successful rebuild did.
struct Report {
    version: semver::Version,
    what: String,
    build_secs: f64,
    swapped_in_ms: Option<f64>,
}

fn try_rebuild(home: &Home, target: &Target) -> Result<Report> {
    let started = Instant::now();
    let scratch =
        tempfile::tempdir().context("cannot create a temporary folder for the archive")?;
    let (_, archive) = pack::pack_with(&target.dir, Some(scratch.path()), Some(&dev_build()?))?;
    let build_secs = started.elapsed().as_secs_f64();
    let update = Registry::load(home)?.get(&target.name).is_some();
    let installed = ops::install_archive(home, &archive, false, update)?;
    let what = match (installed.live, installed.swapped_in_ms) {
        (Live::Now, Some(_)) if update => "reloaded".to_owned(),
        (Live::Now, Some(_)) => "installed and started".to_owned(),
        (live, _) => format!(
            "installed; {}",
            live.deferred_note()
                .unwrap_or("it runs from the next start")
        ),
    };
    if installed.live == Live::Now {
        prune_dev_versions(home, &target.name, &installed.manifest.version);
    }
    Ok(Report {
        version: installed.manifest.version,
        what,
        build_secs,
        swapped_in_ms: installed.swapped_in_ms,
    })
}

/// `dev.<ms since the epoch>`: later rebuilds are always newer versions.
fn dev_build() -> Result<semver::BuildMetadata> {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or_default();
    semver::BuildMetadata::new(&format!("dev.{ms}")).context("cannot make a dev version")
}

/// "v0.1.0+dev.1 keeps running", or that nothing does.
fn running_version(home: &Home, name: &str) -> String {
    match Registry::load(home)
        .ok()
        .and_then(|registry| registry.get(name).map(|plugin| plugin.version.clone()))
    {
        Some(version) => format!("v{version} keeps running"),
        None => "nothing was installed or changed".to_owned(),
    }
}

/// Removes the folders of `name`'s earlier dev versions (never the active one, never a
/// version an operator installed).
fn prune_dev_versions(home: &Home, name: &str, active: &semver::Version) {
    let Ok(entries) = std::fs::read_dir(home.plugin_versions_dir(name)) else {
        return;
    };
    for entry in entries.filter_map(|entry| entry.ok()) {
        let Some(version) = entry
            .file_name()
            .to_str()
            .and_then(|name| semver::Version::parse(name).ok())
        else {
            continue;
        };
        if version != *active && version.build.as_str().starts_with("dev.") {
            if let Err(err) = std::fs::remove_dir_all(entry.path()) {
                eprintln!(
                    "warning: cannot remove the old dev build {}: {err}",
                    entry.path().display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dev_build_is_newer_than_the_last_and_than_the_release() {
        let release: semver::Version = "0.1.0".parse().expect("version");
        let mut first = release.clone();
        first.build = dev_build().expect("build");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let mut second = release.clone();
        second.build = dev_build().expect("build");
        assert!(first > release);
        assert!(second > first);
    }

    #[test]
    fn pruning_keeps_the_active_version_and_released_ones() {
        let root = tempfile::tempdir().expect("tempdir");
        let home = Home::new(root.path());
        for version in ["0.1.0", "0.1.0+dev.1", "0.1.0+dev.2", "0.1.0+dev.3"] {
            std::fs::create_dir_all(home.plugin_version_dir("plug", version)).expect("mkdir");
        }
        prune_dev_versions(&home, "plug", &"0.1.0+dev.3".parse().expect("version"));
        let mut left: Vec<_> = std::fs::read_dir(home.plugin_versions_dir("plug"))
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf8")
            })
            .collect();
        left.sort();
        assert_eq!(left, ["0.1.0", "0.1.0+dev.3"]);
    }
}

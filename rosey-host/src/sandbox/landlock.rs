//! The Landlock part of the sandbox: read-only access to the plugin's version folder and the
//! system files a library needs, read-write access to its storage folder, nothing else of the
//! file system and no execute right anywhere; TCP connect only to the ports the manifest lists
//! (no bind), or no TCP rule at all for `network: any`; no signals to, and no abstract Unix
//! sockets of, processes outside the sandbox.
//!
//! Requested at Landlock ABI 6 (the first with scoping) in best-effort mode: an older kernel
//! enforces what it can, and what it cannot becomes a gap.

use std::path::Path;

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, LandlockStatus, NetPort, PathBeneath, PathFd,
    RestrictionStatus, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetError, RulesetStatus,
    Scope, ABI,
};

use super::{is_dir, Policy};
use crate::wire::Network;

/// The ABI whose every feature a full sandbox needs.
const TARGET: ABI = ABI::V6;

/// System files and folders every plugin may read: the dynamic loader's cache and libraries,
/// the time zone, and the harmless devices.
const SYSTEM_READ: &[&str] = &[
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/usr/share/zoneinfo",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
];

/// What a plugin that declares `network:` may read besides: name resolution and the
/// certificate stores.
const NETWORK_READ: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
];

/// Restricts this process; returns the gaps.
pub fn restrict(policy: &Policy) -> Vec<String> {
    match build_and_restrict(policy) {
        Ok(status) => gaps(&status),
        Err(err) => vec![format!("Landlock not applied: {err}")],
    }
}

fn read_rights(path: &Path) -> BitFlags<AccessFs> {
    if is_dir(path) {
        AccessFs::ReadFile | AccessFs::ReadDir
    } else {
        AccessFs::ReadFile.into()
    }
}

fn build_and_restrict(policy: &Policy) -> Result<RestrictionStatus, RulesetError> {
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET))?
        .scope(Scope::from_all(TARGET))?;
    if !matches!(policy.network, Network::Any) {
        ruleset = ruleset.handle_access(AccessNet::from_all(TARGET))?;
    }
    let mut created = ruleset.create()?;
    let network = !matches!(policy.network, Network::None);
    let extra: &[&str] = if network { NETWORK_READ } else { &[] };
    for path in SYSTEM_READ.iter().chain(extra).map(Path::new) {
        // A path this system lacks (no /lib64, no /etc/pki) is simply not granted.
        if let Ok(fd) = PathFd::new(path) {
            created = created.add_rule(PathBeneath::new(fd, read_rights(path)))?;
        }
    }
    if let Ok(fd) = PathFd::new("/dev/null") {
        created = created.add_rule(PathBeneath::new(
            fd,
            AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate,
        ))?;
    }
    if let Ok(fd) = PathFd::new(&policy.version_dir) {
        created = created.add_rule(PathBeneath::new(fd, read_rights(&policy.version_dir)))?;
    }
    // Everything but execute and special files (devices, fifos, sockets).
    let storage = AccessFs::ReadFile
        | AccessFs::ReadDir
        | AccessFs::WriteFile
        | AccessFs::RemoveDir
        | AccessFs::RemoveFile
        | AccessFs::MakeDir
        | AccessFs::MakeReg
        | AccessFs::MakeSym
        | AccessFs::Refer
        | AccessFs::Truncate;
    if let Some(Ok(fd)) = policy.storage_dir.as_ref().map(PathFd::new) {
        created = created.add_rule(PathBeneath::new(fd, storage))?;
    }
    if let Network::Ports(ports) = &policy.network {
        for port in ports {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
    }
    created.restrict_self()
}

/// What the kernel did not enforce, as gaps.
fn gaps(status: &RestrictionStatus) -> Vec<String> {
    let mut gaps = Vec::new();
    match status.landlock {
        LandlockStatus::NotEnabled => gaps.push(
            "Landlock is not enabled in this kernel (add landlock to the lsm= boot parameter): files, TCP and signals are not confined".to_owned(),
        ),
        LandlockStatus::NotImplemented => gaps.push(
            "this kernel has no Landlock: files, TCP and signals are not confined".to_owned(),
        ),
        LandlockStatus::Available { effective_abi, .. } => {
            if status.ruleset != RulesetStatus::FullyEnforced {
                gaps.push(format!(
                    "Landlock ABI {}: {}",
                    effective_abi as i32,
                    missing_features(effective_abi)
                ));
            }
        }
    }
    if !status.no_new_privs {
        gaps.push("no_new_privs not set".to_owned());
    }
    gaps
}

/// What an older Landlock ABI lacks of the target.
fn missing_features(abi: ABI) -> String {
    let mut missing = Vec::new();
    if abi < ABI::V2 {
        missing.push("no rename across folders");
    }
    if abi < ABI::V3 {
        missing.push("no truncate rule");
    }
    if abi < ABI::V4 {
        missing.push("no TCP rules");
    }
    if abi < ABI::V5 {
        missing.push("no device ioctl rule");
    }
    if abi < ABI::V6 {
        missing.push("no signal or abstract-socket scoping");
    }
    if missing.is_empty() {
        "partly enforced".to_owned()
    } else {
        missing.join(", ")
    }
}

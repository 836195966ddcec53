//! The seccomp part of the sandbox: what Landlock does not cover, refused with `EPERM`.
//!
//! - `execve`, `execveat`: a plugin runs no other program.
//! - `socket()` of `AF_UNIX` (no control socket, no abstract sockets: the host's channel is a
//!   socketpair it inherited, so it never needs a new one), `AF_NETLINK`, `AF_PACKET`, and of
//!   `AF_INET`/`AF_INET6` unless the manifest declares `network:` (Landlock rules only TCP
//!   ports; this takes UDP and raw sockets away too).
//! - `ptrace`, `process_vm_readv`, `process_vm_writev`: no reading or writing other processes.
//! - `io_uring_setup`: io_uring can open sockets and files without the system calls above.
//!
//! Everything else is allowed: the filter is a deny list, kept small on purpose so that what it
//! does can be read at a glance.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::wire::Network;

/// Why the filter could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// This architecture is not one seccompiler knows.
    #[error("unsupported architecture {0}")]
    Arch(&'static str),
    /// The filter did not compile or the kernel refused it.
    #[error("{0}")]
    Filter(#[from] seccompiler::Error),
    /// A rule did not build.
    #[error("{0}")]
    Backend(#[from] seccompiler::BackendError),
}

/// Builds and installs the filter on every thread of this process.
pub fn install(network: &Network) -> Result<(), SeccompError> {
    let program = build(network)?;
    seccompiler::apply_filter_all_threads(&program)?;
    Ok(())
}

/// The filter for `network`.
fn build(network: &Network) -> Result<BpfProgram, SeccompError> {
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|_| SeccompError::Arch(std::env::consts::ARCH))?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    // An empty rule list matches every call of that system call.
    for call in [
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_io_uring_setup,
    ] {
        rules.insert(call, Vec::new());
    }
    let mut families = vec![libc::AF_UNIX, libc::AF_NETLINK, libc::AF_PACKET];
    if matches!(network, Network::None) {
        families.extend([libc::AF_INET, libc::AF_INET6]);
    }
    let socket_rules = families
        .into_iter()
        .map(|family| {
            SeccompRule::new(vec![SeccompCondition::new(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                family as u64,
            )?])
        })
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_socket, socket_rules);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )?;
    Ok(filter.try_into()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_compiles_for_each_network_setting() {
        for network in [Network::None, Network::Any, Network::Ports(vec![4222])] {
            let program = build(&network).expect("filter");
            assert!(!program.is_empty());
        }
    }
}

//! Who may talk to the control socket. The socket is mode 0600, and besides that the daemon
//! reads each peer's credentials (`SO_PEERCRED`) and lets in only the operator: its own uid,
//! or root. A process running as the operator is still refused when it is one of the daemon's
//! own children or descends from one: every plugin host (running, spare, standby) is such a
//! child, and a plugin is untrusted code running as the operator's uid. The children the
//! daemon knows as plugin hosts are named as such in the refusal.
//!
//! The check walks from the peer up its parents through `/proc`, and stops at the first
//! process that started before the daemon: a process never starts before its parent, so
//! nothing from there up can descend from the daemon (an operator's CLI costs one or two
//! reads, not the whole chain up to init).

use std::collections::HashSet;

/// A peer's credentials, as the kernel reported them at connect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its uid.
    pub uid: u32,
    /// Its pid (`None` when the kernel could not say: a peer from another pid namespace).
    pub pid: Option<u32>,
}

/// What `/proc/<pid>/stat` says about a process's place in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcLinks {
    /// Its parent.
    pub ppid: u32,
    /// Its process group.
    pub pgid: u32,
    /// Its session.
    pub sid: u32,
    /// When it started (clock ticks since boot): a process that started before the daemon
    /// cannot descend from it, and neither can its parents, so the walk up stops there.
    pub start: u64,
}

/// Why a peer is refused; the text is the one JSON error line it gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Another user (not the daemon's, not root).
    #[error("refused: the control socket answers only the user the daemon runs as (uid {own}) and root, and this process runs as uid {uid}")]
    OtherUser {
        /// The peer's uid.
        uid: u32,
        /// The daemon's.
        own: u32,
    },
    /// A process of its ancestry could not be read (it exited meanwhile): its place in the
    /// tree is unknown, so it may have been a plugin's.
    #[error("refused: process {pid} or one of its parents exited before rosey could check who started it")]
    Unknown {
        /// The peer.
        pid: u32,
    },
    /// No pid to check the ancestry of.
    #[error("refused: the kernel gave no process id for this connection, so rosey cannot tell whether a plugin made it")]
    NoPid,
    /// A plugin host, or a process it started.
    #[error("refused: process {pid} is plugin host {host} or runs under it, and plugins may not drive the bot")]
    PluginHost {
        /// The peer.
        pid: u32,
        /// The host it is or descends from.
        host: u32,
    },
    /// Another child process of the daemon, or a process under one.
    #[error("refused: process {pid} runs under the daemon's child process {child} (a plugin host or a server), which may not drive the bot")]
    DaemonChild {
        /// The peer.
        pid: u32,
        /// The daemon's child it descends from.
        child: u32,
    },
}

/// Reads `/proc/<pid>/stat` (`None` when the process is gone or unreadable).
pub fn proc_links(pid: u32) -> Option<ProcLinks> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp session …`; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let number = |at: usize| fields.get(at)?.parse::<u64>().ok();
    let id = |at: usize| u32::try_from(number(at)?).ok();
    // After the command: state, ppid, pgrp, session, … and starttime, the 22nd field.
    Some(ProcLinks {
        ppid: id(1)?,
        pgid: id(2)?,
        sid: id(3)?,
        start: number(19)?,
    })
}

/// The daemon as [`decide`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Own {
    /// The uid it runs as.
    pub uid: u32,
    /// Its pid.
    pub pid: u32,
    /// When it started ([`ProcLinks::start`]; 0 when unknown: every walk goes to the top).
    pub start: u64,
}

/// Decides whether `peer` may use the control socket of the daemon `own`, whose plugin hosts
/// are `hosts` (each the leader of its own process group); `links` reads a process's place in
/// the tree.
pub fn decide(
    peer: Peer,
    own: Own,
    hosts: &HashSet<u32>,
    links: impl Fn(u32) -> Option<ProcLinks>,
) -> Result<(), Refusal> {
    let Own {
        uid: own_uid,
        pid: own_pid,
        start: own_start,
    } = own;
    if peer.uid != own_uid && peer.uid != 0 {
        return Err(Refusal::OtherUser {
            uid: peer.uid,
            own: own_uid,
        });
    }
    let Some(pid) = peer.pid.filter(|pid| *pid != 0) else {
        return Err(Refusal::NoPid);
    };
    if pid == own_pid {
        // The daemon itself (`rosey dev` installs through its own socket).
        return Ok(());
    }
    let mut current = pid;
    // A chain longer than this is a loop in a racing /proc read; stop there.
    for _ in 0..4096 {
        if hosts.contains(&current) {
            return Err(Refusal::PluginHost { pid, host: current });
        }
        let Some(here) = links(current) else {
            return Err(Refusal::Unknown { pid });
        };
        if hosts.contains(&here.pgid) || hosts.contains(&here.sid) {
            // Left its host's tree (its parent exited) but not the host's group or session.
            let host = if hosts.contains(&here.pgid) {
                here.pgid
            } else {
                here.sid
            };
            return Err(Refusal::PluginHost { pid, host });
        }
        if here.ppid == own_pid {
            return Err(Refusal::DaemonChild {
                pid,
                child: current,
            });
        }
        if here.ppid <= 1 || here.start < own_start {
            // The top, or older than the daemon: nothing from here up is its descendant.
            break;
        }
        current = here.ppid;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, process::Command};

    use super::*;

    /// A made-up process tree: pid → (ppid, pgid, sid, start).
    fn tree(entries: &[(u32, u32, u32, u32, u64)]) -> impl Fn(u32) -> Option<ProcLinks> {
        let map: HashMap<u32, ProcLinks> = entries
            .iter()
            .map(|&(pid, ppid, pgid, sid, start)| {
                (
                    pid,
                    ProcLinks {
                        ppid,
                        pgid,
                        sid,
                        start,
                    },
                )
            })
            .collect();
        move |pid| map.get(&pid).copied()
    }

    const DAEMON: u32 = 100;
    const UID: u32 = 1000;

    fn table() -> impl Fn(u32) -> Option<ProcLinks> {
        tree(&[
            (100, 1, 100, 100, 1000),   // the daemon
            (200, 100, 200, 100, 1001), // a plugin host
            (201, 200, 200, 100, 1002), // its child
            (202, 201, 200, 100, 1003), // its grandchild
            (203, 1, 200, 100, 1004),   // orphaned, still in the host's group
            (300, 100, 300, 100, 1000), // nats-server
            (400, 50, 400, 400, 2000),  // the operator's shell's CLI
            (50, 40, 50, 50, 10),       // the shell, older than the daemon
            (600, 1, 600, 600, 5),      // a tool started at boot (its parent is init)
        ])
    }

    fn check(uid: u32, pid: Option<u32>) -> Result<(), Refusal> {
        decide(
            Peer { uid, pid },
            Own {
                uid: UID,
                pid: DAEMON,
                start: 1000,
            },
            &HashSet::from([200]),
            table(),
        )
    }

    #[test]
    fn the_operator_and_root_get_in() {
        assert_eq!(check(UID, Some(400)), Ok(()));
        assert_eq!(check(0, Some(400)), Ok(()));
        assert_eq!(check(UID, Some(DAEMON)), Ok(()));
    }

    #[test]
    fn the_walk_stops_at_the_first_process_older_than_the_daemon() {
        // The shell's parent (40) is not in the table: reading it would refuse the peer as
        // unknown, but the shell started before the daemon, so the walk ends there.
        assert_eq!(check(UID, Some(400)), Ok(()));
        assert_eq!(check(UID, Some(600)), Ok(()));
    }

    #[test]
    fn other_users_are_refused() {
        let err = check(1001, Some(400)).expect_err("other user");
        assert_eq!(
            err,
            Refusal::OtherUser {
                uid: 1001,
                own: UID
            }
        );
        assert!(err.to_string().contains("uid 1001"), "{err}");
    }

    #[test]
    fn plugin_hosts_and_their_descendants_are_refused() {
        for pid in [200, 201, 202, 203] {
            assert_eq!(
                check(UID, Some(pid)),
                Err(Refusal::PluginHost { pid, host: 200 }),
                "{pid}"
            );
        }
        assert_eq!(
            check(UID, Some(300)),
            Err(Refusal::DaemonChild {
                pid: 300,
                child: 300
            })
        );
        assert_eq!(check(UID, None), Err(Refusal::NoPid));
        assert_eq!(check(UID, Some(999)), Err(Refusal::Unknown { pid: 999 }));
    }

    #[test]
    fn real_processes_are_walked_through_proc() {
        // This test process plays the daemon: a grandchild it started is one of its
        // descendants, named by the child it runs under.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & echo $!; wait"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("grandchild pid");
        let grandchild: u32 = line.trim().parse().expect("pid");
        let own = std::process::id();
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let peer = Peer {
            uid,
            pid: Some(grandchild),
        };
        let own = Own {
            uid,
            pid: own,
            start: proc_links(own).expect("own stat").start,
        };
        let result = decide(peer, own, &HashSet::new(), proc_links);
        let as_host = decide(peer, own, &HashSet::from([child.id()]), proc_links);
        let child_links = proc_links(child.id());
        let _ = Command::new("kill").arg(grandchild.to_string()).status();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            result,
            Err(Refusal::DaemonChild {
                pid: grandchild,
                child: child.id()
            })
        );
        assert_eq!(
            as_host,
            Err(Refusal::PluginHost {
                pid: grandchild,
                host: child.id()
            })
        );
        let links = proc_links(own.pid).expect("own stat");
        let child_links = child_links.expect("the child's stat");
        // SAFETY: getppid cannot fail.
        assert_eq!(links.ppid, unsafe { libc::getppid() } as u32);
        assert!(
            child_links.start >= links.start,
            "a child starts no earlier than its parent: {child_links:?} {links:?}"
        );
    }
}

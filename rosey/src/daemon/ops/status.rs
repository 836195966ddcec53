//! The stack's status for `rosey status` and the dashboard: every supervisor row from the
//! supervisors' snapshots (never blocking on a supervisor that is busy starting something),
//! with what each unit's board reports, and what cannot be known shown as unknown with why.

use std::time::SystemTime;

use rosey_actors::{
    client as sup,
    stack::{unit_name, Board},
    ChildInfo, ChildState,
};

use super::{Daemon, OpError};
use crate::control::{StatusReport, UnitStatus, Unknown, UNKNOWN_DEAD_LETTERS, UNKNOWN_PLUGINS};

fn uptime(info: &ChildInfo) -> Option<u64> {
    if info.state != ChildState::Running {
        return None;
    }
    info.started_at
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .map(|elapsed| elapsed.as_secs())
}

/// The resident memory of process `pid`: [`rosey_actors::resident_bytes`].
pub(super) fn memory_bytes(pid: u32) -> Option<u64> {
    rosey_actors::resident_bytes(pid)
}

fn unit(info: &ChildInfo, board: &Board, unit_key: &str) -> UnitStatus {
    let report = board.get(unit_key).unwrap_or_default();
    let pid = if info.state == ChildState::Running {
        report.pid
    } else {
        None
    };
    UnitStatus {
        name: info.name.clone(),
        state: info.state.as_str().to_owned(),
        pid,
        uptime_secs: uptime(info),
        restarts: info.restarts,
        last_exit: info.last_exit.clone(),
        version: report.version,
        detail: report.detail,
        sandbox: if info.state == ChildState::Running {
            report.sandbox
        } else {
            None
        },
        dead_letters: None,
        memory_bytes: pid.and_then(memory_bytes),
        refused: report.refused,
        handled: None,
        handled_early: None,
        stale: None,
        held_back: Vec::new(),
        retry_in_secs: info
            .retry_at
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .map(|left| left.as_secs().max(1)),
    }
}

/// The status report (`rosey status --json`, `GET /api/status`). What cannot be found out
/// (dead-letter counts with NATS down, the plugin list when the plugin supervisor does not
/// answer) is reported as unknown with the reason, never as zero or none.
pub async fn status(daemon: &Daemon) -> Result<StatusReport, OpError> {
    let root = sup::children(daemon.stack.root())
        .await
        .map_err(OpError::failed)?;
    let plugin_supervisor = root
        .iter()
        .find(|info| info.name == rosey_core::units::PLUGINS);
    // Every child of the root: the services in start order, then the plugin supervisor (last,
    // so the services keep the places they had before it was listed).
    let services = root
        .iter()
        .filter(|info| info.name != rosey_core::units::PLUGINS)
        .chain(plugin_supervisor)
        .map(|info| unit(info, &daemon.board, &info.name))
        .collect();
    let mut unknown = Vec::new();
    let mut plugin_supervisor_down = None;
    let plugins = match daemon.stack.plugins() {
        Some(plugins) => match sup::children(&plugins).await {
            Ok(children) => children,
            Err(err) => {
                unknown.push(Unknown {
                    what: UNKNOWN_PLUGINS.to_owned(),
                    why: format!("the plugin supervisor did not answer: {err}"),
                });
                Vec::new()
            }
        },
        None => {
            plugin_supervisor_down = Some(
                plugin_supervisor
                    .map(|info| info.state)
                    .filter(|state| *state != ChildState::Running)
                    .map_or("not running", ChildState::as_str)
                    .to_owned(),
            );
            Vec::new()
        }
    };
    let dead_letters = if plugins.is_empty() {
        None
    } else {
        match daemon.stack.dead_letters().await {
            Ok(counts) => Some(counts),
            Err(err) => {
                unknown.push(Unknown {
                    what: UNKNOWN_DEAD_LETTERS.to_owned(),
                    why: err.to_string(),
                });
                None
            }
        }
    };
    let plugins = plugins
        .iter()
        .map(|info| {
            let handled = daemon.stack.handled(&info.name);
            UnitStatus {
                dead_letters: dead_letters
                    .as_ref()
                    .map(|counts| counts.get(&info.name).copied().unwrap_or(0)),
                handled: handled.map(|handled| handled.total),
                handled_early: handled.map(|handled| handled.early),
                stale: handled.map(|handled| handled.stale),
                held_back: daemon
                    .stack
                    .held_users(&info.name)
                    .into_iter()
                    .map(|held| crate::control::HeldBack {
                        secs_left: held
                            .until
                            .duration_since(SystemTime::now())
                            .map_or(0, |left| left.as_secs()),
                        user: held.user,
                        why: held.why,
                        refused: held.refused,
                    })
                    .collect(),
                ..unit(info, &daemon.board, &unit_name(&info.name))
            }
        })
        .collect();
    Ok(StatusReport {
        pid: std::process::id(),
        home: daemon.home.root().display().to_string(),
        uptime_secs: daemon.started.elapsed().as_secs(),
        services,
        plugins,
        jetstream: daemon.stack.jetstream_summary(),
        plugin_supervisor: plugin_supervisor_down,
        unknown,
        node: daemon.stack.node_name().map(str::to_owned),
        nodes: nodes(&daemon.stack),
    })
}

/// The plugin nodes the stack hears from, as status shows them.
fn nodes(stack: &rosey_actors::stack::Stack) -> Vec<crate::control::NodeStatus> {
    let now = rosey_core::messaging::now_ms();
    stack
        .nodes()
        .list()
        .into_iter()
        .map(|node| crate::control::NodeStatus {
            state: if node.lost {
                crate::control::NODE_LOST
            } else {
                crate::control::NODE_UP
            }
            .to_owned(),
            uptime_secs: now.saturating_sub(node.heartbeat.started_ms) / 1000,
            last_heartbeat_ms: u64::try_from(node.since.as_millis()).unwrap_or(u64::MAX),
            name: node.heartbeat.node,
            server_name: node.heartbeat.server_name,
            address: node.heartbeat.address,
            plugins: node.heartbeat.plugins,
            memory_bytes: node.heartbeat.memory_bytes,
            room_bytes: node.heartbeat.room_bytes,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_of_this_process_is_read_from_proc() {
        let bytes = super::memory_bytes(std::process::id()).expect("VmRSS of this process");
        assert!(bytes > 100 * 1024, "{bytes}");
        assert_eq!(super::memory_bytes(u32::MAX), None);
    }
}

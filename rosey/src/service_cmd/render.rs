//! `rosey status` as a person reads it: one line per service and plugin (state, pid, uptime,
//! restarts, memory, version, sandbox), the dead letters and what is held back, and every
//! thing status could not find out named with why, never shown as empty or 0.

use crate::control::{self, StatusReport, UnitStatus};

/// The human view of a status report.
pub fn render_status(report: &StatusReport, color: bool) -> String {
    let mut out = match &report.node {
        Some(node) => format!("Node {node}: Service Status:\n\n"),
        None => String::from("Service Status:\n\n"),
    };
    let width = report
        .services
        .iter()
        .chain(&report.plugins)
        .map(|unit| unit.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    for unit in &report.services {
        out.push_str(&render_unit(unit, width, color, false));
    }
    if let Some(jetstream) = &report.jetstream {
        out.push_str(&format!("\njetstream: {jetstream}\n"));
    }
    if let Some(state) = &report.plugin_supervisor {
        // Nothing runs them: an empty list would read as "none installed".
        let hint = if state == "stopped" {
            ": rosey start plugins"
        } else {
            ""
        };
        out.push_str(&format!(
            "\nPlugins: {state} (the plugin supervisor is {state}{hint})\n"
        ));
    } else if let Some(why) = report.unknown(control::UNKNOWN_PLUGINS) {
        out.push_str(&format!("\nPlugins: unknown ({why})\n"));
    } else {
        out.push_str("\nPlugins:\n\n");
        if report.plugins.is_empty() {
            out.push_str("  (none installed and enabled)\n");
        }
        for unit in &report.plugins {
            out.push_str(&render_unit(unit, width, color, true));
        }
    }
    if !report.nodes.is_empty() {
        out.push_str("\nNodes:\n\n");
        for node in &report.nodes {
            out.push_str(&render_node(node, color));
        }
    }
    for unknown in &report.unknown {
        if unknown.what != control::UNKNOWN_PLUGINS {
            out.push_str(&format!("\n{}: unknown ({})\n", unknown.what, unknown.why));
        }
    }
    out
}

/// `● box2  up  server box2 on host-b (routes 0.0.0.0:6222)  plugins: markov-chat  Mem: 31.2 MB  last heartbeat 0.4s ago`
fn render_node(node: &control::NodeStatus, color: bool) -> String {
    let (symbol, paint) = if node.state == control::NODE_UP {
        ("●", "\x1b[32m")
    } else {
        ("✕", "\x1b[31m")
    };
    let prefix = if color {
        format!("{paint}{symbol}\x1b[0m ")
    } else {
        String::new()
    };
    let plugins = if node.plugins.is_empty() {
        "(none)".to_owned()
    } else {
        node.plugins.join(", ")
    };
    format!(
        "{prefix}{}  {}  Server: {}  Address: {}  Uptime: {}s  Plugins: {plugins}  Mem: {:.1} MB  Room: {:.1} MB  Last heartbeat: {:.1}s ago\n",
        node.name,
        node.state,
        node.server_name,
        node.address,
        node.uptime_secs,
        node.memory_bytes as f64 / 1e6,
        node.room_bytes as f64 / 1e6,
        node.last_heartbeat_ms as f64 / 1000.0
    )
}

fn render_unit(unit: &UnitStatus, width: usize, color: bool, plugin: bool) -> String {
    let (symbol, paint) = match unit.state.as_str() {
        "running" => ("●", "\x1b[32m"),
        "crashed" => ("✕", "\x1b[31m"),
        _ => ("○", "\x1b[33m"),
    };
    let prefix = if color {
        format!("{paint}{symbol}\x1b[0m ")
    } else {
        String::new()
    };
    let pid = unit
        .pid
        .map_or_else(|| "-".to_owned(), |pid| pid.to_string());
    let uptime = unit
        .uptime_secs
        .map_or_else(|| "-".to_owned(), |secs| format!("{secs}s"));
    let mut line = format!(
        "{prefix}{:<width$}  {:<10} PID: {:<8} Uptime: {:<8} Restarts: {}",
        unit.name, unit.state, pid, uptime, unit.restarts
    );
    if let Some(bytes) = unit.memory_bytes {
        line.push_str(&format!("  Mem: {:.1} MB", bytes as f64 / 1e6));
    }
    if plugin {
        if let Some(version) = &unit.version {
            line.push_str(&format!("  Version: {version}"));
        }
        if let Some(sandbox) = &unit.sandbox {
            line.push_str(&format!("  sandbox: {sandbox}"));
        }
    }
    if let Some(detail) = &unit.detail {
        line.push_str(&format!("  ({detail})"));
    }
    if let Some(count) = unit.dead_letters.filter(|count| *count > 0) {
        line.push_str(&format!("  Dead letters: {count}"));
    }
    if let Some(count) = unit.stale.filter(|count| *count > 0) {
        line.push_str(&format!("  Too old, not handled: {count}"));
    }
    if let Some(secs) = unit.retry_in_secs {
        line.push_str(&format!("  Retry in: {secs}s"));
    }
    if !unit.held_back.is_empty() {
        let held: Vec<String> = unit
            .held_back
            .iter()
            .map(|held| format!("{} ({}s)", held.user, held.secs_left))
            .collect();
        line.push_str(&format!("  Held back: {}", held.join(", ")));
    }
    if !unit.refused.is_empty() {
        let total: u64 = unit.refused.values().sum();
        let keys: Vec<&str> = unit.refused.keys().map(String::as_str).collect();
        line.push_str(&format!("  refused: {total} ({})", keys.join(", ")));
    }
    if let Some(exit) = &unit.last_exit {
        line.push_str(&format!("  Last exit: {exit}"));
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> StatusReport {
        let unit = |name: &str, state: &str, pid: Option<u32>| UnitStatus {
            name: name.to_owned(),
            state: state.to_owned(),
            pid,
            uptime_secs: pid.map(|_| 42),
            restarts: if state == "crashed" { 3 } else { 0 },
            last_exit: (state == "crashed").then(|| "signal 6 (SIGABRT)".to_owned()),
            version: None,
            detail: None,
            sandbox: (state == "running").then(|| "full".to_owned()),
            dead_letters: (state == "crashed").then_some(2),
            memory_bytes: pid.map(|_| 4_200_000),
            refused: if state == "crashed" {
                [("send_pms".to_owned(), 3)].into_iter().collect()
            } else {
                Default::default()
            },
            handled: None,
            handled_early: None,
            stale: (state == "running").then_some(4),
            held_back: Vec::new(),
            retry_in_secs: (state == "crashed").then_some(240),
        };
        StatusReport {
            pid: 1,
            home: "/srv/rosey".to_owned(),
            uptime_secs: 42,
            services: vec![
                unit("nats", "running", Some(10)),
                unit("bot", "stopped", None),
            ],
            plugins: vec![
                unit("chaos", "crashed", None),
                unit("dice-roller", "running", Some(11)),
            ],
            jetstream: None,
            plugin_supervisor: None,
            unknown: Vec::new(),
            node: None,
            nodes: Vec::new(),
        }
    }

    #[test]
    fn nodes_are_listed_with_where_they_run_and_what() {
        let mut report = report();
        assert!(!render_status(&report, false).contains("Nodes:"));
        report.nodes.push(control::NodeStatus {
            name: "box2".to_owned(),
            state: control::NODE_LOST.to_owned(),
            server_name: "box2".to_owned(),
            address: "host-b (routes 0.0.0.0:6222)".to_owned(),
            plugins: vec!["markov-chat".to_owned()],
            memory_bytes: 31_200_000,
            room_bytes: 1_500_000_000,
            last_heartbeat_ms: 6400,
            uptime_secs: 90,
        });
        let text = render_status(&report, false);
        assert!(
            text.contains("\nNodes:\n\nbox2  lost  Server: box2  Address: host-b (routes 0.0.0.0:6222)  Uptime: 90s  Plugins: markov-chat  Mem: 31.2 MB  Room: 1500.0 MB  Last heartbeat: 6.4s ago\n"),
            "{text}"
        );
        report.node = Some("box3".to_owned());
        assert!(render_status(&report, false).starts_with("Node box3: Service Status:"));
    }

    #[test]
    fn what_is_unknown_says_so_with_the_reason() {
        let mut report = report();
        for unit in &mut report.plugins {
            unit.dead_letters = None;
        }
        report.unknown.push(control::Unknown {
            what: control::UNKNOWN_DEAD_LETTERS.to_owned(),
            why: "NATS unreachable: not connected".to_owned(),
        });
        let text = render_status(&report, false);
        assert!(
            text.contains("\ndead letters: unknown (NATS unreachable: not connected)\n"),
            "{text}"
        );
        assert!(!text.contains("Dead letters:"), "{text}");

        report.plugins.clear();
        report.unknown.push(control::Unknown {
            what: control::UNKNOWN_PLUGINS.to_owned(),
            why: "the plugin supervisor did not answer: it stopped before answering".to_owned(),
        });
        let text = render_status(&report, false);
        assert!(
            text.contains(
                "\nPlugins: unknown (the plugin supervisor did not answer: it stopped before answering)\n"
            ),
            "{text}"
        );
        assert!(!text.contains("none installed"), "{text}");
    }

    #[test]
    fn a_stopped_plugin_supervisor_is_not_an_empty_list() {
        let mut report = report();
        report.plugins.clear();
        report.plugin_supervisor = Some("stopped".to_owned());
        let text = render_status(&report, false);
        assert!(
            text.contains(
                "\nPlugins: stopped (the plugin supervisor is stopped: rosey start plugins)\n"
            ),
            "{text}"
        );
        assert!(!text.contains("none installed"), "{text}");
    }

    #[test]
    fn a_report_without_the_new_fields_still_parses() {
        let old = r#"{"pid":1,"home":"/h","uptime_secs":2,"services":[],"plugins":[]}"#;
        let report: StatusReport = serde_json::from_str(old).expect("parses");
        assert!(report.unknown.is_empty() && report.plugin_supervisor.is_none());
        let json = serde_json::to_value(&report).expect("json");
        assert!(json.get("unknown").is_none() && json.get("plugin_supervisor").is_none());
    }

    #[test]
    fn jetstream_repairs_get_a_line_of_their_own() {
        let mut report = report();
        assert!(!render_status(&report, false).contains("jetstream"));
        report.jetstream = Some("repaired 1 time (last: stream ROSEY deleted at T)".to_owned());
        let text = render_status(&report, false);
        assert!(
            text.contains("\njetstream: repaired 1 time (last: stream ROSEY deleted at T)\n"),
            "{text}"
        );
    }

    #[test]
    fn terminals_get_colored_marks() {
        let text = render_status(&report(), true);
        assert!(text.contains("\x1b[32m●\x1b[0m nats"), "{text}");
        assert!(text.contains("\x1b[33m○\x1b[0m bot"), "{text}");
        assert!(text.contains("\x1b[31m✕\x1b[0m chaos"), "{text}");
    }

    #[test]
    fn pipes_get_plain_text() {
        let text = render_status(&report(), false);
        assert!(!text.contains('\x1b') && !text.contains('●'), "{text}");
        let line = |name: &str| {
            text.lines()
                .find(|line| line.starts_with(name))
                .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        assert!(
            line("nats").starts_with("nats running PID: 10 Uptime: 42s"),
            "{text}"
        );
        assert!(
            line("chaos").starts_with("chaos crashed PID: - Uptime: -"),
            "{text}"
        );
        assert!(!line("chaos").contains("sandbox"), "{text}");
        assert!(line("dice-roller").contains("sandbox: full"), "{text}");
        assert!(text.contains("Last exit: signal 6 (SIGABRT)"), "{text}");
        assert!(text.contains("Dead letters: 2"), "{text}");
        assert!(text.contains("refused: 3 (send_pms)"), "{text}");
        assert!(line("nats").contains("Restarts: 0 Mem: 4.2 MB"), "{text}");
        assert!(!line("chaos").contains("Mem:"), "{text}");
    }
}

//! The dashboard's Nodes table end to end, in headless Chromium: on a main daemon with two
//! clustered `rosey node`s it lists both up (with their server, address, plugins, memory,
//! heartbeat and uptime), and a node killed with SIGKILL turns lost there while the other
//! stays up; on a stack without a cluster the page has no Nodes section.

use std::time::Duration;

use rosey_e2e::{
    browser::Browser,
    cluster::{TestCluster, NODE_NAMES},
    stack::TestStack,
};
use serde_json::Value;

/// How long the dashboard gets to show what the status says.
const WAIT: Duration = Duration::from_secs(30);

/// How long a killed node may take to read lost on the page (`node.lost_after_ms` is 1500 in
/// the test config, and the page gets a status each second).
const LOST_WAIT: Duration = Duration::from_secs(6);

/// JavaScript for the text of `node`'s `field` cell in the Nodes table ('' when not shown);
/// parenthesized, as `??` binds looser than `===` and cannot be mixed with `&&`.
fn node_field(node: &str, field: &str) -> String {
    format!(
        "(document.querySelector('#nodes tr[data-node=\"{node}\"] td.{field}')?.textContent ?? '')"
    )
}

/// JavaScript for the colour the page paints `node`'s state cell in.
fn state_colour(node: &str) -> String {
    format!(
        "getComputedStyle(document.querySelector('#nodes tr[data-node=\"{node}\"] td.state')).color"
    )
}

/// JavaScript for the colour of a running unit's state cell in the units table (nats runs on
/// every stack).
const RUNNING_COLOUR: &str =
    "getComputedStyle(document.querySelector('tr[data-unit=\"nats\"] td[data-field=\"state\"]')).color";

/// JavaScript for the page's colour of trouble (`--bad`: a crashed unit's state).
const BAD_COLOUR: &str = "(() => { const probe = document.createElement('span'); probe.style.color = 'var(--bad)';
  document.body.append(probe); const colour = getComputedStyle(probe).color; probe.remove(); return colour; })()";

/// The rows of the Nodes table: per row, its cells' text.
fn node_rows(browser: &mut Browser) -> Vec<Vec<String>> {
    let rows = browser.eval(
        "[...document.querySelectorAll('#nodes tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent))",
    );
    rows.as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            row.as_array()
                .into_iter()
                .flatten()
                .map(|cell| cell.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn the_nodes_table_shows_both_nodes_up_and_a_killed_node_lost() {
    let cluster = TestCluster::new(&[]);
    let started = cluster.start();
    assert!(started.contains("Started all"), "{started}");
    let status = cluster.wait_nodes_up(WAIT);

    let mut browser = Browser::launch();
    browser.navigate(&cluster.main.dashboard_link());
    let both_up = NODE_NAMES
        .iter()
        .map(|name| format!("{} === 'up'", node_field(name, "state")))
        .collect::<Vec<_>>()
        .join(" && ");
    browser.wait_until(&both_up, WAIT, "both nodes listed as up");
    assert_eq!(
        browser.eval("document.querySelector('#nodes-section').hidden"),
        false
    );
    assert_eq!(
        browser
            .eval("[...document.querySelectorAll('#nodes thead th')].map((th) => th.textContent)"),
        serde_json::json!([
            "Name",
            "State",
            "Server",
            "Address",
            "Plugins",
            "Memory",
            "Room",
            "Last heartbeat",
            "Uptime"
        ])
    );
    let rows = node_rows(&mut browser);
    println!("the Nodes table: {rows:?}");
    assert_eq!(rows.len(), NODE_NAMES.len(), "{rows:?}");
    let listed: Vec<&Value> = status["nodes"].as_array().expect("nodes").iter().collect();
    for name in NODE_NAMES {
        let node = listed
            .iter()
            .find(|node| node["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in the status: {listed:?}"));
        let field = |browser: &mut Browser, field: &str| {
            browser
                .eval(&node_field(name, field))
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(field(&mut browser, "name"), name);
        assert_eq!(field(&mut browser, "server_name"), node["server_name"]);
        assert_eq!(field(&mut browser, "address"), node["address"]);
        assert!(!field(&mut browser, "address").is_empty());
        assert_eq!(field(&mut browser, "plugins"), "(none)", "no plugin placed");
        let memory = field(&mut browser, "memory");
        let megabytes: f64 = memory
            .strip_suffix(" MB")
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("memory {memory:?}"));
        assert!(megabytes > 1.0, "{memory}");
        let room = field(&mut browser, "room");
        let room_megabytes: f64 = room
            .strip_suffix(" MB")
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("room {room:?}"));
        let said = node["room_bytes"].as_f64().expect("room_bytes") / 1e6;
        assert!(
            room_megabytes > 0.0 && (room_megabytes - said).abs() <= said * 0.05 + 1.0,
            "room {room} against the status's {said} MB"
        );
        let heartbeat = field(&mut browser, "heartbeat");
        let seconds: f64 = heartbeat
            .strip_suffix(" s ago")
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("last heartbeat {heartbeat:?}"));
        assert!(seconds < 1.5, "an up node's last heartbeat: {heartbeat}");
        let uptime = field(&mut browser, "uptime");
        assert!(uptime.ends_with('s') && uptime != "-", "uptime {uptime:?}");
    }
    let green = browser.eval(RUNNING_COLOUR);
    let red = browser.eval(BAD_COLOUR);
    assert_ne!(green, red);
    for name in NODE_NAMES {
        assert_eq!(browser.eval(&state_colour(name)), green, "{name} up");
    }

    // The first node's machine goes: its daemon with SIGKILL (its nats-server with it).
    let pid = cluster.nodes[0].daemon_pid().expect("node daemon pid");
    // SAFETY: a plain syscall on a process this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    browser.wait_until(
        &format!(
            "{} === 'lost' && {} === 'up'",
            node_field(NODE_NAMES[0], "state"),
            node_field(NODE_NAMES[1], "state")
        ),
        LOST_WAIT,
        &format!("{} lost and {} still up", NODE_NAMES[0], NODE_NAMES[1]),
    );
    assert_eq!(
        browser.eval(&format!(
            "document.querySelector('#nodes tr[data-node=\"{}\"]').dataset.state",
            NODE_NAMES[0]
        )),
        "lost"
    );
    assert_eq!(browser.eval(&state_colour(NODE_NAMES[0])), red);
    assert_eq!(browser.eval(&state_colour(NODE_NAMES[1])), green);
    println!("after the kill: {:?}", node_rows(&mut browser));
}

#[test]
fn a_stack_without_a_cluster_shows_no_nodes_section() {
    let stack = TestStack::with_plugins(&[]);
    stack.start();
    let mut browser = Browser::launch();
    browser.navigate(&stack.dashboard_link());
    // A status has been drawn (the units table is filled) before the section is looked at.
    browser.wait_until(
        "document.querySelector('tr[data-unit=\"nats\"] td[data-field=\"state\"]')?.textContent === 'running'",
        WAIT,
        "nats listed as running",
    );
    assert_eq!(
        browser.eval(
            "[document.querySelector('#nodes-section').hidden,
              document.querySelector('#nodes-section').checkVisibility(),
              document.querySelectorAll('#nodes tbody tr').length]"
        ),
        serde_json::json!([true, false, 0]),
        "hidden, visible, rows"
    );
}

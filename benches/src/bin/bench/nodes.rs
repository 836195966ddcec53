//! Measure 11: a plugin on a plugin node. Three homes on this machine (the main daemon and
//! two `rosey node`s) whose nats-servers are clustered over loopback routes, streams kept on
//! all three (the default), node timing at its defaults (heartbeat 1 s, lost after 5 s), and
//! dice-roller placed on the first node. Measured: steady command → reply and reload → first
//! reply with the plugin on the node, beside the local figures of measures 5 and 1; and the
//! failover: the node's daemon killed with SIGKILL (its nats-server dies with it), a command
//! published at once, and the time until the plugin, started again on the main daemon,
//! answers it. After each failover the node is started again and the plugin moved back.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use rosey_benches::stats::Series;
use serde::Serialize;

use crate::{
    reload::{self, ms, ReloadVia},
    setup::Tools,
    stack::BenchHome,
    steady,
    wire::Wire,
    ROLL,
};

/// The node dice-roller is placed on.
const NODE: &str = "bench-node-b";

/// What was measured with the plugin on a node.
#[derive(Debug, Default, Serialize)]
pub struct OnNode {
    /// Steady command → reply, one at a time.
    pub steady: Series,
    /// Reload → first reply from the new instance (on the node).
    pub reload_to_first_reply: Series,
    /// The node killed → a command published at that moment answered (by the main daemon).
    pub failover: Series,
    /// How many publishes each failover's command took before the stream stored it (more
    /// than one: the stream's leader was the killed node's server, and a new one was elected
    /// meanwhile).
    pub failover_publishes: Vec<u32>,
}

/// Three free loopback ports for the routes, picked where no outgoing connection can take
/// them before the servers bind them.
fn route_ports() -> Result<[u16; 3]> {
    rosey_e2e::cluster::listen_ports().context("no free port for the routes")
}

/// The `rosey.yaml` of the server listening on `ports[me]`.
fn config(ports: [u16; 3], me: usize, node: Option<&str>) -> String {
    let routes: Vec<String> = ports
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != me)
        .map(|(_, port)| format!("127.0.0.1:{port}"))
        .collect();
    let mut config = format!(
        "nats:\n  port: 0\n  cluster: {{ name: bench, listen: \"127.0.0.1:{}\", routes: [{}] }}\nweb:\n  enabled: false\n",
        ports[me],
        routes.join(", ")
    );
    match node {
        Some(name) => config.push_str(&format!("node: {{ name: {name} }}\n")),
        None => config.push_str(&format!("plugins:\n  dice-roller: {{ node: {NODE} }}\n")),
    }
    config
}

/// Waits until the main daemon's status shows dice-roller running on the node.
async fn wait_on_node(main: &BenchHome, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = main.status().await?;
        let placed = status.unit("dice-roller").is_some_and(|unit| {
            unit.state == "running" && unit.detail.as_deref() == Some(&format!("on node {NODE}"))
        });
        if placed {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("dice-roller not running on {NODE} after {timeout:?}: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the main daemon's status shows the node up again.
async fn wait_node_up(main: &BenchHome, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = main
            .control(&serde_json::json!({ "cmd": "status" }))
            .await?;
        let up = status["nodes"].as_array().is_some_and(|nodes| {
            nodes
                .iter()
                .any(|node| node["name"] == NODE && node["state"] == "up")
        });
        if up {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("node {NODE} not up again after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts the cluster, measures, and stops it.
pub async fn measure(
    tools: &Tools,
    dice: &Path,
    (warmup, steady_count, reloads, failovers): (usize, usize, usize, usize),
    keep: bool,
) -> Result<OnNode> {
    let ports = route_ports()?;
    let main = BenchHome::new(tools, "cluster-main", &config(ports, 0, None), keep)?;
    let nodes = [
        BenchHome::new(tools, "cluster-b", &config(ports, 1, Some(NODE)), keep)?,
        BenchHome::new(
            tools,
            "cluster-c",
            &config(ports, 2, Some("bench-node-c")),
            keep,
        )?,
    ];
    main.install(dice).await?;
    main.cli(&["node", "secret"]).await?;
    let secret = main.path().join("data/nats-auth/cluster-secret");
    for node in &nodes {
        let dir = node.path().join("data/nats-auth");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::copy(&secret, dir.join("cluster-secret")).context("cannot copy the secret")?;
    }
    // The main daemon's plain start: `BenchHome::start` waits for local hosts, and this
    // plugin's host runs on the node.
    let (b, c, started) = tokio::join!(
        nodes[0].cli(&["node", "start"]),
        nodes[1].cli(&["node", "start"]),
        main.cli(&["start"])
    );
    b?;
    c?;
    started?;
    wait_on_node(&main, Duration::from_secs(60)).await?;
    let mut wire = Wire::connect(main.nats_client("rosey-bench-nodes").await?).await?;

    let mut result = OnNode {
        steady: Series(steady::latency(&wire, ROLL, warmup, steady_count).await?),
        ..Default::default()
    };
    let reloaded = reload::latency_with_host_on(
        &main,
        &nodes[0],
        &mut wire,
        "dice-roller",
        ROLL,
        reloads,
        ReloadVia::PluginReload,
    )
    .await?;
    result.reload_to_first_reply = reloaded.to_first_reply;

    let mut failovers_ms = Vec::with_capacity(failovers);
    let mut publishes = Vec::with_capacity(failovers);
    for round in 0..failovers {
        let pid = nodes[0].status().await?.pid;
        let id = format!("failover-{round}");
        let waiting = wire.watch_reply(&id);
        // SAFETY: plain syscall on the node daemon this harness started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let killed = Instant::now();
        // The stream's leader may have been the killed node's server: until another is
        // elected the command cannot be stored, and the bot's router publishes it again until
        // it is; so does the harness here.
        let stored =
            tokio::spawn(wire.publish_until_stored(&id, ROLL.0, ROLL.1, Duration::from_secs(60)));
        let reply = tokio::time::timeout(Duration::from_secs(60), waiting)
            .await
            .with_context(|| format!("failover {round}: no answer within 60 s"))?
            .context("the reply book was dropped")?;
        let tries = stored
            .await
            .context("the publishing task failed")?
            .with_context(|| format!("failover {round}: the stream did not store the probe"))?;
        publishes.push(tries);
        failovers_ms.push(ms(reply.at - killed));
        // Back to where it was: the node again, the plugin moved back by a restart.
        nodes[0].cli(&["node", "start"]).await?;
        wait_node_up(&main, Duration::from_secs(30)).await?;
        main.cli(&["restart", "dice-roller"]).await?;
        wait_on_node(&main, Duration::from_secs(60)).await?;
    }
    result.failover = Series(failovers_ms);
    result.failover_publishes = publishes;
    wire.forget_replies();
    drop(wire);
    for node in &nodes {
        let _ = node.stop().await;
    }
    let _ = main.stop().await;
    Ok(result)
}

/// The measure's rows in the table.
pub fn render(out: &mut String, on_node: &crate::report::Outcome<OnNode>) {
    let Some(on_node) = on_node.get() else {
        crate::render::missing(out, "plugin on a node", on_node);
        return;
    };
    crate::render::row_marked(
        out,
        "steady command → reply, plugin on a node",
        &on_node.steady,
        "",
    );
    crate::render::row_marked(
        out,
        "reload → first reply, plugin on a node",
        &on_node.reload_to_first_reply,
        "",
    );
    crate::render::row_marked(
        out,
        "failover: node killed → answered on the main daemon",
        &on_node.failover,
        "",
    );
    let again = on_node
        .failover_publishes
        .iter()
        .filter(|tries| **tries > 1)
        .count();
    out.push_str(&format!(
        "    ({again} of {} failover commands needed more than one publish: when the stream's \
         leader dies with the node, the harness publishes again until another is elected, as \
         the bot's router does)\n",
        on_node.failover_publishes.len()
    ));
}

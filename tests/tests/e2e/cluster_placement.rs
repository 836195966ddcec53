//! Where the main daemon of a cluster places plugins, and what a node refuses: a plugin
//! without `plugins.<name>.node` goes to a node when the main daemon's machine has no room
//! for it (`node.keep_free_mb`), `node: main` keeps one on the main daemon whatever its room,
//! `node: any` moves to the other node when its node is killed, and a node answers a request
//! it cannot do (an archive whose SHA-256 is not the one sent, a name that is no plugin's, a
//! reload of what it does not run, a message that is no request) with why, running on
//! undisturbed.

use std::time::{Duration, Instant};

use rosey_core::{bus::BusUser, messaging};
use rosey_e2e::cluster::{all_answered, edit_config, TestCluster, NODE_NAMES};

/// A node's answer to `request` (raw bytes) sent by the main daemon's user: its error.
async fn ask_node(client: &async_nats::Client, node: &str, request: Vec<u8>) -> Option<String> {
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        client.request(messaging::node_requests_subject(node), request.into()),
    )
    .await
    .expect("the node answers within 30 s")
    .expect("a reply");
    serde_json::from_slice::<messaging::NodeReply>(&answer.payload)
        .expect("a node reply")
        .error
}

/// Asserts node `node` refuses `request` with an answer that says each of `because`.
async fn refused(client: &async_nats::Client, node: &str, request: Vec<u8>, because: &[&str]) {
    let answer = ask_node(client, node, request).await;
    assert!(
        answer
            .as_deref()
            .is_some_and(|why| because.iter().all(|part| why.contains(part))),
        "{answer:?} should say {because:?}"
    );
}

/// `request` as a node reads it.
fn encoded(request: &messaging::NodeRequest) -> Vec<u8> {
    serde_json::to_vec(request).expect("a request encodes")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_goes_where_there_is_room_and_a_node_refuses_what_it_cannot_do() {
    let cluster = TestCluster::new(&["dice-roller", "fixtures/chaos"]);
    // The main daemon's machine keeps all its memory (no room for any plugin); the nodes
    // keep none. chaos is pinned to the main daemon all the same.
    edit_config(
        &cluster.main,
        "node: {",
        "plugins:\n  chaos: { node: main }\nnode: { keep_free_mb: 1000000000,",
    );
    for node in &cluster.nodes {
        edit_config(node, "node: {", "node: { keep_free_mb: 0,");
    }
    tokio::task::block_in_place(|| cluster.start());

    let dice = cluster.main.unit("dice-roller");
    assert_eq!(dice["state"], "running", "{dice}");
    let placed = TestCluster::node_of(&dice);
    let other = 1 - placed;
    assert_eq!(
        cluster.nodes[placed].unit("dice-roller")["state"],
        "running"
    );
    let chaos = cluster.main.unit("chaos");
    assert!(
        chaos["state"] == "running" && chaos["pid"].as_u64().is_some(),
        "chaos runs in a host of the main daemon's: {chaos}"
    );
    tokio::task::block_in_place(|| all_answered(&cluster.main, 3));
    // Status says what room each node offers.
    let status = cluster.main.status();
    let nodes = status["nodes"].as_array().expect("nodes");
    assert!(
        nodes
            .iter()
            .all(|node| node["room_bytes"].as_u64().is_some_and(|room| room > 0)),
        "{nodes:?}"
    );
    let text = cluster.main.home.run_ok(&["status"]);
    assert!(text.contains("Room: "), "{text}");

    // The other node is asked what it cannot do; each answer says why.
    let other_name = NODE_NAMES[other];
    let other_home = cluster.nodes[other].home.path();
    let client = cluster.main.nats_client(BusUser::Daemon).await;
    let version = dice["version"].as_str().expect("a version").to_owned();
    let explode = b"{\"op\": \"explode\"}".to_vec();
    refused(
        &client,
        other_name,
        explode,
        &["not a request this node understands"],
    )
    .await;
    let escape = encoded(&messaging::NodeRequest::Start {
        plugin: "../../etc".into(),
        version: version.clone(),
        sha256: String::new(),
        config: None,
    });
    refused(
        &client,
        other_name,
        escape,
        &["is not a plugin name and version"],
    )
    .await;
    // The archive in the store is the main daemon's, but the SHA-256 sent is not its own:
    // as if the store's copy had been changed.
    let tampered = encoded(&messaging::NodeRequest::Start {
        plugin: "dice-roller".into(),
        version: version.clone(),
        sha256: "0".repeat(64),
        config: None,
    });
    refused(&client, other_name, tampered, &["SHA-256", "not installed"]).await;
    assert!(
        !other_home
            .join(format!("data/plugins/dice-roller/versions/{version}"))
            .exists(),
        "nothing of the refused archive is placed"
    );
    let reload = encoded(&messaging::NodeRequest::Reload {
        plugin: "dice-roller".into(),
    });
    refused(&client, other_name, reload, &["does not run on this node"]).await;
    // Nothing of it disturbed the plugin where it runs, nor started it twice.
    assert_eq!(
        cluster.nodes[other].status()["plugins"],
        serde_json::json!([])
    );
    tokio::task::block_in_place(|| all_answered(&cluster.main, 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_on_any_node_moves_to_the_other_node_when_its_node_is_killed() {
    let cluster = TestCluster::placing("dice-roller", "any");
    tokio::task::block_in_place(|| cluster.start());
    let from = TestCluster::node_of(&cluster.main.unit("dice-roller"));
    let to = 1 - from;

    // Its node's machine goes while commands are said: the other node takes it over, and
    // every command is answered once.
    tokio::task::block_in_place(|| cluster.kill_node_while_saying(from));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let unit = cluster.main.unit("dice-roller");
        let detail = unit["detail"].as_str().unwrap_or_default();
        if unit["state"] == "running" && detail.contains(NODE_NAMES[to]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not on {} within 20 s: {unit}",
            NODE_NAMES[to]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        cluster.nodes[to].unit("dice-roller")["state"],
        "running",
        "the other node runs it"
    );
}

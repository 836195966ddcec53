//! A bot across machines, on one: three nats-servers clustered over loopback routes (a main
//! daemon and two `rosey node`s, each with its own home). The cluster forms, the streams keep
//! three copies, the main daemon sees its nodes (and sees one lost within `node.lost_after_ms`),
//! and a nats-server killed with SIGKILL loses no command sent meanwhile.

use std::time::{Duration, Instant};

use rosey_core::bus::BusUser;
use rosey_e2e::{
    cluster::{all_answered, say_many, unanswered, TestCluster, NODE_NAMES},
    stack::TestStack,
};

/// The ROSEY and dead-letter streams as the main daemon's server describes them (asked
/// again for up to 20 s: right after a server of the cluster came back, a stream may be
/// electing its leader and answer nothing).
async fn streams(cluster: &TestCluster) -> Vec<async_nats::jetstream::stream::Info> {
    let client = cluster.main.nats_client(BusUser::Daemon).await;
    let js = async_nats::jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut infos = Vec::new();
    for name in [
        rosey_core::messaging::STREAM_NAME,
        rosey_core::messaging::DEAD_LETTER_STREAM,
    ] {
        loop {
            let info = async {
                let mut stream = js.get_stream(name).await.map_err(|err| err.to_string())?;
                stream.info().await.cloned().map_err(|err| err.to_string())
            };
            match info.await {
                Ok(info) => {
                    infos.push(info);
                    break;
                }
                Err(err) if Instant::now() < deadline => {
                    eprintln!("stream {name}: {err}; asking again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!("stream {name}: {err}"),
            }
        }
    }
    infos
}

#[tokio::test(flavor = "multi_thread")]
async fn a_main_daemon_and_two_nodes_form_a_cluster_whose_streams_keep_three_copies() {
    let cluster = TestCluster::new(&["dice-roller"]);
    let started = tokio::task::block_in_place(|| cluster.start());
    assert!(started.contains("Started all"), "{started}");
    let status = tokio::task::block_in_place(|| cluster.wait_nodes_up(Duration::from_secs(10)));
    for node in status["nodes"].as_array().expect("nodes") {
        assert_eq!(node["server_name"], node["name"], "{node}");
        assert!(
            node["memory_bytes"].as_u64().unwrap_or(0) > 1_000_000,
            "{node}"
        );
    }

    for info in streams(&cluster).await {
        assert_eq!(info.config.num_replicas, 3, "{}", info.config.name);
        let copies = info.cluster.expect("a clustered stream");
        assert_eq!(
            copies.replicas.len(),
            2,
            "{}: the leader and two more copies",
            info.config.name
        );
    }
    assert!(tokio::task::block_in_place(|| cluster.main.say("!roll 1d1")).contains("= 1"));

    // What the operator reads: the nodes on the main daemon, the node's own units on a node.
    let text = cluster.main.home.run_ok(&["status"]);
    assert!(text.contains("\nNodes:\n"), "{text}");
    for name in NODE_NAMES {
        assert!(
            text.contains(&format!("\n{name}  up  Server: {name}")),
            "{text}"
        );
    }
    let node_status = cluster.nodes[0].home.run_ok(&["status"]);
    assert!(
        node_status.starts_with(&format!("Node {}: Service Status:", NODE_NAMES[0])),
        "{node_status}"
    );
    assert!(node_status.contains("\nnode "), "{node_status}");
    assert!(
        !node_status.contains("\nbot "),
        "a node runs no bot: {node_status}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_node_is_lost_in_time_and_a_killed_nats_server_loses_no_command() {
    let cluster = TestCluster::new(&["dice-roller"]);
    tokio::task::block_in_place(|| cluster.start());

    // A node's whole machine goes: its daemon with SIGKILL (its nats-server dies with it),
    // while commands are said. It may have led the command stream or the plugin's consumer:
    // NATS elects a new leader 4 to 9 s after the old one went quiet, and until then
    // commands wait (none is lost).
    let node = &cluster.nodes[0];
    let pid = node.daemon_pid().expect("node daemon pid");
    let (replies, lost_after) = std::thread::scope(|scope| {
        let says = scope.spawn(|| say_many(&cluster.main, 10, Duration::from_millis(50), "40"));
        let killed = Instant::now();
        // SAFETY: plain syscall on this test's own process.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        cluster.wait_nodes(Duration::from_secs(5), |nodes| {
            nodes
                .iter()
                .any(|node| node["name"] == NODE_NAMES[0] && node["state"] == "lost")
        });
        let lost_after = killed.elapsed();
        (says.join().expect("says"), lost_after)
    });
    assert!(
        unanswered(&replies).is_empty(),
        "{:?}",
        unanswered(&replies)
    );
    assert!(
        lost_after < Duration::from_millis(1500 + 1000),
        "node.lost_after_ms is 1500; seen lost after {lost_after:?}"
    );

    // It comes back as itself.
    tokio::task::block_in_place(|| {
        node.home.run_ok(&["node", "start"]);
        cluster.wait_nodes_up(Duration::from_secs(10));
    });

    // The server that leads the command stream goes with SIGKILL while commands are said.
    let leader = streams(&cluster).await[0]
        .cluster
        .as_ref()
        .and_then(|cluster| cluster.leader.clone())
        .expect("a stream leader");
    let home = match NODE_NAMES.iter().position(|name| **name == leader) {
        Some(index) => &cluster.nodes[index],
        None => &cluster.main,
    };
    let nats_pid = home.unit("nats")["pid"].as_u64().expect("nats pid") as i32;
    let replies = std::thread::scope(|scope| {
        let says = scope.spawn(|| say_many(&cluster.main, 20, Duration::from_millis(50), "40"));
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: plain syscall on a process of this test's stack.
        unsafe { libc::kill(nats_pid, libc::SIGKILL) };
        says.join().expect("says")
    });
    assert!(
        unanswered(&replies).is_empty(),
        "killed the leader on {leader}: {:?}",
        unanswered(&replies)
    );
}

#[test]
fn a_node_without_a_cluster_or_its_secret_does_not_start_and_says_why() {
    let stack = TestStack::with_plugins(&[]);
    let out = stack.rosey(&["node", "start"]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("a plugin node needs nats.cluster"), "{text}");

    let cluster = TestCluster::new(&[]);
    let node = &cluster.nodes[0];
    std::fs::remove_file(node.home.path().join("data/nats-auth/cluster-secret")).expect("rm");
    let out = node.rosey(&["node", "start"]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("rosey node secret"), "{text}");
    let left = rosey_e2e::stack::wait_until_gone(&node.home.path(), Duration::from_secs(5));
    assert!(left.is_empty(), "nothing left running: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_placed_on_a_node_answers_there_and_moves_when_the_node_is_killed() {
    let cluster = TestCluster::placing("dice-roller", NODE_NAMES[0]);
    tokio::task::block_in_place(|| cluster.start());

    // It runs on the node: the node's status has its host, the main daemon's says where.
    let node = &cluster.nodes[0];
    let on_node = node.unit("dice-roller");
    assert_eq!(on_node["state"], "running", "{on_node}");
    let host_pid = on_node["pid"].as_u64().expect("a host pid on the node");
    let main_view = cluster.main.unit("dice-roller");
    assert_eq!(main_view["state"], "running", "{main_view}");
    assert!(
        main_view["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains(NODE_NAMES[0])),
        "{main_view}"
    );
    assert!(
        rosey_e2e::stack::processes_where(|_| true).contains(&(host_pid as u32)),
        "the host runs"
    );
    tokio::task::block_in_place(|| all_answered(&cluster.main, 5));
    tokio::task::block_in_place(|| {
        cluster.wait_nodes(Duration::from_secs(5), |nodes| {
            nodes.iter().any(|node| {
                node["name"] == NODE_NAMES[0]
                    && node["plugins"]
                        .as_array()
                        .is_some_and(|plugins| plugins.iter().any(|p| p == "dice-roller"))
            })
        })
    });

    // The node's machine goes while commands are said: the plugin comes up on the main
    // daemon, and every command is answered once.
    tokio::task::block_in_place(|| cluster.kill_node_while_saying(0));
    let here = cluster.main.unit("dice-roller");
    assert_eq!(here["state"], "running", "{here}");
    assert!(
        here["pid"].as_u64().is_some() && here["sandbox"].is_string(),
        "a host of the main daemon's runs it now: {here}"
    );

    // Back, the node runs nothing it was not given: no second copy.
    tokio::task::block_in_place(|| {
        node.home.run_ok(&["node", "start"]);
        cluster.wait_nodes_up(Duration::from_secs(10));
    });
    tokio::task::block_in_place(|| all_answered(&cluster.main, 3));
    let node_plugins = node.status()["plugins"].clone();
    assert_eq!(node_plugins, serde_json::json!([]), "no copy on the node");
}

/// A started cluster whose first node runs markov-chat, taught three lines said on the main
/// daemon (its stats say so).
fn markov_on_a_node_taught_three_lines() -> TestCluster {
    let cluster = TestCluster::placing("markov-chat", NODE_NAMES[0]);
    cluster.start();
    assert_eq!(cluster.nodes[0].unit("markov-chat")["state"], "running");
    for line in ["the cat sat down", "the dog ran off", "a bird sang loud"] {
        cluster.main.say_as("alice", line, "0.2");
    }
    cluster
        .main
        .say_until("!markov stats", "from 3 messages", Duration::from_secs(10));
    cluster
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_stopped_for_maintenance_hands_its_plugins_state_to_where_they_run_next() {
    let cluster = tokio::task::block_in_place(markov_on_a_node_taught_three_lines);
    let node = &cluster.nodes[0];

    // The node is stopped the way an operator does: its plugins unload and hand over.
    node.home.run_ok(&["stop"]);
    let stats = cluster
        .main
        .say_until("!markov stats", "from 3 messages", Duration::from_secs(30));
    assert!(stats.contains("from 3 messages"), "{stats}");
    let here = cluster.main.unit("markov-chat");
    assert!(
        here["sandbox"].is_string(),
        "runs on the main daemon: {here}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_nodes_plugin_starts_elsewhere_with_its_last_handed_over_state() {
    let cluster = tokio::task::block_in_place(markov_on_a_node_taught_three_lines);
    let node = &cluster.nodes[0];

    // A reload on the node hands the model over; what the new instance learns after it is
    // in its memory only.
    cluster
        .main
        .home
        .run_ok(&["plugin", "reload", "markov-chat"]);
    cluster.main.say_as("alice", "a fox ran far", "0.2");
    cluster
        .main
        .say_until("!markov stats", "from 4 messages", Duration::from_secs(10));

    // The node's machine goes: the plugin starts on the main daemon with the state of its
    // last hand-over.
    let pid = node.daemon_pid().expect("node daemon pid");
    // SAFETY: plain syscall on a daemon of this test's cluster.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let stats = cluster
        .main
        .say_until("!markov stats", "messages", Duration::from_secs(30));
    assert!(
        stats.contains("from 3 messages"),
        "the model as the reload handed it over: {stats}"
    );
    let here = cluster.main.unit("markov-chat");
    assert!(
        here["sandbox"].is_string(),
        "runs on the main daemon: {here}"
    );

    // Its state stays in the cluster while it is installed (for the next loss), and goes
    // when it is removed.
    let client = cluster.main.nats_client(BusUser::Daemon).await;
    let bucket = async_nats::jetstream::new(client)
        .get_key_value(rosey_core::messaging::HANDOFF_STATE_BUCKET)
        .await
        .expect("the state bucket");
    assert!(
        bucket.get("markov-chat").await.expect("read").is_some(),
        "the last handed-over state is kept"
    );
    cluster
        .main
        .home
        .run_ok(&["plugin", "remove", "markov-chat", "--yes"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = bucket.get("markov-chat").await.expect("read");
        let mark = bucket.get("markov-chat.waiting").await.expect("read");
        if state.is_none() && mark.is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "still kept after remove");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_on_a_node_is_reloaded_and_updated_there() {
    let cluster = TestCluster::placing("dice-roller", NODE_NAMES[1]);
    tokio::task::block_in_place(|| cluster.start());
    let node = &cluster.nodes[1];
    let before = node.unit("dice-roller")["pid"].as_u64().expect("host pid");

    let reloaded = cluster
        .main
        .home
        .run_ok(&["plugin", "reload", "dice-roller"]);
    assert!(reloaded.contains("dice-roller"), "{reloaded}");
    let after = node.unit("dice-roller")["pid"].as_u64().expect("host pid");
    assert_ne!(before, after, "a new host on the node");
    tokio::task::block_in_place(|| all_answered(&cluster.main, 3));

    let v1 = cluster.main.home.pack("dice-roller");
    let v9 = cluster
        .main
        .home
        .scratch()
        .join("dice-roller-9.0.0.roseyplug");
    rosey_e2e::stack::repack(
        &v1,
        &v9,
        |manifest| rosey_e2e::stack::with_version(manifest, "9.0.0"),
        None,
    );
    // Updated there while commands come in: each is answered once, and the node swaps the
    // new version in (its plugin actor stays: it is not stopped and started again).
    let uptime = || {
        node.unit("dice-roller")["uptime_secs"]
            .as_u64()
            .expect("uptime")
    };
    while uptime() < 2 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let up_before = uptime();
    let replies = std::thread::scope(|scope| {
        let says = scope.spawn(|| say_many(&cluster.main, 10, Duration::from_millis(50), "20"));
        let updated =
            cluster
                .main
                .home
                .run_ok(&["plugin", "update", v9.to_str().expect("utf-8 path")]);
        assert!(updated.contains("9.0.0"), "{updated}");
        says.join().expect("says")
    });
    assert!(
        unanswered(&replies).is_empty(),
        "{:?}",
        unanswered(&replies)
    );
    let updated = node.unit("dice-roller");
    assert_eq!(updated["version"], "9.0.0", "{updated}");
    assert_eq!(cluster.main.unit("dice-roller")["version"], "9.0.0");
    assert!(uptime() >= up_before, "swapped in, not stopped and started");

    // Its settings reach it there, taken live.
    let set = cluster
        .main
        .home
        .run_ok(&["plugin", "config", "dice-roller", "max_dice", "3"]);
    assert!(set.contains("took it live"), "{set}");
    assert!(
        cluster.main.say("!roll 5d6").contains("at most 3 dice"),
        "the node's instance has the new limit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_can_use_tls_with_certificates_checked_both_ways() {
    let cluster = TestCluster::with_cluster_keys(
        &["dice-roller"],
        ", tls: { cert: tls/route.pem, key: tls/route-key.pem, ca: tls/route.pem }",
    );
    // One self-signed certificate, for 127.0.0.1, is every server's and the CA.
    let scratch = cluster.main.home.scratch().join("route-tls");
    std::fs::create_dir_all(&scratch).expect("tls dir");
    rosey_e2e::stack::self_signed_certificate(
        "rosey-route",
        &scratch.join("route.pem"),
        &scratch.join("route-key.pem"),
    );
    for home in std::iter::once(&cluster.main).chain(&cluster.nodes) {
        let dir = home.home.path().join("tls");
        std::fs::create_dir_all(&dir).expect("tls dir");
        for file in ["route.pem", "route-key.pem"] {
            std::fs::copy(scratch.join(file), dir.join(file)).expect("copy");
        }
    }
    tokio::task::block_in_place(|| cluster.start());
    let conf = std::fs::read_to_string(
        cluster
            .main
            .home
            .path()
            .join("data/nats-auth/nats-server.conf"),
    )
    .expect("server config");
    assert!(conf.contains("verify: true"), "{conf}");
    assert!(tokio::task::block_in_place(|| cluster.main.say("!roll 1d1")).contains("= 1"));
    for info in streams(&cluster).await {
        assert_eq!(
            info.cluster.expect("clustered").replicas.len(),
            2,
            "three copies over TLS routes"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_its_node_gives_up_on_is_an_exit_the_main_daemon_supervises() {
    let cluster = TestCluster::placing("fixtures/chaos", NODE_NAMES[0]);
    tokio::task::block_in_place(|| cluster.start());
    let node = &cluster.nodes[0];
    // The node's own supervisor allows 3 restarts a minute (the test config): the fourth
    // death of an idle host makes it give the plugin up.
    let mut pid = node.unit("chaos")["pid"].as_u64().expect("host pid");
    for _ in 0..4 {
        // SAFETY: plain syscall on a plugin host of this test's stack.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = node.status();
            let unit = status["plugins"]
                .as_array()
                .and_then(|plugins| plugins.iter().find(|unit| unit["name"] == "chaos"))
                .cloned()
                .unwrap_or_default();
            if unit["state"] == "crashed" {
                break;
            }
            if let Some(new) = unit["pid"].as_u64().filter(|new| *new != pid) {
                pid = new;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chaos not back on the node: {unit}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The main daemon heard it as its child's exit, and its restart placed chaos again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let unit = cluster.main.unit("chaos");
        let exit = unit["last_exit"].as_str().unwrap_or_default().to_owned();
        if exit.contains(&format!("stopped on node {}", NODE_NAMES[0]))
            && unit["state"] == "running"
        {
            assert!(unit["restarts"].as_u64().unwrap_or(0) >= 1, "{unit}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no exit from the node seen: {unit}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pong = cluster
        .main
        .say_until("!chaos ping", "pong", Duration::from_secs(20));
    assert!(pong.contains("pong"), "{pong}");
}

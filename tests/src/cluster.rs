//! Three machines on one: a main daemon's home and two plugin nodes' homes, whose
//! nats-servers form a cluster over loopback routes. Each home is a [`TestStack`] (dropping
//! the cluster stops them all and kills what is left of each).

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use crate::stack::{TestStack, TEST_CONFIG};

/// The nodes' names, in the order [`TestCluster::nodes`] holds them.
pub const NODE_NAMES: [&str; 2] = ["box-b", "box-c"];

/// How often a test node says it is alive, and when the main daemon counts it lost.
pub const NODE_TIMING: &str = "node: { heartbeat_ms: 200, lost_after_ms: 1500 }\n";

/// A main daemon and two nodes sharing one cluster secret; none started yet.
pub struct TestCluster {
    /// The main daemon's home (the bot and its plugins).
    pub main: TestStack,
    /// The nodes' homes, named [`NODE_NAMES`].
    pub nodes: Vec<TestStack>,
}

/// Replaces the first `from` in `stack`'s rosey.yaml with `to` (asserting it was there).
pub fn edit_config(stack: &TestStack, from: &str, to: &str) {
    let config = stack.home.path().join("rosey.yaml");
    let text = std::fs::read_to_string(&config).expect("rosey.yaml");
    let edited = text.replacen(from, to, 1);
    assert_ne!(edited, text, "{from:?} is in rosey.yaml");
    std::fs::write(&config, edited).expect("write rosey.yaml");
}

/// `count` `!roll 1d1` said at once, each by a user of its own, `gap` apart, each waiting up
/// to `wait_secs` for its answer (`= 1`).
pub fn say_many(stack: &TestStack, count: usize, gap: Duration, wait_secs: &str) -> Vec<String> {
    std::thread::scope(|scope| {
        let says: Vec<_> = (0..count)
            .map(|index| {
                std::thread::sleep(gap);
                scope.spawn(move || stack.say_as(&format!("user{index}"), "!roll 1d1", wait_secs))
            })
            .collect();
        says.into_iter()
            .map(|say| say.join().expect("say thread"))
            .collect()
    })
}

/// The says whose own answer (`user<i> rolled … = 1`, not what it heard said to others
/// meanwhile) is not there exactly once: never answered, or handled twice.
pub fn unanswered(replies: &[String]) -> Vec<(usize, &String)> {
    replies
        .iter()
        .enumerate()
        .filter(|(index, reply)| {
            let own = format!("user{index} rolled 1d1: [1] = 1");
            reply.lines().filter(|line| *line == own).count() != 1
        })
        .collect()
}

/// `count` `!roll 1d1` said on `stack` 20 ms apart, asserting each is answered exactly once
/// within 10 s.
pub fn all_answered(stack: &TestStack, count: usize) {
    let replies = say_many(stack, count, Duration::from_millis(20), "10");
    assert!(
        unanswered(&replies).is_empty(),
        "{:?}",
        unanswered(&replies)
    );
}

/// Three free loopback ports for the routes.
fn route_ports() -> [u16; 3] {
    listen_ports().expect("three free loopback ports")
}

/// `N` different loopback ports nothing listens on, for servers this process starts later
/// (a cluster's routes are named in every server's config before any of them binds).
///
/// They are picked below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`), where
/// the ports of outgoing connections come from: a port picked there (as binding port 0 does)
/// can be taken by any process's outgoing connection before the server binds it, and the
/// server then fails with `bind: address already in use`. Below it, only a listener can take
/// it, and the pick is random over some 20,000 ports, so parallel tests rarely meet.
pub fn listen_ports<const N: usize>() -> std::io::Result<[u16; N]> {
    use std::hash::{BuildHasher, RandomState};
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = if ephemeral_low > 11_000 {
        (10_000, ephemeral_low - 1)
    } else {
        // An unusual range starting low: take ports above the usual one instead.
        (61_000, 65_000)
    };
    let random = RandomState::new();
    let mut held: Vec<TcpListener> = Vec::with_capacity(N);
    let mut ports = [0; N];
    for attempt in 0..10_000u64 {
        if held.len() == N {
            break;
        }
        let port = low + (random.hash_one(attempt) % u64::from(high - low)) as u16;
        if ports.contains(&port) {
            continue;
        }
        // Held until all are picked, so the `N` differ.
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            ports[held.len()] = port;
            held.push(listener);
        }
    }
    if held.len() < N {
        return Err(std::io::Error::other(format!(
            "no {N} free loopback ports between {low} and {high}"
        )));
    }
    Ok(ports)
}

/// [`TEST_CONFIG`] with `nats.cluster` for the server listening on `ports[me]` (and
/// `cluster_extra`, more keys of it such as `tls: {…}`), and `node:` (the name too on a node).
fn config(ports: [u16; 3], me: usize, node: Option<&str>, cluster_extra: &str) -> String {
    let routes: Vec<String> = ports
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != me)
        .map(|(_, port)| format!("127.0.0.1:{port}"))
        .collect();
    let cluster = format!(
        "nats:\n  port: 0\n  cluster: {{ name: e2e, listen: \"127.0.0.1:{}\", routes: [{}]{cluster_extra} }}\n",
        ports[me],
        routes.join(", ")
    );
    let timing = match node {
        Some(name) => NODE_TIMING.replace("node: {", &format!("node: {{ name: {name},")),
        None => NODE_TIMING.to_owned(),
    };
    let config = TEST_CONFIG.replacen("nats:\n  port: 0\n", &cluster, 1);
    assert_ne!(config, TEST_CONFIG, "TEST_CONFIG starts with nats.port");
    format!("{timing}{config}")
}

impl TestCluster {
    /// The three homes, `plugins` installed on the main one, the secret made on the main
    /// one (`rosey node secret`) and copied to the nodes.
    pub fn new(plugins: &[&str]) -> TestCluster {
        TestCluster::with_cluster_keys(plugins, "")
    }

    /// [`TestCluster::new`], with `extra` added to every home's `nats.cluster` (e.g.
    /// `, tls: { … }`).
    pub fn with_cluster_keys(plugins: &[&str], extra: &str) -> TestCluster {
        let ports = route_ports();
        let main = TestStack::with_config(plugins, &config(ports, 0, None, extra));
        let nodes: Vec<TestStack> = NODE_NAMES
            .iter()
            .enumerate()
            .map(|(index, name)| {
                TestStack::with_config(&[], &config(ports, index + 1, Some(name), extra))
            })
            .collect();
        main.home.run_ok(&["node", "secret"]);
        let secret = main.home.path().join("data/nats-auth/cluster-secret");
        for node in &nodes {
            let dir = node.home.path().join("data/nats-auth");
            std::fs::create_dir_all(&dir).expect("nats-auth dir");
            std::fs::copy(&secret, dir.join("cluster-secret")).expect("copy the secret");
        }
        TestCluster { main, nodes }
    }

    /// [`TestCluster::new`] with the plugin of crate `crate_dir` (under `plugins/`, e.g.
    /// `fixtures/chaos`) installed on the main daemon and placed on `node`
    /// (`plugins.<plugin>.node`).
    pub fn placing(crate_dir: &str, node: &str) -> TestCluster {
        let cluster = TestCluster::new(&[crate_dir]);
        let plugin = crate_dir.rsplit('/').next().unwrap_or(crate_dir);
        edit_config(
            &cluster.main,
            "node: {",
            &format!("plugins:\n  {plugin}: {{ node: {node} }}\nnode: {{"),
        );
        cluster
    }

    /// Starts the three together (a cluster's JetStream waits for a quorum of its servers),
    /// asserting each start succeeded, and waits until the main daemon sees both nodes up;
    /// returns what `rosey start` printed on the main.
    pub fn start(&self) -> String {
        let printed = std::thread::scope(|scope| {
            let nodes: Vec<_> = self
                .nodes
                .iter()
                .map(|node| scope.spawn(|| node.home.run_ok(&["node", "start"])))
                .collect();
            let main = self.main.start();
            for node in nodes {
                node.join().expect("node start thread");
            }
            main
        });
        self.wait_nodes_up(Duration::from_secs(10));
        printed
    }

    /// Kills node `index`'s daemon with SIGKILL while ten commands are said on the main
    /// daemon, 100 ms apart (the kill 200 ms in), and asserts each was answered exactly once.
    pub fn kill_node_while_saying(&self, index: usize) {
        let pid = self.nodes[index].daemon_pid().expect("node daemon pid");
        let replies = std::thread::scope(|scope| {
            let says = scope.spawn(|| say_many(&self.main, 10, Duration::from_millis(100), "40"));
            std::thread::sleep(Duration::from_millis(200));
            // SAFETY: plain syscall on a daemon of this test's cluster.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            says.join().expect("says")
        });
        assert!(
            unanswered(&replies).is_empty(),
            "{:?}",
            unanswered(&replies)
        );
    }

    /// Which of [`NODE_NAMES`] the main daemon's status line for `unit` says it runs on
    /// (asserting it runs on one).
    pub fn node_of(unit: &serde_json::Value) -> usize {
        let detail = unit["detail"].as_str().unwrap_or_default();
        NODE_NAMES
            .iter()
            .position(|name| detail.contains(name))
            .unwrap_or_else(|| panic!("not on a node: {unit}"))
    }

    /// Waits until the main daemon's status shows every node `up`; returns that status.
    pub fn wait_nodes_up(&self, timeout: Duration) -> serde_json::Value {
        self.wait_nodes(timeout, |nodes| {
            NODE_NAMES.iter().all(|name| {
                nodes
                    .iter()
                    .any(|node| node["name"] == *name && node["state"] == "up")
            })
        })
    }

    /// Waits until `wanted` holds of the main daemon's status `nodes` list; returns the
    /// status.
    pub fn wait_nodes(
        &self,
        timeout: Duration,
        wanted: impl Fn(&[serde_json::Value]) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.main.status();
            let nodes = status["nodes"].as_array().cloned().unwrap_or_default();
            if wanted(&nodes) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "nodes not as wanted within {timeout:?}: {nodes:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_ports_are_distinct_free_and_below_the_ephemeral_range() {
        let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .expect("the ephemeral range")
            .split_whitespace()
            .next()
            .and_then(|low| low.parse().ok())
            .expect("its low end");
        let ports: [u16; 5] = listen_ports().expect("five ports");
        let mut distinct = ports.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 5, "{ports:?}");
        for port in ports {
            assert!(port < ephemeral_low, "{port} is in the ephemeral range");
            // Released once picked: the server this is for can bind it.
            TcpListener::bind(("127.0.0.1", port)).expect("free after the pick");
        }
    }
}

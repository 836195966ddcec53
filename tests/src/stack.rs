//! A whole rosey stack for one test: a temp home with plugins installed and a test-sized
//! `rosey.yaml`, started with the real `rosey start` (a real daemon, nats-server and plugin
//! hosts). Dropping it stops the stack and kills anything of that home still running.

use std::{
    path::Path,
    process::Output,
    time::{Duration, Instant},
};

use rosey_core::bus::{BusUser, Credentials};

use crate::cli::TempHome;

/// Connects to the NATS of the stack running in `home` at `url` as `user`, with the password
/// the daemon keeps in `data/nats-auth/credentials`: the one way tests reach a stack's bus.
pub async fn connect_nats(
    home: &Path,
    url: &str,
    user: BusUser,
) -> Result<async_nats::Client, rosey_core::bus::BusError> {
    let credentials = Credentials::load_for_clients(&rosey_core::paths::Home::new(home))?;
    credentials.connect(url, user, "rosey-e2e").await
}

/// The line of [`TEST_CONFIG`] that turns the per-user rate limits off (tests send many
/// commands as one user); a test of the limits replaces it.
pub const NO_RATE_LIMITS: &str = "  rate_limit: { commands: 0, per_plugin: 0 }\n";

/// `rosey.yaml` for tests: free NATS and dashboard ports, fast heartbeats and backoff, no rate
/// limits. `bot:` comes last, so a test may append keys of its own to it (indented two spaces).
pub const TEST_CONFIG: &str = "\
nats:
  port: 0
web:
  port: 0
plugin_host:
  heartbeat_ms: 200
  heartbeat_timeout_ms: 3000
  ready_timeout_ms: 20000
supervision:
  services: { backoff_initial_ms: 50, backoff_max_ms: 500, shutdown_timeout_ms: 5000 }
  plugins: { max_restarts: 3, within_secs: 60, backoff_initial_ms: 50, backoff_max_ms: 500, shutdown_timeout_ms: 5000 }
bot:
  rate_limit: { commands: 0, per_plugin: 0 }
";

/// A home with a stack that may be running.
pub struct TestStack {
    /// The home.
    pub home: TempHome,
}

impl TestStack {
    /// A home with `plugins` (crate dirs under `plugins/`) installed and [`TEST_CONFIG`].
    pub fn with_plugins(plugins: &[&str]) -> TestStack {
        TestStack::with_config(plugins, TEST_CONFIG)
    }

    /// A home with `plugins` installed and `config` as its rosey.yaml.
    pub fn with_config(plugins: &[&str], config: &str) -> TestStack {
        let home = TempHome::new();
        std::fs::write(home.path().join("rosey.yaml"), config).expect("write rosey.yaml");
        for plugin in plugins {
            let archive = home.pack(plugin);
            home.run_ok(&["plugin", "install", archive.to_str().expect("utf-8 path")]);
        }
        TestStack { home }
    }

    /// An emulated CyTube server (the bot's account `rosey`/`pw`, default limits) and a home
    /// with `plugins` installed, [`TEST_CONFIG`] and the bot in channel `test` there; not
    /// started, so a test can still edit the home.
    pub fn on_cytube(plugins: &[&str]) -> (crate::cytube::CytubeServer, TestStack) {
        let server =
            crate::cytube::CytubeServer::for_bot("rosey", "pw", crate::cytube::Limits::default());
        let bot = server.bot_keys("rosey", "pw", "test");
        let stack = TestStack::with_config(plugins, &format!("{TEST_CONFIG}{bot}"));
        (server, stack)
    }

    /// Runs `rosey <args>` against the home.
    pub fn rosey(&self, args: &[&str]) -> Output {
        self.home.run(args)
    }

    /// `rosey start`, asserting it succeeded; returns its output.
    pub fn start(&self) -> String {
        self.home.run_ok(&["start"])
    }

    /// `rosey start`, asserting it failed with exit code 1; returns all it printed (stderr,
    /// then stdout), where the reason is.
    pub fn start_fails(&self) -> String {
        let out = self.rosey(&["start"]);
        // Standard error first: the text's last line is the last the operator reads on the
        // terminal's standard output.
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "start must fail: {text}");
        text
    }

    /// Sends one request line to the daemon's control socket, as the CLI would after its own
    /// checks; returns its JSON answer (waiting up to 30 s).
    pub fn control(&self, request: serde_json::Value) -> serde_json::Value {
        use std::io::{BufRead, Write};
        let socket = self.home.path().join("data/run/rosey.sock");
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).expect("control socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        stream
            .write_all(format!("{request}\n").as_bytes())
            .expect("send request");
        let mut answer = String::new();
        std::io::BufReader::new(&stream)
            .read_line(&mut answer)
            .expect("read answer");
        serde_json::from_str(&answer).unwrap_or_else(|err| panic!("{err}: {answer:?}"))
    }

    /// The version the home's registry names for plugin `name` (empty when it names none).
    pub fn registry_version(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.home.path().join("data/registry.json")).expect("registry");
        let registry: serde_json::Value = serde_json::from_str(&text).expect("registry json");
        registry["plugins"][name]["version"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// `rosey status --json`, parsed.
    pub fn status(&self) -> serde_json::Value {
        let out = self.home.run_ok(&["status", "--json"]);
        serde_json::from_str(&out).expect("status json")
    }

    /// One unit (service or plugin) from the status.
    pub fn unit(&self, name: &str) -> serde_json::Value {
        let status = self.status();
        status["services"]
            .as_array()
            .into_iter()
            .chain(status["plugins"].as_array())
            .flatten()
            .find(|unit| unit["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no unit {name} in {status}"))
    }

    /// The running stack's NATS URL (the `nats` unit's detail in the status), waited for up
    /// to 30 s: on a loaded machine the daemon may be restarting a slow nats-server just then.
    pub fn nats_url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let nats = self.unit("nats");
            if let Some(url) = nats["detail"].as_str() {
                return url.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "the nats unit shows no URL within 30 s: {nats}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Connects to the running stack's NATS as `user` (the password is read from the home,
    /// as an operator's tool would).
    pub async fn nats_client(&self, user: BusUser) -> async_nats::Client {
        connect_nats(&self.home.path(), &self.nats_url(), user)
            .await
            .unwrap_or_else(|err| panic!("connect to the stack's NATS as {}: {err}", user.name()))
    }

    /// Polls the status until `check` holds for unit `name`, or panics after `timeout`.
    pub fn wait_for_unit(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        self.poll_unit(name, timeout, check)
            .unwrap_or_else(|unit| panic!("{name} never became {what}: {unit}"))
    }

    /// Polls the status until `check` holds for unit `name` (`Ok`), or until `timeout` has
    /// passed (`Err` with the unit as last seen).
    pub fn poll_unit(
        &self,
        name: &str,
        timeout: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value, serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let unit = self.unit(name);
            if check(&unit) {
                return Ok(unit);
            }
            if Instant::now() >= deadline {
                return Err(unit);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `rosey say <text>`: the replies, one per line (empty when none came).
    pub fn say(&self, text: &str) -> String {
        let output = self.home.run(&["say", text, "--timeout", "8"]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `rosey say <text> --as <user>`, waiting up to `timeout_secs` for replies; what it printed
    /// on stdout.
    pub fn say_as(&self, user: &str, text: &str, timeout_secs: &str) -> String {
        let output = self
            .home
            .run(&["say", text, "--as", user, "--timeout", timeout_secs]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `rosey say`, retried until a reply contains `expected` (a plugin may be restarting).
    pub fn say_until(&self, text: &str, expected: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.say(text);
            if reply.contains(expected) {
                return reply;
            }
            assert!(
                Instant::now() < deadline,
                "no reply containing {expected:?} to {text:?}; last: {reply:?}"
            );
        }
    }

    /// The link `rosey status` prints to open the running stack's dashboard signed in.
    pub fn dashboard_link(&self) -> String {
        let text = self.home.run_ok(&["status"]);
        text.lines()
            .find_map(|line| line.strip_prefix("Dashboard: "))
            .unwrap_or_else(|| panic!("no dashboard link in {text}"))
            .trim()
            .to_owned()
    }

    /// The pids of every process whose command line mentions this home.
    pub fn processes(&self) -> Vec<u32> {
        processes_mentioning(&self.home.path())
    }

    /// The daemon's pid, from its pid file.
    pub fn daemon_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.home.path().join("data/run/rosey.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse().ok())
    }
}

/// Every process of the home at `path`: those whose command line contains `path` (the daemon,
/// nats-server), those started with [`HOME_MARK_ENV`](crate::cli::HOME_MARK_ENV) set to it,
/// and every descendant of those: the plugin hosts, whose command lines do not name the home
/// and whose environment the daemon empties, are the daemon's children.
pub fn processes_mentioning(path: &Path) -> Vec<u32> {
    let needle = path.to_string_lossy().into_owned();
    let mark = format!("{}={needle}", crate::cli::HOME_MARK_ENV);
    let mut found: std::collections::BTreeSet<u32> =
        processes_where(|cmdline| cmdline.contains(&needle))
            .into_iter()
            .chain(processes_with_env(&mark))
            .collect();
    let parents: Vec<(u32, u32)> = processes_where(|_| true)
        .into_iter()
        .filter_map(|pid| Some((pid, crate::host::parent_pid(pid)?)))
        .collect();
    loop {
        let before = found.len();
        for (pid, parent) in &parents {
            if found.contains(parent) {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            break;
        }
    }
    found.into_iter().collect()
}

/// Every live process other than this one whose environment holds `entry` (`NAME=value`).
fn processes_with_env(entry: &str) -> Vec<u32> {
    live_processes(|pid| {
        std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
            environ
                .split(|byte| *byte == 0)
                .any(|e| e == entry.as_bytes())
        })
    })
}

/// Every live (non-zombie) process other than this one whose command line (arguments joined
/// by spaces) satisfies `wanted`.
pub fn processes_where(wanted: impl Fn(&str) -> bool) -> Vec<u32> {
    live_processes(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
            .is_ok_and(|cmdline| wanted(&cmdline))
    })
}

/// Every live (non-zombie) process other than this one that `keep` accepts.
fn live_processes(keep: impl Fn(u32) -> bool) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me && keep(*pid) && !is_zombie(*pid))
        .collect()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Waits until no process mentions `path`; returns the ones left after `timeout`.
pub fn wait_until_gone(path: &Path, timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = processes_mentioning(path);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        let _ = self.home.run(&["stop"]);
        for pid in processes_mentioning(&self.home.path()) {
            // SAFETY: plain syscall on a process of this test's home.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

/// `manifest` (YAML text) with its `version:` line set to `version`.
pub fn with_version(manifest: &str, version: &str) -> String {
    manifest
        .lines()
        .map(|line| {
            if line.starts_with("version:") {
                format!("version: {version}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Rewrites archive `from` into `to` with its manifest changed by `edit` and, when given, its
/// library replaced by `library` (bytes), with fresh checksums: a newer or broken version of a
/// real plugin.
pub fn repack(from: &Path, to: &Path, edit: impl Fn(&str) -> String, library: Option<Vec<u8>>) {
    let manifest_text = crate::cli::read_zip(from)
        .into_iter()
        .find(|(name, _)| name == "manifest.yaml")
        .map(|(_, bytes)| String::from_utf8_lossy(&bytes).into_owned())
        .expect("manifest in archive");
    let library_name = manifest_text
        .lines()
        .find_map(|line| line.strip_prefix("library:"))
        .map(|name| name.trim().trim_matches('"').to_owned())
        .expect("library in manifest");
    let files: Vec<(String, Vec<u8>)> = crate::cli::read_zip(from)
        .into_iter()
        .filter(|(name, _)| name != "checksums.sha256")
        .map(|(name, bytes)| {
            if name == "manifest.yaml" {
                (name, edit(&manifest_text).into_bytes())
            } else if name == library_name {
                (name, library.clone().unwrap_or(bytes))
            } else {
                (name, bytes)
            }
        })
        .collect();
    std::fs::write(
        to,
        crate::cli::zip_bytes(&crate::cli::with_checksums(files)),
    )
    .expect("write archive");
}

/// Writes a self-signed certificate for `127.0.0.1` (elliptic-curve key, valid a day) to
/// `cert` and its key to `key`, with `openssl`: a server's own certificate, and its CA too.
pub fn self_signed_certificate(common_name: &str, cert: &Path, key: &Path) {
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={common_name}"),
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
        ])
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{made:?}");
}

//! End to end: the plugin sandbox on a real stack. A hostile plugin tries every escape while
//! another plugin keeps answering; no host inherits the daemon's secrets; status says the
//! sandbox is full on this kernel, and `plugin_host.sandbox: required` runs plugins here; a
//! manifest's `network:` port can be reached and no other. A stack started under a seccomp
//! filter that hides Landlock stands in for an older kernel: partial in best-effort mode,
//! refused in required mode.

use std::{
    net::TcpListener,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use rosey_core::messaging::Source;
use rosey_e2e::{
    host::{self, Bus},
    stack::{TestStack, TEST_CONFIG},
};

/// The secret the daemon is started with; no host may see it.
const PASSWORD: &str = "sandbox-test-secret-8c1f";

/// How many lines `!hostile probe` answers (escapes, own storage, `probe done`).
const PROBE_LINES: usize = 17;

/// `rosey start` with `ROSEY_CYTUBE_PASSWORD` in its environment (the daemon inherits it).
fn start_with_secret(stack: &TestStack) {
    let output = Command::new(rosey_e2e::cli::rosey_bin())
        .arg("--home")
        .arg(stack.home.path())
        .arg("start")
        .current_dir(stack.home.scratch())
        .env_remove("ROSEY_HOME")
        .env(rosey_e2e::cli::HOME_MARK_ENV, stack.home.path())
        .env("ROSEY_CYTUBE_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run rosey start");
    assert!(
        output.status.success(),
        "rosey start failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn environment(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_else(|err| panic!("cannot read the environment of {pid}: {err}"))
        .split(|byte| *byte == 0)
        .map(|entry| String::from_utf8_lossy(entry).into_owned())
        .collect()
}

fn nats_port(stack: &TestStack) -> u16 {
    let url = stack.nats_url();
    url.rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// Sends `!hostile <args>` and waits until a reply equal to `last` (or, with `count`, that
/// many replies) came; returns the reply texts in order.
async fn hostile(bus: &Bus, args: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let id = bus.command("hostile", args, "mallory", Source::Chat).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let texts: Vec<String> = bus
            .replies_to(&id)
            .into_iter()
            .map(|reply| reply.text)
            .collect();
        if done(&texts) {
            return texts;
        }
        assert!(
            Instant::now() < deadline,
            "!hostile {args} never finished: {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn roll_one(bus: &Bus, when: &str) {
    let reply = bus.ask("roll", "1d1", "alice", Source::Chat).await;
    assert!(reply.text.ends_with("= 1"), "{when}: {}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_escape_is_refused_while_another_plugin_answers() {
    let stack = TestStack::with_plugins(&["dice-roller", "fixtures/hostile"]);
    start_with_secret(&stack);
    let bus = Bus::of(&stack).await;
    roll_one(&bus, "before the probe").await;

    // A port that accepts connections: refused can only be the sandbox's doing.
    let other = TcpListener::bind("127.0.0.1:0").expect("listener");
    let other_port = other.local_addr().expect("address").port();
    let nats = nats_port(&stack);
    let probe = {
        let bus = &bus;
        async move {
            hostile(bus, &format!("probe {nats} {other_port}"), |texts| {
                texts.iter().any(|text| text == "probe done")
            })
            .await
        }
    };
    let (lines, ()) = tokio::join!(probe, roll_one(&bus, "during the probe"));
    roll_one(&bus, "after the probe").await;

    assert_eq!(lines.len(), PROBE_LINES, "{lines:#?}");
    assert!(lines.contains(&"own storage: ok".to_owned()), "{lines:#?}");
    for line in &lines {
        if line == "own storage: ok" || line == "probe done" {
            continue;
        }
        assert!(
            line.contains(": refused (E"),
            "an escape was not refused by the sandbox: {line}\n{lines:#?}"
        );
    }
    // What refused each attempt: seccomp says EPERM, Landlock EACCES (files, TCP) or EPERM
    // (signals).
    let said = |what: &str| {
        lines
            .iter()
            .find(|line| line.starts_with(what))
            .unwrap_or_else(|| panic!("no {what} line in {lines:#?}"))
            .clone()
    };
    assert!(said("read rosey.yaml").ends_with("(EACCES)"));
    assert!(said("signal the daemon").ends_with("(EPERM)"));
    assert!(said("connect to the control socket").ends_with("(EPERM)"));
    assert!(said("exec /bin/sh").contains("refused"));
    let home = stack.home.path();
    assert!(!home
        .join("data/plugins/dice-roller/storage/hostile.txt")
        .exists());
    assert_eq!(
        std::fs::read(home.join("data/plugins/hostile/storage/probe.txt")).expect("probe.txt"),
        b"mine"
    );

    // No host carries the daemon's secrets (nor any ROSEY_ variable); the daemon does, so
    // this check can fail.
    let daemon = stack.daemon_pid().expect("daemon pid");
    assert!(
        environment(daemon).contains(&format!("ROSEY_CYTUBE_PASSWORD={PASSWORD}")),
        "the daemon was started with the secret"
    );
    let mut hosts = host::spare_hosts(&stack);
    hosts.push(host::host_pid(&stack, "hostile"));
    hosts.push(host::host_pid(&stack, "dice-roller"));
    for pid in hosts {
        assert_eq!(host::parent_pid(pid), Some(daemon));
        let env = environment(pid);
        assert!(
            env.iter().all(|entry| !entry.starts_with("ROSEY_")),
            "host {pid} has {env:?}"
        );
        assert!(env.iter().any(|entry| entry == "LD_BIND_NOW=1"), "{env:?}");
    }

    // Status: each plugin's sandbox is full on this kernel, in JSON and in text.
    for name in ["hostile", "dice-roller"] {
        assert_eq!(stack.unit(name)["sandbox"], "full", "{name}");
    }
    let text = stack.home.run_ok(&["status"]);
    let line = text
        .lines()
        .find(|line| line.contains("hostile"))
        .unwrap_or_else(|| panic!("no hostile line in {text}"));
    assert!(line.contains("sandbox: full"), "{text}");
    assert!(!host::plugin_log(&stack, "hostile").contains("partial sandbox"));
}

/// Every example plugin works sandboxed, here with `plugin_host.sandbox: required`.
#[test]
fn required_mode_runs_every_example_plugin_on_a_kernel_with_the_whole_sandbox() {
    let config = TEST_CONFIG.replace("plugin_host:\n", "plugin_host:\n  sandbox: required\n");
    assert!(config.contains("sandbox: required"));
    let plugins = [
        "dice-roller",
        "8ball",
        "quote-db",
        "markov-chat",
        "remind",
        "trivia",
    ];
    let stack = TestStack::with_config(&plugins, &config);
    stack.start();
    assert!(stack.say("!roll 1d1").contains("= 1"));
    assert!(!stack.say("!8ball will it work?").is_empty());
    // quote-db keeps its quotes in the key-value store inside its storage folder.
    assert!(stack.say("!quote add sandboxed and happy").contains("#1"));
    assert!(stack.say("!quote 1").contains("sandboxed and happy"));
    assert!(!stack.say("!markov stats").is_empty());
    // remind and trivia keep theirs there too.
    assert!(stack.say("!remind list").contains("no reminders waiting"));
    assert!(stack.say("!trivia scores").contains("No scores yet"));
    for plugin in plugins {
        assert_eq!(stack.unit(plugin)["sandbox"], "full", "{plugin}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_port_can_be_reached_and_no_other() {
    let allowed = TcpListener::bind("127.0.0.1:0").expect("listener");
    let other = TcpListener::bind("127.0.0.1:0").expect("listener");
    let allowed_port = allowed.local_addr().expect("address").port();
    let other_port = other.local_addr().expect("address").port();

    let (stack, bus) =
        hostile_with_network(&format!("network: [\"127.0.0.1:{allowed_port}\"]")).await;

    let one = |texts: &[String]| !texts.is_empty();
    let reached = hostile(&bus, &format!("connect {allowed_port}"), one).await;
    assert_eq!(reached, [format!("connect {allowed_port}: ok")]);
    let refused = hostile(&bus, &format!("connect {other_port}"), one).await;
    assert_eq!(refused, [format!("connect {other_port}: refused (EACCES)")]);
    assert_eq!(stack.unit("hostile")["sandbox"], "full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_any_reaches_any_port() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("address").port();
    let (_stack, bus) = hostile_with_network("network: any").await;
    let reached = hostile(&bus, &format!("connect {port}"), |texts| !texts.is_empty()).await;
    assert_eq!(reached, [format!("connect {port}: ok")]);
}

#[test]
fn a_bad_network_entry_is_a_clear_install_error() {
    let stack = TestStack::with_plugins(&[]);
    let bad = hostile_archive_with(&stack, "network: [\"example.org\"]");
    let err = stack.home.run_err(&["plugin", "install", path_str(&bad)]);
    assert!(
        err.contains("network") && err.contains("host:port"),
        "{err}"
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// `rosey start` as on a kernel without Landlock: a seccomp filter installed in the started
/// process, which the daemon and every host it starts inherit, answers the Landlock system
/// calls with `ENOSYS`. Returns the output and whether it succeeded.
fn start_without_landlock(stack: &TestStack) -> (bool, String) {
    use std::os::unix::process::CommandExt;

    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};

    let rules = [
        libc::SYS_landlock_create_ruleset,
        libc::SYS_landlock_add_rule,
        libc::SYS_landlock_restrict_self,
    ]
    .into_iter()
    .map(|call| (call, Vec::new()))
    .collect();
    let arch = std::env::consts::ARCH.try_into().expect("a seccomp arch");
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .expect("filter");
    let program: BpfProgram = filter.try_into().expect("bpf");
    let mut command = Command::new(rosey_e2e::cli::rosey_bin());
    command
        .arg("--home")
        .arg(stack.home.path())
        .arg("start")
        .current_dir(stack.home.scratch())
        .env_remove("ROSEY_HOME")
        .env(rosey_e2e::cli::HOME_MARK_ENV, stack.home.path())
        .stdin(std::process::Stdio::null());
    // SAFETY: between fork and exec only prctl and seccomp, on memory prepared before the
    // fork; nothing allocates.
    unsafe {
        command.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: program.len() as u16,
                filter: program.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("run rosey start");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn without_landlock_plugins_run_in_a_partial_sandbox_that_status_and_the_log_name() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    let (started, out) = start_without_landlock(&stack);
    assert!(started, "{out}");
    assert!(stack.say("!roll 1d1").contains("= 1"));
    let sandbox = stack.unit("dice-roller")["sandbox"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        sandbox.starts_with("partial (") && sandbox.contains("no Landlock"),
        "{sandbox}"
    );
    let text = stack.home.run_ok(&["status"]);
    assert!(text.contains("sandbox: partial ("), "{text}");
    let log = host::wait_for_log(
        &stack,
        "dice-roller",
        "partial sandbox",
        Duration::from_secs(10),
    );
    assert_eq!(
        log.matches("partial sandbox").count(),
        1,
        "once per start:\n{log}"
    );
}

#[test]
fn without_landlock_required_mode_refuses_to_start_plugins_and_names_the_setting() {
    let config = TEST_CONFIG.replace("plugin_host:\n", "plugin_host:\n  sandbox: required\n");
    let stack = TestStack::with_config(&["dice-roller"], &config);
    let (_, out) = start_without_landlock(&stack);
    // `rosey start` names the reason and the setting.
    assert!(
        out.contains("Plugin dice-roller failed")
            && out.contains("no Landlock")
            && out.contains("plugin_host.sandbox: required")
            && out.contains("exit code 15"),
        "{out}"
    );
    let log = host::wait_for_log(
        &stack,
        "dice-roller",
        "plugin_host.sandbox: required",
        Duration::from_secs(30),
    );
    assert!(log.contains("no Landlock"), "{log}");
    assert_ne!(stack.unit("dice-roller")["state"], "running", "{out}");
    assert!(
        stack.say("!roll 1d1").is_empty(),
        "a refused plugin answered"
    );
}

/// A running stack with the hostile fixture installed, its manifest given `network` (one
/// manifest line), and a connection to its bus.
async fn hostile_with_network(network: &str) -> (TestStack, Bus) {
    let stack = TestStack::with_plugins(&[]);
    let networked = hostile_archive_with(&stack, network);
    stack
        .home
        .run_ok(&["plugin", "install", path_str(&networked)]);
    stack.start();
    let bus = Bus::of(&stack).await;
    (stack, bus)
}

/// The hostile fixture packed in `stack`'s home, repacked with `line` added to its manifest.
fn hostile_archive_with(stack: &TestStack, line: &str) -> std::path::PathBuf {
    let archive = stack.home.pack("fixtures/hostile");
    let repacked = stack.home.scratch().join("hostile-repacked.roseyplug");
    rosey_e2e::stack::repack(
        &archive,
        &repacked,
        |manifest| format!("{manifest}\n{line}\n"),
        None,
    );
    repacked
}

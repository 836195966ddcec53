//! End to end: starting the bot at boot through systemd. `rosey service install` writes a
//! `Type=notify` unit (checked by `systemd-analyze verify` where it is installed) and runs
//! `systemctl daemon-reload` and `enable` (here a recording stand-in named by
//! `$ROSEY_SYSTEMCTL`: systemd itself does not run in tests); `remove` takes it back. The
//! daemon speaks sd_notify to a socket the test binds as `$NOTIFY_SOCKET`: READY once the
//! stack is up, WATCHDOG pings, STOPPING when it stops, and the reason of a failed start.

use std::{
    os::unix::{fs::PermissionsExt, net::UnixDatagram},
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use rosey_e2e::{
    cli::{rosey_bin, TempHome, HOME_MARK_ENV},
    process::ChildGuard,
    stack::TestStack,
};

/// `rosey --home <home> <args>` with `env` added, stdin closed.
fn rosey_with(home: &Path, args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut command = Command::new(rosey_bin());
    command
        .arg("--home")
        .arg(home)
        .args(args)
        .env(HOME_MARK_ENV, home)
        .stdin(std::process::Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run rosey")
}

/// A stand-in for systemctl that appends its arguments to `log`, one call a line, and fails
/// with `failure` on stderr when that is given.
fn recording_systemctl(dir: &Path, log: &Path, failure: Option<&str>) -> std::path::PathBuf {
    let script = dir.join("systemctl");
    let fail = failure
        .map(|why| format!("echo '{why}' >&2\nexit 1\n"))
        .unwrap_or_default();
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\n{fail}", log.display()),
    )
    .expect("write the stand-in");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

#[test]
fn the_printed_unit_is_a_notify_service_with_a_watchdog_that_systemd_accepts() {
    let home = TempHome::new();
    // A folder name systemd would split and expand if it were not quoted and escaped.
    let odd = home.scratch().join("my bot 100%");
    std::fs::create_dir_all(&odd).expect("home");
    let out = rosey_with(&odd, &["service", "install", "--user", "--print"], &[]);
    assert!(out.status.success(), "{out:?}");
    let unit = String::from_utf8_lossy(&out.stdout).into_owned();
    let rosey = std::fs::canonicalize(rosey_bin()).expect("rosey");
    let quoted_home = format!("\"{}\"", odd.display().to_string().replace('%', "%%"));
    for line in [
        "Type=notify".to_owned(),
        "NotifyAccess=main".to_owned(),
        "Restart=on-failure".to_owned(),
        "WatchdogSec=30".to_owned(),
        format!(
            "ExecStart={} --home {quoted_home} start --foreground",
            rosey.display()
        ),
        format!("ExecStop={} --home {quoted_home} stop", rosey.display()),
        "WantedBy=default.target".to_owned(),
    ] {
        assert!(unit.lines().any(|l| l == line), "{line:?} in:\n{unit}");
    }
    assert!(!unit.contains("\nUser="), "a user unit runs as its user");
    // systemd's own check, where systemd's tools are installed.
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let file = home.scratch().join("rosey-check.service");
        std::fs::write(&file, &unit).expect("write");
        let verified = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&file)
            .output()
            .expect("systemd-analyze");
        assert!(verified.status.success(), "{verified:?}\n{unit}");
    }

    // A plugin node's home: the unit runs the node's daemon.
    let out = rosey_with(
        &odd,
        &["service", "install", "--user", "--print", "--node"],
        &[],
    );
    let unit = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = format!(
        "ExecStart={} --home {quoted_home} node start --foreground",
        rosey.display()
    );
    assert!(unit.lines().any(|l| l == start), "{start:?} in:\n{unit}");
    assert!(unit.contains("Description=rosey plugin node in"), "{unit}");
}

#[test]
fn install_writes_and_enables_the_user_unit_and_remove_disables_and_deletes_it() {
    let home = TempHome::new();
    let config = home.scratch().join("config");
    let calls = home.scratch().join("calls");
    let systemctl = recording_systemctl(&home.scratch(), &calls, None);
    let env = [
        ("XDG_CONFIG_HOME", config.as_path()),
        ("ROSEY_SYSTEMCTL", systemctl.as_path()),
    ];
    let out = rosey_with(&home.path(), &["service", "install", "--user"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    let file = config.join("systemd/user/rosey-home.service");
    assert!(
        stdout.contains(&format!("✓ Wrote {}", file.display())),
        "{stdout}"
    );
    assert!(stdout.contains("✓ Enabled rosey-home.service"), "{stdout}");
    let unit = std::fs::read_to_string(&file).expect("the unit");
    assert!(unit.contains("Type=notify"), "{unit}");
    assert_eq!(
        std::fs::read_to_string(&calls).expect("calls"),
        "--user daemon-reload\n--user enable rosey-home.service\n"
    );

    let out = rosey_with(&home.path(), &["service", "remove", "--user"], &env);
    assert!(out.status.success(), "{out:?}");
    assert!(!file.exists(), "the unit is gone");
    assert_eq!(
        std::fs::read_to_string(&calls).expect("calls"),
        "--user daemon-reload\n--user enable rosey-home.service\n\
         --user disable --now rosey-home.service\n--user daemon-reload\n"
    );
    let again = rosey_with(&home.path(), &["service", "remove", "--user"], &env);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("there is no "),
        "{again:?}"
    );
}

#[test]
fn without_a_working_systemctl_install_still_writes_the_unit_and_says_what_to_run() {
    let home = TempHome::new();
    let config = home.scratch().join("config");
    let calls = home.scratch().join("calls");
    let systemctl = recording_systemctl(
        &home.scratch(),
        &calls,
        Some("Failed to connect to bus: No medium found"),
    );
    let env = [
        ("XDG_CONFIG_HOME", config.as_path()),
        ("ROSEY_SYSTEMCTL", systemctl.as_path()),
    ];
    let out = rosey_with(
        &home.path(),
        &["service", "install", "--user", "--name", "movies"],
        &env,
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "! systemctl could not enable it (Failed to connect to bus: No medium found); run: \
             systemctl --user daemon-reload && systemctl --user enable movies.service"
        ),
        "{stdout}"
    );
    assert!(config.join("systemd/user/movies.service").is_file());
    let bad = rosey_with(
        &home.path(),
        &["service", "install", "--user", "--name", "a b"],
        &env,
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("cannot name a systemd unit"),
        "{bad:?}"
    );
}

/// The datagrams `socket` receives until one contains `wanted` (failing after `timeout`).
fn until_notified(socket: &UnixDatagram, wanted: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        if let Ok(n) = socket.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let done = message.contains(wanted);
            seen.push(message);
            if done {
                return seen;
            }
        }
    }
    panic!("no {wanted:?} within {timeout:?}; got {seen:?}");
}

/// `rosey start --foreground` for `stack`, as systemd runs it: notifying `socket_path`, with a
/// watchdog of 0.4 s.
fn under_systemd(stack: &TestStack, socket_path: &Path) -> ChildGuard {
    let mut command = Command::new(rosey_bin());
    command
        .arg("--home")
        .arg(stack.home.path())
        .args(["start", "--foreground"])
        .env(HOME_MARK_ENV, stack.home.path())
        .env("NOTIFY_SOCKET", socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    ChildGuard::spawn("rosey start --foreground", command)
}

/// Runs `rosey stop` for `stack` beside the test: it waits for the daemon to be gone, and the
/// test, its parent, must reap it meanwhile (as systemd would).
fn stop_beside(stack: &TestStack) -> std::thread::JoinHandle<std::process::Output> {
    let home = stack.home.path();
    std::thread::spawn(move || rosey_with(&home, &["stop"], &[]))
}

#[test]
fn the_daemon_tells_systemd_when_it_is_ready_pings_the_watchdog_and_says_it_is_stopping() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    let socket_path = stack.home.scratch().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    let mut daemon = under_systemd(&stack, &socket_path);
    let seen = until_notified(&socket, "READY=1", Duration::from_secs(60));
    let ready = seen.last().expect("ready");
    assert!(
        ready.contains(&format!("MAINPID={}", daemon.pid())) && ready.contains("STATUS=running"),
        "{ready}"
    );
    // Ready means up: every unit already runs.
    for unit in ["nats", "bot", "dice-roller"] {
        assert_eq!(stack.unit(unit)["state"], "running", "{unit}");
    }
    // Pinged every half period (0.2 s) while the tree lives.
    let started = Instant::now();
    until_notified(&socket, "WATCHDOG=1", Duration::from_secs(5));
    until_notified(&socket, "WATCHDOG=1", Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(10));
    let stop = stop_beside(&stack);
    until_notified(&socket, "STOPPING=1", Duration::from_secs(30));
    let status = daemon.expect_exit(Duration::from_secs(60));
    assert!(status.success(), "{status:?}");
    let stopped = stop.join().expect("rosey stop");
    assert!(stopped.status.success(), "{stopped:?}");
}

#[test]
fn a_notify_socket_nobody_reads_never_stalls_the_daemon() {
    let stack = TestStack::with_plugins(&[]);
    let socket_path = stack.home.scratch().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    let mut daemon = under_systemd(&stack, &socket_path);
    until_notified(&socket, "READY=1", Duration::from_secs(60));
    // Unread, the socket's queue (a few datagrams) fills with pings within a second or two.
    std::thread::sleep(Duration::from_secs(3));
    let stop = stop_beside(&stack);
    let status = daemon.expect_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    assert!(stop.join().expect("rosey stop").status.success());
}

#[test]
fn a_start_that_fails_tells_systemd_why() {
    let home = TempHome::new();
    std::fs::write(home.path().join("rosey.yaml"), "nats: { port: 70000 }\n").expect("write");
    let socket_path = home.scratch().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    let out = rosey_with(
        &home.path(),
        &["start", "--foreground"],
        &[("NOTIFY_SOCKET", socket_path.as_path())],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let seen = until_notified(&socket, "STATUS=", Duration::from_secs(10));
    let status = seen.last().expect("a status");
    assert!(
        status.contains("nats.port") && !status.contains("READY=1"),
        "{status}"
    );
}

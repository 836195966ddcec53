//! Logs of a real stack: each service and plugin writes its own file and every line reaches
//! `rosey.log` with its source named; files rotate at `logs.max_size` keeping `logs.keep`;
//! `rosey logs` prints the last lines, follows across rotation and plugin restarts, and names
//! the valid logs when given an unknown one.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use rosey_core::logs::parse_line;
use rosey_e2e::{
    cli::rosey_bin,
    process::ChildGuard,
    stack::{TestStack, TEST_CONFIG},
};

const SLOW: Duration = Duration::from_secs(40);

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Polls `check` until it holds, or panics with `what` and the text it last saw.
fn wait_for(what: &str, text: impl Fn() -> String, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + SLOW;
    loop {
        let seen = text();
        if check(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{seen}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts every line of `text` is in the log format; returns each line's tag.
fn tags(text: &str, what: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            parse_line(line)
                .unwrap_or_else(|| panic!("{what}: a line not in the log format: {line:?}"))
                .tag
                .to_owned()
        })
        .collect()
}

/// `rosey logs …` running in the background, its output collected in files.
struct Tailer {
    guard: ChildGuard,
    out: PathBuf,
    err: PathBuf,
}

impl Tailer {
    fn start(stack: &TestStack, name: &str, args: &[&str]) -> Tailer {
        let out = stack.home.scratch().join(format!("{name}.out"));
        let err = stack.home.scratch().join(format!("{name}.err"));
        let mut command = Command::new(rosey_bin());
        command
            .arg("--home")
            .arg(stack.home.path())
            .arg("logs")
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("out file"))
            .stderr(std::fs::File::create(&err).expect("err file"));
        let tailer = Tailer {
            guard: ChildGuard::spawn(&format!("rosey logs {args:?}"), command),
            out,
            err,
        };
        // Following starts once it says so.
        wait_for(
            "started tailing",
            || read(&tailer.err),
            |err| err.contains("Tailing logs for"),
        );
        tailer
    }

    fn text(&self) -> String {
        read(&self.out)
    }

    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        wait_for(what, || self.text(), check)
    }

    /// SIGTERM, which ends following cleanly; returns everything it printed.
    fn stop(mut self) -> String {
        self.guard.signal(libc::SIGTERM);
        let status = self.guard.expect_exit(SLOW);
        assert!(status.success(), "{status:?}: {}", read(&self.err));
        self.text()
    }
}

#[test]
fn a_stack_writes_each_source_to_its_own_log_and_every_line_to_rosey_log() {
    let stack = TestStack::with_plugins(&["dice-roller", "fixtures/chaos"]);
    let logs = stack.home.path().join("logs");
    // Followed before it exists: waited for, then read from its start.
    let early = Tailer::start(&stack, "early", &["dice-roller", "-f"]);
    stack.start();
    stack.say_until("!chaos ping", "pong", SLOW);
    assert!(stack.say("!roll 1d1").contains("= 1"));

    let bot = read(&logs.join("bot.log"));
    assert!(
        tags(&bot, "bot.log").iter().all(|tag| tag == "bot"),
        "{bot}"
    );
    assert!(bot.contains(" INFO  [bot] bot started"), "{bot}");
    // nats-server's own output, turned into the common format: it writes no file itself.
    let nats = read(&logs.join("nats.log"));
    assert!(
        tags(&nats, "nats.log").iter().all(|tag| tag == "nats"),
        "{nats}"
    );
    assert!(nats.contains("[nats] Server is ready"), "{nats}");

    let chaos_log = logs.join("plugins/chaos.log");
    let ping = "WARN  [chaos] chaos: Ping requested by you";
    wait_for(
        "logged the ping",
        || read(&chaos_log),
        |text| text.contains(ping),
    );
    let chaos = read(&chaos_log);
    assert!(
        chaos.contains("[chaos/host] chaos v0.1.0 ready (pid "),
        "{chaos}"
    );
    assert!(
        tags(&chaos, "chaos.log")
            .iter()
            .all(|tag| tag == "chaos" || tag == "chaos/host"),
        "{chaos}"
    );
    // Anything the host prints goes there too: here a line the plugin writes to stderr.
    stack.rosey(&["say", "!chaos stderr hello there", "--timeout", "0.5"]);
    wait_for(
        "logged what the plugin printed",
        || read(&chaos_log),
        |text| {
            text.lines().any(|line| {
                parse_line(line).is_some_and(|line| {
                    line.tag == "chaos" && line.message == "chaos on stderr: hello there"
                })
            })
        },
    );

    let all = read(&logs.join("rosey.log"));
    let sources = tags(&all, "rosey.log");
    for source in [
        "rosey",
        "nats",
        "bot",
        "dice-roller/host",
        "chaos",
        "chaos/host",
    ] {
        assert!(
            sources.iter().any(|tag| tag == source),
            "no [{source}] line in rosey.log:\n{all}"
        );
    }
    let ping_line = chaos
        .lines()
        .find(|line| line.contains(ping))
        .expect("ping");
    assert!(all.contains(ping_line), "the same line in rosey.log");
    let plugin_lines = early.wait_for("followed the new file", |text| {
        text.contains("dice-roller v0.1.0 ready")
    });
    assert!(
        tags(&plugin_lines, "followed")
            .iter()
            .all(|tag| tag.starts_with("dice-roller")),
        "{plugin_lines}"
    );
    drop(early);

    // The files stay readable without a daemon: the last -n lines of each.
    stack.home.run_ok(&["stop"]);
    for (args, file) in [
        (vec!["logs", "bot", "-n", "1"], "bot.log"),
        (vec!["logs", "chaos", "-n", "3"], "plugins/chaos.log"),
        (vec!["logs", "-n", "4"], "rosey.log"),
    ] {
        let text = read(&logs.join(file));
        let lines: Vec<&str> = text.lines().collect();
        let n: usize = args[args.len() - 1].parse().expect("n");
        let expected = lines[lines.len() - n..].join("\n") + "\n";
        assert_eq!(stack.home.run_ok(&args), expected, "rosey {args:?}");
    }
}

#[test]
fn logs_rotate_at_max_size_and_rosey_logs_f_follows_across_rotation_and_restarts() {
    let config = format!("{TEST_CONFIG}logs: {{ max_size: 2048, keep: 2 }}\n");
    let stack = TestStack::with_config(&["dice-roller"], &config);
    stack.start();
    let all = Tailer::start(&stack, "all", &["-f", "-n", "0"]);
    let plugin = Tailer::start(&stack, "plugin", &["dice-roller", "--follow"]);
    let rolls = 40;
    let mut restarts = 0;
    for i in 1..=rolls {
        assert!(stack.say(&format!("!roll 1d{i}")).contains("you rolled"));
        if i % 5 == 0 {
            stack.home.run_ok(&["restart", "dice-roller"]);
            restarts += 1;
        }
    }

    let logs = stack.home.path().join("logs");
    for log in ["rosey.log", "plugins/dice-roller.log"] {
        let path = logs.join(log);
        for file in [path.clone(), PathBuf::from(format!("{}.1", path.display()))] {
            let size = std::fs::metadata(&file).expect("log file").len();
            assert!(size <= 2048, "{} holds {size} bytes", file.display());
        }
        assert!(
            !Path::new(&format!("{}.3", path.display())).exists(),
            "more than `keep` rotated files of {log}"
        );
    }
    assert!(
        logs.join("rosey.log.2").exists(),
        "rosey.log rotated twice or more"
    );

    let last = format!("\"text\":\"!roll 1d{rolls}\"");
    all.wait_for("followed to the last roll and restart", |text| {
        text.contains(&last) && text.matches("plugin dice-roller started").count() == restarts
    });
    let followed = all.stop();
    tags(&followed, "rosey logs -f");
    let mut from = 0;
    for i in 1..=rolls {
        let marker = format!("\"text\":\"!roll 1d{i}\"");
        let at = followed[from..]
            .find(&marker)
            .unwrap_or_else(|| panic!("{marker} missing or out of order:\n{followed}"));
        from += at + marker.len();
    }
    assert_eq!(
        followed.matches("plugin dice-roller started").count(),
        restarts,
        "{followed}"
    );

    let ready = "dice-roller v0.1.0 ready";
    let plugin_lines = plugin.wait_for("followed every restart", |text| {
        text.matches(ready).count() > restarts
    });
    assert_eq!(
        plugin_lines.matches(ready).count(),
        restarts + 1,
        "{plugin_lines}"
    );
    tags(&plugin_lines, "rosey logs dice-roller -f");
    plugin.stop();
}

#[test]
fn rosey_logs_names_the_valid_logs_when_given_an_unknown_one() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    let out = stack.rosey(&["logs", "nosuch"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown log 'nosuch'; valid names: bot, nats, web, dice-roller"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    // A known name with no file yet says so.
    let out = stack.rosey(&["logs", "bot"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bot has written no log yet"),
        "{out:?}"
    );
}

#[test]
fn rosey_logs_into_a_reader_that_stops_early_ends_quietly() {
    let home = rosey_e2e::cli::TempHome::new();
    let logs = home.path().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir logs");
    let text: String = (0..100_000)
        .map(|n| format!("2026-11-26T00:31:02.123Z INFO  [rosey] line {n}\n"))
        .collect();
    std::fs::write(logs.join("rosey.log"), text).expect("write rosey.log");
    let mut child = Command::new(rosey_bin())
        .arg("--home")
        .arg(home.path())
        .args(["logs", "-n", "100000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rosey logs");
    let mut first = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    std::io::BufRead::read_line(&mut stdout, &mut first).expect("a line");
    assert!(first.contains("line 0"), "{first}");
    drop(stdout); // like `rosey logs | head -1`
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        output.status.success() || output.status.signal() == Some(libc::SIGPIPE),
        "{:?}: {stderr}",
        output.status
    );
}

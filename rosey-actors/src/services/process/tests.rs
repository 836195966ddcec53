//! The spawner and the helpers around it, tested with real child processes.

use rosey_core::{config::LogsConfig, paths::Home};

use super::*;

#[tokio::test]
async fn a_logged_child_s_stdout_and_stderr_reach_its_log_and_its_last_line_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let hub = LogHub::open(&home, LogsConfig::default()).expect("hub");
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "echo to stdout; echo; echo to stderr >&2; echo '[1] 2026/11/26 00:00:00.000000 [WRN] its own format' >&2; exit 3",
    ]);
    let log = ChildLog {
        hub,
        source: LogSource::Service("nats".to_owned()),
        translate: Some(|line| {
            let message = line.split_once("[WRN] ")?.1;
            Some((Level::Warn, message.to_owned()))
        }),
    };
    let child = Spawner::new()
        .expect("spawner")
        .spawn_logged(command, log)
        .await
        .expect("spawn");
    assert_eq!(child.wait().await, Exit::Code(3));
    assert_eq!(
        child.last_line(Duration::from_secs(10)).await.as_deref(),
        Some("its own format")
    );
    let text = std::fs::read_to_string(home.service_log("nats")).expect("nats.log");
    let lines: Vec<_> = text.lines().filter_map(parse_line).collect();
    assert_eq!(
        lines.len(),
        3,
        "blank lines dropped, every line formatted:\n{text}"
    );
    assert_eq!(lines[0].message, "to stdout");
    assert_eq!(lines[1].message, "to stderr");
    assert_eq!(
        (lines[2].level, lines[2].message),
        (Level::Warn, "its own format")
    );
    assert!(lines.iter().all(|line| line.tag == "nats"));
    let all = std::fs::read_to_string(home.service_log("rosey")).expect("rosey.log");
    assert_eq!(all, text, "the same lines in rosey.log");
}

//! Rotation, the hub's routing and format, reading the last lines, and following across
//! rotation, on real files in temp dirs.

use std::path::Path;

use super::*;
use crate::{config::LogsConfig, paths::rotated_log, paths::Home};

mod edges;

fn limits(max_size: u64, keep: u32) -> LogsConfig {
    LogsConfig {
        max_size,
        keep,
        ..LogsConfig::default()
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix} {i:04}")).collect()
}

fn write_all(file: &mut RotatingFile, lines: &[String]) {
    for line in lines {
        file.write(format!("{line}\n").as_bytes()).expect("write");
    }
}

#[test]
fn a_full_file_rotates_and_exactly_keep_rotated_files_remain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bot.log");
    // "line 0000\n" is 10 bytes: 5 lines per file.
    let mut file = RotatingFile::new(&path, limits(50, 3));
    let lines = numbered("line", 0..40);
    write_all(&mut file, &lines);
    assert_eq!(read(&path), lines[35..].join("\n") + "\n");
    assert_eq!(
        read(&rotated_log(&path, 1)),
        lines[30..35].join("\n") + "\n"
    );
    assert_eq!(
        read(&rotated_log(&path, 3)),
        lines[20..25].join("\n") + "\n"
    );
    assert!(!rotated_log(&path, 4).exists(), "only `keep` rotated files");
    for k in 1..=3 {
        assert!(
            std::fs::metadata(rotated_log(&path, k))
                .expect("rotated")
                .len()
                <= 50
        );
    }
}

#[test]
fn a_smaller_keep_drops_the_files_past_it_at_the_next_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nats.log");
    let mut file = RotatingFile::new(&path, limits(50, 4));
    write_all(&mut file, &numbered("line", 0..30));
    assert!(rotated_log(&path, 4).exists());
    file.set_limits(limits(50, 2));
    write_all(&mut file, &numbered("more", 0..5));
    assert!(rotated_log(&path, 2).exists());
    assert!(!rotated_log(&path, 3).exists() && !rotated_log(&path, 4).exists());
}

#[test]
fn a_line_longer_than_max_size_still_lands_in_a_file_of_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("web.log");
    let mut file = RotatingFile::new(&path, limits(8, 2));
    file.write(b"short\n").expect("write");
    file.write(b"a line far longer than eight bytes\n")
        .expect("write");
    assert_eq!(read(&path), "a line far longer than eight bytes\n");
    assert_eq!(read(&rotated_log(&path, 1)), "short\n");
}

#[test]
fn a_reopened_file_counts_what_it_already_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bot.log");
    std::fs::write(&path, "0123456789012345678901234567890123456789\n").expect("seed");
    let mut file = RotatingFile::new(&path, limits(50, 2));
    file.write(b"next line\n").expect("write");
    assert_eq!(
        read(&path),
        "next line\n",
        "41 + 10 bytes > 50: rotated first"
    );
}

#[test]
fn a_log_deleted_or_moved_away_comes_back_within_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("logs/bot.log");
    let mut file = RotatingFile::new(&path, LogsConfig::default());
    file.write(b"before\n").expect("write");
    std::fs::remove_dir_all(dir.path().join("logs")).expect("delete logs/");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "never recreated");
        file.write(b"after\n").expect("write");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(read(&path), "after\n");
}

#[test]
fn the_hub_writes_each_source_to_its_file_and_everything_to_rosey_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let hub = LogHub::open(&home, LogsConfig::default()).expect("hub");
    let bot = LogSource::Service("bot".to_owned());
    let dice = LogSource::Plugin("dice-roller".to_owned());
    hub.log(&bot, Level::Info, "connected");
    hub.log(&LogSource::Rosey, Level::Error, "two\nlines");
    hub.child_line(&dice, "plain output of the host\n");
    let host_line = format!("{} WARN  [dice-roller/host] slow", timestamp());
    hub.child_line(&dice, &host_line);
    let spoof = format!("{} ERROR [bot] not really the bot", timestamp());
    hub.child_line(&dice, &spoof);
    hub.child_line(&dice, "   ");

    let bot_log = read(&home.service_log("bot"));
    let parsed = parse_line(bot_log.trim_end()).expect("format");
    assert_eq!(
        (parsed.level, parsed.tag, parsed.message),
        (Level::Info, "bot", "connected")
    );
    let plugin_log = read(&home.plugin_log("dice-roller"));
    let plugin_lines: Vec<&str> = plugin_log.lines().collect();
    assert_eq!(plugin_lines.len(), 3, "{plugin_log}");
    assert!(plugin_lines[0].ends_with(" INFO  [dice-roller] plain output of the host"));
    assert_eq!(
        plugin_lines[1], host_line,
        "the host's own lines stay as they are"
    );
    assert!(
        plugin_lines[2].contains(" INFO  [dice-roller] ") && plugin_lines[2].ends_with(&spoof),
        "a line claiming another source is re-tagged: {}",
        plugin_lines[2]
    );

    let all = read(&home.service_log("rosey"));
    let tags: Vec<&str> = all
        .lines()
        .map(|line| parse_line(line).expect("every line in the format").tag)
        .collect();
    assert_eq!(
        tags,
        [
            "bot",
            "rosey",
            "rosey",
            "dice-roller",
            "dice-roller/host",
            "dice-roller"
        ]
    );
    assert!(!home.service_log("nats").exists());
    assert_eq!(hub.failed_writes(), 0);
}

#[test]
fn the_hub_rotates_rosey_log_and_source_files_by_the_same_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let hub = LogHub::open(&home, LogsConfig::default()).expect("hub");
    hub.set_limits(limits(300, 2));
    let nats = LogSource::Service("nats".to_owned());
    for i in 0..60 {
        hub.log(&nats, Level::Info, &format!("line {i}"));
    }
    for log in [home.service_log("nats"), home.service_log("rosey")] {
        assert!(rotated_log(&log, 2).exists(), "{}", log.display());
        assert!(!rotated_log(&log, 3).exists(), "{}", log.display());
        assert!(read(&log).ends_with("line 59\n"));
    }
}

#[test]
fn format_and_parse_agree() {
    let text = format_lines("quote-db", Level::Warn, "slow query");
    let parsed = parse_line(&text).expect("parses");
    assert_eq!(parsed.level, Level::Warn);
    assert_eq!(parsed.tag, "quote-db");
    assert_eq!(parsed.message, "slow query");
    assert_eq!(parsed.stamp.len(), 24);
    assert!(parse_line("[1234] 2026/11/26 00:31:02.123456 [INF] hello").is_none());
    assert!(parse_line("thread 'main' panicked at src/lib.rs:1:1:").is_none());
}

#[test]
fn tail_reads_the_last_lines_and_reaches_into_rotated_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rosey.log");
    assert_eq!(
        tail(&path, 5).expect_err("missing").kind(),
        std::io::ErrorKind::NotFound
    );
    let mut file = RotatingFile::new(&path, limits(50, 5));
    let lines = numbered("line", 0..23);
    write_all(&mut file, &lines);
    // current: 20..23 (3 lines); .1: 15..20
    assert_eq!(tail(&path, 2).expect("tail"), lines[21..]);
    assert_eq!(tail(&path, 7).expect("tail"), lines[16..]);
    assert_eq!(tail(&path, 100).expect("tail"), lines);
    assert!(tail(&path, 0).expect("tail").is_empty());
}

#[test]
fn tail_of_a_big_file_reads_across_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bot.log");
    let lines = numbered(&"x".repeat(300), 0..200);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    assert_eq!(tail(&path, 50).expect("tail"), lines[150..]);
    // A last line still being written is not shown.
    let text = lines.join("\n") + "\nhalf a li";
    std::fs::write(&path, text).expect("write");
    assert_eq!(tail(&path, 1).expect("tail"), lines[199..]);
}

#[test]
fn a_follower_keeps_reading_across_rotations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bot.log");
    let mut file = RotatingFile::new(&path, limits(50, 10));
    let lines = numbered("line", 0..100);
    write_all(&mut file, &lines[..3]);
    let (mut follower, last) = Follower::start(&path, 2).expect("start");
    assert_eq!(last, lines[1..3]);
    assert!(follower.poll().expect("poll").is_empty());

    let mut seen = Vec::new();
    // One line at a time, polling after each: rotation every fifth line.
    for line in &lines[3..20] {
        write_all(&mut file, std::slice::from_ref(line));
        seen.extend(follower.poll().expect("poll"));
    }
    assert_eq!(seen, lines[3..20]);
    // Several rotations between two polls: the files rotated past are read too.
    write_all(&mut file, &lines[20..47]);
    seen.extend(follower.poll().expect("poll"));
    assert_eq!(seen, lines[3..47]);
    // More rotations than `keep` between polls: what was dropped is gone, the rest arrives.
    file.set_limits(limits(50, 2));
    write_all(&mut file, &lines[47..100]);
    let rest = follower.poll().expect("poll");
    assert_eq!(rest.last(), lines.last());
    assert!(rest.windows(2).all(|pair| pair[0] < pair[1]), "in order");
}

#[test]
fn a_follower_waits_for_a_missing_file_and_rereads_a_truncated_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plugins/late.log");
    let (mut follower, last) = Follower::start(&path, 10).expect("start");
    assert!(last.is_empty());
    assert!(follower.poll().expect("poll").is_empty());
    let mut file = RotatingFile::new(&path, LogsConfig::default());
    write_all(&mut file, &numbered("early", 0..2));
    assert_eq!(follower.poll().expect("poll"), numbered("early", 0..2));
    std::fs::write(&path, "").expect("truncate");
    std::fs::write(&path, "after truncation\n").expect("rewrite");
    assert_eq!(follower.poll().expect("poll"), ["after truncation"]);
}

#[test]
fn live_viewers_get_each_line_with_its_source_from_when_they_subscribe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let hub = LogHub::open(&home, LogsConfig::default()).expect("open");
    hub.log(&LogSource::Rosey, Level::Info, "before anyone watched");
    let mut live = hub.subscribe();
    hub.log(
        &LogSource::Plugin("dice-roller".into()),
        Level::Warn,
        "two\nlines",
    );
    let first = live.try_recv().expect("first line");
    assert_eq!(first.source, LogSource::Plugin("dice-roller".into()));
    assert!(first.line.ends_with("WARN  [dice-roller] two"), "{first:?}");
    let second = live.try_recv().expect("second line");
    assert!(second.line.ends_with("[dice-roller] lines"), "{second:?}");
    assert!(live.try_recv().is_err(), "nothing from before subscribing");
}

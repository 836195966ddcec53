//! The logs' edges: lines and labels outside the format, files that cannot be written or
//! read, logs deleted or rotated away mid-line, and what the hub shows of itself.

use std::path::Path;

use super::*;

#[test]
fn every_level_reads_back_from_its_label_and_other_words_are_no_level() {
    for level in [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
    ] {
        assert_eq!(level.label().len(), 5, "{level:?}");
        assert_eq!(Level::parse(level.label()), Some(level));
    }
    assert_eq!(Level::Trace.label(), "TRACE");
    assert_eq!(Level::parse("LOUD "), None);
    assert_eq!(Level::parse("info"), None, "labels are upper case");
}

#[test]
fn an_empty_message_still_makes_one_line() {
    let text = format_lines("bot", Level::Info, "");
    assert!(text.ends_with(" INFO  [bot] \n"), "{text:?}");
    assert_eq!(text.lines().count(), 1);
    let parsed = parse_line(&text).expect("in the format");
    assert_eq!((parsed.tag, parsed.message), ("bot", ""));
}

#[test]
fn a_line_whose_source_is_empty_or_holds_a_space_is_not_in_the_format() {
    let stamp = timestamp();
    assert!(parse_line(&format!("{stamp} INFO  [] hello")).is_none());
    assert!(parse_line(&format!("{stamp} INFO  [dice roller] hello")).is_none());
    assert!(parse_line(&format!("{stamp} INFO  [dice-roller] hello")).is_some());
}

#[test]
fn the_daemons_own_lines_go_to_rosey_log_tagged_rosey() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    assert_eq!(LogSource::Rosey.path(&home), home.service_log(ALL));
    assert_eq!(LogSource::Rosey.tag(), "rosey");
}

#[test]
fn the_hubs_debug_output_sums_up_its_state_without_any_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let hub = LogHub::open(&home, LogsConfig::default()).expect("hub");
    let _viewer = hub.subscribe();
    hub.log(
        &LogSource::Service("bot".to_owned()),
        Level::Info,
        "a secret-looking line",
    );
    let shown = format!("{hub:?}");
    for part in [
        "LogHub {",
        "source_files: 1",
        "failed_writes: 0",
        "live_viewers: 1",
    ] {
        assert!(shown.contains(part), "{part:?} missing from {shown}");
    }
    assert!(!shown.contains("secret-looking"), "{shown}");
}

#[test]
fn new_limits_reach_the_source_files_already_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let hub = LogHub::open(&home, LogsConfig::default()).expect("hub");
    let nats = LogSource::Service("nats".to_owned());
    hub.log(&nats, Level::Info, "opened under the default limits");
    hub.set_limits(limits(300, 2));
    for i in 0..20 {
        hub.log(&nats, Level::Info, &format!("line {i}"));
    }
    let log = home.service_log("nats");
    assert!(
        rotated_log(&log, 1).exists(),
        "nats.log rotated at 300 bytes"
    );
    assert!(std::fs::metadata(&log).expect("nats.log").len() <= 300);
}

#[test]
fn a_source_file_that_cannot_be_written_is_counted_and_rosey_log_still_gets_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    let hub = LogHub::open(&home, LogsConfig::default()).expect("hub");
    std::fs::create_dir_all(home.plugin_log("dice-roller")).expect("a folder in its place");
    let dice = LogSource::Plugin("dice-roller".to_owned());
    hub.log(&dice, Level::Warn, "nowhere to go");
    assert_eq!(hub.failed_writes(), 1);
    let all = read(&home.service_log(ALL));
    assert!(
        all.ends_with(" WARN  [dice-roller] nowhere to go\n"),
        "{all}"
    );
}

#[test]
fn a_write_the_disk_refuses_is_reported() {
    let mut file = RotatingFile::new("/dev/full", LogsConfig::default());
    assert_eq!(file.path(), Path::new("/dev/full"));
    for attempt in 0..2 {
        let err = file.write(b"line\n").expect_err("no space");
        assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{attempt}");
    }
}

#[test]
fn a_folder_where_the_oldest_rotated_file_goes_fails_the_rotation_and_keeps_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bot.log");
    let mut file = RotatingFile::new(&path, limits(20, 1));
    file.write(b"first line\n").expect("write");
    std::fs::create_dir(rotated_log(&path, 1)).expect("a folder in its place");
    let err = file
        .write(b"a second, longer line\n")
        .expect_err("cannot rotate");
    assert_eq!(err.kind(), std::io::ErrorKind::IsADirectory);
    assert_eq!(read(&path), "first line\n");
    assert!(rotated_log(&path, 1).is_dir());
}

#[test]
fn tail_of_a_log_rotated_away_reads_its_rotated_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bot.log");
    let mut file = RotatingFile::new(&path, limits(50, 5));
    let lines = numbered("line", 0..12);
    write_all(&mut file, &lines);
    // current: 10..12; .1: 5..10; .2: 0..5
    std::fs::remove_file(&path).expect("rotated away, no new file yet");
    assert_eq!(tail(&path, 7).expect("tail"), lines[3..10]);
}

#[test]
fn tail_stops_at_a_rotated_file_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bot.log");
    std::fs::write(&path, "current 1\ncurrent 2\n").expect("write");
    let blocked = rotated_log(&path, 1);
    std::fs::create_dir(&blocked).expect("a folder in its place");
    std::fs::write(blocked.join("inside"), "x").expect("write");
    std::fs::write(rotated_log(&path, 2), "older\n").expect("write");
    assert_eq!(tail(&path, 10).expect("tail"), ["current 1", "current 2"]);
}

#[test]
fn a_log_holding_only_a_line_being_written_has_no_last_lines_until_it_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("web.log");
    std::fs::write(&path, "half a li").expect("write");
    assert!(tail(&path, 5).expect("tail").is_empty());
    let (mut follower, last) = Follower::start(&path, 5).expect("start");
    assert!(last.is_empty());
    assert_eq!(follower.path(), path);
    std::fs::write(&path, "half a line\n").expect("finish the line");
    assert_eq!(follower.poll().expect("poll"), ["half a line"]);
}

#[test]
fn a_log_path_under_a_file_is_an_error_for_tail_and_follow() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("logs"), "a file, not a folder").expect("write");
    let path = dir.path().join("logs/bot.log");
    let err = tail(&path, 5).expect_err("not a folder");
    assert_eq!(err.kind(), std::io::ErrorKind::NotADirectory);
    let err = Follower::start(&path, 5).expect_err("not a folder");
    assert_eq!(err.kind(), std::io::ErrorKind::NotADirectory);
}

#[test]
fn a_follower_hands_over_the_unended_last_line_of_a_rotated_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bot.log");
    std::fs::write(&path, "whole\n").expect("write");
    let (mut follower, last) = Follower::start(&path, 5).expect("start");
    assert_eq!(last, ["whole"]);
    std::fs::write(&path, "whole\ncut off").expect("append");
    assert!(follower.poll().expect("poll").is_empty(), "not ended yet");
    std::fs::rename(&path, rotated_log(&path, 1)).expect("rotate");
    std::fs::write(&path, "fresh\n").expect("new file");
    assert_eq!(follower.poll().expect("poll"), ["cut off", "fresh"]);
}

#[test]
fn a_deleted_log_is_read_to_its_end_then_waited_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bot.log");
    std::fs::write(&path, "before\n").expect("write");
    let (mut follower, _) = Follower::start(&path, 0).expect("start");
    std::fs::write(&path, "before\nlast words\n").expect("append");
    std::fs::remove_file(&path).expect("delete");
    assert_eq!(follower.poll().expect("poll"), ["last words"]);
    assert!(follower.poll().expect("poll").is_empty());
    std::fs::write(&path, "back\n").expect("recreate");
    assert_eq!(follower.poll().expect("poll"), ["back"]);
}

#[test]
fn a_follower_reports_a_log_path_that_stops_leading_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plugins/late.log");
    // Waiting for a log whose folder is not there yet; then a file takes the folder's name.
    let (mut follower, _) = Follower::start(&path, 5).expect("start");
    std::fs::write(dir.path().join("plugins"), "a file").expect("write");
    let err = follower.poll().expect_err("not a folder");
    assert_eq!(err.kind(), std::io::ErrorKind::NotADirectory);

    // Following an open log; then its folder is moved away and a file takes its name.
    let path = dir.path().join("services/bot.log");
    std::fs::create_dir(dir.path().join("services")).expect("mkdir");
    std::fs::write(&path, "one\n").expect("write");
    let (mut follower, _) = Follower::start(&path, 5).expect("start");
    std::fs::rename(dir.path().join("services"), dir.path().join("moved")).expect("move");
    std::fs::write(dir.path().join("services"), "a file").expect("write");
    let err = follower.poll().expect_err("not a folder");
    assert_eq!(err.kind(), std::io::ErrorKind::NotADirectory);
}

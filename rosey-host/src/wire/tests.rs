//! The wire format's round trips, and hostile frames refused without a panic.
use super::*;

fn sample_open(network: Network) -> Open {
    Open {
        library: "/h/lib.so".into(),
        memory_mb: 256,
        log_level: Level::Debug,
        open_files: 64,
        version_dir: "/h/v".into(),
        storage_dir: "/h/s".into(),
        network,
        sandbox_required: true,
    }
}

fn round_trip_to_host(message: ToHost) {
    let bytes = message.encode();
    let mut reader = bytes.as_slice();
    let body = read_frame(&mut reader).expect("read").expect("a frame");
    assert_eq!(ToHost::decode(&body).expect("decode"), message);
    assert!(read_frame(&mut reader).expect("clean end").is_none());
}

fn round_trip_from_host(message: FromHost) {
    let bytes = message.encode();
    let mut reader = bytes.as_slice();
    let body = read_frame(&mut reader).expect("read").expect("a frame");
    assert_eq!(FromHost::decode(&body).expect("decode"), message);
}

#[test]
fn every_frame_survives_encoding_and_decoding() {
    for network in [
        Network::None,
        Network::Any,
        Network::Ports(vec![]),
        Network::Ports(vec![80, 4222, u16::MAX]),
    ] {
        round_trip_to_host(ToHost::Open(sample_open(network)));
    }
    round_trip_to_host(ToHost::Start(Start {
        name: "dice".into(),
        version: "1.0.0".into(),
        storage_dir: "/s".into(),
        config_json: "{\"a\":1}".into(),
        config_flat: vec![("a".into(), "1".into()), ("b.c".into(), "ü".into())],
        state: Some(vec![0, 1, 2, 255]),
        heartbeat_ms: 1000,
    }));
    round_trip_to_host(ToHost::Start(Start {
        name: "n".into(),
        version: "v".into(),
        storage_dir: String::new(),
        config_json: "{}".into(),
        config_flat: vec![],
        state: None,
        heartbeat_ms: 5,
    }));
    round_trip_to_host(ToHost::Command(Command {
        seq: u64::MAX,
        id: "id".into(),
        command: "roll".into(),
        args: "2d6".into(),
        user: "alice".into(),
        channel: "c".into(),
        source: Source::Pm,
        time_ms: 7,
        rank: Some(-1),
    }));
    round_trip_to_host(ToHost::Event(Event {
        seq: 3,
        id: "e".into(),
        kind: "chat.message".into(),
        user: None,
        text: Some("hi".into()),
        payload_json: "{}".into(),
        time_ms: 9,
        rank: None,
    }));
    round_trip_to_host(ToHost::Unload);
    round_trip_to_host(ToHost::Timer {
        seq: 9,
        name: "round-end".to_owned(),
        id: 3,
        due_ms: 1_700_000_000_123,
    });
    round_trip_to_host(ToHost::Config {
        seq: 4,
        json: r#"{"a":{"b":1}}"#.to_owned(),
        flat: vec![("a.b".to_owned(), "1".to_owned())],
    });
    round_trip_from_host(FromHost::Done {
        seq: 4,
        outcome: Outcome::NotHandled,
    });
    round_trip_to_host(ToHost::Answer(Ok(r#"{"users":[]}"#.to_owned())));
    round_trip_to_host(ToHost::Answer(Err("no chat connected".to_owned())));
    round_trip_from_host(FromHost::SetTimer {
        id: 3,
        name: "tick".to_owned(),
        after_ms: 100,
        every_ms: 250,
    });
    round_trip_from_host(FromHost::CancelTimer {
        name: "tick".to_owned(),
    });
    for part in STATE_PARTS {
        round_trip_from_host(FromHost::Query {
            part: part.to_owned(),
        });
    }
    round_trip_from_host(FromHost::Act {
        verb: "skip".to_owned(),
        args: vec![],
    });
    round_trip_from_host(FromHost::Act {
        verb: "queue".to_owned(),
        args: vec![
            "https://youtu.be/dQw4w9WgXcQ".to_owned(),
            "next".to_owned(),
            "true".to_owned(),
        ],
    });
    round_trip_from_host(FromHost::Act {
        verb: "open_poll".to_owned(),
        args: ["Next?", "", "false", "ü", ""]
            .iter()
            .map(|arg| arg.to_string())
            .collect(),
    });
    round_trip_to_host(ToHost::Answer(Ok("7\tNever Gonna Give You Up".to_owned())));
    round_trip_to_host(ToHost::Answer(Err(
        "bot_rank\tthe bot is not a moderator".to_owned()
    )));
    round_trip_from_host(FromHost::Hello {
        protocol: PROTOCOL,
        pid: 42,
    });
    round_trip_from_host(FromHost::Opened {
        sandbox_gaps: vec![],
    });
    round_trip_from_host(FromHost::Opened {
        sandbox_gaps: vec!["Landlock ABI 3: no TCP rules".into(), String::new()],
    });
    round_trip_from_host(FromHost::Started);
    round_trip_from_host(FromHost::Failed {
        code: 10,
        message: "no".into(),
    });
    round_trip_from_host(FromHost::Chat {
        text: "t".into(),
        to: Some("bob".into()),
        in_reply_to: None,
    });
    round_trip_from_host(FromHost::Publish {
        kind: "k".into(),
        payload_json: "[]".into(),
    });
    round_trip_from_host(FromHost::Log {
        level: Level::Warn,
        plugin: true,
        message: "m".into(),
    });
    for outcome in [
        Outcome::Ok,
        Outcome::Failed("f".into()),
        Outcome::Panicked("p".into()),
    ] {
        round_trip_from_host(FromHost::Done { seq: 5, outcome });
    }
    round_trip_from_host(FromHost::Unloaded { state: vec![9; 3] });
    round_trip_from_host(FromHost::Heartbeat { handled: 77 });
}

#[test]
fn hostile_frames_are_refused_without_panicking_or_allocating_what_they_claim() {
    // A string claiming 4 GiB inside a 9-byte frame.
    let mut lying = vec![7u8, 1, 1];
    lying.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(FromHost::decode(&lying).is_err());
    assert!(FromHost::decode(&[]).is_err());
    assert!(FromHost::decode(&[99]).is_err());
    assert!(FromHost::decode(&[7, 9, 0]).is_err(), "bad level");
    // A trailing byte after a complete frame.
    let mut long = FromHost::Opened {
        sandbox_gaps: vec![],
    }
    .encode()[4..]
        .to_vec();
    long.push(0);
    assert!(FromHost::decode(&long).is_err());
    // A config pair count far beyond what the frame can hold.
    let mut start = ToHost::Start(Start {
        name: "n".into(),
        version: "v".into(),
        storage_dir: "s".into(),
        config_json: "{}".into(),
        config_flat: vec![],
        state: None,
        heartbeat_ms: 1,
    })
    .encode()[4..]
        .to_vec();
    let count_at = 1 + (4 + 1) * 3 + (4 + 2);
    start[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(ToHost::decode(&start).is_err());
    // Every prefix of every valid frame is refused, never a panic.
    let frame = FromHost::Chat {
        text: "hello".into(),
        to: Some("x".into()),
        in_reply_to: Some("y".into()),
    }
    .encode();
    for cut in 0..frame.len() - 4 {
        assert!(
            FromHost::decode(&frame[4..4 + cut]).is_err(),
            "cut at {cut}"
        );
    }
    // A length prefix over the limit is refused before anything is read.
    let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
    assert!(matches!(frame_len(huge), Err(WireError::TooLarge(_))));
    let mut reader: &[u8] = &[1, 0];
    assert!(read_frame(&mut reader).is_err(), "a torn prefix");
}

#[test]
fn hostile_sandbox_fields_are_refused() {
    // A gap count far beyond what the frame holds.
    let mut opened = vec![2u8];
    opened.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(FromHost::decode(&opened).is_err());
    // A port count far beyond what the frame holds: the count sits right after the network
    // tag, the last fields of the frame being the ports and the required flag.
    let open = ToHost::Open(sample_open(Network::Ports(vec![1]))).encode()[4..].to_vec();
    let count_at = open.len() - 1 - 2 - 4;
    assert_eq!(open[count_at - 1], 2, "the network tag");
    let mut lying = open.clone();
    lying[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(ToHost::decode(&lying).is_err());
    // An unknown network tag and a required flag that is not a boolean.
    let mut bad_tag = open.clone();
    bad_tag[count_at - 1] = 3;
    assert!(ToHost::decode(&bad_tag).is_err());
    let mut bad_flag = open.clone();
    let last = bad_flag.len() - 1;
    bad_flag[last] = 2;
    assert!(ToHost::decode(&bad_flag).is_err());
    // Every prefix of an Open and of an Opened with gaps is refused, never a panic.
    let opened = FromHost::Opened {
        sandbox_gaps: vec!["a".into(), "bc".into()],
    }
    .encode();
    for cut in 0..opened.len() - 4 {
        assert!(
            FromHost::decode(&opened[4..4 + cut]).is_err(),
            "cut at {cut}"
        );
    }
    for cut in 0..open.len() {
        assert!(ToHost::decode(&open[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn hostile_service_frames_are_refused() {
    // An action whose argument count is far beyond what the frame holds.
    let act = FromHost::Act {
        verb: "kick".to_owned(),
        args: vec!["bob".to_owned(), "spam".to_owned()],
    }
    .encode()[4..]
        .to_vec();
    let count_at = 1 + 4 + "kick".len();
    let mut lying = act.clone();
    lying[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(FromHost::decode(&lying).is_err());
    // More arguments than any action takes, each honestly framed.
    let many = FromHost::Act {
        verb: "open_poll".to_owned(),
        args: vec![String::new(); MAX_ACT_ARGS + 1],
    }
    .encode();
    let refused = FromHost::decode(&many[4..]).expect_err("too many arguments");
    assert!(refused.to_string().contains("at most"), "{refused}");
    let most = FromHost::Act {
        verb: "open_poll".to_owned(),
        args: vec![String::new(); MAX_ACT_ARGS],
    };
    assert_eq!(
        FromHost::decode(&most.encode()[4..]).expect("at the limit"),
        most
    );
    // Every prefix of an Act and of a Query is refused, never a panic.
    for cut in 0..act.len() {
        assert!(FromHost::decode(&act[..cut]).is_err(), "cut at {cut}");
    }
    let query = FromHost::Query {
        part: PART_PLAYLIST.to_owned(),
    }
    .encode()[4..]
        .to_vec();
    for cut in 0..query.len() {
        assert!(FromHost::decode(&query[..cut]).is_err(), "cut at {cut}");
    }
    // A query part that is not UTF-8.
    let mut bad = vec![13u8];
    bad.extend_from_slice(&2u32.to_le_bytes());
    bad.extend_from_slice(&[0xff, 0xfe]);
    assert!(FromHost::decode(&bad).is_err());
}

#[test]
fn the_query_parts_are_the_daemons_names() {
    assert_eq!(STATE_PARTS, ["roster", "playlist", "poll", "bot"]);
    assert_eq!(PROTOCOL, 5);
}

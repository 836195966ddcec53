//! Manifest parsing and validation: what an archive may declare, and the error each mistake gets.

use super::*;

fn sample() -> String {
    format!(
        "name: dice-roller\nversion: 1.2.0\ndescription: Rolls dice\nauthor: rosey\n\
         library: libdice_roller.so\nabi: {}\ncommands: [roll, flip]\nevents: [chat.message]\n\
         permissions: [send_messages]\n",
        rosey_abi::ABI_VERSION
    )
}

#[test]
fn a_good_manifest_parses_with_default_limits() {
    let manifest = Manifest::parse(&sample()).expect("valid");
    assert_eq!(manifest.name, "dice-roller");
    assert_eq!(manifest.version, semver::Version::new(1, 2, 0));
    assert_eq!(manifest.limits, Limits::default());
}

#[test]
fn names_follow_the_rule() {
    assert!(is_valid_plugin_name("abc"));
    assert!(is_valid_plugin_name("quote-db"));
    assert!(!is_valid_plugin_name("ab"));
    assert!(!is_valid_plugin_name("Quote"));
    assert!(!is_valid_plugin_name("quote_db"));
    assert!(!is_valid_plugin_name(&"a".repeat(51)));
}

#[test]
fn each_bad_field_is_named() {
    let cases = [
        ("name: dice-roller", "name: Dice", "name"),
        ("version: 1.2.0", "version: one", "version"),
        ("library: libdice_roller.so", "library: ../x.so", "library"),
        ("abi: 1", "abi: 999", "abi"),
        (
            "commands: [roll, flip]",
            "commands: [roll, roll]",
            "commands",
        ),
        ("commands: [roll, flip]", "commands: [\"a.b\"]", "commands"),
        ("events: [chat.message]", "events: [\"chat..x\"]", "events"),
        (
            "permissions: [send_messages]",
            "permissions: [root]",
            "permissions",
        ),
    ];
    for (from, to, field) in cases {
        let text = sample().replace(from, to);
        let err = Manifest::parse(&text).expect_err(to).to_string();
        assert!(err.contains(field), "{to}: {err}");
    }
}

#[test]
fn network_entries_are_checked() {
    let ok = [
        ("network: any\n", rosey_host::wire::Network::Any),
        (
            "network: [127.0.0.1:4222, \"api.example.org:443\", \"[::1]:443\"]\n",
            rosey_host::wire::Network::Ports(vec![443, 4222]),
        ),
    ];
    for (line, wire) in ok {
        let manifest = Manifest::parse(&(sample() + line)).expect(line);
        assert_eq!(manifest.network.expect("network").to_wire(), wire);
    }
    assert_eq!(Manifest::parse(&sample()).expect("valid").network, None);
    for bad in [
        "network: all\n",
        "network: []\n",
        "network: [example.org]\n",
        "network: [example.org:0]\n",
        "network: [example.org:70000]\n",
        "network: [\":80\"]\n",
        "network: [\"bad host:80\"]\n",
        "network: [\"::1:80\"]\n",
        "limits: { open_files: 3 }\n",
    ] {
        let err = Manifest::parse(&(sample() + bad))
            .expect_err(bad)
            .to_string();
        let field = if bad.starts_with("limits") {
            "limits.open_files"
        } else {
            "network"
        };
        assert!(err.contains(field), "{bad}: {err}");
    }
}

#[test]
fn unknown_fields_are_refused() {
    let err = Manifest::parse(&(sample() + "entrypoint: main\n")).expect_err("unknown");
    assert!(err.to_string().contains("entrypoint"), "{err}");
}

#[test]
fn service_names_are_refused_with_the_fix() {
    for name in ["bot", "nats", "web", "plugins"] {
        let text = sample().replace("name: dice-roller", &format!("name: {name}"));
        let err = Manifest::parse(&text).expect_err(name).to_string();
        assert!(err.contains("name") && err.contains("rename"), "{err}");
    }
}

#[test]
fn publishes_is_checked_and_matched() {
    let text = sample().replace(
        "permissions: [send_messages]",
        "permissions: [publish_events]\npublishes: [quote.added, \"game.*\", \"stats.>\"]",
    );
    let manifest = Manifest::parse(&text).expect("valid");
    assert!(manifest.may_publish("quote.added"));
    assert!(manifest.may_publish("game.won"));
    assert!(!manifest.may_publish("game.won.twice"));
    assert!(manifest.may_publish("stats.a.b"));
    assert!(!manifest.may_publish("stats"));
    assert!(!manifest.may_publish("quote.removed"));
    let without = text.replace("permissions: [publish_events]", "permissions: []");
    assert!(!Manifest::parse(&without)
        .expect("valid")
        .may_publish("quote.added"));
    let bad = sample() + "publishes: [\"a..b\"]\n";
    let err = Manifest::parse(&bad).expect_err("bad kind").to_string();
    assert!(err.contains("publishes"), "{err}");
}

#[test]
fn event_patterns() {
    assert!(is_valid_event_pattern("chat.message"));
    assert!(is_valid_event_pattern("user.*"));
    assert!(is_valid_event_pattern(">"));
    assert!(!is_valid_event_pattern("a.>.b"));
    assert!(!is_valid_event_pattern(""));
}

#[test]
fn channel_actions_are_declared_by_name() {
    use rosey_abi::channel::ChannelPermission;
    let manifest =
        Manifest::parse(&format!("{}channel: [playlist, poll]\n", sample())).expect("valid");
    assert!(manifest.may_act(ChannelPermission::Playlist));
    assert!(manifest.may_act(ChannelPermission::Poll));
    assert!(!manifest.may_act(ChannelPermission::Moderate));
    assert!(!Manifest::parse(&sample())
        .expect("valid")
        .may_act(ChannelPermission::Skip));
    let err = Manifest::parse(&format!("{}channel: [nuke]\n", sample()))
        .expect_err("unknown")
        .to_string();
    assert!(
        err.contains("channel") && err.contains("playlist, skip, moderate, poll"),
        "{err}"
    );
    let err = Manifest::parse(&format!("{}channel: [skip, skip]\n", sample()))
        .expect_err("twice")
        .to_string();
    assert!(err.contains("listed twice"), "{err}");
}

/// The field and problem `text` is refused for.
fn invalid_field(text: &str) -> (&'static str, String) {
    match Manifest::parse(text) {
        Err(ManifestError::Invalid { field, problem }) => (field, problem),
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn blank_description_and_author_are_refused() {
    assert_eq!(
        invalid_field(&sample().replace("description: Rolls dice", "description: \"  \"")),
        ("description", "must not be empty".to_owned())
    );
    assert_eq!(
        invalid_field(&sample().replace("author: rosey", "author: \"\"")),
        ("author", "must not be empty".to_owned())
    );
}

#[test]
fn more_commands_than_allowed_are_refused() {
    let commands: Vec<String> = (0..=MAX_COMMANDS).map(|i| format!("c{i}")).collect();
    let text = sample().replace(
        "commands: [roll, flip]",
        &format!("commands: [{}]", commands.join(", ")),
    );
    assert_eq!(
        invalid_field(&text),
        ("commands", "at most 64 commands".to_owned())
    );
    let allowed = sample().replace(
        "commands: [roll, flip]",
        &format!("commands: [{}]", commands[..MAX_COMMANDS].join(", ")),
    );
    assert_eq!(
        Manifest::parse(&allowed)
            .expect("64 is fine")
            .commands
            .len(),
        MAX_COMMANDS
    );
}

#[test]
fn a_commands_help_text_is_checked_under_its_own_key() {
    let text = sample().replace(
        "commands: [roll, flip]",
        "commands:\n  - name: roll\n    help: \"   \"",
    );
    assert_eq!(
        invalid_field(&text),
        (
            "commands.help",
            "the commands.help of \"roll\" must be one line of text".to_owned()
        )
    );
}

#[test]
fn a_command_that_is_neither_a_word_nor_a_map_is_refused_saying_what_is_expected() {
    let text = sample().replace("commands: [roll, flip]", "commands: [[roll]]");
    let err = Manifest::parse(&text).expect_err("a list");
    assert!(
        err.to_string().contains(
            "expected a command word, or a map with name and optionally help, usage, min_rank"
        ),
        "{err}"
    );
}

#[test]
fn commands_compare_with_their_word() {
    let roll = CommandSpec::from("roll");
    assert_eq!(roll, CommandSpec::named("roll"));
    assert!(roll == *"roll");
    assert!(roll != *"flip");
}

#[test]
fn a_zero_handler_timeout_is_refused() {
    assert_eq!(
        invalid_field(&(sample() + "limits: { handler_timeout_ms: 0 }\n")),
        (
            "limits.handler_timeout_ms",
            "must be more than 0".to_owned()
        )
    );
}

#[test]
fn more_network_entries_than_allowed_are_refused() {
    let entries: Vec<String> = (1..=MAX_ENDPOINTS + 1)
        .map(|port| format!("example.org:{port}"))
        .collect();
    let text = sample() + &format!("network: [{}]\n", entries.join(", "));
    assert_eq!(
        invalid_field(&text),
        ("network", "at most 32 host:port entries".to_owned())
    );
}

#[test]
fn loading_a_missing_manifest_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("manifest.yaml");
    let err = Manifest::load(&path).expect_err("missing");
    assert!(
        matches!(&err, ManifestError::Parse(reason)
            if reason.starts_with(&format!("cannot read {}: ", path.display()))),
        "{err}"
    );
    std::fs::write(&path, sample()).expect("write");
    assert_eq!(Manifest::load(&path).expect("loads").name, "dice-roller");
}

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

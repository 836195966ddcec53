//! Tests of `rosey.yaml` parsing: defaults, overrides, and each error naming its key.

use super::*;

fn error(text: &str) -> String {
    Config::parse(text).expect_err(text).to_string()
}

#[test]
fn no_file_and_an_empty_file_give_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    assert_eq!(Config::load(&home).expect("load"), Config::default());
    assert_eq!(Config::parse("").expect("empty"), Config::default());
    assert_eq!(
        Config::parse("# all commented\n# nats:\n").expect("comments"),
        Config::default()
    );
    assert_eq!(
        Config::parse("nats:\n  # port: 1\nplugins:\n").expect("bare sections"),
        Config::default()
    );
}

#[test]
fn defaults_match_the_documented_schema() {
    let config = Config::default();
    assert_eq!(config.nats.host, "127.0.0.1");
    assert_eq!(config.nats.port, 4222);
    assert!(!config.nats.allow_remote);
    assert_eq!(config.bot.connector, ConnectorKind::Local);
    assert_eq!(config.bot.name, "rosey");
    assert_eq!(config.bot.channel, "local");
    assert_eq!(config.bot.command_prefix, "!");
    assert!(config.bot.unknown_command_reply);
    assert_eq!(config.bot.say_timeout(), Duration::from_secs(5));
    let services = config.service_settings("nats");
    assert_eq!(services.strategy, Strategy::OneForOne);
    assert_eq!(services.restart, RestartType::Permanent);
    assert_eq!(services.max_restarts, 5);
    assert_eq!(services.within(), Duration::from_secs(60));
    assert_eq!(services.backoff_initial(), Duration::from_millis(100));
    assert_eq!(services.backoff_max(), Duration::from_secs(5));
    assert_eq!(services.backoff_reset(), Duration::from_secs(30));
    assert_eq!(services.shutdown_timeout(), Duration::from_secs(5));
    let plugin = config.plugin_settings("dice-roller");
    assert_eq!(plugin.supervision.max_restarts, 3);
    assert_eq!(plugin.host.heartbeat(), Duration::from_secs(1));
    assert_eq!(plugin.host.heartbeat_timeout(), Duration::from_secs(5));
    assert_eq!(plugin.host.ready_timeout(), Duration::from_secs(10));
    assert_eq!(plugin.host.ack_wait(), Duration::from_secs(5));
    assert_eq!(plugin.host.spares, 1);
    assert!(config.dev.watch.is_empty());
    assert_eq!(config.dev.debounce(), Duration::from_millis(300));
}

#[test]
fn the_full_example_parses() {
    let text = r#"
nats:
  host: 127.0.0.1
  port: 0
  allow_remote: false
bot:
  connector: local
  name: rosey
  channel: local
  command_prefix: "!"
  unknown_command_reply: false
  say_timeout_ms: 2000
supervision:
  services: { strategy: one_for_one, max_restarts: 5, within_secs: 60, backoff_initial_ms: 100, backoff_max_ms: 5000, backoff_reset_secs: 30, shutdown_timeout_ms: 5000 }
  plugins: { strategy: rest_for_one, max_restarts: 3, within_secs: 60, backoff_initial_ms: 100, backoff_max_ms: 5000, backoff_reset_secs: 30, shutdown_timeout_ms: 5000 }
services:
  nats: { restart: permanent }
plugins:
  dice-roller: { restart: permanent, max_restarts: 3, heartbeat_timeout_ms: 3000 }
plugin_host:
  heartbeat_ms: 1000
  heartbeat_timeout_ms: 5000
  ready_timeout_ms: 10000
  spares: 1
  ack_wait_ms: 5000
  sandbox: required
"#;
    let config = Config::parse(text).expect("parses");
    assert_eq!(config.plugin_host.sandbox, SandboxMode::Required);
    assert_eq!(
        config.plugin_settings("dice-roller").host.sandbox,
        SandboxMode::Required
    );
    assert_eq!(
        Config::parse("").expect("empty").plugin_host.sandbox,
        SandboxMode::BestEffort
    );
    let err = Config::parse("plugin_host: { sandbox: off }\n")
        .expect_err("unknown mode")
        .to_string();
    assert!(err.contains("sandbox"), "{err}");
    assert_eq!(config.nats.port, 0);
    assert!(!config.bot.unknown_command_reply);
    assert_eq!(config.supervision.plugins.strategy, Strategy::RestForOne);
    assert_eq!(
        config
            .plugin_settings("dice-roller")
            .host
            .heartbeat_timeout_ms,
        3000
    );
}

#[test]
fn overrides_stack_defaults_then_section_then_entry() {
    let config = Config::parse(
        "supervision:\n  plugins: { within_secs: 10, backoff_max_ms: 800 }\n  services: { strategy: rest_for_one }\n\
         services:\n  bot: { restart: transient, max_restarts: 9 }\n\
         plugins:\n  quote-db: { restart: temporary, backoff_initial_ms: 50, heartbeat_ms: 200 }\n\
         plugin_host: { heartbeat_timeout_ms: 7000 }\n",
    )
    .expect("parses");

    // A partial plugins section keeps the plugins defaults for the rest (3, not 5).
    let other = config.plugin_settings("dice-roller");
    assert_eq!(other.supervision.max_restarts, 3);
    assert_eq!(other.supervision.within_secs, 10);
    assert_eq!(other.supervision.backoff_max_ms, 800);
    assert_eq!(other.host.heartbeat_timeout_ms, 7000);

    let quote = config.plugin_settings("quote-db");
    assert_eq!(quote.supervision.restart, RestartType::Temporary);
    assert_eq!(quote.supervision.backoff_initial_ms, 50);
    assert_eq!(quote.supervision.within_secs, 10);
    assert_eq!(quote.host.heartbeat_ms, 200);
    assert_eq!(quote.host.heartbeat_timeout_ms, 7000);

    let bot = config.service_settings("bot");
    assert_eq!(bot.strategy, Strategy::RestForOne);
    assert_eq!(bot.restart, RestartType::Transient);
    assert_eq!(bot.max_restarts, 9);
    let nats = config.service_settings("nats");
    assert_eq!(nats.restart, RestartType::Permanent);
    assert_eq!(nats.max_restarts, 5);
}

#[test]
fn merged_replaces_only_what_is_set() {
    let base = SupervisionSettings::services_default();
    assert_eq!(base.merged(&SupervisionOverrides::default()), base);
    let merged = base.merged(&SupervisionOverrides {
        max_restarts: Some(1),
        ..Default::default()
    });
    assert_eq!(merged.max_restarts, 1);
    assert_eq!(merged.within_secs, base.within_secs);
}

#[test]
fn unknown_keys_name_the_key_and_the_file() {
    for (text, key) in [
        ("colour: blue\n", "colour"),
        ("nats:\n  hots: 127.0.0.1\n", "hots"),
        ("supervision:\n  services: { retries: 3 }\n", "retries"),
        (
            "plugins:\n  dice-roller: { strategy: one_for_all }\n",
            "strategy",
        ),
        ("plugin_host: { heartbeat: 3 }\n", "heartbeat"),
    ] {
        let err = error(text);
        assert!(err.starts_with("rosey.yaml: "), "{text}: {err}");
        assert!(
            err.contains(&format!("unknown field `{key}`")),
            "{text}: {err}"
        );
        assert!(
            err.contains("remove the key or fix its spelling"),
            "{text}: {err}"
        );
    }
    let nested = error("nats:\n  hots: 127.0.0.1\n");
    assert!(nested.contains("nats"), "{nested}");
    let twice = error("nats:\n  port: 4222\nbot:\n  name: x\nnats:\n  port: 4223\n");
    assert!(
        twice.contains("duplicate entry with key \"nats\"")
            && twice.contains("the key is written twice at the same level: keep one"),
        "{twice}"
    );
}

#[test]
fn bad_values_name_their_key_path() {
    for (text, path) in [
        ("nats:\n  port: 70000\n", "nats.port"),
        ("bot: { say_timeout_ms: soon }\n", "bot.say_timeout_ms"),
        ("nats: { port: 70000 }\n", "nats.port"),
        ("nats: { port: -1 }\n", "nats.port"),
        ("nats: { port: abc }\n", "nats.port"),
        ("bot: { say_timeout_ms: soon }\n", "bot.say_timeout_ms"),
        ("bot: { connector: irc }\n", "bot.connector"),
        (
            "supervision:\n  plugins: { strategy: one_for_some }\n",
            "supervision.plugins.strategy",
        ),
        (
            "plugins:\n  dice-roller: { restart: sometimes }\n",
            "plugins.dice-roller.restart",
        ),
    ] {
        let err = error(text);
        assert!(err.contains(path), "{text}: {err}");
    }
    let err = error("nats: { port: 70000 }\n");
    assert!(err.contains("use 1 to 65535"), "{err}");
    for (text, said) in [
        ("nats: { port: -1 }\n", "-1 is not a port: use 1 to 65535"),
        (
            "web: { port: http }\n",
            "expected a port number (1 to 65535",
        ),
        (
            "nats: { port: 42.5 }\n",
            "expected a port number (1 to 65535",
        ),
    ] {
        let err = error(text);
        assert!(err.contains(said), "{text}: {err}");
    }
    let err = error("supervision:\n  plugins: { strategy: one_for_some }\n");
    assert!(err.contains("one_for_all"), "lists the valid names: {err}");
}

#[test]
fn each_rule_is_enforced_with_its_key() {
    let cases = [
        ("nats: { host: 0.0.0.0 }\n", "nats.host", "allow_remote"),
        ("nats: { host: example.org }\n", "nats.host", "loopback"),
        ("nats: { host: \"\" }\n", "nats.host", "empty"),
        ("bot: { name: \"\" }\n", "bot.name", "user name"),
        ("bot: { channel: \" \" }\n", "bot.channel", "empty"),
        (
            "bot: { command_prefix: \"\" }\n",
            "bot.command_prefix",
            "without spaces",
        ),
        (
            "bot: { say_timeout_ms: 0 }\n",
            "bot.say_timeout_ms",
            "more than 0",
        ),
        (
            "dev: { debounce_ms: 0 }\n",
            "dev.debounce_ms",
            "more than 0",
        ),
        (
            "supervision:\n  services: { max_restarts: 0 }\n",
            "supervision.services.max_restarts",
            "at least 1",
        ),
        (
            "supervision:\n  plugins: { within_secs: 0 }\n",
            "supervision.plugins.within_secs",
            "more than 0",
        ),
        (
            "supervision:\n  plugins: { shutdown_timeout_ms: 0 }\n",
            "supervision.plugins.shutdown_timeout_ms",
            "more than 0",
        ),
        (
            "supervision:\n  plugins: { backoff_reset_secs: 0 }\n",
            "supervision.plugins.backoff_reset_secs",
            "more than 0",
        ),
        (
            "supervision:\n  plugins: { backoff_max_ms: 10 }\n",
            "supervision.plugins.backoff_max_ms",
            "below backoff_initial_ms",
        ),
        (
            "services:\n  nats: { strategy: one_for_all }\n",
            "services.nats.strategy",
            "supervision.services.strategy",
        ),
        (
            "services:\n  bot: { max_restarts: 0 }\n",
            "services.bot.max_restarts",
            "restart: temporary",
        ),
        (
            "services:\n  bot: { backoff_initial_ms: 9000 }\n",
            "services.bot.backoff_initial_ms",
            "below",
        ),
        (
            "plugins:\n  Dice: { restart: permanent }\n",
            "plugins.Dice",
            "plugin name",
        ),
        (
            "plugins:\n  dice-roller: { max_restarts: 0 }\n",
            "plugins.dice-roller.max_restarts",
            "at least 1",
        ),
        (
            "plugins:\n  dice-roller: { heartbeat_timeout_ms: 500 }\n",
            "plugins.dice-roller.heartbeat_timeout_ms",
            "longer than heartbeat_ms",
        ),
        (
            "plugins:\n  dice-roller: { heartbeat_ms: 9000 }\n",
            "plugins.dice-roller.heartbeat_ms",
            "longer than heartbeat_ms",
        ),
        (
            "plugins:\n  dice-roller: { ready_timeout_ms: 0 }\n",
            "plugins.dice-roller.ready_timeout_ms",
            "more than 0",
        ),
        (
            "plugin_host: { heartbeat_ms: 0 }\n",
            "plugin_host.heartbeat_ms",
            "more than 0",
        ),
        (
            "plugin_host: { heartbeat_timeout_ms: 1000 }\n",
            "plugin_host.heartbeat_timeout_ms",
            "longer",
        ),
        (
            "plugin_host: { ack_wait_ms: 10 }\n",
            "plugin_host.ack_wait_ms",
            "100 or more",
        ),
        (
            "plugin_host: { spares: 100 }\n",
            "plugin_host.spares",
            "0 to 16",
        ),
    ];
    for (text, key, fix) in cases {
        let err = Config::parse(text).expect_err(text);
        let message = err.to_string();
        assert!(
            matches!(&err, ConfigError::Invalid { key: found, .. } if found == key),
            "{text}: {message}"
        );
        assert!(
            message.starts_with(&format!("rosey.yaml: {key}: ")),
            "{text}: {message}"
        );
        assert!(message.contains(fix), "{text}: {message}");
    }
}

#[test]
fn remote_and_loopback_addresses() {
    for host in [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "[::1]",
        "localhost",
        "LOCALHOST",
    ] {
        assert!(is_loopback(host), "{host}");
    }
    for host in ["0.0.0.0", "10.0.0.1", "::", "example.org"] {
        assert!(!is_loopback(host), "{host}");
    }
    let config = Config::parse("nats: { host: 0.0.0.0, allow_remote: true }\n").expect("allowed");
    assert_eq!(config.nats.host, "0.0.0.0");
}

#[test]
fn load_names_the_file_it_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    std::fs::write(home.config_file(), "bot: { name: rosey-bot }\n").expect("write");
    assert_eq!(Config::load(&home).expect("load").bot.name, "rosey-bot");
    std::fs::write(home.config_file(), "bot: { nmae: x }\n").expect("write");
    let err = Config::load(&home).expect_err("unknown key").to_string();
    assert!(
        err.starts_with(&home.config_file().display().to_string()),
        "{err}"
    );
    std::fs::write(home.config_file(), "bot: [\n").expect("write");
    let err = Config::load(&home).expect_err("not yaml").to_string();
    assert!(err.contains("rosey.yaml"), "{err}");
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let config = Config::parse(
        "bot:\n  connector: cytube\n  cytube:\n    server: https://cytu.be\n    password: hunter2hunter2\n    channel_password: sesame-sesame\nweb:\n  token: a-very-long-shared-secret-1234567890\n",
    )
    .expect("valid");
    let shown = format!("{config:?}");
    for secret in [
        "hunter2hunter2",
        "sesame-sesame",
        "a-very-long-shared-secret-1234567890",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("<hidden>"), "{shown}");
}

#[test]
fn a_rosey_yaml_that_cannot_be_read_is_named_with_the_way_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path());
    std::fs::create_dir(home.config_file()).expect("a folder in its place");
    let err = Config::load(&home).expect_err("unreadable");
    assert!(
        matches!(&err, ConfigError::Read { path, error }
            if *path == home.config_file()
                && error.kind() == std::io::ErrorKind::IsADirectory),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot read {}: ", home.config_file().display())),
        "{message}"
    );
    assert!(
        message.ends_with(
            "; it must be a file: move the folder aside (`rosey init` writes a commented one)"
        ),
        "{message}"
    );
    std::fs::remove_dir(home.config_file()).expect("the folder goes");
    std::fs::write(home.config_file(), b"bot: {name: \xff}\n").expect("not UTF-8");
    let message = Config::load(&home).expect_err("not text").to_string();
    assert!(
        message.ends_with("; save it as UTF-8 text, or move it aside to run with the defaults"),
        "{message}"
    );
}

#[test]
fn a_message_store_below_the_minimum_is_refused_naming_the_least_size() {
    let minimum = crate::messaging::StoreBudget::MINIMUM;
    let err = Config::parse(&format!("nats: {{ max_storage: {} }}\n", minimum - 1))
        .expect_err("too small");
    assert!(
        matches!(&err, ConfigError::Invalid { key, problem, .. }
        if key == "nats.max_storage"
            && *problem == format!(
                "{} bytes is too small for the message store: use at least {minimum} (\"{}MiB\"), or leave it out to fit the disk",
                minimum - 1,
                minimum / 1024 / 1024
            )),
        "{err}"
    );
    let config = Config::parse(&format!("nats: {{ max_storage: {minimum} }}\n")).expect("enough");
    assert_eq!(config.nats.max_storage, Some(minimum));
}

#[test]
fn a_services_section_must_name_a_service_the_stack_runs() {
    let config = Config::parse("services:\n  db: { restart: permanent }\n").expect("read");
    let file = Path::new("/home/bot/rosey.yaml");
    let err = config
        .check_service_names(SERVICES, file)
        .expect_err("db is no service of rosey's");
    assert_eq!(
        err.to_string(),
        "/home/bot/rosey.yaml: services.db: there is no service \"db\"; the services are nats, bot, web, node"
    );
    let mut known = SERVICES.to_vec();
    known.push("db");
    config
        .check_service_names(&known, file)
        .expect("an embedder's db takes its settings from rosey.yaml");
}

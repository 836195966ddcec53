//! The commented `rosey.yaml` of `rosey init`: read as it is written, it is the defaults plus
//! the operator's choices; every key line uncommented, it still reads (as the defaults, but for
//! the example values of keys that default to unset), and it names every key there is.

use serde_yaml_ng::Value;

use super::*;
use crate::config::ConnectorKind;

/// `text` with every commented-out key line (`  # port: 4222`) made a line of YAML.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| {
            let indent = line.len() - line.trim_start().len();
            let rest = &line[indent..];
            match rest.strip_prefix("# ") {
                Some(key_line) if is_key_line(key_line) => {
                    format!("{}{key_line}", &line[..indent])
                }
                _ => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `line` starts with a lowercase key and a colon (`max_storage: 512MiB`), as no
/// sentence of the file's explanations does.
fn is_key_line(line: &str) -> bool {
    line.split_once(':').is_some_and(|(key, rest)| {
        !key.is_empty()
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && (rest.is_empty() || rest.starts_with(' '))
    })
}

/// Every key path under `value`'s mappings (`nats.port`), but inside the maps keyed by a
/// service's or a plugin's name.
fn key_paths(value: &Value, prefix: &str, into: &mut Vec<String>) {
    if let Value::Mapping(map) = value {
        for (key, child) in map {
            let key = key.as_str().expect("string keys");
            let path = if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}.{key}")
            };
            if !matches!(path.as_str(), "services" | "plugins") {
                key_paths(child, &path, into);
            }
            into.push(path);
        }
    }
}

#[test]
fn as_written_with_no_choice_the_file_reads_as_the_defaults() {
    let text = commented_config(&InitChoices::default());
    assert_eq!(Config::parse(&text).expect("it reads"), Config::default());
}

#[test]
fn every_key_uncommented_reads_back_and_every_key_there_is_is_named() {
    let text = uncommented(&commented_config(&InitChoices::default()));
    let mut config = Config::parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    // Keys that default to unset show an example value: those are the only differences.
    assert!(config.bot.cytube.server.take().is_some());
    assert!(config.bot.cytube.password.take().is_some());
    assert!(config.bot.cytube.channel_password.take().is_some());
    assert!(config.nats.tls.take().is_some());
    assert!(config.nats.max_storage.take().is_some());
    assert!(config.nats.cluster.take().is_some());
    assert!(config.node.name.take().is_some());
    assert!(config.web.token.take().is_some());
    assert_eq!(
        config,
        Config::default(),
        "every shown value is the default"
    );

    let mut wanted = Vec::new();
    let defaults = serde_yaml_ng::to_value(Config::default()).expect("defaults as YAML");
    key_paths(&defaults, "", &mut wanted);
    let mut named = Vec::new();
    key_paths(
        &serde_yaml_ng::from_str(&text).expect("YAML"),
        "",
        &mut named,
    );
    let missing: Vec<&String> = wanted.iter().filter(|key| !named.contains(key)).collect();
    assert!(missing.is_empty(), "rosey init's file lacks {missing:?}");
}

#[test]
fn every_key_is_explained_on_the_lines_above_it() {
    let text = commented_config(&InitChoices::default());
    let lines: Vec<&str> = text.lines().collect();
    for (at, line) in lines.iter().enumerate() {
        let body = line.trim_start().trim_start_matches("# ");
        if !is_key_line(body) || at == 0 {
            continue;
        }
        let above = lines[at - 1].trim_start();
        assert!(
            above.starts_with('#') || is_key_line(above.trim_start_matches("# ")),
            "{line:?} has no explanation above it"
        );
    }
}

#[test]
fn the_operators_choices_are_written_as_values() {
    let choices = InitChoices {
        connector: ConnectorKind::Cytube,
        server: Some("https://cytu.be".into()),
        // Names YAML would read as something else than text are quoted.
        channel: "1999".into(),
        name: "yes".into(),
    };
    let config = Config::parse(&commented_config(&choices)).expect("it reads");
    assert_eq!(config.bot.connector, ConnectorKind::Cytube);
    assert_eq!(config.bot.cytube.server.as_deref(), Some("https://cytu.be"));
    assert_eq!(config.bot.channel, "1999");
    assert_eq!(config.bot.name, "yes");
    let mut rest = config.clone();
    rest.bot = Config::default().bot;
    assert_eq!(rest, Config::default(), "everything else is the default");
}

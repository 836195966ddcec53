//! `rosey plugin config <name> [key [value]]`: show a plugin's settings, one of them, or set
//! one, and hand the change to the running plugin at once.
//!
//! The file is `data/plugins/<name>/config.yaml`. Setting a key edits the line that holds it
//! when there is one (the operator's comments and layout stay), else adds the key (nested
//! keys by dotted path, `limits.max_dice`). A running plugin takes the new file through its
//! `on_config` or, without one, by a reload with its state; a plugin that refuses it keeps the
//! old one, and the old file is put back, so file and plugin never disagree.

use anyhow::{bail, Context, Result};
use rosey_core::{fsutil, paths::Home, plugin_config::PluginConfig, registry::Registry};

use super::live;
use crate::control::Request;

/// Runs the subcommand.
pub fn run_config(home: &Home, name: &str, key: Option<&str>, value: Option<&str>) -> Result<()> {
    let registry = Registry::load(home)?;
    if registry.get(name).is_none() {
        bail!("{name} is not installed (see `rosey plugin list`)");
    }
    let path = home.plugin_config_file(name);
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let current = PluginConfig::parse(old.as_deref().unwrap_or("")).map_err(|problem| {
        anyhow::anyhow!("{}: {problem}; fix the file by hand", path.display())
    })?;
    let (key, value) = match (key, value) {
        (None, _) => {
            show_all(name, &path, &current);
            return Ok(());
        }
        (Some(key), None) => {
            match current.flat.iter().find(|(have, _)| have == key) {
                Some((_, value)) => println!("{value}"),
                None => bail!("{}", missing_key(name, key, &current)),
            }
            return Ok(());
        }
        (Some(key), Some(value)) => (key, value),
    };
    check_key(key)?;
    let new = set_key(old.as_deref().unwrap_or(""), key, value)?;
    fsutil::write_atomic(&path, new.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let shown = PluginConfig::parse(&new)
        .ok()
        .and_then(|config| config.flat.into_iter().find(|(have, _)| have == key))
        .map_or_else(|| value.to_owned(), |(_, value)| value);
    if !live::running(home) {
        println!("✓ Set {key} = {shown} for {name}; it takes effect when {name} next starts");
        return Ok(());
    }
    match live::call_data(
        home,
        Request::PluginConfig {
            name: name.to_owned(),
        },
    ) {
        Ok(data) => {
            let how = match data["taken"].as_str() {
                Some("live") => format!("{name} took it live"),
                Some("reloaded") => {
                    format!("{name} was reloaded with its state to take it (it has no on_config)")
                }
                _ => format!("{name} is not running; it takes effect when it next starts"),
            };
            println!("✓ Set {key} = {shown} for {name}; {how}");
            Ok(())
        }
        Err(reason) => {
            let restored = match &old {
                Some(text) => fsutil::write_atomic(&path, text.as_bytes()),
                None => std::fs::remove_file(&path),
            };
            match restored {
                Ok(()) => bail!("{name} did not take {key} = {shown}: {reason}; the old config is back in {}", path.display()),
                Err(err) => bail!("{name} did not take {key} = {shown}: {reason}; and the old config could not be put back in {}: {err}", path.display()),
            }
        }
    }
}

fn show_all(name: &str, path: &std::path::Path, config: &PluginConfig) {
    println!("{name} config ({}):", path.display());
    if config.flat.is_empty() {
        println!("  (no settings; the plugin uses its defaults)");
    }
    for (key, value) in &config.flat {
        println!("  {key} = {value}");
    }
}

fn missing_key(name: &str, key: &str, config: &PluginConfig) -> String {
    let keys: Vec<&str> = config.flat.iter().map(|(key, _)| key.as_str()).collect();
    let known = if keys.is_empty() {
        "it has no settings".to_owned()
    } else {
        format!("its keys: {}", keys.join(", "))
    };
    format!("{name}'s config has no key `{key}` ({known}); set it with `rosey plugin config {name} {key} <value>`")
}

/// A dotted path of plain words.
fn check_key(key: &str) -> Result<()> {
    let word_ok = |word: &str| {
        !word.is_empty()
            && word
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
    };
    if !key.split('.').all(word_ok) {
        bail!("`{key}` is not a config key: dot-separated words of letters, digits, _ and - (like `limits.max_dice`)");
    }
    Ok(())
}

/// How `value` is written: as YAML reads it when that is a number, a boolean or null, else as
/// a quoted string.
fn yaml_value(value: &str) -> String {
    let scalar = matches!(
        serde_yaml_ng::from_str::<serde_json::Value>(value),
        Ok(serde_json::Value::Number(_) | serde_json::Value::Bool(_))
    );
    if scalar && !value.contains('\n') {
        value.trim().to_owned()
    } else {
        serde_json::Value::String(value.to_owned()).to_string()
    }
}

/// `text` with `key` set to `value`: the line holding `key` edited in place when there is one
/// with a scalar on it, else the document rewritten with the key added.
fn set_key(text: &str, key: &str, value: &str) -> Result<String> {
    let written = yaml_value(value);
    let expected = PluginConfig::parse(&format!("v: {written}"))
        .ok()
        .and_then(|config| config.flat.into_iter().next())
        .map(|(_, value)| value);
    if let Some(edited) = edit_line(text, key, &written) {
        let reads = PluginConfig::parse(&edited)
            .ok()
            .and_then(|config| config.flat.into_iter().find(|(have, _)| have == key))
            .map(|(_, value)| value);
        if reads.is_some() && reads == expected {
            return Ok(edited);
        }
    }
    // No line to edit (or an odd layout): rewrite the document (comments are lost then).
    let mut document: serde_json::Value = if text.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_yaml_ng::from_str(text).context("the config file is not YAML")?
    };
    let new_value: serde_json::Value =
        serde_yaml_ng::from_str(&written).context("the value is not YAML")?;
    let mut at = &mut document;
    let words: Vec<&str> = key.split('.').collect();
    for (n, word) in words.iter().enumerate() {
        if !at.is_object() {
            bail!(
                "cannot set `{key}`: `{}` holds a value, not settings",
                words[..n].join(".")
            );
        }
        let map = at.as_object_mut().context("a mapping")?;
        if n + 1 == words.len() {
            map.insert((*word).to_owned(), new_value);
            break;
        }
        at = map
            .entry((*word).to_owned())
            .or_insert_with(|| serde_json::json!({}));
    }
    serde_yaml_ng::to_string(&document).context("cannot write the config as YAML")
}

/// `text` with the scalar on the line of dotted `key` replaced by `written`, if such a line is
/// found (block mappings, indented by spaces).
fn edit_line(text: &str, key: &str, written: &str) -> Option<String> {
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for line in lines.iter_mut() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let Some((word, rest)) = trimmed.split_once(':') else {
            continue;
        };
        path.retain(|(depth, _)| *depth < indent);
        path.push((indent, word.trim().to_owned()));
        let dotted: Vec<&str> = path.iter().map(|(_, word)| word.as_str()).collect();
        let rest = rest.trim();
        if dotted.join(".") == key && !rest.is_empty() && !rest.starts_with(['|', '>', '&', '*']) {
            *line = format!("{}{}: {written}", " ".repeat(indent), word.trim());
            let mut out = lines.join("\n");
            out.push('\n');
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(text: &str) -> Vec<(String, String)> {
        PluginConfig::parse(text).expect("config").flat
    }

    #[test]
    fn a_key_on_its_own_line_is_edited_in_place_and_comments_stay() {
        let text = "# Dice limits.\nmax_dice: 100 # the most per roll\nlimits:\n  # sides\n  max_sides: 6\n";
        let edited = set_key(text, "limits.max_sides", "20").expect("set");
        assert_eq!(
            edited,
            "# Dice limits.\nmax_dice: 100 # the most per roll\nlimits:\n  # sides\n  max_sides: 20\n"
        );
        let edited = set_key(&edited, "max_dice", "5").expect("set");
        assert!(
            edited.starts_with("# Dice limits.\nmax_dice: 5\n"),
            "{edited}"
        );
    }

    #[test]
    fn a_new_key_is_added_nested_and_text_is_quoted() {
        let edited = set_key("greeting: hi\n", "limits.max", "3").expect("set");
        assert_eq!(
            flat(&edited),
            [
                ("greeting".to_owned(), "hi".to_owned()),
                ("limits.max".to_owned(), "3".to_owned())
            ]
        );
        let edited = set_key("", "greeting", "Hi: there # not a comment").expect("set");
        assert_eq!(
            flat(&edited),
            [(
                "greeting".to_owned(),
                "Hi: there # not a comment".to_owned()
            )]
        );
        let edited = set_key("greeting: hi\n", "greeting", "true").expect("set");
        assert_eq!(edited, "greeting: true\n");
    }

    #[test]
    fn a_key_under_a_value_or_a_bad_key_is_refused_with_the_reason() {
        let err = set_key("limit: 5\n", "limit.max", "3").expect_err("refused");
        assert!(err.to_string().contains("`limit` holds a value"), "{err}");
        assert!(check_key("limits..max").is_err());
        assert!(check_key("limits.max_dice").is_ok());
    }
}

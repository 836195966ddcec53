//! A plugin's configuration (`data/plugins/<name>/config.yaml`), read for the host.
//!
//! The SDK has no parser of its own (`rosey-abi` depends on `abi_stable` only), so the host
//! hands a plugin both the whole document as JSON and every scalar flattened to a dotted key.

use std::path::Path;

/// A plugin's configuration, digested. Its `Debug` names the keys only: a value may be a
/// secret (an API key), and a debug line must not carry it into a log.
#[derive(Clone, PartialEq, Default)]
pub struct PluginConfig {
    /// The whole document as JSON (`{}` when empty or absent).
    pub json: String,
    /// Every scalar leaf by dotted path, as text; sequences are given whole, as JSON.
    pub flat: Vec<(String, String)>,
}

impl std::fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginConfig")
            .field(
                "keys",
                &self.flat.iter().map(|(key, _)| key).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("plugin config {path}: {problem}")]
pub struct PluginConfigError {
    path: String,
    problem: String,
}

/// Why configuration text cannot be used, wherever it came from (a file, an editor, a
/// command line), so a caller can show it next to its own idea of where the text is.
#[derive(Debug, thiserror::Error)]
pub enum PluginConfigParseError {
    /// Not YAML.
    #[error(transparent)]
    Yaml(#[from] serde_yaml_ng::Error),
    /// YAML, but a scalar or a list where a mapping of keys belongs.
    #[error("the top level must be a mapping of keys to values")]
    NotAMapping,
}

impl PluginConfig {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<PluginConfig, PluginConfigError> {
        let fail = |problem: String| PluginConfigError {
            path: path.display().to_string(),
            problem,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(fail(err.to_string())),
        };
        PluginConfig::parse(&text).map_err(|err| fail(err.to_string()))
    }

    /// Parses YAML text; it must be a mapping (or empty).
    pub fn parse(text: &str) -> Result<PluginConfig, PluginConfigParseError> {
        let value: serde_json::Value = if text.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_yaml_ng::from_str(text)?
        };
        let value = match value {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            object @ serde_json::Value::Object(_) => object,
            _ => return Err(PluginConfigParseError::NotAMapping),
        };
        Ok(PluginConfig {
            json: value.to_string(),
            flat: rosey_abi::config_flat::flatten(&value),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_keys_and_never_a_value() {
        let config =
            PluginConfig::parse("api_key: sk-live-123\nlimits:\n  max: 7\n").expect("parses");
        let shown = format!("{config:?}");
        assert!(
            shown.contains("api_key") && shown.contains("limits.max"),
            "{shown}"
        );
        assert!(
            !shown.contains("sk-live-123") && !shown.contains('7'),
            "{shown}"
        );
    }

    #[test]
    fn nested_scalars_flatten_to_dotted_keys() {
        let config =
            PluginConfig::parse("max_dice: 20\nlimits:\n  sides: 100\n  name: d\nlist: [1, 2]\n")
                .expect("parses");
        let get = |key: &str| {
            config
                .flat
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("max_dice"), Some("20"));
        assert_eq!(get("limits.sides"), Some("100"));
        assert_eq!(get("limits.name"), Some("d"));
        assert_eq!(get("list"), Some("[1,2]"));
        assert!(config.json.contains("\"max_dice\":20"));
    }

    #[test]
    fn empty_and_missing_are_empty_mappings() {
        assert_eq!(PluginConfig::parse("").expect("empty").json, "{}");
        let missing = PluginConfig::load(Path::new("/nonexistent/config.yaml")).expect("missing");
        assert_eq!(missing.json, "{}");
    }

    #[test]
    fn a_scalar_document_is_refused() {
        assert!(matches!(
            PluginConfig::parse("42"),
            Err(PluginConfigParseError::NotAMapping)
        ));
    }
}

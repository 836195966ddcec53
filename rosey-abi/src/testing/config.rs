//! A test's plugin configuration, digested the way the daemon digests `config.yaml`: the whole
//! document as compact JSON, and its flat form from [`crate::config_flat`], which the daemon
//! uses too.

use abi_stable::std_types::{RString, Tuple2};
use serde_json::Value;

use crate::ffi::FfiConfig;

/// `json` as the configuration a plugin gets; `Err` says why it is not one (not JSON, or not
/// an object at the top level).
pub(super) fn parse(json: &str) -> Result<FfiConfig, String> {
    let value: Value = if json.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(json).map_err(|err| format!("not JSON: {err}"))?
    };
    let value = match value {
        Value::Null => Value::Object(Default::default()),
        object @ Value::Object(_) => object,
        _ => return Err("the top level must be an object of keys to values".to_owned()),
    };
    let flat = crate::config_flat::flatten(&value);
    Ok(FfiConfig {
        json: RString::from(value.to_string()),
        flat: flat
            .into_iter()
            .map(|(key, value)| Tuple2(RString::from(key), RString::from(value)))
            .collect(),
    })
}

/// [`parse`], panicking with a message for the test's author when `json` is not a
/// configuration (a mistake in the test, not in the plugin).
pub(super) fn parse_or_panic(json: &str) -> FfiConfig {
    parse(json).unwrap_or_else(|err| {
        panic!("TestBot: the plugin's configuration must be a JSON object ({err}): {json}")
    })
}

/// The flat pairs of `config`, as borrowed text (for the config event's lines).
pub(super) fn pairs(config: &FfiConfig) -> impl Iterator<Item = (&str, &str)> {
    config
        .flat
        .iter()
        .map(|pair| (pair.0.as_str(), pair.1.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(json: &str) -> Vec<(String, String)> {
        let config = parse(json).expect("a configuration");
        pairs(&config)
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect()
    }

    #[test]
    fn nested_scalars_become_dotted_keys_and_sequences_stay_whole_json() {
        let pairs = flat(
            r#"{"max": 20, "limits": {"sides": 100, "name": "d"}, "list": [1, 2], "off": null, "on": true}"#,
        );
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("max"), Some("20"));
        assert_eq!(get("limits.sides"), Some("100"));
        assert_eq!(get("limits.name"), Some("d"));
        assert_eq!(get("list"), Some("[1,2]"));
        assert_eq!(get("on"), Some("true"));
        assert_eq!(get("off"), None);
    }

    #[test]
    fn the_document_is_compact_json_and_empty_means_an_empty_object() {
        let config = parse("{ \"a\" : 1 }").expect("a configuration");
        assert_eq!(config.json.as_str(), r#"{"a":1}"#);
        assert_eq!(parse("").expect("empty").json.as_str(), "{}");
        assert_eq!(parse("null").expect("null").json.as_str(), "{}");
    }

    #[test]
    fn a_scalar_or_broken_document_is_refused() {
        assert!(parse("42").is_err());
        assert!(parse("[1]").is_err());
        assert!(parse("{").is_err());
    }
}

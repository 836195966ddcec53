//! A plugin's configuration in the flat form the SDK reads it in (`Config::get("limits.max")`):
//! every scalar leaf by its dotted path, as text; sequences whole, as JSON; nulls left out.
//! Made here, once, for the daemon (from `config.yaml`) and for the testing kit (from a test's
//! JSON), so a plugin reads the same keys in both.

use serde_json::Value;

/// Every scalar leaf of `document`, by dotted path, as text, in the document's order.
pub fn flatten(document: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    leaves("", document, &mut out);
    out
}

fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(&path, child, out);
            }
        }
        Value::String(text) => out.push((prefix.to_owned(), text.clone())),
        Value::Null => {}
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nested_scalars_become_dotted_keys_sequences_stay_whole_and_nulls_go() {
        let document = serde_json::json!({
            "max": 20, "limits": {"sides": 100, "name": "d"}, "list": [1, 2], "off": null, "on": true
        });
        let flat = super::flatten(&document);
        let get = |key: &str| flat.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(get("max"), Some("20"));
        assert_eq!(get("limits.sides"), Some("100"));
        assert_eq!(get("limits.name"), Some("d"));
        assert_eq!(get("list"), Some("[1,2]"));
        assert_eq!(get("on"), Some("true"));
        assert_eq!(get("off"), None);
    }
}

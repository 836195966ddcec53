//! CyTube's payload typecheck (the json-typecheck library behind `typecheckedOn`) and the
//! JavaScript text helpers the handlers share.

use serde_json::{json, Value};

use super::state::{State, Who};

/// CyTube's `typecheck` (json-typecheck) of `data` against `template` (key, allowed types);
/// the error text on failure.
pub(crate) fn typecheck(data: &Value, template: &[(&str, &str)]) -> Result<(), String> {
    let Value::Object(object) = data else {
        return Err(format!("Expected type object, got {}", type_of(data)));
    };
    for (key, expect) in template {
        match object.get(*key) {
            None if expect.contains("optional") => {}
            None => return Err(format!("Missing key: {expect}:{key}")),
            Some(value) => {
                let actual = type_of(value);
                if !expect.contains(actual) {
                    return Err(format!(
                        "Expected key {key} to be of type {expect}, instead got {actual}"
                    ));
                }
            }
        }
    }
    if let Some(extra) = object
        .keys()
        .find(|k| !template.iter().any(|(t, _)| t == k))
    {
        return Err(format!("Extra key: {extra}"));
    }
    Ok(())
}

/// [`typecheck`], answering a failure with CyTube's `errorMsg`; `true` when it passed.
pub(crate) fn typechecked(
    state: &mut State,
    who: &Who,
    event: &str,
    data: &Value,
    template: &[(&str, &str)],
) -> bool {
    match typecheck(data, template) {
        Ok(()) => true,
        Err(detail) => {
            let msg = format!("Unexpected error for message {event}: {detail}");
            state.reply(who, "errorMsg", &json!({ "msg": msg }));
            false
        }
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// CyTube's `XSS.sanitizeText`.
pub(crate) fn sanitize_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
        .replace('(', "&#40;")
        .replace(')', "&#41;")
}

/// JavaScript's `s.length` (UTF-16 units).
pub(crate) fn js_len(text: &str) -> usize {
    text.encode_utf16().count()
}

//! The new crate's files: the templates filled in for its names and placement.

use super::{
    Names, Placement, Sdk, CARGO_TOML, CONFIG_DEFAULT_YAML, DEV_LOOP, GITIGNORE, LIB_RS,
    MANIFEST_YAML, README_MD, WORKSPACE_SDK_PATH,
};

/// The files of the new crate, relative to its folder, rendered for `names` at `placement`
/// with `author` in the manifest.
pub(crate) fn render(
    names: &Names,
    placement: &Placement,
    author: &str,
) -> Vec<(&'static str, String)> {
    let description = format!(
        "Greets whoever calls !{}, with the greeting from its configuration.",
        names.command
    );
    let crate_note = if names.crate_name == names.plugin {
        String::new()
    } else {
        format!(
            "# The plugin's name (manifest.yaml) is `{}`, which cannot name a crate.\n",
            names.plugin
        )
    };
    let sdk = match &placement.sdk {
        Sdk::Workspace => format!(
            "# The rosey SDK, from this workspace.\nrosey-abi = {{ path = \"{WORKSPACE_SDK_PATH}\" }}"
        ),
        Sdk::Checkout(dir) => format!(
            "# The rosey SDK, from the rosey checkout this crate was made with.\nrosey-abi = {{ path = {} }}",
            toml_string(&dir.to_string_lossy())
        ),
        Sdk::Registry => format!(
            "# The rosey SDK. No rosey checkout was found when this crate was made, so it comes from\n\
             # crates.io; to build against a checkout: rosey-abi = {{ path = \"/path/to/rosey/rosey-abi\" }}\n\
             rosey-abi = \"{}\"",
            rosey_abi::SDK_VERSION
        ),
    };
    // The same SDK with its testing kit, for the unit tests only.
    let sdk_testing = match &placement.sdk {
        Sdk::Workspace => {
            format!("rosey-abi = {{ path = \"{WORKSPACE_SDK_PATH}\", features = [\"testing\"] }}")
        }
        Sdk::Checkout(dir) => format!(
            "rosey-abi = {{ path = {}, features = [\"testing\"] }}",
            toml_string(&dir.to_string_lossy())
        ),
        Sdk::Registry => format!(
            "rosey-abi = {{ version = \"{}\", features = [\"testing\"] }}",
            rosey_abi::SDK_VERSION
        ),
    };
    let workspace = if placement.workspace.is_some() {
        String::new()
    } else {
        "\n# Empty: this crate is a workspace of its own, so it builds wherever it lives, even in a\n\
         # folder of another workspace. Remove it only if the crate moves into a rosey checkout's\n\
         # plugins/ folder (that workspace lists plugins/* as members).\n\
         [workspace]\n"
            .to_owned()
    };
    let dev = match &placement.workspace {
        Some(root) => format!(
            "This crate is a member of the cargo workspace at `{}`, in its `plugins/` folder.\n\
             Run `rosey dev` from there (for example `rosey --home demo-home dev`): it watches every\n\
             crate in `plugins/`, this one included.\n\n{DEV_LOOP}",
            root.display()
        ),
        None => format!(
            "`rosey dev` watches the crates listed under `dev.watch` in the home's `rosey.yaml`\n\
             (paths relative to the home, or absolute):\n\n\
             ```yaml\ndev:\n  watch:\n    - {}\n```\n\n\
             Then run `rosey dev`.\n\n{DEV_LOOP}",
            yaml_scalar(&placement.dir.to_string_lossy())
        ),
    };
    let author = yaml_scalar(author);
    let values = [
        ("crate_note", crate_note.as_str()),
        ("crate", &names.crate_name),
        ("description", &description),
        ("sdk", &sdk),
        ("sdk_testing", &sdk_testing),
        ("workspace", &workspace),
        ("author", &author),
        ("type", &names.type_name),
        ("command", &names.command),
        ("name", &names.plugin),
        ("dev", &dev),
    ];
    let fill = |template: &str| fill(template, &values);
    vec![
        ("Cargo.toml", fill(CARGO_TOML).trim_end().to_owned() + "\n"),
        (rosey_core::archive::MANIFEST_FILE, fill(MANIFEST_YAML)),
        (
            rosey_core::archive::DEFAULT_CONFIG_FILE,
            fill(CONFIG_DEFAULT_YAML),
        ),
        ("src/lib.rs", fill(LIB_RS)),
        ("README.md", fill(README_MD)),
        (".gitignore", fill(GITIGNORE)),
    ]
}

/// `template` with each `{{key}}` of `values` replaced by its value, in one pass (a value is
/// never searched for keys); an unknown `{{key}}` stays as it is.
pub(super) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut filled = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        filled.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let value = after.find("}}").and_then(|end| {
            let key = &after[..end];
            let value = values.iter().find(|(name, _)| *name == key)?.1;
            Some((value, &after[end + 2..]))
        });
        match value {
            Some((value, next)) => {
                filled.push_str(value);
                rest = next;
            }
            None => {
                filled.push_str("{{");
                rest = after;
            }
        }
    }
    filled.push_str(rest);
    filled
}

/// `text` as a TOML basic string.
pub(super) fn toml_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `text` as a YAML scalar, quoted when it would otherwise read as something else.
pub(super) fn yaml_scalar(text: &str) -> String {
    serde_yaml_ng::to_string(text)
        .map(|yaml| yaml.trim_end().to_owned())
        .unwrap_or_else(|_| format!("{text:?}"))
}

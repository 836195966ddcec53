//! `rosey plugin new <name> [--path DIR]`: a new plugin crate that builds, packs and installs
//! as it is, so an author starts from something that works and edits it.
//!
//! The crate is written to a hidden folder beside its destination (at the workspace's root when
//! it joins one, where cargo's `plugins/*` does not see it) and moved into place at the end: a
//! failure leaves nothing behind, and `rosey dev` (which ignores hidden folders) sees the
//! finished crate appear at once. Created in the `plugins/` folder of a workspace that lists
//! `plugins/*` (a rosey checkout), the crate joins that workspace, as the example plugins do;
//! anywhere else it is a workspace of its own, depending on the rosey-abi of the checkout this
//! rosey was built from, or on crates.io when there is none.
//!
//! The files come from the templates in `templates/`, with `{{key}}` placeholders.

mod place;
mod render;
mod staging;
#[cfg(test)]
mod tests;

use std::{
    io::ErrorKind,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use rosey_core::{manifest::is_valid_plugin_name, units};

use place::{absolute, find_sdk, new_folder_in_plugins, place, resolved, taken_in_workspace};
pub(crate) use place::{Placement, Sdk};
pub(crate) use render::render;
use staging::Staging;

/// The crate's Cargo.toml.
const CARGO_TOML: &str = include_str!("templates/Cargo.toml.tmpl");
/// The manifest template `rosey plugin pack` completes.
const MANIFEST_YAML: &str = include_str!("templates/manifest.yaml.tmpl");
/// The plugin's settings and their defaults.
const CONFIG_DEFAULT_YAML: &str = include_str!("templates/config.default.yaml.tmpl");
/// The plugin's source.
const LIB_RS: &str = include_str!("templates/lib.rs.tmpl");
/// How to test, pack, install and develop the crate.
const README_MD: &str = include_str!("templates/README.md.tmpl");
/// Keeps the build out of version control.
const GITIGNORE: &str = include_str!("templates/gitignore.tmpl");

/// Where a crate in a workspace's `plugins/` finds the workspace's rosey-abi.
const WORKSPACE_SDK_PATH: &str = "../../rosey-abi";

/// The longest command word a manifest accepts (see `rosey_core::manifest::is_valid_command`).
const MAX_COMMAND_CHARS: usize = 32;

/// What `rosey dev` does with the crate, for its README.
const DEV_LOOP: &str = "Every save rebuilds the plugin and hot-reloads it into the running bot, its state\n\
                        carried over; a save that does not compile shows the compiler's errors and keeps\n\
                        the last good build running.\n";

/// Package names cargo accepts but that clash with the standard library's crates (rustdoc
/// refuses a crate called `std`, a test harness links one called `test`).
const STD_CRATES: &[&str] = &["std", "core", "alloc", "test", "proc-macro"];

/// The names a plugin's crate is written with, all derived from the plugin's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    /// The plugin's name (manifest.yaml), as the operator sees it.
    pub plugin: String,
    /// The cargo package name: the plugin's name, unless that cannot name a crate.
    pub crate_name: String,
    /// The Rust type that implements `Plugin`.
    pub type_name: String,
    /// The one command the new plugin answers: the first word of its name.
    pub command: String,
}

impl Names {
    /// The names for plugin `name`, or why `name` cannot be a new plugin's.
    pub fn new(name: &str) -> Result<Names> {
        check_name(name)?;
        let words: Vec<&str> = name.split('-').collect();
        let crate_name =
            if name.starts_with(|c: char| c.is_ascii_lowercase()) && !STD_CRATES.contains(&name) {
                name.to_owned()
            } else {
                format!("plugin-{name}")
            };
        let camel: String = words
            .iter()
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        // A suffix keeps it clear of the SDK's and the prelude's names (`Context`, `String`)
        // and of the keyword `Self`; a type name cannot start with a digit.
        let type_name = if camel.starts_with(|c: char| c.is_ascii_digit()) {
            format!("Plugin{camel}")
        } else {
            format!("{camel}Plugin")
        };
        let command: String = words[0].chars().take(MAX_COMMAND_CHARS).collect();
        Ok(Names {
            plugin: name.to_owned(),
            crate_name,
            type_name,
            command,
        })
    }
}

/// Why `name` cannot be a new plugin's: the manifest's rule (which `rosey plugin install`
/// enforces), the names of rosey's own parts, and what a crate name needs besides.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if !is_valid_plugin_name(name) {
        let example = suggest(name)
            .map(|example| format!(" (for example {example:?})"))
            .unwrap_or_default();
        bail!(
            "{name:?} is not a valid plugin name: use 3 to 50 characters of a-z, 0-9 and -{example}"
        );
    }
    if units::is_reserved(name) {
        bail!(
            "{name:?} is the name of a part of rosey itself ({}): choose another name, for example {:?}",
            units::RESERVED_NAMES.join(", "),
            format!("{name}-plugin")
        );
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        let example = suggest(name)
            .map(|example| format!(", for example {example:?}"))
            .unwrap_or_default();
        bail!(
            "{name:?} cannot name a plugin crate and its command: start and end the name with a \
             letter or digit, and do not put two - together{example}"
        );
    }
    Ok(())
}

/// A name close to `name` that [`check_name`] accepts, if there is one.
fn suggest(name: &str) -> Option<String> {
    let cleaned: String = name
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c == '_' || c.is_whitespace() {
                '-'
            } else {
                c
            }
        })
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect();
    let joined = cleaned
        .split('-')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let example: String = joined.chars().take(50).collect();
    let example = example.trim_end_matches('-').to_owned();
    (example != name
        && is_valid_plugin_name(&example)
        && !units::is_reserved(&example)
        && !example.contains("--"))
    .then_some(example)
}

/// What `rosey plugin new` made.
#[derive(Debug)]
pub(crate) struct Created {
    /// The names the crate was written with.
    pub names: Names,
    /// Where it went and how it builds there.
    pub placement: Placement,
}

/// Creates the crate for plugin `name` at `path` (default `<cwd>/<name>`), with `author` in its
/// manifest; refuses, writing nothing, a bad name or a folder that is taken.
pub(crate) fn create(name: &str, path: Option<&Path>, cwd: &Path, author: &str) -> Result<Created> {
    let names = Names::new(name)?;
    let target = absolute(path.unwrap_or(Path::new(name)), cwd);
    if target.parent().is_none() {
        bail!(
            "{} cannot hold a crate: pass --path with a folder to create",
            target.display()
        );
    }
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_dir() => {
            let empty = std::fs::read_dir(&target)
                .with_context(|| format!("cannot read the folder {}", target.display()))?
                .next()
                .is_none();
            if !empty {
                bail!(
                    "{} already exists and is not empty: choose another plugin name, or pass \
                     --path with a folder that does not exist yet (or is empty)",
                    target.display()
                );
            }
        }
        Ok(_) => bail!(
            "{} already exists and is not a folder: choose another plugin name, or pass --path \
             with a folder that does not exist yet",
            target.display()
        ),
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => bail!("cannot look at {}: {err}", target.display()),
    }
    let real = resolved(&target);
    if let Some(between) = new_folder_in_plugins(&real) {
        bail!(
            "{} would be a new folder in the plugins/ of the workspace at {}, which takes every \
             folder there for a crate, so its build would break: create the crate directly in \
             plugins/, or outside it",
            between.display(),
            between
                .parent()
                .and_then(Path::parent)
                .unwrap_or(&between)
                .display()
        );
    }
    let placement = place(&real, find_sdk);
    if let Some(root) = &placement.workspace {
        if let Some((dir, what)) = taken_in_workspace(root, &names) {
            bail!(
                "the workspace at {} already has {what} ({}): choose another plugin name",
                root.display(),
                dir.display()
            );
        }
    }
    // Outside the workspace's plugins/, whose `plugins/*` would take it for a member.
    let within = placement
        .workspace
        .clone()
        .or_else(|| target.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| cwd.to_path_buf());
    let staging = Staging::new(&target, &within)?;
    for (relative, contents) in render(&names, &placement, author) {
        staging.write(relative, &contents)?;
    }
    staging.finish(&target)?;
    Ok(Created { names, placement })
}

/// The author a new manifest names: the user's login, which the author edits at will.
fn author() -> String {
    std::env::var("USER")
        .ok()
        .map(|user| user.trim().to_owned())
        .filter(|user| !user.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `text` as one shell word, quoted when it needs to be.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+,:@%=".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `rosey plugin new <name> [--path DIR]`: creates the crate and says what to do next.
pub(super) fn run_new(name: &str, path: Option<&Path>) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot determine the current folder")?;
    let created = create(name, path, &cwd, &author())?;
    let (names, placement) = (&created.names, &created.placement);
    // Commands are shown with the folder as the user named it, to be run from here.
    let shown = path.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    println!(
        "✓ Created plugin {} in {}",
        names.plugin,
        placement.dir.display()
    );
    println!();
    let builds = match (&placement.workspace, &placement.sdk) {
        (Some(root), _) => format!("a member of the workspace at {}", root.display()),
        (None, Sdk::Checkout(dir)) => format!("rosey-abi from {}", dir.display()),
        (None, _) => format!("rosey-abi {} from crates.io", rosey_abi::SDK_VERSION),
    };
    let files = [
        (
            "Cargo.toml".to_owned(),
            format!("the crate {}: {builds}", names.crate_name),
        ),
        (
            rosey_core::archive::MANIFEST_FILE.to_owned(),
            format!("the command !{}, permission send_messages", names.command),
        ),
        (
            rosey_core::archive::DEFAULT_CONFIG_FILE.to_owned(),
            "its setting greeting, with its default".to_owned(),
        ),
        (
            "src/lib.rs".to_owned(),
            "the plugin, with unit tests".to_owned(),
        ),
        (
            "README.md".to_owned(),
            "how to test, pack, install and develop it".to_owned(),
        ),
        (
            ".gitignore".to_owned(),
            "keeps target/ out of git".to_owned(),
        ),
    ];
    print_aligned(&files);
    if placement.sdk == Sdk::Registry {
        println!();
        println!(
            "! No rosey checkout was found beside this rosey binary, so rosey-abi comes from crates.io; \
             if the build cannot find it, point it at a checkout's rosey-abi in Cargo.toml"
        );
    }
    println!();
    println!("Next steps:");
    let archive = format!("{}-0.1.0.roseyplug", names.plugin);
    print_aligned(&[
        (
            format!(
                "cargo test --manifest-path {}",
                shell_word(&shown.join("Cargo.toml").to_string_lossy())
            ),
            "# Run its unit tests".to_owned(),
        ),
        (
            format!("rosey plugin pack {}", shell_word(&shown.to_string_lossy())),
            format!("# Build it into {archive}"),
        ),
        (
            format!("rosey plugin install {archive}"),
            format!("# Install it, then say !{} in the chat", names.command),
        ),
    ]);
    match &placement.workspace {
        Some(root) => println!(
            "Or run `rosey dev` from {}: it builds this crate and reloads it on every save.",
            root.display()
        ),
        None => println!(
            "Or develop it with `rosey dev`: list {} under dev.watch in the home's rosey.yaml \
             (see its README.md).",
            placement.dir.display()
        ),
    }
    Ok(())
}

/// Prints `rows` as two columns, the first padded to the widest, indented like the other
/// `rosey plugin` commands' lists.
fn print_aligned(rows: &[(String, String)]) {
    let width = rows
        .iter()
        .map(|(left, _)| left.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    for (left, right) in rows {
        println!("  {left:width$}{right}");
    }
}

//! One place for each concept (docs/ARCHITECTURE.md, "Where each concept lives"): NATS subjects
//! are spelled only in the messaging module (`rosey-core/src/messaging.rs` and
//! `rosey-core/src/messaging/`), the names of the files inside a rosey
//! home only in `rosey-core/src/paths.rs`, the services' unit names only in
//! `rosey-core/src/units.rs`, and exit codes only in `rosey-host/src/exit_codes.rs`. This test
//! reads the workspace's sources and fails, naming file:line, when code elsewhere spells one
//! of them again.
//!
//! Test code may spell subjects and paths freely: `#[cfg(test)]` items, `tests.rs` files and
//! files under a `tests/` folder are not read.

use std::path::{Path, PathBuf};

/// The crates whose `src/` is read.
const CRATES: &[&str] = &[
    "rosey",
    "rosey-core",
    "rosey-actors",
    "rosey-host",
    "rosey-abi",
];

/// The one module that spells subjects: its root file and its folder.
const MESSAGING: &str = "rosey-core/src/messaging.rs";
const MESSAGING_DIR: &str = "rosey-core/src/messaging/";

/// Whether `file` (relative, with `/`) is part of the messaging module.
fn in_messaging(file: &str) -> bool {
    file == MESSAGING || file.starts_with(MESSAGING_DIR)
}

/// The one file that spells paths inside a home.
const PATHS: &str = "rosey-core/src/paths.rs";

/// The first words of rosey's subjects (`rosey.<word>…`) the messaging module must spell: the
/// test also takes every other root the module spells, so a new family of subjects is
/// covered the day it is added there.
const SUBJECT_ROOTS: &[&str] = &[
    "events",
    "commands",
    "actions",
    "plugins",
    "supervision",
    "deadletter",
    "channel",
    "replay",
    "nodes",
    "main",
];

/// Every root word (`rosey.<word>`) the messaging module's literals spell, with
/// [`SUBJECT_ROOTS`], which must be among them.
fn subject_roots(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for file in files {
        let shown = file.to_string_lossy().replace('\\', "/");
        if !in_messaging(&shown) {
            continue;
        }
        for literal in literals(&read(root, file)) {
            let Some(rest) = literal.text.strip_prefix("rosey.") else {
                continue;
            };
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !word.is_empty() && !roots.contains(&word) {
                roots.push(word);
            }
        }
    }
    for expected in SUBJECT_ROOTS {
        assert!(
            roots.iter().any(|root| root == expected),
            "the messaging module no longer spells rosey.{expected}: update this test ({roots:?})"
        );
    }
    roots
}

/// File names defined once outside `paths.rs`, and the files allowed to spell them.
const NAMED_ELSEWHERE: &[(&str, &[&str])] = &[
    // A plugin's manifest: inside an archive, a version folder or a plugin crate.
    (
        "manifest.yaml",
        &["rosey-core/src/archive.rs", "rosey-core/src/paths.rs"],
    ),
    // The plugin host opens it and cannot depend on rosey-core; paths.rs re-exports it.
    ("kv.sqlite3", &["rosey-host/src/storage.rs"]),
];

/// The one file that spells unit names.
const UNITS: &str = "rosey-core/src/units.rs";

/// The one file that numbers exit codes.
const EXIT_CODES: &str = "rosey-host/src/exit_codes.rs";

/// Files that spell a service's name as another concept's word, and the word: the
/// channel-state part `bot` (what a plugin asks about the bot) on the wire and in its NATS
/// payload; `node` as the default name of a machine in a cluster.
const UNIT_WORD_ELSEWHERE: &[(&str, &str)] = &[
    ("rosey-core/src/messaging/channel.rs", "bot"),
    ("rosey-host/src/wire/mod.rs", "bot"),
    ("rosey-core/src/config/cluster.rs", "node"),
];

/// A string literal found in a source file.
struct Literal {
    /// 1-based line the literal starts on.
    line: usize,
    /// Its text as written (escapes left as they are).
    text: String,
}

/// The string literals of `source` outside comments and outside `#[cfg(test)]` items.
fn literals(source: &str) -> Vec<Literal> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let mut depth = 0usize;
    // While skipping a `#[cfg(test)]` item: the depth it started at, and whether its body has
    // opened (`{`).
    let mut skipping: Option<(usize, bool)> = None;
    let mut pending_test_attr = false;
    while i < bytes.len() {
        let c = bytes[i];
        let rest = &source[i..];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(comment) = rest.strip_prefix("/*") {
            let end = comment.find("*/").map_or(rest.len(), |at| at + 4);
            line += rest[..end].matches('\n').count();
            i += end;
        } else if rest.starts_with("#[cfg(test)]") {
            pending_test_attr = skipping.is_none();
            i += "#[cfg(test)]".len();
        } else if let Some((len, body_at, body_len)) = string_literal(rest) {
            if skipping.is_none() && !pending_test_attr {
                found.push(Literal {
                    line,
                    text: rest[body_at..body_at + body_len].to_owned(),
                });
            }
            line += rest[..len].matches('\n').count();
            i += len;
        } else if c == b'\'' {
            i += char_len(rest);
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            // Skip the whole identifier, so `r` or `b` inside one never starts a literal.
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            i += len;
        } else {
            if pending_test_attr {
                match c {
                    b'{' => {
                        skipping = Some((depth, true));
                        pending_test_attr = false;
                    }
                    b';' => pending_test_attr = false,
                    _ => {}
                }
            }
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if let Some((start, true)) = skipping {
                        if depth == start {
                            skipping = None;
                        }
                    }
                }
                _ => {}
            }
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    found
}

/// The length of the `"…"` literal `rest` starts with, quotes included.
fn quoted_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// When `rest` starts a string literal (`"…"`, raw or byte): its length, and where its body
/// starts and how long it is.
fn string_literal(rest: &str) -> Option<(usize, usize, usize)> {
    if rest.starts_with('"') {
        let len = quoted_len(rest);
        Some((len, 1, len.saturating_sub(2)))
    } else {
        raw_or_byte_string(rest)
    }
}

/// When `rest` starts a raw or byte string (`r"…"`, `r#"…"#`, `b"…"`, `br#"…"#`): its length,
/// and where its body starts and how long it is.
fn raw_or_byte_string(rest: &str) -> Option<(usize, usize, usize)> {
    let prefix = if rest.starts_with("br") {
        2
    } else if rest.starts_with('r') || rest.starts_with('b') {
        1
    } else {
        return None;
    };
    let raw = rest[..prefix].ends_with('r');
    let hashes = rest[prefix..].bytes().take_while(|b| *b == b'#').count();
    if rest.as_bytes().get(prefix + hashes) != Some(&b'"') || (!raw && hashes > 0) {
        return None;
    }
    let body_at = prefix + hashes + 1;
    if !raw {
        let len = quoted_len(&rest[prefix..]);
        return Some((prefix + len, body_at, len.saturating_sub(2)));
    }
    let close = format!("\"{}", "#".repeat(hashes));
    let body_len = rest[body_at..].find(&close).unwrap_or(rest.len() - body_at);
    Some((body_at + body_len + close.len(), body_at, body_len))
}

/// How far to skip at a `'`: a char literal (`'{'`, `'\''`) whole, a lifetime's quote alone.
fn char_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    if bytes.get(1) == Some(&b'\\') {
        return rest
            .get(3..)
            .and_then(|tail| tail.find('\''))
            .map_or(1, |at| at + 4);
    }
    match rest[1..].chars().next() {
        Some(ch) if rest[1 + ch.len_utf8()..].starts_with('\'') => 2 + ch.len_utf8(),
        _ => 1,
    }
}

/// Every non-test `.rs` file under the crates' `src/`, relative to the workspace root.
fn sources(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "tests" {
                    walk(&path, root, out);
                }
            } else if path.extension().is_some_and(|ext| ext == "rs") && name != "tests.rs" {
                out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    for krate in CRATES {
        walk(&root.join(krate).join("src"), root, &mut out);
    }
    out.sort();
    assert!(
        out.iter().any(|path| path.ends_with("messaging.rs")),
        "no sources found under {}",
        root.display()
    );
    out
}

fn read(root: &Path, file: &Path) -> String {
    std::fs::read_to_string(root.join(file))
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()))
}

fn is_subject(literal: &str, roots: &[String]) -> bool {
    literal == "rosey.>"
        || literal.starts_with("$JS.")
        || literal.starts_with("_INBOX.")
        || literal.strip_prefix("rosey.").is_some_and(|rest| {
            roots.iter().any(|root| {
                rest.starts_with(root.as_str())
                    && !rest[root.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            })
        })
}

/// The file names `paths.rs` spells: its literals that name a file rather than a plain word
/// (`rosey.pid`, `web-token`; not `data` or `plugins`, which are also unit names).
fn home_file_names(root: &Path) -> Vec<String> {
    let names: Vec<String> = literals(&read(root, Path::new(PATHS)))
        .into_iter()
        .map(|literal| literal.text)
        .filter(|text| (text.contains('.') || text.contains('-')) && !text.contains('{'))
        .collect();
    for expected in ["rosey.pid", "rosey.sock", "registry.json", "web-token"] {
        assert!(
            names.iter().any(|name| name == expected),
            "{PATHS} no longer spells {expected:?}: update this test ({names:?})"
        );
    }
    names
}

/// Whether `literal` is `name`, or holds a path to it (`/name`, ending there), also inside a
/// sentence (`see logs/rosey.log`); a bare mention in a sentence (`cannot read rosey.yaml`)
/// names the file, not its place.
fn names_file(literal: &str, name: &str) -> bool {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    literal == name
        || literal
            .match_indices(&format!("/{name}"))
            .any(|(at, found)| {
                let after = &literal[at + found.len()..];
                // A sentence's full stop after the path still ends it.
                after.is_empty()
                    || !after.starts_with(is_name_char)
                    || (after.starts_with('.') && !after[1..].starts_with(is_name_char))
            })
}

#[test]
fn subjects_and_home_paths_are_spelled_in_one_place() {
    let root = rosey_e2e::workspace_root();
    let home_names = home_file_names(&root);
    let files = sources(&root);
    let roots = subject_roots(&root, &files);
    let mut problems = Vec::new();
    for file in files {
        let shown = file.to_string_lossy().replace('\\', "/");
        for literal in literals(&read(&root, &file)) {
            let text = literal.text.as_str();
            let at = format!("{shown}:{}", literal.line);
            if !in_messaging(&shown) && is_subject(text, &roots) {
                problems.push(format!(
                    "{at}: NATS subject {text:?} spelled outside the messaging module ({MESSAGING}, {MESSAGING_DIR})"
                ));
            }
            if shown != PATHS {
                for name in home_names.iter().filter(|name| names_file(text, name)) {
                    problems.push(format!(
                        "{at}: home file {name:?} spelled outside {PATHS} (use a `Home` method or its constant)"
                    ));
                }
            }
            for (name, allowed) in NAMED_ELSEWHERE {
                if names_file(text, name) && !allowed.contains(&shown.as_str()) {
                    problems.push(format!(
                        "{at}: {name:?} spelled outside {} (use its constant)",
                        allowed.join(" or ")
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "one place for each concept (docs/ARCHITECTURE.md):\n{}",
        problems.join("\n")
    );
}

/// Calls that turn a number into a process's exit status.
const EXIT_CALLS: &[&str] = &["ExitCode::from(", "process::exit(", "exit_code("];

/// Where `source` (outside comments) passes a number straight to an exit call: line numbers.
fn numbered_exits(source: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for call in EXIT_CALLS {
            let mut rest = code;
            while let Some(at) = rest.find(call) {
                rest = &rest[at + call.len()..];
                if rest.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
                    found.push(index + 1);
                }
            }
        }
    }
    found
}

#[test]
fn unit_names_and_exit_codes_are_spelled_in_one_place() {
    let root = rosey_e2e::workspace_root();
    // `plugins` is also a plain word (a folder, a debug field): only the services' names are
    // checked bare; `plugins` when compared with a supervisor's name.
    let services = [
        rosey_core::units::NATS,
        rosey_core::units::BOT,
        rosey_core::units::WEB,
        rosey_core::units::NODE,
    ];
    let mut problems = Vec::new();
    for file in sources(&root) {
        let shown = file.to_string_lossy().replace('\\', "/");
        let source = read(&root, &file);
        let lines: Vec<&str> = source.lines().collect();
        if shown != UNITS && shown != PATHS {
            for literal in literals(&source) {
                let word = literal.text.as_str();
                let elsewhere = UNIT_WORD_ELSEWHERE.contains(&(shown.as_str(), word));
                // A `Debug` field's name is the struct's field, not the unit.
                let field_name = lines
                    .get(literal.line - 1)
                    .is_some_and(|line| line.contains(&format!(".field(\"{word}\"")));
                if services.contains(&word) && !elsewhere && !field_name {
                    problems.push(format!(
                        "{shown}:{}: unit name {:?} spelled outside {UNITS} (use rosey_core::units)",
                        literal.line, literal.text
                    ));
                }
            }
            for (index, line) in source.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains("supervisor == \"plugins\"") {
                    problems.push(format!(
                        "{shown}:{}: the plugin supervisor's name spelled outside {UNITS} (use rosey_core::units::PLUGINS)",
                        index + 1
                    ));
                }
            }
        }
        if shown != EXIT_CODES {
            for line in numbered_exits(&source) {
                problems.push(format!(
                    "{shown}:{line}: an exit code given as a number outside {EXIT_CODES} (use rosey_host::exit_codes)"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "one place for each concept (docs/ARCHITECTURE.md):\n{}",
        problems.join("\n")
    );
    assert_eq!(
        numbered_exits("std::process::exit(3);\nExitCode::from(CODE); // exit(1)"),
        [1]
    );
}

#[test]
fn the_scanner_sees_literals_and_skips_comments_and_test_code() {
    let source = r####"
// "rosey.events.>" in a comment
/* "rosey.lock" in a block comment */
fn a() { let c = '"'; let e = '\''; let d = '{'; subscribe("rosey.actions.>"); }
fn b<'a>(x: &'a str) { let _ = r#"raw "rosey.pid""#; }
#[cfg(test)]
mod tests {
    fn t() { let _ = "rosey.commands.roll"; let _ = "{"; }
}
#[cfg(test)]
use something::only_for_tests;
fn c() { let _ = b"bytes"; let _ = "web-token"; }
"####;
    let found: Vec<(usize, String)> = literals(source)
        .into_iter()
        .map(|literal| (literal.line, literal.text))
        .collect();
    assert_eq!(
        found,
        [
            (4, "rosey.actions.>".to_owned()),
            (5, "raw \"rosey.pid\"".to_owned()),
            (12, "bytes".to_owned()),
            (12, "web-token".to_owned()),
        ]
    );
    let roots = subject_roots(
        &rosey_e2e::workspace_root(),
        &sources(&rosey_e2e::workspace_root()),
    );
    assert!(is_subject("rosey.commands.", &roots));
    assert!(is_subject("rosey.deadletter.>", &roots));
    assert!(is_subject("rosey.nodes.main.heartbeat", &roots));
    assert!(is_subject("rosey.replay.dice.>", &roots));
    assert!(!is_subject("rosey.channels-of-mine", &roots));
    assert!(!is_subject("rosey.yaml", &roots));
    assert!(!is_subject("rosey.timer", &roots));
    assert!(!is_subject("rosey.main_menu", &roots));
    assert!(names_file("data/run/rosey.pid", "rosey.pid"));
    assert!(!names_file("cannot read rosey.yaml", "rosey.yaml"));
    assert!(names_file("see logs/rosey.log for details", "rosey.log"));
    assert!(names_file("see logs/rosey.log.", "rosey.log"));
    assert!(!names_file("see logs/rosey.log.1", "rosey.log"));
}

//! `checksums.sha256`: the archive's own integrity list, in the format `sha256sum` writes and
//! `sha256sum -c` checks, so an operator can verify an unpacked plugin with standard tools.

use std::collections::BTreeMap;

use super::{validate::normalize_name, ArchiveError, CHECKSUMS_FILE};

/// Renders `(path, sha256)` pairs as `checksums.sha256` text: one `<hex>  <path>` line each,
/// sorted by path so the same files always give the same text.
pub fn render_checksums<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8; 32])>) -> String {
    let sorted: BTreeMap<&str, &[u8; 32]> = entries.into_iter().collect();
    sorted
        .into_iter()
        .map(|(path, digest)| format!("{}  {path}\n", hex::encode(digest)))
        .collect()
}

/// The SHA-256 of `bytes`, as lowercase hex: how a whole archive is named when it travels
/// to a plugin node.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Parses `checksums.sha256` text into normalized path → lowercase hex digest. Accepts both
/// of sha256sum's separators (`  ` text mode, ` *` binary mode) and blank lines; anything else,
/// or a path listed twice, is [`ArchiveError::MalformedChecksums`].
pub fn parse_checksums(text: &str) -> Result<BTreeMap<String, String>, ArchiveError> {
    let mut sums = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let malformed = |reason: String| ArchiveError::MalformedChecksums {
            line: index + 1,
            reason,
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let (digest, rest) = line
            .split_at_checked(64)
            .ok_or_else(|| malformed("too short for a sha256 digest".into()))?;
        if !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("the digest is not 64 hex digits".into()));
        }
        let path = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .ok_or_else(|| malformed("expected two spaces between digest and path".into()))?;
        let path = normalize_name(path)
            .map_err(|err| malformed(format!("the path {path:?} is unusable: {err}")))?;
        if path == CHECKSUMS_FILE {
            return Err(malformed(format!(
                "it lists {CHECKSUMS_FILE} itself, which cannot hold its own digest"
            )));
        }
        if sums
            .insert(path.clone(), digest.to_ascii_lowercase())
            .is_some()
        {
            return Err(malformed(format!("{path:?} is listed twice")));
        }
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_parse_round_trips() {
        let a = [0xab; 32];
        let b = [0x01; 32];
        let text = render_checksums([("manifest.yaml", &a), ("assets/x.txt", &b)]);
        assert!(text.starts_with(&format!("{}  assets/x.txt\n", hex::encode(b))));
        let parsed = parse_checksums(&text).expect("parses");
        assert_eq!(parsed["manifest.yaml"], hex::encode(a));
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn binary_mode_and_uppercase_are_accepted() {
        let line = format!("{} *./lib.so\n", "AB".repeat(32));
        let parsed = parse_checksums(&line).expect("parses");
        assert_eq!(parsed["lib.so"], "ab".repeat(32));
    }

    #[test]
    fn malformed_lines_are_refused_with_their_number() {
        let good = format!("{}  a\n", "0".repeat(64));
        for bad in [
            "nonsense".to_string(),
            format!("{} a", "0".repeat(64)),
            format!("{}  a", "g".repeat(64)),
            format!("{}  ../a", "0".repeat(64)),
            format!("{}  a", "0".repeat(64)),
        ] {
            let err = parse_checksums(&format!("{good}{bad}\n")).expect_err(&bad);
            assert!(
                matches!(err, ArchiveError::MalformedChecksums { line: 2, .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn blank_lines_between_entries_are_skipped() {
        let text = format!("\n{}  a\n   \r\n\n{}  b\n", "0".repeat(64), "1".repeat(64));
        let parsed = parse_checksums(&text).expect("parses");
        assert_eq!(parsed.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    /// The reason a one-line checksum list with `path` is refused for.
    fn path_refused_for(path: &str) -> String {
        match parse_checksums(&format!("{}  {path}\n", "0".repeat(64))) {
            Err(ArchiveError::MalformedChecksums { line: 1, reason }) => reason,
            other => panic!("{path:?}: expected a malformed line 1, got {other:?}"),
        }
    }

    #[test]
    fn unusable_paths_are_refused_saying_why() {
        assert_eq!(
            path_refused_for("/etc/passwd"),
            "the path \"/etc/passwd\" is unusable: it is an absolute path"
        );
        assert_eq!(
            path_refused_for("a\0b"),
            "the path \"a\\0b\" is unusable: it contains a NUL byte"
        );
        assert_eq!(
            path_refused_for("./"),
            "the path \"./\" is unusable: it names no file"
        );
        assert_eq!(
            path_refused_for("assets\\x"),
            "the path \"assets\\\\x\" is unusable: it contains a backslash; folders are separated by `/`"
        );
    }

    #[test]
    fn the_list_may_not_list_itself() {
        assert_eq!(
            path_refused_for("./checksums.sha256"),
            "it lists checksums.sha256 itself, which cannot hold its own digest"
        );
    }
}

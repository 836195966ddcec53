//! Everyone's points across rounds, in the key-value store: one key per player,
//! `score/<name in lowercase>`, whose value is `<points> <name as last spelled>`.

use rosey_abi::{Kv, PluginResult};

/// The prefix of every score's key.
pub const KEY_PREFIX: &str = "score/";

/// The key of `user`'s score.
pub fn key(user: &str) -> String {
    format!("{KEY_PREFIX}{}", user.to_lowercase())
}

/// The points and name stored at a score's key (the name from the key when the value has
/// none); `None` when it cannot be read.
pub fn decode(key: &str, value: &str) -> Option<(String, u32)> {
    let (points, name) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let name = match name.trim() {
        "" => key.strip_prefix(KEY_PREFIX)?,
        name => name,
    };
    Some((name.to_owned(), points.parse().ok()?))
}

/// Gives `user` a point; their total.
pub fn add_point(kv: &Kv<'_>, user: &str) -> PluginResult<u32> {
    let key = key(user);
    let before = (kv.get_string(&key)?)
        .and_then(|value| decode(&key, &value))
        .map_or(0, |(_, points)| points);
    let total = before.saturating_add(1);
    kv.set(&key, format!("{total} {user}"))?;
    Ok(total)
}

/// The `n` highest scores, highest first (ties by name).
pub fn top(kv: &Kv<'_>, n: usize) -> PluginResult<Vec<(String, u32)>> {
    let mut scores = Vec::new();
    for key in kv.list(KEY_PREFIX)? {
        let Some(value) = kv.get_string(&key).ok().flatten() else {
            continue;
        };
        scores.extend(decode(&key, &value));
    }
    sort(&mut scores);
    scores.truncate(n);
    Ok(scores)
}

/// Highest first, ties by name.
pub fn sort(scores: &mut [(String, u32)]) {
    scores.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_read_back_with_the_name_as_spelled() {
        assert_eq!(key("Alice"), "score/alice");
        assert_eq!(
            decode("score/alice", "3 Alice"),
            Some(("Alice".to_owned(), 3))
        );
        assert_eq!(decode("score/bob", "2"), Some(("bob".to_owned(), 2)));
        assert_eq!(decode("score/bob", "lots"), None);
        let mut scores = vec![
            ("carol".to_owned(), 1),
            ("bob".to_owned(), 4),
            ("alice".to_owned(), 1),
        ];
        sort(&mut scores);
        assert_eq!(
            scores,
            [
                ("bob".to_owned(), 4),
                ("alice".to_owned(), 1),
                ("carol".to_owned(), 1)
            ]
        );
    }
}

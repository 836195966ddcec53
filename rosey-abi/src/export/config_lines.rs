//! The flat pairs of a configuration as one text (the `text` of a
//! [`crate::CONFIG_EVENT_KIND`] event): a line per pair, `key` TAB `value`, with `\\`, `\t`
//! and `\n` escaped in both, so the library needs no parser to read it.

fn escape(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The pairs as text.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        escape(key, &mut out);
        out.push('\t');
        escape(value, &mut out);
        out.push('\n');
    }
    out
}

/// The pairs in `text` (a line without a TAB is skipped).
pub fn decode(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(key, value)| (unescape(key), unescape(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pairs_with_tabs_newlines_and_backslashes_come_back_as_they_were() {
        let pairs = [
            ("greeting", "hi\tthere\nfriend"),
            ("path\\odd", "C:\\dir"),
            ("empty", ""),
        ];
        let text = super::encode(pairs.iter().copied());
        assert_eq!(text.lines().count(), 3);
        let back = super::decode(&text);
        let back: Vec<(&str, &str)> = back.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(back, pairs);
    }
}

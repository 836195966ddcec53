//! CyTube delivers chat as sanitised HTML (`&lt;`, `<strong>`, `<a href=…>`, emote `<img>`s);
//! plugins want the plain text a user typed. [`to_plain_text`] decodes the entities, turns the
//! tags of CyTube's default chat filters back into the markup that made them (`<strong>` →
//! `*`, `<em>` → `_`, `<code>` → `` ` ``, `<s>` → `~~`, so `!quote add my *best* line` reaches
//! the plugin as typed), makes an image its `title` or `alt` (an emote reads as its name), and
//! drops every other tag.

/// The plain text of CyTube chat HTML.
pub fn to_plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find(['<', '&']) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.starts_with('<') {
            match rest.find('>') {
                Some(end) => {
                    let tag = &rest[1..end];
                    if let Some(marker) = typed_marker(tag_name(tag)) {
                        out.push_str(marker);
                    } else if tag_name(tag).eq_ignore_ascii_case("img") {
                        if let Some(name) =
                            attribute(tag, "title").or_else(|| attribute(tag, "alt"))
                        {
                            out.push_str(&decode_entities(&name));
                        }
                    } else if tag_name(tag).eq_ignore_ascii_case("br") {
                        out.push(' ');
                    }
                    rest = &rest[end + 1..];
                }
                None => {
                    // A lone `<` is text (CyTube would have escaped it, but be lenient).
                    out.push('<');
                    rest = &rest[1..];
                }
            }
        } else {
            let (decoded, used) = entity(rest);
            out.push_str(&decoded);
            rest = &rest[used..];
        }
    }
    out.push_str(rest);
    out
}

/// The markup a user types for a tag CyTube's default filters produce (opening or closing).
fn typed_marker(name: &str) -> Option<&'static str> {
    let name = name.trim_start_matches('/').to_ascii_lowercase();
    match name.as_str() {
        "strong" | "b" => Some("*"),
        "em" | "i" => Some("_"),
        "code" => Some("`"),
        "s" | "strike" | "del" => Some("~~"),
        _ => None,
    }
}

fn tag_name(tag: &str) -> &str {
    let tag = tag.trim_start_matches('/');
    let end = tag
        .find(|c: char| c.is_whitespace() || c == '/')
        .unwrap_or(tag.len());
    &tag[..end]
}

/// The value of attribute `name` in the inside of a tag (`img src="x" title="Kappa"`).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut search = tag;
    while let Some(at) = search.find(name) {
        let before_ok = search[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
        let after = search[at + name.len()..].trim_start();
        if before_ok {
            if let Some(value) = after.strip_prefix('=') {
                let value = value.trim_start();
                let quote = value.chars().next()?;
                if quote == '"' || quote == '\'' {
                    let inner = &value[1..];
                    return inner.find(quote).map(|end| inner[..end].to_owned());
                }
                let end = value.find(char::is_whitespace).unwrap_or(value.len());
                return Some(value[..end].to_owned());
            }
        }
        search = &search[at + name.len()..];
    }
    None
}

/// Decodes every entity in `text` (for attribute values).
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let (decoded, used) = entity(&rest[start..]);
        out.push_str(&decoded);
        rest = &rest[start + used..];
    }
    out.push_str(rest);
    out
}

/// Decodes the entity at the start of `text` (which starts with `&`); returns the text and
/// how many bytes it used. Something that is not an entity is a literal `&`.
fn entity(text: &str) -> (String, usize) {
    let literal = ("&".to_owned(), 1);
    let Some(end) = text[1..]
        .find(';')
        .map(|at| at + 1)
        .filter(|end| *end <= 12)
    else {
        return literal;
    };
    let name = &text[1..end];
    let decoded = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let number =
                if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(decimal) = name.strip_prefix('#') {
                    decimal.parse().ok()
                } else {
                    None
                };
            number.and_then(char::from_u32)
        }
    };
    match decoded {
        Some(c) => (c.to_string(), end + 1),
        None => literal,
    }
}

#[cfg(test)]
mod tests {
    use super::to_plain_text;

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            to_plain_text("a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39; &#x2F; &nbsp;e"),
            "a <b> & \"c\" 'd' /  e"
        );
        assert_eq!(
            to_plain_text("AT&T & co &unknown; &#xZZ;"),
            "AT&T & co &unknown; &#xZZ;"
        );
        assert_eq!(to_plain_text("&amp;lt;"), "&lt;");
    }

    #[test]
    fn formatting_becomes_the_typed_markup_and_links_their_text() {
        assert_eq!(
            to_plain_text("<strong>bold</strong> <em>it</em> <code>!roll</code> <s>no</s>"),
            "*bold* _it_ `!roll` ~~no~~"
        );
        assert_eq!(
            to_plain_text(
                r#"see <a href="https://example.com/?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">https://example.com/?a=1&amp;b=2</a>"#
            ),
            "see https://example.com/?a=1&b=2"
        );
        assert_eq!(
            to_plain_text(
                r#"hi <img class="channel-emote" src="https://x/k.png" title="Kappa"> there"#
            ),
            "hi Kappa there"
        );
        assert_eq!(to_plain_text("2 < 3"), "2 < 3");
        assert_eq!(to_plain_text("plain"), "plain");
        assert_eq!(to_plain_text("ünï &#233;"), "ünï é");
    }

    #[test]
    fn a_line_break_becomes_a_space() {
        assert_eq!(to_plain_text("one<br>two<br />three"), "one two three");
    }

    #[test]
    fn an_image_reads_as_its_title_or_alt_however_the_attribute_is_written() {
        // Unquoted values end at whitespace.
        assert_eq!(
            to_plain_text("a <img src=x.png title=Kappa class=emote> b"),
            "a Kappa b"
        );
        // `data-title` is not `title`: the search goes on to `alt`.
        assert_eq!(
            to_plain_text(r#"<img data-title="no" alt="PogChamp" src="p.png">"#),
            "PogChamp"
        );
        // Entities in the value are decoded, each one.
        assert_eq!(
            to_plain_text(r#"<img title="Tom &amp; Jerry &lt;3">"#),
            "Tom & Jerry <3"
        );
        // Neither attribute: the image says nothing.
        assert_eq!(to_plain_text(r#"x<img src="p.png">y"#), "xy");
    }
}

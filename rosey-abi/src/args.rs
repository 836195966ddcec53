//! Command arguments: split them (quotes respected), parse typed values, and get errors worded
//! for the chat user, so a plugin can reply them as they are.
//!
//! [`Args`] reads a command's arguments left to right: [`Args::next`] for a required value,
//! [`Args::optional`] for one that may be left out, [`Args::rest`] for "the rest is a message",
//! and [`Args::finish`] to refuse extra words. [`split`] gives all the words at once, and
//! [`parse_duration`] reads the `10m` or `1h30m` of a reminder.
//!
//! Every failure is an [`ArgsError`] whose text names the argument (`missing <count>`). Reply it
//! to the user; it also converts into [`crate::Error`] with `?`, but an error returned from a
//! hook is only logged, so `?` suits a helper whose error `on_command` then replies.
//!
//! ```
//! use std::time::Duration;
//! use rosey_abi::args::{self, Args, ArgsError};
//!
//! // !remind 1h30m   stand up and stretch
//! let mut args = Args::new("1h30m   stand up and stretch");
//! assert_eq!(args.next_duration("delay")?, Duration::from_secs(90 * 60));
//! assert_eq!(args.rest_required("message")?, "stand up and stretch");
//!
//! // !poll "best pizza?" 3
//! let mut args = Args::new(r#""best pizza?" 3"#);
//! let question: String = args.next("question")?;
//! let hours: u32 = args.optional("hours")?.unwrap_or(24);
//! args.finish()?;
//! assert_eq!((question.as_str(), hours), ("best pizza?", 3));
//!
//! // Errors are short sentences to reply as they are.
//! let err = Args::new("abc").next::<u32>("count").unwrap_err();
//! assert_eq!(err.to_string(), r#"<count> must be a number, not "abc""#);
//! let err = args::split(r#"say "hi there"#).unwrap_err();
//! assert_eq!(err.to_string(), r#"unclosed " in: "hi there"#);
//! # Ok::<(), ArgsError>(())
//! ```

use std::{fmt, str::FromStr, time::Duration};

use crate::Command;

/// Longest piece of user input quoted back in an error, in characters.
const CLIP: usize = 40;

/// Quote pairs: opening, closing, and whether the pair is strict. A strict pair (double quotes)
/// must be closed and takes backslash escapes; a lenient one (single quotes) closes only at the
/// end of a word and, left unclosed, is an apostrophe (`'cause`, `it's`), not an error.
const QUOTES: [(char, char, bool); 4] = [
    ('"', '"', true),
    ('“', '”', true),
    ('\'', '\'', false),
    ('‘', '’', false),
];

/// Splits `text` into words, for commands that want all their words at once.
///
/// Words are separated by whitespace. A word that starts with a quote runs to the closing quote,
/// spaces included: `"double"`, `'single'` (and typographic `“…”`, `‘…’`, which phones type).
/// Inside double quotes a backslash escapes a quote or a backslash; elsewhere it is kept
/// (`\o/`). Quotes inside a word are kept (`don't`). An unclosed double quote is an error.
pub fn split(text: &str) -> Result<Vec<String>, ArgsError> {
    let mut words = Vec::new();
    let mut pos = 0;
    while let Some((word, end)) = word_at(text, pos)? {
        words.push(word);
        pos = end;
    }
    Ok(words)
}

/// Parses a duration as chat users type it: `90s`, `10m`, `1h30m`, `2d`, `1h 5m`, `1w`.
///
/// Units are `s`, `m`, `h`, `d` and `w`, or their words (`10 min`, `2 hours`), in any case.
/// A bare number is refused rather than guessed, and so is a duration too long to count.
pub fn parse_duration(text: &str) -> Result<Duration, ArgsError> {
    let text = text.trim();
    let fail = |kind| ArgsError::new(kind, None, text);
    let (mut rest, mut secs) = (text, 0u64);
    if rest.is_empty() {
        return Err(fail(Kind::NotADuration));
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at_checked(digits).unwrap_or_default();
        let after = after.trim_start();
        let letters = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at_checked(letters).unwrap_or_default();
        let unit: u64 = match unit.to_lowercase().as_str() {
            _ if number.is_empty() => return Err(fail(Kind::NotADuration)),
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 60 * 60,
            "d" | "day" | "days" => 24 * 60 * 60,
            "w" | "week" | "weeks" => 7 * 24 * 60 * 60,
            _ => return Err(fail(Kind::NotADuration)),
        };
        // Only ASCII digits are left, so the parse fails only when the number is too big.
        secs = (number.parse::<u64>().ok())
            .and_then(|number| number.checked_mul(unit))
            .and_then(|part| secs.checked_add(part))
            .ok_or_else(|| fail(Kind::TooLong))?;
        rest = after.trim_start();
    }
    Ok(Duration::from_secs(secs))
}

/// A command's arguments, read left to right.
///
/// Reading never panics, whatever the user typed. After an error, stop and reply it: the
/// cursor has moved past the word that failed.
#[derive(Clone, Debug)]
pub struct Args<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Args<'a> {
    /// Arguments read from `text`, e.g. a test's input or a command's [`Command::args`].
    pub fn new(text: &'a str) -> Self {
        Args { text, pos: 0 }
    }

    /// The arguments of `cmd`: everything after the command word.
    pub fn of(cmd: &Command<'a>) -> Self {
        Args::new(cmd.args())
    }

    /// The next word parsed as `T`; `name` is how errors call it (`missing <name>`).
    pub fn next<T>(&mut self, name: &str) -> Result<T, ArgsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.optional(name)?.ok_or_else(|| ArgsError::missing(name))
    }

    /// The next word parsed as `T`, or `None` when there are no words left.
    ///
    /// A word that is there but does not parse is still an error, not `None`.
    pub fn optional<T>(&mut self, name: &str) -> Result<Option<T>, ArgsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let Some(word) = self.word()? else {
            return Ok(None);
        };
        word.parse().map(Some).map_err(|err: T::Err| {
            let kind = match expected::<T>(&word) {
                Some(expected) => Kind::Invalid(expected),
                None => Kind::Rejected(err.to_string()),
            };
            ArgsError::new(kind, Some(name), &word)
        })
    }

    /// The next word as a duration (see [`parse_duration`]); `Duration` has no `FromStr`.
    pub fn next_duration(&mut self, name: &str) -> Result<Duration, ArgsError> {
        (self.optional_duration(name)?).ok_or_else(|| ArgsError::missing(name))
    }

    /// The next word as a duration, or `None` when there are no words left.
    pub fn optional_duration(&mut self, name: &str) -> Result<Option<Duration>, ArgsError> {
        let Some(word) = self.word()? else {
            return Ok(None);
        };
        parse_duration(&word).map(Some).map_err(|err| ArgsError {
            name: Some(name.to_owned()),
            ..err
        })
    }

    /// The rest of the text exactly as typed (quotes and inner spacing kept), trimmed; `""`
    /// when nothing is left. For commands whose last argument is a message.
    pub fn rest(&mut self) -> &'a str {
        let rest = self.text.get(self.pos..).unwrap_or_default().trim();
        self.pos = self.text.len();
        rest
    }

    /// Like [`Args::rest`], but `missing <name>` when nothing is left.
    pub fn rest_required(&mut self, name: &str) -> Result<&'a str, ArgsError> {
        match self.rest() {
            "" => Err(ArgsError::missing(name)),
            rest => Ok(rest),
        }
    }

    /// Checks that every word was read, so `!roll 2d6 extra` is refused, not half-understood.
    pub fn finish(self) -> Result<(), ArgsError> {
        match word_at(self.text, self.pos)? {
            None => Ok(()),
            Some((word, _)) => Err(ArgsError::new(Kind::Unexpected, None, &word)),
        }
    }

    /// Reads the next word and moves past it.
    fn word(&mut self) -> Result<Option<String>, ArgsError> {
        let found = word_at(self.text, self.pos)?;
        Ok(found.map(|(word, end)| {
            self.pos = end;
            word
        }))
    }
}

/// Why a command's arguments could not be read: a short sentence that names the argument,
/// worded for the user who typed the command, so `ctx.reply(err.to_string())` is a fine answer.
///
/// It converts into [`crate::Error`] with `?` (the text becomes the logged message), but an
/// error returned from a hook is only logged: reply it when the user should see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgsError {
    kind: Kind,
    name: Option<String>,
    value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Unclosed(char),
    Missing,
    Invalid(String),
    Rejected(String),
    Unexpected,
    NotADuration,
    TooLong,
}

impl ArgsError {
    fn new(kind: Kind, name: Option<&str>, value: &str) -> Self {
        let (name, value) = (name.map(str::to_owned), value.to_owned());
        ArgsError { kind, name, value }
    }

    /// `missing <name>`: for a required argument a plugin checks itself.
    pub fn missing(name: &str) -> Self {
        ArgsError::new(Kind::Missing, Some(name), "")
    }

    /// `<name> must be {expected}, not "{value}"`: for checks beyond parsing, e.g.
    /// `ArgsError::invalid("count", "500", "at most 100")`.
    pub fn invalid(name: &str, value: &str, expected: &str) -> Self {
        ArgsError::new(Kind::Invalid(expected.to_owned()), Some(name), value)
    }

    /// Whether an argument was left out, e.g. to answer with the command's usage instead.
    pub fn is_missing(&self) -> bool {
        self.kind == Kind::Missing
    }
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, value) = (self.name.as_deref().unwrap_or("?"), clip(&self.value));
        match &self.kind {
            Kind::Unclosed(quote) => write!(f, "unclosed {quote} in: {value}"),
            Kind::Missing => write!(f, "missing <{name}>"),
            Kind::Invalid(expected) => write!(f, "<{name}> must be {expected}, not \"{value}\""),
            Kind::Rejected(reason) if reason.is_empty() => {
                write!(f, "<{name}> can't be \"{value}\"")
            }
            Kind::Rejected(reason) => write!(f, "<{name}> can't be \"{value}\": {}", clip(reason)),
            Kind::Unexpected => write!(f, "unexpected \"{value}\""),
            Kind::NotADuration | Kind::TooLong => {
                if let Some(name) = &self.name {
                    write!(f, "<{name}>: ")?;
                }
                match self.kind {
                    Kind::TooLong => write!(f, "\"{value}\" is too long a duration"),
                    _ => write!(f, "\"{value}\" is not a duration (try 90s, 10m or 1h30m)"),
                }
            }
        }
    }
}

impl std::error::Error for ArgsError {}

/// The word starting at or after byte `from` of `text`, unquoted, and the byte just past it;
/// `None` when only whitespace is left.
fn word_at(text: &str, from: usize) -> Result<Option<(String, usize)>, ArgsError> {
    let tail = text.get(from..).unwrap_or_default();
    let Some(skipped) = tail.find(|c: char| !c.is_whitespace()) else {
        return Ok(None);
    };
    let start = from + skipped;
    let tail = text.get(start..).unwrap_or_default();
    let (mut word, mut len) = (String::new(), 0);
    let first = tail.chars().next().unwrap_or(' ');
    if let Some(&(_, close, strict)) = QUOTES.iter().find(|quote| quote.0 == first) {
        match quoted(tail, close, strict) {
            Some(span) => (word, len) = span,
            None if strict => return Err(ArgsError::new(Kind::Unclosed(first), None, tail)),
            None => {}
        }
    }
    let after = tail.get(len..).unwrap_or_default();
    let bare = after.find(char::is_whitespace).unwrap_or(after.len());
    word.push_str(after.get(..bare).unwrap_or_default());
    Ok(Some((word, start + len + bare)))
}

/// The inside of the quoted span `s` starts with, and the span's length in bytes with both
/// quotes; `None` when it is not closed.
fn quoted(s: &str, close: char, strict: bool) -> Option<(String, usize)> {
    let mut inside = String::new();
    let mut chars = s.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        let next = chars.peek().map(|&(_, next)| next);
        if strict && c == '\\' && (next == Some(close) || next == Some('\\')) {
            inside.extend(next);
            chars.next();
        } else if c == close && (strict || !matches!(next, Some(n) if !n.is_whitespace())) {
            return Some((inside, at + c.len_utf8()));
        } else {
            inside.push(c);
        }
    }
    None
}

/// What a standard type's value looks like, to complete "<name> must be …"; `None` for types
/// of the plugin's own, whose parse error is quoted instead.
fn expected<T>(value: &str) -> Option<String> {
    let (min, max): (i128, u128) = match std::any::type_name::<T>() {
        "f32" | "f64" => return Some("a number".to_owned()),
        "bool" => return Some("true or false".to_owned()),
        "char" => return Some("a single character".to_owned()),
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" => (0, u64::MAX.into()),
        "u128" => (0, u128::MAX),
        "usize" => (0, usize::MAX as u128),
        "i8" => (i8::MIN.into(), i8::MAX as u128),
        "i16" => (i16::MIN.into(), i16::MAX as u128),
        "i32" => (i32::MIN.into(), i32::MAX as u128),
        "i64" => (i64::MIN.into(), i64::MAX as u128),
        "i128" => (i128::MIN, i128::MAX as u128),
        "isize" => (isize::MIN as i128, isize::MAX as u128),
        _ => return None,
    };
    // A number, but not a whole one or out of range: say which numbers would do.
    Some(match value.parse::<f64>() {
        Ok(_) => format!("a whole number from {min} to {max}"),
        Err(_) => "a number".to_owned(),
    })
}

/// User input as quoted back in an error: at most [`CLIP`] characters, control characters
/// (a newline, say) shown as spaces so the reply stays one line.
fn clip(text: &str) -> String {
    let mut chars = text.chars().map(|c| if c.is_control() { ' ' } else { c });
    let mut clipped: String = chars.by_ref().take(CLIP).collect();
    if chars.next().is_some() {
        clipped.push('…');
    }
    clipped
}

#[cfg(test)]
mod tests;

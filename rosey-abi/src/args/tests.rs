//! The argument helpers, against every shape of input a chat user can type.
use super::*;

fn error<T: fmt::Debug>(result: Result<T, ArgsError>) -> String {
    result.expect_err("should fail").to_string()
}

fn typed<T: FromStr + fmt::Debug>(text: &str) -> String
where
    T::Err: fmt::Display,
{
    error(Args::new(text).next::<T>("n"))
}

#[test]
fn split_respects_quotes_escapes_and_unicode() {
    #[rustfmt::skip]
    let cases: [(&str, &[&str]); 12] = [
        ("", &[]),
        (" \t ", &[]),
        ("  roll\t2d6  now ", &["roll", "2d6", "now"]),
        (r#"a "two  words" 'and three'"#, &["a", "two  words", "and three"]),
        (r#""" '' "a b"c"#, &["", "", "a bc"]),
        ("“smart quotes” ‘too’", &["smart quotes", "too"]),
        (r#""say \"hi\" \\ \n""#, &[r#"say "hi" \ \n"#]),
        (r"\o/ ¯\_(ツ)_/¯ 'a\'", &[r"\o/", r"¯\_(ツ)_/¯", r"a\"]),
        ("don't 'cause it's", &["don't", "'cause", "it's"]),
        ("rock 'n roll' 'it''s'", &["rock", "n roll", "it''s"]),
        ("‘tis don’t", &["‘tis", "don’t"]),
        ("héllo 世界\u{a0}🎲 \"é 🎉\" e\u{301} 'ñ'", &["héllo", "世界", "🎲", "é 🎉", "e\u{301}", "ñ"]),
    ];
    for (text, want) in cases {
        let words = split(text).unwrap_or_else(|err| panic!("{text:?}: {err}"));
        assert_eq!(words, want, "{text:?}");
    }
}

#[test]
fn unclosed_double_quotes_are_errors() {
    assert_eq!(
        error(split(r#"say "hi there"#)),
        r#"unclosed " in: "hi there"#
    );
    assert_eq!(error(split("ok “no end")), "unclosed “ in: “no end");
    let long = format!("\"{}\n", "é".repeat(50));
    let clipped = format!("unclosed \" in: \"{}…", "é".repeat(CLIP - 1));
    assert_eq!(error(split(&long)), clipped);
}

#[test]
fn typed_parse_errors_name_the_argument() {
    assert_eq!(Args::new("12").next::<u32>("count"), Ok(12));
    #[rustfmt::skip]
    let cases = [
        (typed::<u32>("abc"), r#"<n> must be a number, not "abc""#),
        (typed::<u32>("1.5"), r#"<n> must be a whole number from 0 to 4294967295, not "1.5""#),
        (typed::<u8>("300"), r#"<n> must be a whole number from 0 to 255, not "300""#),
        (typed::<i8>("-200"), r#"<n> must be a whole number from -128 to 127, not "-200""#),
        (typed::<f64>("x"), r#"<n> must be a number, not "x""#),
        (typed::<bool>("yes"), r#"<n> must be true or false, not "yes""#),
        (typed::<char>("ab"), r#"<n> must be a single character, not "ab""#),
        (typed::<std::num::NonZeroU8>("0"), r#"<n> can't be "0": number would be zero for non-zero type"#),
        (typed::<String>(""), "missing <n>"),
        (typed::<u8>(&"a".repeat(60)), &format!("<n> must be a number, not \"{}…\"", "a".repeat(CLIP))),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
    assert!(Args::new(" ").next::<u8>("n").unwrap_err().is_missing());
}

#[test]
fn optional_is_none_only_when_nothing_is_left() {
    let mut args = Args::new("3 x");
    assert_eq!(args.optional::<u32>("sides"), Ok(Some(3)));
    assert_eq!(
        error(args.optional::<u32>("n")),
        r#"<n> must be a number, not "x""#
    );
    assert_eq!(args.optional::<u32>("n"), Ok(None));
    assert_eq!(args.optional::<String>("more"), Ok(None));
}

#[test]
fn rest_keeps_the_users_own_spacing() {
    let mut args = Args::new(r#"10m   stand up,  "and"   stretch "#);
    assert_eq!(args.next::<String>("delay").as_deref(), Ok("10m"));
    assert_eq!(args.rest(), r#"stand up,  "and"   stretch"#);
    assert_eq!(args.rest(), "");
    assert_eq!(error(args.rest_required("message")), "missing <message>");
    let mut args = Args::new(r#""a b"  c "open"#);
    assert_eq!(args.next::<String>("x").as_deref(), Ok("a b"));
    assert_eq!(args.rest_required("message"), Ok(r#"c "open"#));
    assert_eq!(args.finish(), Ok(()));
}

#[test]
fn finish_refuses_extra_words() {
    let mut args = Args::new("2d6 'extra words' more");
    assert_eq!(args.next::<String>("dice").as_deref(), Ok("2d6"));
    assert_eq!(error(args.clone().finish()), r#"unexpected "extra words""#);
    args.rest();
    assert_eq!(args.finish(), Ok(()));
    assert_eq!(Args::new("  ").finish(), Ok(()));
    assert_eq!(error(Args::new("\"x").finish()), r#"unclosed " in: "x"#);
}

#[test]
fn durations_parse_as_typed_in_chat() {
    #[rustfmt::skip]
    let cases = [("90s", 90), ("10m", 600), ("1h30m", 5400), (" 1h 5m ", 3900), ("2d", 172_800),
        ("0s", 0), ("1W 2 Hours 10 min", 612_600), ("18446744073709551615s", u64::MAX)];
    for (text, secs) in cases {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_secs(secs)),
            "{text:?}"
        );
    }
    for bad in [
        "10x", "10", "", "h", "1h30", "-5m", "1.5h", "5m!", "٣m", "10мин",
    ] {
        let want = format!("\"{bad}\" is not a duration (try 90s, 10m or 1h30m)");
        assert_eq!(error(parse_duration(bad)), want);
    }
}

#[test]
fn too_long_durations_are_errors() {
    for long in [
        "18446744073709551616s",
        "99999999999999999w",
        "18446744073709551615s 1s",
    ] {
        let want = format!("\"{long}\" is too long a duration");
        assert_eq!(error(parse_duration(long)), want);
    }
}

#[test]
fn next_duration_names_the_argument() {
    let mut args = Args::new("1h30m 10x");
    assert_eq!(args.next_duration("delay"), Ok(Duration::from_secs(5400)));
    let want = r#"<delay>: "10x" is not a duration (try 90s, 10m or 1h30m)"#;
    assert_eq!(error(args.next_duration("delay")), want);
    assert_eq!(error(args.next_duration("delay")), "missing <delay>");
    assert_eq!(args.optional_duration("delay"), Ok(None));
}

#[test]
fn errors_convert_into_the_sdk_error() {
    fn on_command(text: &str) -> crate::PluginResult<u32> {
        let mut args = Args::new(text);
        let count = args.next("count")?;
        args.finish()?;
        Ok(count)
    }
    assert_eq!(on_command("7").ok(), Some(7));
    assert_eq!(
        on_command("7 8").unwrap_err().message(),
        r#"unexpected "8""#
    );
    let custom = ArgsError::invalid("count", "500", "at most 100");
    let want = r#"<count> must be at most 100, not "500""#;
    assert_eq!(crate::Error::from(custom).message(), want);
}

#[test]
fn args_of_a_command_reads_its_args() {
    let raw = crate::ffi::FfiCommand {
        id: "1".into(),
        command: "roll".into(),
        args: "2 d6".into(),
        user: "ann".into(),
        channel: "c".into(),
        source: crate::MessageSource::Chat,
        time_ms: 0,
    };
    let mut args = Args::of(&Command::new(&raw));
    assert_eq!((args.next::<u8>("count"), args.rest()), (Ok(2), "d6"));
}

/// Every string of up to 4 characters from an alphabet of awkward ones: nothing panics,
/// and reading word by word agrees with `split`.
#[test]
fn no_input_panics() {
    let alphabet = [
        ' ', '"', '\'', '\\', 'a', '1', 'h', '“', '’', 'é', '🎲', '\n',
    ];
    for mut n in 0..alphabet.len().pow(4) {
        let mut text = String::new();
        while n > 0 {
            text.extend(alphabet.get(n % alphabet.len()));
            n /= alphabet.len();
        }
        let _ = (parse_duration(&text), Args::new(&text).next::<u8>("n"));
        let mut args = Args::new(&text);
        let _ = (args.next_duration("d"), args.rest(), args.finish());
        let (mut args, mut read) = (Args::new(&text), Vec::new());
        while let Ok(Some(word)) = args.optional::<String>("w") {
            read.push(word);
        }
        match split(&text) {
            Ok(split) => assert_eq!(split, read, "{text:?}"),
            Err(err) => assert!(err.to_string().starts_with("unclosed"), "{text:?}"),
        }
    }
}

//! Tests of the module `outbox`.

use super::*;

fn chat(text: &str) -> Outgoing {
    Outgoing::Chat { text: text.into() }
}

#[test]
fn splits_on_word_boundaries_and_lines() {
    assert_eq!(split_message("hello world", 320), ["hello world"]);
    assert_eq!(split_message("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
    assert_eq!(split_message("aaa bbb ccc", 8), ["aaa bbb", "ccc"]);
    assert_eq!(
        split_message("aaaaaaaaaa bb", 4),
        ["aaaa", "aaaa", "aa", "bb"]
    );
    assert_eq!(
        split_message("one\n\n two \nthree", 320),
        ["one", "two", "three"]
    );
    assert!(split_message("  \n ", 320).is_empty());
    assert_eq!(split_message("éé éé", 2), ["éé", "éé"]);
    assert_eq!(split_message("aéé", 1), ["a", "é", "é"]);
    let long = "word ".repeat(100);
    let pieces = split_message(&long, MAX_MESSAGE_CHARS);
    assert!(pieces
        .iter()
        .all(|p| p.chars().count() <= MAX_MESSAGE_CHARS));
    assert_eq!(pieces.join(" "), long.trim());
    assert!(pieces
        .iter()
        .all(|p| !p.starts_with(' ') && !p.ends_with(' ')));
}

#[test]
fn paces_a_burst_then_a_rate() {
    let t0 = Instant::now();
    let mut outbox = Outbox::new(2, 10.0, t0);
    for n in 0..4 {
        outbox.push(chat(&n.to_string()));
    }
    assert_eq!(outbox.take(t0), Some(chat("0")));
    assert_eq!(outbox.take(t0), Some(chat("1")));
    assert_eq!(outbox.take(t0), None);
    let next = outbox.next_send_at(t0).expect("more to send");
    assert!(next > t0 && next <= t0 + Duration::from_millis(100));
    assert_eq!(outbox.take(next), Some(chat("2")));
    assert_eq!(outbox.len(), 4, "three in flight, one queued");
    outbox.confirmed();
    outbox.confirmed();
    outbox.confirmed();
    assert_eq!(outbox.len(), 1);
}

#[test]
fn a_dropped_message_is_resent_first_and_in_order() {
    let t0 = Instant::now();
    let mut outbox = Outbox::new(5, 5.0, t0);
    for text in ["a", "b", "c", "d"] {
        outbox.push(chat(text));
    }
    for _ in 0..3 {
        outbox.take(t0).expect("within the burst");
    }
    outbox.confirmed(); // a
    outbox.dropped(100, t0); // b
    assert_eq!(outbox.next_send_at(t0), None, "c still in flight");
    outbox.dropped(100, t0); // c
    assert_eq!(outbox.dropped_total(), 2);
    let at = outbox.next_send_at(t0).expect("resend");
    assert!(at >= t0 + Duration::from_millis(100));
    assert_eq!(outbox.take(at), Some(chat("b")));
    assert_eq!(
        outbox.next_send_at(at),
        None,
        "one at a time while resending"
    );
    outbox.confirmed();
    let at = outbox.next_send_at(at).expect("next");
    assert_eq!(outbox.take(at), Some(chat("c")));
    outbox.confirmed();
    let at = outbox.next_send_at(at).expect("next");
    assert_eq!(outbox.take(at), Some(chat("d")));
    outbox.confirmed();
    assert!(outbox.is_empty());
}

#[test]
fn a_lost_connection_resends_what_had_no_answer() {
    let t0 = Instant::now();
    let mut outbox = Outbox::new(5, 5.0, t0);
    for text in ["a", "b", "c"] {
        outbox.push(chat(text));
    }
    outbox.take(t0);
    outbox.take(t0);
    outbox.connection_lost();
    let later = t0 + Duration::from_secs(1);
    assert_eq!(outbox.take(later), Some(chat("a")));
    outbox.confirmed();
    assert_eq!(outbox.take(later), Some(chat("b")));
    outbox.confirmed();
    assert_eq!(outbox.take(later), Some(chat("c")));
}

#[test]
fn unanswered_and_refused_messages_leave_the_flight() {
    let t0 = Instant::now();
    let mut outbox = Outbox::new(5, 5.0, t0);
    outbox.push(Outgoing::Pm {
        to: "ghost".into(),
        text: "x".into(),
    });
    outbox.push(chat("y"));
    outbox.take(t0);
    outbox.take(t0);
    assert!(matches!(outbox.refused(), Some(Outgoing::Pm { .. })));
    assert_eq!(outbox.expire(t0), 0);
    assert_eq!(outbox.next_expiry(), Some(t0 + ANSWER_TIMEOUT));
    assert_eq!(outbox.expire(t0 + ANSWER_TIMEOUT), 1);
    assert!(outbox.is_empty());
}

/// Takes everything queued, confirming each, as far apart as the bucket wants.
fn drain(outbox: &mut Outbox, mut now: Instant) -> Vec<String> {
    let mut said = Vec::new();
    while let Some(at) = outbox.next_send_at(now) {
        now = at;
        let message = outbox.take(now).expect("due");
        said.push(message.text().to_owned());
        outbox.confirmed();
    }
    said
}

#[test]
fn one_users_flood_does_not_hold_back_another() {
    let t0 = Instant::now();
    let mut outbox = Outbox::new(1, 2.0, t0);
    for n in 0..20 {
        outbox.push_for(chat(&format!("flood {n}")), "flooder");
    }
    outbox.push_for(chat("answer"), "alice");
    assert_eq!(outbox.len(), 21);
    let said = drain(&mut outbox, t0);
    let at = said.iter().position(|text| text == "answer");
    assert!(at.is_some_and(|at| at < 2), "{said:?}");
    let flood: Vec<_> = said.iter().filter(|text| *text != "answer").collect();
    let expected: Vec<_> = (0..20).map(|n| format!("flood {n}")).collect();
    assert_eq!(flood, expected.iter().collect::<Vec<_>>(), "order kept");
    assert!(outbox.is_empty());
}

#[test]
fn split_pieces_and_nobodys_messages_take_turns() {
    let t0 = Instant::now();
    let mut outbox = Outbox::new(100, 100.0, t0);
    outbox.push_for(chat("a1\na2\na3"), "alice");
    outbox.push(chat("bot1"));
    outbox.push_for(chat("b1"), "bob");
    outbox.push(chat("bot2"));
    outbox.push_for(chat("A4"), "ALICE");
    assert_eq!(
        drain(&mut outbox, t0),
        ["a1", "bot1", "b1", "a2", "bot2", "a3", "A4"]
    );
}

#[test]
fn a_chat_command_waits_for_every_answer_and_the_servers_pause() {
    let t0 = Instant::now();
    let mut outbox = Outbox::new(5, 5.0, t0);
    assert_eq!(outbox.command_at(t0), Some(t0), "nothing in flight");
    outbox.push(chat("a"));
    outbox.take(t0);
    assert_eq!(
        outbox.command_at(t0),
        None,
        "an answer to the command could be taken for a's"
    );
    outbox.dropped(500, t0);
    let at = outbox.command_at(t0).expect("nothing in flight");
    assert!(at >= t0 + Duration::from_millis(500), "after the pause");
}

#[test]
fn resends_go_before_every_lane() {
    let t0 = Instant::now();
    let mut outbox = Outbox::new(5, 5.0, t0);
    outbox.push_for(chat("a1"), "alice");
    outbox.push_for(chat("a2"), "alice");
    outbox.push_for(chat("b1"), "bob");
    assert_eq!(outbox.take(t0), Some(chat("a1")));
    outbox.dropped(100, t0); // a1, though it is bob's turn
    let said = drain(&mut outbox, t0);
    assert_eq!(said, ["a1", "b1", "a2"]);
}

#[test]
fn lines_cytube_would_run_as_commands_are_recognised_through_me_and_sp() {
    for line in [
        "/kick bob",
        "/clear",
        "/afk",
        "/poll a, b",
        "/me /ban bob",
        "/sp /me /kick x",
    ] {
        assert!(runs_as_command(line), "{line}");
    }
    for line in [
        "hello /kick bob",
        "/me waves",
        "/sp the end",
        " /kick",
        "",
        "//",
    ] {
        assert_eq!(runs_as_command(line), line == "//", "{line}");
    }
}

#[test]
fn chat_lines_that_would_run_as_commands_are_escaped_and_still_fit() {
    assert_eq!(
        chat_pieces("/kick bob\n/me waves\nhi"),
        [
            format!("{COMMAND_ESCAPE}/kick bob"),
            "/me waves".into(),
            "hi".into()
        ]
    );
    // A split piece that starts with a command word is escaped too.
    let long = format!("{} /ban bob", "a".repeat(MAX_MESSAGE_CHARS - 2));
    assert_eq!(
        chat_pieces(&long),
        [
            "a".repeat(MAX_MESSAGE_CHARS - 2),
            format!("{COMMAND_ESCAPE}/ban bob")
        ]
    );
    // An escaped line is cut one character shorter, so CyTube takes it whole.
    let full = format!("/{}", "x".repeat(MAX_MESSAGE_CHARS + 5));
    let pieces = chat_pieces(&full);
    assert_eq!(pieces[0].chars().count(), MAX_MESSAGE_CHARS);
    assert!(pieces[0].starts_with(COMMAND_ESCAPE));
    assert!(pieces
        .iter()
        .all(|piece| piece.chars().count() <= MAX_MESSAGE_CHARS));
    assert_eq!(pieces.concat().replace(COMMAND_ESCAPE, ""), full);
}

#[test]
fn pms_are_never_escaped_as_cytube_runs_no_command_in_them() {
    let now = Instant::now();
    let mut outbox = Outbox::new(20, 10.0, now);
    outbox.push(Outgoing::Pm {
        to: "bob".into(),
        text: "/kick bob".into(),
    });
    outbox.push(Outgoing::Chat {
        text: "/kick bob".into(),
    });
    let sent: Vec<String> = std::iter::from_fn(|| outbox.take(now))
        .map(|out| out.text().to_owned())
        .collect();
    assert_eq!(
        sent,
        ["/kick bob".to_owned(), format!("{COMMAND_ESCAPE}/kick bob")]
    );
}

//! End to end: the remind and trivia example plugins, through the real daemon, plugin hosts and
//! emulated CyTube. A reminder is said when due (in chat, or by PM when asked by PM), also
//! after `rosey plugin reload` and when it came due while the plugin was stopped; a trivia
//! round scores an answer typed in chat, and only a moderator may stop it.

use std::time::{Duration, Instant};

use rosey_e2e::{cytube::CytubeServer, host, stack::TestStack, workspace_root};

const SLOW: Duration = Duration::from_secs(40);

fn cytube_home() -> (CytubeServer, TestStack) {
    let (server, stack) = TestStack::on_cytube(&["remind", "trivia"]);
    // Questions open long enough for a loaded test machine to answer in time.
    let trivia = stack.home.path().join("data/plugins/trivia/config.yaml");
    std::fs::write(trivia, "answer_time: 2m\n").expect("write trivia's config.yaml");
    stack.start();
    (server, stack)
}

#[test]
fn a_reminder_is_said_when_due_by_chat_or_pm_and_survives_a_reload() {
    let (server, stack) = cytube_home();
    server.join("test", "alice");

    let asked = Instant::now();
    server.say("test", "alice", "!remind 2s stretch");
    // The chat escapes the apostrophe of "I'll": match what follows it.
    server.wait_for_chat("rosey", "remind you in 2s.", SLOW);
    server.wait_for_chat("rosey", "alice: reminder: stretch", SLOW);
    assert!(
        asked.elapsed() >= Duration::from_secs(2),
        "said when due, not before"
    );

    assert!(server.pm("test", "alice", "rosey", "!remind 1s drink water"));
    server.wait_for_pm("rosey", "alice", "remind you in 1s.", SLOW);
    server.wait_for_pm("rosey", "alice", "reminder: drink water", SLOW);

    // Set before a reload, said by the next instance, which re-armed it from the store.
    let asked = Instant::now();
    server.say("test", "alice", "!remind 8s tea");
    server.wait_for_chat("rosey", "remind you in 8s.", SLOW);
    stack.home.run_ok(&["plugin", "reload", "remind"]);
    host::wait_for_log(
        &stack,
        "remind",
        "stored reminders re-armed: 1 (0 overdue",
        SLOW,
    );
    server.wait_for_chat("rosey", "alice: reminder: tea", SLOW);
    assert!(asked.elapsed() >= Duration::from_secs(8));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.count_chat("rosey", "reminder: tea"), 1, "said once");
}

#[test]
fn a_reminder_that_came_due_while_the_plugin_was_stopped_is_said_when_it_starts() {
    let (server, stack) = cytube_home();
    server.join("test", "alice");
    let asked = Instant::now();
    server.say("test", "alice", "!remind 10s nap");
    server.wait_for_chat("rosey", "remind you in 10s.", SLOW);
    // Due at most 10 s after the answer came.
    let due = Instant::now() + Duration::from_secs(10);
    stack.home.run_ok(&["stop", "remind"]);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "stopped before the reminder was due (the stop took too long for this test)"
    );
    std::thread::sleep(due.saturating_duration_since(Instant::now()) + Duration::from_millis(500));
    assert_eq!(
        server.count_chat("rosey", "reminder: nap"),
        0,
        "not said while stopped"
    );
    stack.home.run_ok(&["start", "remind"]);
    server.wait_for_chat("rosey", "alice: reminder: nap", SLOW);
    host::wait_for_log(
        &stack,
        "remind",
        "stored reminders re-armed: 1 (1 overdue",
        SLOW,
    );
}

/// The answer to the trivia question in `line` (`Question 1/5: …`), from the plugin's list.
fn answer_to(line: &str) -> String {
    let path = workspace_root().join("plugins/trivia/src/questions.txt");
    let questions = std::fs::read_to_string(&path).expect("the trivia questions");
    questions
        .lines()
        .filter(|entry| !entry.starts_with('#'))
        .find_map(|entry| {
            let mut parts = entry.split(" | ");
            let question = parts.next()?;
            line.ends_with(question).then(|| parts.next()).flatten()
        })
        .unwrap_or_else(|| panic!("no question of {} in {line:?}", path.display()))
        .to_owned()
}

#[test]
fn trivia_scores_an_answer_in_chat_and_only_a_moderator_stops_the_round() {
    let (server, _stack) = cytube_home();
    server.join("test", "alice");
    server.say("test", "alice", "!trivia");
    server.wait_for_chat("rosey", "5 questions, 120s each", SLOW);
    let question = server.wait_for_chat("rosey", "Question 1/5: ", SLOW);

    server.set_rank("test", "gus", 0);
    server.say("test", "gus", "!trivia stop");
    server.wait_for_chat("rosey", "Only moderators can stop a round.", SLOW);

    server.say("test", "alice", &answer_to(&question));
    let scored = server.wait_for_chat("rosey", "alice got it: ", SLOW);
    assert!(scored.ends_with("(alice has 1 point)"), "{scored}");

    server.set_rank("test", "mia", 2);
    server.say("test", "mia", "!trivia stop");
    server.wait_for_chat("rosey", "Round stopped by mia. Top: alice 1", SLOW);
    server.say("test", "gus", "!trivia scores");
    server.wait_for_chat("rosey", "Top scores: alice 1", SLOW);
    assert_eq!(
        server.count_chat("rosey", "Round over"),
        0,
        "stopped, not played out"
    );
}

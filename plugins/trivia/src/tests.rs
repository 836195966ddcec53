//! The plugin driven through `rosey_abi::testing`: rounds played with a fake clock, answers
//! as chat events, ranks, and reloads and restarts as the daemon does them.

use std::time::Duration;

use rosey_abi::{
    testing::{Said, TestBot, START_MS},
    Rank,
};

use super::*;

const MS: Duration = Duration::from_millis(1);

fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// A bot whose rounds have `questions` questions, 20 s each, with a 3 s pause.
fn bot(questions: usize) -> TestBot<Trivia> {
    TestBot::with_config(&format!(
        r#"{{"questions_per_round": {questions}, "answer_time": "20s", "pause": "3s"}}"#
    ))
}

/// The answer to the question asked in `said` (its `Question i/n: …` line).
fn answer(said: &[Said]) -> String {
    let asked = said
        .iter()
        .find_map(|said| {
            said.text
                .split_once(": ")
                .filter(|(q, _)| q.starts_with("Question "))
        })
        .map(|(_, text)| text)
        .unwrap_or_else(|| panic!("no question in {said:?}"));
    let questions = questions::parse(questions::BUILT_IN).unwrap_or_default();
    let question = questions.iter().find(|q| q.text == asked);
    question
        .unwrap_or_else(|| panic!("{asked:?} is not a built-in question"))
        .answer()
        .to_owned()
}

#[test]
fn a_round_plays_out_with_a_right_answer_and_a_time_up() {
    let mut bot = bot(2);
    let start = bot.command("alice", "trivia");
    assert_eq!(
        start[0],
        Said::chat("Trivia! 2 questions, 20s each: type your answer in chat.")
    );
    assert!(start[1].text.starts_with("Question 1/2: "), "{start:?}");
    assert_eq!(bot.timers(), [("question".to_owned(), START_MS + 20_000)]);
    let first = answer(&start);

    assert_eq!(bot.chat("bob", "no idea"), []);
    assert_eq!(
        bot.chat("bob", &format!("!{first}")),
        [],
        "a command is no answer"
    );
    assert_eq!(
        bot.chat("alice", &format!("  {}!! ", first.to_uppercase())),
        [Said::chat(format!(
            "alice got it: {first} (alice has 1 point)"
        ))]
    );
    assert_eq!(bot.chat("bob", &first), [], "answered already");
    assert_eq!(bot.timers(), [("next".to_owned(), START_MS + 3_000)]);

    let asked = bot.advance(secs(3));
    assert!(asked[0].text.starts_with("Question 2/2: "), "{asked:?}");
    let second = answer(&asked);
    assert_eq!(bot.advance(secs(20) - MS), []);
    assert_eq!(
        bot.advance(MS),
        [
            Said::chat(format!("Time's up! The answer was: {second}")),
            Said::chat("Round over. Top: alice 1"),
        ]
    );
    assert_eq!(bot.timers(), []);
    assert_eq!(bot.chat("bob", &second), [], "the round is over");
    assert_eq!(bot.kv_string("score/alice").as_deref(), Some("1 alice"));
    assert_eq!(
        bot.command("bob", "trivia scores"),
        [Said::chat("Top scores: alice 1")]
    );
}

#[test]
fn one_round_at_a_time() {
    let mut bot = bot(5);
    bot.command("alice", "trivia");
    assert_eq!(
        bot.command("bob", "trivia start"),
        [Said::chat(
            "A round is on (question 1 of 5). Moderators can end it with !trivia stop."
        )]
    );
    assert_eq!(bot.command("bob", "trivia please"), [Said::chat(USAGE)]);
}

#[test]
fn scores_add_up_across_rounds_and_survive_a_restart() {
    let mut bot = TestBot::<Trivia>::with_config(r#"{"questions_per_round": 1, "pause": "0s"}"#);
    assert_eq!(
        bot.command("bob", "trivia scores"),
        [Said::chat("No scores yet: start a round with !trivia")]
    );
    for (round, points) in [(1, "1 point"), (2, "2 points")] {
        let asked = bot.command("Alice", "trivia");
        let said = bot.chat("Alice", &answer(&asked));
        assert_eq!(said.len(), 2, "round {round}: {said:?}");
        assert!(
            said[0].text.ends_with(&format!("(Alice has {points})")),
            "{said:?}"
        );
        assert_eq!(said[1], Said::chat("Round over. Top: Alice 1"));
        bot.restart();
    }
    let asked = bot.command("bob", "trivia");
    bot.chat("bob", &answer(&asked));
    assert_eq!(bot.kv_string("score/alice").as_deref(), Some("2 Alice"));
    assert_eq!(bot.kv_string("score/bob").as_deref(), Some("1 bob"));
    assert_eq!(
        bot.command("carol", "trivia scores"),
        [Said::chat("Top scores: Alice 2, bob 1")]
    );
}

#[test]
fn only_moderators_stop_a_round() {
    let mut bot = bot(5);
    assert_eq!(
        bot.command_as("mod", Rank::MODERATOR, "trivia stop"),
        [Said::chat("No round is on. Start one with !trivia")]
    );
    let asked = bot.command("alice", "trivia");
    bot.chat("alice", &answer(&asked));
    bot.advance(secs(3));

    for rank in [Rank::REGISTERED, Rank::GUEST, Rank::ANONYMOUS] {
        assert_eq!(
            bot.command_as("bob", rank, "trivia stop"),
            [Said::chat(STOP_REFUSED)],
            "{rank}"
        );
    }
    assert_eq!(bot.timers().len(), 1, "the round goes on");
    assert_eq!(
        bot.command_as("carol", Rank::MODERATOR, "trivia STOP"),
        [Said::chat("Round stopped by carol. Top: alice 1")]
    );
    assert_eq!(bot.timers(), [], "its timer went with it");
    assert_eq!(bot.advance(secs(60)), []);
    let again = bot.command_as("dave", Rank::ADMIN, "trivia");
    assert!(
        again[1].text.starts_with("Question 1/5"),
        "a new round: {again:?}"
    );
    assert!(bot.command_as("dave", Rank::ADMIN, "trivia stop")[0]
        .text
        .contains("Nobody scored."));
}

#[test]
fn a_reload_mid_question_keeps_the_round_and_the_time_left() {
    let mut bot = bot(2);
    let asked = bot.command("alice", "trivia");
    bot.advance(secs(5));

    assert_eq!(bot.reload(), []);
    assert_eq!(
        bot.timers(),
        [("question".to_owned(), START_MS + 20_000)],
        "re-armed for the 15 s left, not 20 from now"
    );
    assert_eq!(bot.advance(secs(15) - MS), []);
    let first = answer(&asked);
    assert_eq!(
        bot.advance(MS),
        [Said::chat(format!("Time's up! The answer was: {first}"))]
    );

    // Mid-pause too: the next question comes when it was due.
    bot.advance(secs(1));
    bot.reload();
    assert_eq!(bot.timers(), [("next".to_owned(), START_MS + 23_000)]);
    let asked = bot.advance(secs(2));
    assert!(asked[0].text.starts_with("Question 2/2: "), "{asked:?}");
    bot.reload();
    assert_eq!(
        bot.chat("bob", &answer(&asked)),
        [
            Said::chat(format!("bob got it: {} (bob has 1 point)", answer(&asked))),
            Said::chat("Round over. Top: bob 1"),
        ],
        "the reloaded instance knows the question"
    );
}

#[test]
fn a_restart_forgets_the_round_but_not_the_scores() {
    let mut bot = bot(3);
    let asked = bot.command("alice", "trivia");
    bot.chat("alice", &answer(&asked));
    let asked = bot.advance(secs(3));

    assert_eq!(bot.restart(), []);
    assert_eq!(bot.timers(), []);
    assert_eq!(bot.chat("alice", &answer(&asked)), [], "no round to answer");
    assert_eq!(bot.kv_string("score/alice").as_deref(), Some("1 alice"));
    let again = bot.command("alice", "trivia");
    assert!(again[1].text.starts_with("Question 1/3"), "{again:?}");
}

#[test]
fn a_bad_configuration_is_refused() {
    for (config, wanted) in [
        (r#"{"questions_per_round": 0}"#, "questions_per_round"),
        (r#"{"questions_per_round": 500}"#, "questions_per_round"),
        (r#"{"answer_time": "0s"}"#, "answer_time"),
        (r#"{"answer_time": "soon"}"#, "answer_time"),
        (r#"{"pause": "later"}"#, "pause"),
    ] {
        let err = TestBot::<Trivia>::try_load("trivia", config)
            .err()
            .unwrap_or_default();
        assert!(err.contains(wanted), "{config}: {err}");
    }
}

#[test]
fn new_configuration_reloads_the_plugin_and_the_round_goes_on() {
    let mut bot = bot(2);
    let asked = bot.command("alice", "trivia");
    bot.advance(secs(5));
    // No on_config: the plugin is reloaded with its state and the new configuration.
    assert_eq!(
        bot.set_config(r#"{"answer_time": "1m", "pause": "0s"}"#),
        Ok(Vec::new())
    );
    assert_eq!(bot.timers(), [("question".to_owned(), START_MS + 20_000)]);
    let said = bot.chat("alice", &answer(&asked));
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said[1].text.starts_with("Question 2/2"),
        "no pause now: {said:?}"
    );
    assert_eq!(bot.timers(), [("question".to_owned(), START_MS + 65_000)]);
}

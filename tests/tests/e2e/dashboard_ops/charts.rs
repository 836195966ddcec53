//! The "Last hour" charts in the real browser: after commands answered and a plugin crashing,
//! the page draws each plugin's commands and answers and the restarts, from the daemon's own
//! in-memory history (a point every 10 s, so this waits for one or two).

use std::time::Duration;

use rosey_e2e::stack::TestStack;

use super::open_page;

/// Points come every 10 s; the first one after the daemon's first 10 s.
const POINTS: Duration = Duration::from_secs(45);

#[test]
fn the_charts_show_each_plugins_commands_and_answers_and_the_restarts_of_the_last_hour() {
    let stack = TestStack::with_plugins(&["dice-roller", "fixtures/chaos"]);
    stack.start();
    let mut browser = open_page(&stack, "dice-roller");
    for _ in 0..3 {
        assert!(stack.say("!roll 2d6").contains("rolled 2d6"));
    }
    // `exit` kills the hosts that take it: two restarts, then it is parked.
    stack.say_as("gina", "!chaos exit", "1");
    let figure = "document.querySelector('#charts figure[data-plugin=\"dice-roller\"]')";
    browser.wait_until(
        &format!("({figure}?.dataset.commands ?? '') === '3' && {figure}.dataset.answered === '3'"),
        POINTS,
        "dice-roller's figure counting 3 commands, 3 answered",
    );
    let caption = browser.eval(&format!("{figure}.querySelector('figcaption').textContent"));
    assert!(
        caption.as_str().is_some_and(|text| text
            .starts_with("dice-roller: 3 commands, 3 answered; reply ")
            && text.ends_with(" ms on average")),
        "{caption}"
    );
    let lines = browser.eval(&format!("{figure}.querySelectorAll('polyline').length"));
    assert_eq!(lines, 3, "commands, answers and reply time");
    let restarts = browser.wait_until(
        "document.querySelector('#charts figure[data-restarts]')?.querySelector('figcaption').textContent ?? ''",
        POINTS,
        "a restarts figure",
    );
    assert!(
        restarts
            .as_str()
            .is_some_and(|text| text.starts_with("Restarts: ") && text.contains("chaos 2")),
        "{restarts}"
    );
}

//! Dead letters replayed and purged from the page, and the log pane following a plugin's log
//! live, on a stack with the chaos fixture (whose `exit` and `abort` kill the hosts that take
//! them, so the message is parked).

use std::time::{Duration, Instant};

use rosey_core::messaging::Source;
use rosey_e2e::{browser::Browser, host::Bus, stack::TestStack};

use super::{confirmation, open_page, WAIT};

/// The page's dead-letter rows: `(id, summary)`.
fn letter_rows(browser: &mut Browser) -> Vec<(u64, String)> {
    let rows = browser.eval(
        "[...document.querySelectorAll('#dead-letters tbody tr')].map((tr) => [Number(tr.dataset.id), tr.querySelector('td[data-field=\"summary\"]').textContent])",
    );
    serde_json::from_value(rows).unwrap_or_default()
}

/// Waits until the page lists exactly the dead letters whose summaries are `summaries`.
fn wait_letters(browser: &mut Browser, summaries: &[&str]) -> Vec<(u64, String)> {
    let deadline = Instant::now() + WAIT;
    loop {
        // The page reads the list again when the status' counts change; a click on refresh
        // reads it now.
        browser.eval("document.querySelector('#dl-refresh').click()");
        let rows = letter_rows(browser);
        let mut shown: Vec<&str> = rows.iter().map(|(_, summary)| summary.as_str()).collect();
        shown.sort_unstable();
        let mut wanted = summaries.to_vec();
        wanted.sort_unstable();
        if shown == wanted {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "the page lists {rows:?}, not {summaries:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Clicks `action` on the row of dead letter `id`.
fn click_letter(browser: &mut Browser, id: u64, action: &str) {
    browser.eval(&format!(
        "document.querySelector('#dead-letters tr[data-id=\"{id}\"] button[data-action=\"{action}\"]').click()"
    ));
}

/// The replay or purge result lines, once there are some that are not `before`.
fn dl_result(browser: &mut Browser) -> Vec<String> {
    let lines = browser.wait_until(
        "(() => { const items = [...document.querySelectorAll('#dl-result li')].map((li) => li.className + ' ' + li.textContent); return items.length ? items : null; })()",
        WAIT,
        "a dead-letter result",
    );
    browser.eval("document.querySelector('#dl-result').replaceChildren()");
    serde_json::from_value(lines).unwrap_or_default()
}

/// Writes chaos's config and reloads it.
fn configure_chaos(stack: &TestStack, defused: bool) {
    std::fs::write(
        stack.home.path().join("data/plugins/chaos/config.yaml"),
        format!("defused: {defused}\n"),
    )
    .expect("write chaos's config");
    stack.home.run_ok(&["plugin", "reload", "chaos"]);
}

#[test]
fn dead_letters_are_replayed_and_purged_from_the_page_and_the_log_pane_follows() {
    let stack = TestStack::with_plugins(&["fixtures/chaos", "dice-roller"]);
    stack.start();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let bus = runtime.block_on(Bus::of(&stack));
    let mut browser = open_page(&stack, "chaos");
    assert_eq!(
        browser.eval("getComputedStyle(document.querySelector('#dl-empty')).display !== 'none' && document.querySelector('#dl-empty').textContent"),
        "No dead letters."
    );

    // The log pane: the last lines at once, then a line the plugin writes, live.
    browser.eval("document.querySelector('tr[data-unit=\"chaos\"] a.unit').click()");
    browser.wait_until(
        "document.querySelector('#log-state').textContent === '(following)' && document.querySelector('#log').textContent.includes('chaos')",
        WAIT,
        "chaos's log followed",
    );
    let marker = format!("live-{}", std::process::id());
    assert!(!browser
        .eval("document.querySelector('#log').textContent")
        .as_str()
        .unwrap_or_default()
        .contains(&marker));
    let said = stack.say_as("lou", &format!("!chaos stderr {marker}"), "10");
    assert!(said.contains("printed"), "{said}");
    let expected = format!("chaos on stderr: {marker}");
    browser.wait_until(
        &format!("document.querySelector('#log').textContent.includes('{expected}')"),
        WAIT,
        "the new line in the log pane",
    );
    let count = browser.eval(&format!(
        "document.querySelector('#log').textContent.split('{expected}').length - 1"
    ));
    assert_eq!(count, 1, "the line is shown once");

    // Three messages that kill chaos's hosts, parked.
    let exit_id = runtime.block_on(bus.command("chaos", "exit", "gina", Source::Chat));
    wait_letters(&mut browser, &[r#"command "chaos exit" from gina"#]);
    let abort_id = runtime.block_on(bus.command("chaos", "abort", "hal", Source::Chat));
    wait_letters(
        &mut browser,
        &[
            r#"command "chaos exit" from gina"#,
            r#"command "chaos abort" from hal"#,
        ],
    );
    runtime.block_on(bus.command("chaos", "exit", "ivy", Source::Chat));
    let rows = wait_letters(
        &mut browser,
        &[
            r#"command "chaos exit" from gina"#,
            r#"command "chaos abort" from hal"#,
            r#"command "chaos exit" from ivy"#,
        ],
    );
    let id_of = |who: &str| {
        rows.iter()
            .find(|(_, summary)| summary.ends_with(who))
            .map(|(id, _)| *id)
            .expect("listed")
    };
    let (gina, ivy) = (id_of("gina"), id_of("ivy"));
    let died = browser.eval(&format!(
        "document.querySelector('#dead-letters tr[data-id=\"{gina}\"] td[data-field=\"died\"]').textContent"
    ));
    assert_eq!(died, "2");

    // A replay while chaos is stopped is refused, with the CLI's reason; the letter stays.
    stack.home.run_ok(&["stop", "chaos"]);
    click_letter(&mut browser, gina, "replay");
    let refused = dl_result(&mut browser);
    assert!(
        refused.len() == 1
            && refused[0].starts_with("error ")
            && refused[0].contains("chaos is stopped")
            && refused[0].contains("stay parked"),
        "{refused:?}"
    );
    assert_eq!(letter_rows(&mut browser).len(), 3);
    stack.home.run_ok(&["start", "chaos"]);

    // Purging one asks first.
    click_letter(&mut browser, ivy, "purge");
    assert!(confirmation(&mut browser).contains(&format!("Purge dead letter {ivy}")));
    browser.eval("document.querySelector('#confirm-no').click()");
    assert_eq!(dl_result(&mut browser), ["ok nothing was purged"]);
    click_letter(&mut browser, ivy, "purge");
    confirmation(&mut browser);
    browser.eval("document.querySelector('#confirm-yes').click()");
    assert_eq!(dl_result(&mut browser), ["ok removed 1 dead letter"]);
    wait_letters(
        &mut browser,
        &[
            r#"command "chaos exit" from gina"#,
            r#"command "chaos abort" from hal"#,
        ],
    );

    // After the fix, one letter replayed, then the rest of the plugin's: each answered once.
    configure_chaos(&stack, true);
    stack.wait_for_unit("chaos", WAIT, "running", |unit| unit["state"] == "running");
    click_letter(&mut browser, gina, "replay");
    assert_eq!(
        dl_result(&mut browser),
        [format!(
            r#"ok ✓ replayed dead letter {gina}: command "chaos exit" from gina"#
        )]
    );
    wait_answered(&runtime, &bus, &exit_id, "defused exit from gina");
    wait_letters(&mut browser, &[r#"command "chaos abort" from hal"#]);
    browser.eval(
        "document.querySelector('.dl-plugin[data-plugin=\"chaos\"] button[data-action=\"replay-all\"]').click()",
    );
    let replayed = dl_result(&mut browser);
    assert!(
        replayed.len() == 1 && replayed[0].contains(r#"command "chaos abort" from hal"#),
        "{replayed:?}"
    );
    wait_answered(&runtime, &bus, &abort_id, "defused abort from hal");
    wait_letters(&mut browser, &[]);

    // A plugin's letters purged at once, after the question.
    configure_chaos(&stack, false);
    stack.wait_for_unit("chaos", WAIT, "running", |unit| unit["state"] == "running");
    runtime.block_on(bus.command("chaos", "exit", "kim", Source::Chat));
    wait_letters(&mut browser, &[r#"command "chaos exit" from kim"#]);
    browser.eval(
        "document.querySelector('.dl-plugin[data-plugin=\"chaos\"] button[data-action=\"purge-all\"]').click()",
    );
    assert!(confirmation(&mut browser).contains("Purge all 1 dead letters of chaos?"));
    browser.eval("document.querySelector('#confirm-yes').click()");
    assert_eq!(dl_result(&mut browser), ["ok removed 1 dead letter"]);
    wait_letters(&mut browser, &[]);
}

/// Waits until command `id` gets the reply `text`, exactly once.
fn wait_answered(runtime: &tokio::runtime::Runtime, bus: &Bus, id: &str, text: &str) {
    let deadline = Instant::now() + WAIT;
    while !bus.replies_to(id).iter().any(|reply| reply.text == text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} to {id}: {:?}",
            bus.replies_to(id)
        );
        runtime.block_on(tokio::time::sleep(Duration::from_millis(50)));
    }
    let answers = bus
        .replies_to(id)
        .iter()
        .filter(|reply| reply.text == text)
        .count();
    assert_eq!(answers, 1, "answered once");
}

//! End to end: a plugin built against an earlier SDK of the same ABI version loads and runs on
//! this rosey. The fixture is a real build of the dice-roller example from before the host API
//! grew (see `tests/fixtures/README.md`); it never calls what it does not know, and what the
//! newer host gives it (the sender's rank) it simply does not ask for.

use std::path::PathBuf;

use rosey_e2e::stack::TestStack;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("dice-roller-0.1.0-sdk-2026-12-01.roseyplug")
}

#[test]
fn a_plugin_built_against_the_earlier_sdk_installs_loads_and_answers() {
    let stack = TestStack::with_plugins(&[]);
    let fixture = fixture();
    stack
        .home
        .run_ok(&["plugin", "install", fixture.to_str().expect("utf-8 path")]);
    stack.start();
    let unit = stack.unit("dice-roller");
    assert_eq!(unit["state"], "running", "{unit}");
    assert!(stack.say("!roll 1d1").contains("= 1"));
    let moderator = stack
        .home
        .run(&["say", "!flip", "--rank", "moderator", "--timeout", "5"]);
    let said = String::from_utf8_lossy(&moderator.stdout);
    assert!(
        said.contains("heads") || said.contains("tails"),
        "a rank the old plugin cannot ask for changes nothing: {said:?}"
    );
    // Its manifest has plain command words: !help still lists them.
    assert!(stack.say("!help").contains("!flip, !roll"));
}

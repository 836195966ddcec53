//! End to end: what the bot itself says about commands, from what the manifests say of them.
//! `!help` lists the commands the asker may use and explains one; a command whose manifest
//! asks for a higher rank than the sender's is answered by the router, and its plugin never
//! sees it. Ranks come from the emulated CyTube server's own events, as on a real one, or from
//! `rosey say --rank` on the local chat; the plugin sees the same rank.

use std::time::Duration;

use rosey_e2e::{cytube::CytubeServer, stack::TestStack};

const SLOW: Duration = Duration::from_secs(40);

fn cytube_home() -> (CytubeServer, TestStack) {
    let (server, stack) = TestStack::on_cytube(&["dice-roller", "fixtures/chaos"]);
    stack.start();
    (server, stack)
}

#[test]
fn help_lists_what_the_asker_may_use_and_a_command_above_their_rank_never_reaches_the_plugin() {
    let (server, stack) = cytube_home();
    server.join("test", "alice");
    server.say("test", "alice", "!help");
    let list = server.wait_for_chat("rosey", "Commands:", SLOW);
    assert_eq!(
        list, "Commands: !chaos, !flip, !roll. Try !help chaos for more about one.",
        "a registered user does not see the moderators' command"
    );
    server.say("test", "alice", "!help roll");
    let roll = server.wait_for_chat("rosey", "!roll:", SLOW);
    assert_eq!(
        roll,
        "!roll: Roll dice in dice notation. Usage: !roll 3d6+2, !roll 4d6kh3 (keep the highest 3)"
    );

    server.say("test", "alice", "!chaos-mod");
    server.wait_for_chat(
        "rosey",
        "Sorry alice, !chaos-mod needs rank moderator or higher.",
        SLOW,
    );
    // The plugin sees the rank the server announced.
    server.say("test", "alice", "!chaos whoami");
    server.wait_for_chat("rosey", "alice, rank registered, by chat", SLOW);
    // Promoted by the channel's owner: now it goes through.
    server.set_rank("test", "alice", 2);
    server.say("test", "alice", "!chaos-mod now");
    server.wait_for_chat("rosey", "Usage: !chaos", SLOW);
    server.say("test", "alice", "!help");
    server.wait_for_chat("rosey", "Commands: !chaos, !chaos-mod, !flip, !roll.", SLOW);
    let unit = stack.unit("chaos");
    assert_eq!(
        unit["handled"], 2,
        "whoami and the moderator's command reached the plugin, the refused one did not: {unit}"
    );
}

#[test]
fn rosey_say_speaks_with_the_rank_it_is_given_and_the_plugin_sees_it() {
    let stack = TestStack::with_plugins(&["fixtures/chaos"]);
    stack.start();
    let say = |rank: &str, text: &str| {
        let output = stack.home.run(&[
            "say",
            text,
            "--as",
            "olga",
            "--rank",
            rank,
            "--timeout",
            "5",
        ]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(
        say("moderator", "!chaos whoami").trim(),
        "olga, rank moderator, by chat"
    );
    assert_eq!(
        stack.say("!chaos whoami").trim(),
        "you, rank registered, by chat",
        "registered unless told otherwise"
    );
    assert!(
        stack
            .say("!chaos-mod")
            .contains("Sorry you, !chaos-mod needs rank moderator or higher."),
        "a registered user is refused"
    );
    assert!(say("admin", "!chaos-mod").contains("Usage: !chaos"));
    let wrong = stack.home.run(&["say", "!chaos whoami", "--rank", "boss"]);
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("\"boss\" is not a rank"), "{err}");
}

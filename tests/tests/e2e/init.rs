//! End to end: `rosey init` (off a terminal it asks nothing; on a real pseudo-terminal it asks
//! for the chat, the site, the channel and the bot's name and asks again after an answer the
//! config's rules refuse; it never overwrites) and `rosey completions` for each shell.

use std::{
    io::{Read, Write},
    os::fd::{FromRawFd, OwnedFd},
    process::{Command, Stdio},
    time::Duration,
};

use rosey_core::{
    config::{Config, ConnectorKind},
    paths::Home,
};
use rosey_e2e::{
    cli::{rosey_bin, TempHome, HOME_MARK_ENV},
    process::ChildGuard,
};

#[test]
fn off_a_terminal_init_asks_nothing_and_writes_every_key_commented_at_its_default() {
    let home = TempHome::new();
    let stdout = home.run_ok(&["init"]);
    let file = home.path().join("rosey.yaml");
    assert!(
        stdout.starts_with(&format!(
            "✓ Wrote {}: the local chat, channel local, bot rosey",
            file.display()
        )),
        "{stdout}"
    );
    let config = Config::load(&Home::new(home.path())).expect("rosey start reads it");
    assert_eq!(config, Config::default());
    let text = std::fs::read_to_string(&file).expect("read");
    for key in [
        "# max_storage:",
        "# heartbeat_ms:",
        "# token:",
        "# retry_after_secs:",
    ] {
        assert!(text.contains(key), "{key} is in the file: {text}");
    }
}

#[test]
fn init_with_flags_writes_the_choices_and_a_new_home_is_made() {
    let home = TempHome::new();
    let new_home = home.path().join("bots/rosebot");
    let out = Command::new(rosey_bin())
        .arg("--home")
        .arg(&new_home)
        .args(["init", "--connector", "cytube", "--channel", "movies"])
        .args(["--name", "rosebot"])
        .env(HOME_MARK_ENV, home.path())
        .stdin(Stdio::null())
        .output()
        .expect("run rosey init");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("CyTube at https://cytu.be, channel movies, bot rosebot")
            && stdout.contains("ROSEY_CYTUBE_PASSWORD"),
        "{stdout}"
    );
    let config = Config::load(&Home::new(&new_home)).expect("reads");
    assert_eq!(config.bot.connector, ConnectorKind::Cytube);
    assert_eq!(config.bot.cytube.server.as_deref(), Some("https://cytu.be"));
    assert_eq!(
        (config.bot.channel.as_str(), config.bot.name.as_str()),
        ("movies", "rosebot")
    );
}

#[test]
fn init_never_overwrites_and_a_bad_flag_is_refused_naming_it_with_nothing_written() {
    let home = TempHome::new();
    std::fs::write(home.path().join("rosey.yaml"), "hot_reload: false\n").expect("write");
    let before = home.snapshot();
    let err = home.run_err(&["init"]);
    assert!(
        err.contains("rosey.yaml already exists: rosey init never overwrites it"),
        "{err}"
    );
    assert_eq!(home.snapshot(), before, "nothing changed");

    let empty = TempHome::new();
    let err = empty.run_err(&["init", "--connector", "cytube", "--channel", "bad name"]);
    assert!(
        err.starts_with("✗ --channel: bot.channel: \"bad name\" is not a CyTube channel name"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(empty.snapshot().is_empty(), "the home is still empty");
}

/// A pseudo-terminal pair: (the side the test types on, the side the program runs on).
fn pty() -> (std::fs::File, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two new descriptors into the two integers; the name and settings
    // arguments may be null.
    let made = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(made, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just made and are owned by nothing else.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

#[test]
fn on_a_terminal_init_asks_what_it_cannot_guess_and_asks_again_after_a_refused_answer() {
    let home = TempHome::new();
    let (mut terminal, program_side) = pty();
    let mut command = Command::new(rosey_bin());
    command
        .arg("--home")
        .arg(home.path())
        .arg("init")
        .env(HOME_MARK_ENV, home.path())
        .stdin(program_side.try_clone().expect("dup"))
        .stdout(program_side.try_clone().expect("dup"))
        .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn("rosey init", command);
    drop(program_side);
    // The chat, the site (its default), a channel CyTube refuses, the name, then the channel
    // again: the line discipline keeps the lines until init reads them.
    terminal
        .write_all(b"cytube\n\nbad name\nrosebot\nmovies\n")
        .expect("type the answers");
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        // Ends with EIO once the program's side is closed.
        while let Ok(n) = terminal.read(&mut buffer) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let status = child.expect_exit(Duration::from_secs(30));
    let seen = reader.join().expect("the reader");
    assert!(status.success(), "{seen}");
    for prompt in [
        "Chat to connect to: local or cytube [local]: ",
        "CyTube site [https://cytu.be]: ",
        "Channel [local]: ",
        "The bot's user name [rosey]: ",
        "✗ bot.channel: \"bad name\" is not a CyTube channel name",
        "Channel [bad name]: ",
        "✓ Wrote ",
    ] {
        assert!(seen.contains(prompt), "{prompt:?} in:\n{seen}");
    }
    let config = Config::load(&Home::new(home.path())).expect("reads");
    assert_eq!(config.bot.connector, ConnectorKind::Cytube);
    assert_eq!(
        (config.bot.channel.as_str(), config.bot.name.as_str()),
        ("movies", "rosebot")
    );
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish_and_the_bash_one_is_valid_bash() {
    let home = TempHome::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = home.run_ok(&["completions", shell]);
        for word in ["init", "plugin", "completions", "status"] {
            assert!(script.contains(word), "{shell}: {word} completes");
        }
    }
    let script = home.run_ok(&["completions", "bash"]);
    let checked = Command::new("bash")
        .args(["-n", "-c", &script])
        .output()
        .expect("bash");
    assert!(checked.status.success(), "{checked:?}");
    let err = home.run(&["completions", "tcsh"]);
    assert_eq!(
        err.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

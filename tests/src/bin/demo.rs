//! `scripts/run`'s demo: the example plugins packed, installed into `./demo-home`, and run in
//! their own `rosey plugin-host` processes against a real nats-server; a scripted chat shows
//! them answering, then (on a terminal) you can type chat lines yourself.
//!
//! This stands in for `rosey start` until the supervised stack exists.

use std::{
    io::{BufRead, IsTerminal},
    path::PathBuf,
    process::Command,
    time::Duration,
};

use futures::StreamExt;
use rosey_core::messaging::{self, ChatAction, Source};
use rosey_e2e::{cli::rosey_bin, host::Bus, nats::NatsServer, process::ChildGuard, workspace_root};

const PLUGINS: &[(&str, &str)] = &[
    ("dice-roller", "dice-roller"),
    ("8ball", "8ball"),
    ("quote-db", "quote-db"),
    ("markov-chat", "markov-chat"),
];

fn rosey(home: &PathBuf, args: &[&str]) -> Result<String, String> {
    let output = Command::new(rosey_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .map_err(|err| format!("cannot run rosey: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "rosey {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let home = workspace_root().join("demo-home");
    let packs = home.join("packs");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&packs).map_err(|err| err.to_string())?;
    println!("Demo home: {}", home.display());

    let mut versions = Vec::new();
    for (dir, name) in PLUGINS {
        let crate_dir = workspace_root().join("plugins").join(dir);
        rosey(
            &home,
            &[
                "plugin",
                "pack",
                &crate_dir.to_string_lossy(),
                "--out",
                &packs.to_string_lossy(),
            ],
        )?;
        let archive = std::fs::read_dir(&packs)
            .map_err(|err| err.to_string())?
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .is_some_and(|file| file.to_string_lossy().starts_with(&format!("{name}-")))
            })
            .ok_or_else(|| format!("no archive for {name}"))?;
        rosey(&home, &["plugin", "install", &archive.to_string_lossy()])?;
        let registry: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(home.join("data/registry.json"))
                .map_err(|err| err.to_string())?,
        )
        .map_err(|err| err.to_string())?;
        let version = registry["plugins"][name]["version"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        println!("✓ Installed {name} v{version}");
        versions.push((name.to_string(), version));
    }

    let nats = NatsServer::start();
    println!("✓ NATS server started on {}", nats.url());
    let client = async_nats::connect(nats.url())
        .await
        .map_err(|err| err.to_string())?;
    let bus = Bus {
        js: async_nats::jetstream::new(client.clone()),
        client,
    };
    let mut replies = bus.replies().await;
    let mut hosts = Vec::new();
    for (name, version) in &versions {
        let mut ready = bus.ready_watch(name).await;
        let mut command = Command::new(rosey_bin());
        command
            .arg("--home")
            .arg(&home)
            .args([
                "plugin-host",
                "run",
                "--name",
                name,
                "--plugin-version",
                version,
                "--nats",
            ])
            .arg(nats.url());
        hosts.push(ChildGuard::spawn(name, command));
        tokio::time::timeout(Duration::from_secs(20), ready.next())
            .await
            .map_err(|_| {
                format!(
                    "{name} did not become ready; see {}",
                    home.join("logs/plugins")
                        .join(format!("{name}.log"))
                        .display()
                )
            })?;
        println!(
            "  ✓ Loaded plugin: {name} (own process, pid {})",
            hosts.last().map_or(0, |host| host.pid())
        );
    }

    println!("\nScripted chat:");
    for (user, line) in [
        ("alice", "!roll 2d6"),
        ("bob", "!roll 4d6kh3+1"),
        ("carol", "!8ball will the demo work?"),
        ("dave", "!quote add Nothing is lost in a hot reload."),
        ("erin", "!quote random"),
        ("alice", "the bot learns from every message it sees"),
        ("bob", "every plugin runs in a process of its own"),
        ("carol", "!markov every"),
        ("dave", "!flip"),
    ] {
        say(&bus, &mut replies, user, line).await;
    }

    if std::io::stdin().is_terminal() {
        println!("\nType chat lines as `user: text` or just `text` (commands start with !). Ctrl+D stops.");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            let (user, text) = line.split_once(": ").unwrap_or(("you", line.as_str()));
            if !text.trim().is_empty() {
                say(&bus, &mut replies, user.trim(), text.trim()).await;
            }
        }
    }

    println!("\nStopping plugin hosts (each unloads and hands its state over)...");
    for host in &mut hosts {
        host.signal(libc::SIGTERM);
        host.wait_timeout(Duration::from_secs(10));
    }
    println!("✓ Stopped. Logs: {}", home.join("logs/plugins").display());
    Ok(())
}

/// Sends one chat line (a command when it starts with `!`) and prints the replies it gets.
async fn say(bus: &Bus, replies: &mut async_nats::Subscriber, user: &str, line: &str) {
    println!("  {user}: {line}");
    if let Some(command) = line.strip_prefix('!') {
        let (word, args) = command.split_once(' ').unwrap_or((command, ""));
        let id = bus.command(word, args.trim(), user, Source::Chat).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            match tokio::time::timeout_at(deadline, replies.next()).await {
                Ok(Some(message)) => {
                    if let Ok(action) = messaging::decode::<ChatAction>(&message.payload) {
                        if action.in_reply_to.as_deref() == Some(id.as_str()) {
                            println!("    rosey ({}): {}", action.plugin, action.text);
                            break;
                        }
                    }
                }
                _ => {
                    println!("    (no reply: no plugin claims !{word})");
                    break;
                }
            }
        }
    } else {
        bus.chat(user, line).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

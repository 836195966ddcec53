//! `rosey deadletter list|show|replay|purge`: the messages a plugin's hosts kept dying on,
//! which the plugin actor parked in the dead-letter stream instead of crash-looping the plugin,
//! for the operator to look at, send again once the plugin is fixed, and clear. The running
//! daemon does it on the CLI's behalf (over the control socket, with its own bus connection).

use std::{
    io::{IsTerminal, Write},
    process::ExitCode,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rosey_core::paths::Home;
use rosey_host::exit_codes;

use crate::control::{self, ControlError, Request, Response};

/// How long the daemon may take to answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// `rosey deadletter …`.
#[derive(Debug, clap::Subcommand)]
pub enum DeadLetterCommand {
    /// List the dead letters (of one plugin, or all), oldest first.
    List {
        /// Only this plugin's.
        plugin: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter: its plugin, first subject, how many hosts died on it, when it was
    /// parked, and the message itself.
    Show {
        /// Its id, as `list` shows it.
        id: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters again to their plugin, once (after fixing what crashed it): one by id,
    /// or all of a plugin's, oldest first. Refused while the plugin is not running; a letter
    /// replayed leaves the dead letters.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "plugin"])))]
    Replay {
        /// Its id, as `list` shows it.
        id: Option<u64>,
        /// Every dead letter of this plugin.
        #[arg(long, value_name = "NAME")]
        plugin: Option<String>,
    },
    /// Remove dead letters: one by id, a plugin's, or all; `--older-than` keeps the recent ones.
    Purge {
        /// A plugin name (its dead letters), or a dead letter's id.
        target: Option<String>,
        /// Only those parked longer ago than this (90s, 30m, 12h, 7d).
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: Option<Duration>,
        /// Do not ask first.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// `90s`, `30m`, `12h`, `7d` (a bare number is seconds).
fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if seconds > 0 => Ok(Duration::from_secs(n * seconds)),
        _ => Err(format!(
            "{text:?} is not an age: a number and s, m, h or d (90s, 30m, 12h, 7d)"
        )),
    }
}

/// Runs one `rosey deadletter` subcommand.
pub fn run(home: &Home, command: DeadLetterCommand) -> ExitCode {
    match command {
        DeadLetterCommand::List { plugin, json } => {
            let data = match ask(
                home,
                Request::DeadLetters {
                    plugin: plugin.clone(),
                },
            ) {
                Ok(data) => data,
                Err(code) => return code,
            };
            if json {
                println!("{data}");
                return ExitCode::SUCCESS;
            }
            print_list(&data, plugin.as_deref());
            ExitCode::SUCCESS
        }
        DeadLetterCommand::Show { id, json } => {
            let data = match ask(home, Request::DeadLetter { id }) {
                Ok(data) => data,
                Err(code) => return code,
            };
            if json {
                println!("{data}");
            } else {
                print_one(&data);
            }
            ExitCode::SUCCESS
        }
        DeadLetterCommand::Replay { id, plugin } => replay(home, id, plugin),
        DeadLetterCommand::Purge {
            target,
            older_than,
            yes,
        } => purge(home, target, older_than, yes),
    }
}

fn replay(home: &Home, id: Option<u64>, plugin: Option<String>) -> ExitCode {
    let data = match ask(
        home,
        Request::ReplayDeadLetters {
            id,
            plugin: plugin.clone(),
        },
    ) {
        Ok(data) => data,
        Err(code) => return code,
    };
    let replayed = data["replayed"].as_array().cloned().unwrap_or_default();
    let refused = data["refused"].as_array().cloned().unwrap_or_default();
    if let (Some(plugin), true, true) = (&plugin, replayed.is_empty(), refused.is_empty()) {
        println!("No dead letters for {plugin}.");
        return ExitCode::SUCCESS;
    }
    for letter in &replayed {
        println!(
            "✓ Replayed dead letter {}: {}",
            letter["id"],
            letter["summary"].as_str().unwrap_or("")
        );
    }
    for letter in &refused {
        eprintln!(
            "✗ Dead letter {} stays parked: {}",
            letter["id"],
            letter["why"].as_str().unwrap_or("")
        );
    }
    if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Sends `request` to the daemon; prints its error and returns the exit code on failure.
fn ask(home: &Home, request: Request) -> Result<serde_json::Value, ExitCode> {
    match control::call(home, &request, CALL_TIMEOUT) {
        Ok(Response { ok: true, data, .. }) => Ok(data),
        Ok(Response { error, .. }) => {
            eprintln!(
                "✗ {}",
                error.unwrap_or_else(|| "the daemon refused".to_owned())
            );
            Err(ExitCode::FAILURE)
        }
        Err(err) => {
            eprintln!("{err}");
            Err(match err {
                ControlError::NotRunning(_) => exit_codes::exit_code(exit_codes::NOT_RUNNING),
                ControlError::Broken(_) => ExitCode::FAILURE,
            })
        }
    }
}

/// `ms` since the Unix epoch as a UTC date and time, and how long ago.
fn when(ms: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    let ago = SystemTime::now()
        .duration_since(at)
        .map_or(0, |ago| ago.as_secs());
    let stamp = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_else(|| "?".to_owned());
    let ago = match ago {
        0..=119 => format!("{ago} s ago"),
        120..=7199 => format!("{} min ago", ago / 60),
        7200..=172_799 => format!("{} h ago", ago / 3600),
        _ => format!("{} days ago", ago / 86_400),
    };
    format!("{stamp} UTC ({ago})")
}

fn print_list(data: &serde_json::Value, plugin: Option<&str>) {
    let letters = data.as_array().cloned().unwrap_or_default();
    if letters.is_empty() {
        match plugin {
            Some(plugin) => println!("No dead letters for {plugin}."),
            None => println!("No dead letters."),
        }
        return;
    }
    println!(
        "{:<6} {:<16} {:<7} {:<32} MESSAGE",
        "ID", "PLUGIN", "DIED", "PARKED"
    );
    for letter in &letters {
        println!(
            "{:<6} {:<16} {:<7} {:<32} {}",
            letter["id"],
            letter["plugin"].as_str().unwrap_or("?"),
            letter["attempts"]
                .as_u64()
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            when(letter["parked_at_ms"].as_u64().unwrap_or(0)),
            letter["summary"].as_str().unwrap_or("")
        );
    }
    println!(
        "\n{} dead letter{}. `rosey deadletter show <id>` shows one; `replay <id>` sends it again; `purge` removes them.",
        letters.len(),
        if letters.len() == 1 { "" } else { "s" }
    );
}

fn print_one(letter: &serde_json::Value) {
    println!("Dead letter {}", letter["id"]);
    println!("  Plugin:   {}", letter["plugin"].as_str().unwrap_or("?"));
    println!("  Message:  {}", letter["summary"].as_str().unwrap_or(""));
    println!("  Subject:  {}", letter["subject"].as_str().unwrap_or("?"));
    println!(
        "  Why:      {} plugin host{} died handling it, so it was parked instead of handed to another",
        letter["attempts"]
            .as_u64()
            .map_or_else(|| "several".to_owned(), |n| n.to_string()),
        if letter["attempts"].as_u64() == Some(1) { "" } else { "s" }
    );
    println!(
        "  Parked:   {}",
        when(letter["parked_at_ms"].as_u64().unwrap_or(0))
    );
    let payload = serde_json::to_string_pretty(&letter["payload"]).unwrap_or_default();
    println!("  Payload:");
    for line in payload.lines() {
        println!("    {line}");
    }
}

fn purge(home: &Home, target: Option<String>, older_than: Option<Duration>, yes: bool) -> ExitCode {
    let id = target.as_deref().and_then(|t| t.parse::<u64>().ok());
    let plugin = if id.is_some() { None } else { target };
    if id.is_some() && older_than.is_some() {
        eprintln!("✗ --older-than selects among many: give a plugin name or nothing, not an id");
        return exit_codes::exit_code(exit_codes::USAGE);
    }
    let what = match (&id, &plugin, &older_than) {
        (Some(id), _, _) => format!("dead letter {id}"),
        (None, Some(plugin), None) => format!("every dead letter of {plugin}"),
        (None, Some(plugin), Some(age)) => {
            format!("the dead letters of {plugin} older than {}", human(*age))
        }
        (None, None, None) => "every dead letter".to_owned(),
        (None, None, Some(age)) => format!("the dead letters older than {}", human(*age)),
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("✗ purging removes {what} for good: pass --yes to confirm");
            return ExitCode::FAILURE;
        }
        eprint!("Remove {what} for good? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            eprintln!("Not confirmed; nothing was removed.");
            return ExitCode::FAILURE;
        }
    }
    let data = match ask(
        home,
        Request::PurgeDeadLetters {
            id,
            plugin,
            older_than_secs: older_than.map(|age| age.as_secs()),
        },
    ) {
        Ok(data) => data,
        Err(code) => return code,
    };
    let purged = data["purged"].as_u64().unwrap_or(0);
    println!(
        "✓ Removed {purged} dead letter{}",
        if purged == 1 { "" } else { "s" }
    );
    ExitCode::SUCCESS
}

/// `age` as the operator wrote it, roughly.
fn human(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        s if s % 86_400 == 0 && s > 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_with_their_unit_and_anything_else_is_refused_saying_what_an_age_is() {
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_age("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "d", "3w", "1.5h", "-1h"] {
            let err = parse_age(bad).expect_err(bad);
            assert!(err.contains("is not an age"), "{bad}: {err}");
        }
    }
}

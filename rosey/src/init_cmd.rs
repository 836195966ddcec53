//! `rosey init`: a new home's `rosey.yaml`, every key there at its default and commented out
//! under what it means ([`rosey_core::config::commented_config`]), so the settings are found
//! in the file rather than in the docs.
//!
//! On a terminal it asks for what a bot cannot guess (the chat, the site for CyTube, the
//! channel, the bot's name), each with its default, unless a flag gave it; anywhere else it
//! asks nothing and takes the flags and the defaults. Answers are checked by the config's own
//! rules before anything is written (a bad answer is asked again; a bad flag is an error naming
//! it), and an existing `rosey.yaml` is never overwritten.

use std::{
    fs::OpenOptions,
    io::{BufRead, IsTerminal, Write},
    process::ExitCode,
};

use rosey_core::{
    config::{commented_config, Config, ConfigError, ConnectorKind, InitChoices},
    paths::Home,
};

/// The site a CyTube bot is offered when it names none.
const DEFAULT_SITE: &str = "https://cytu.be";

/// `rosey init`'s flags: the answers to what it would ask on a terminal.
#[derive(Debug, Default, clap::Args)]
pub struct InitArgs {
    /// The chat: `local` (the terminal and `rosey say`) or `cytube`.
    #[arg(long, value_enum)]
    connector: Option<Chat>,
    /// The CyTube site (for `--connector cytube`; default `https://cytu.be`).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The channel the bot sits in.
    #[arg(long)]
    channel: Option<String>,
    /// The bot's user name.
    #[arg(long)]
    name: Option<String>,
}

/// The chats `--connector` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Chat {
    /// The terminal and `rosey say`.
    Local,
    /// A CyTube channel.
    Cytube,
}

/// One thing `rosey init` may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Question {
    Chat,
    Site,
    Channel,
    Name,
}

impl Question {
    /// The flag that answers it.
    fn flag(self) -> &'static str {
        match self {
            Question::Chat => "--connector",
            Question::Site => "--server",
            Question::Channel => "--channel",
            Question::Name => "--name",
        }
    }

    /// The question a config key's problem sends the operator back to.
    fn of_key(key: &str) -> Option<Question> {
        match key {
            "bot.connector" => Some(Question::Chat),
            "bot.cytube.server" => Some(Question::Site),
            "bot.channel" => Some(Question::Channel),
            "bot.name" => Some(Question::Name),
            _ => None,
        }
    }
}

/// `rosey init`.
pub fn run(home: &Home, args: InitArgs) -> ExitCode {
    let file = home.config_file();
    if file.exists() {
        eprintln!(
            "✗ {} already exists: rosey init never overwrites it. Edit it, or move it away and run rosey init again.",
            file.display()
        );
        return ExitCode::FAILURE;
    }
    let mut unanswered = Vec::new();
    let mut choices = InitChoices::default();
    match args.connector {
        Some(Chat::Local) => choices.connector = ConnectorKind::Local,
        Some(Chat::Cytube) => choices.connector = ConnectorKind::Cytube,
        None => unanswered.push(Question::Chat),
    }
    match args.server {
        Some(server) => choices.server = Some(server),
        None => unanswered.push(Question::Site),
    }
    match args.channel {
        Some(channel) => choices.channel = channel,
        None => unanswered.push(Question::Channel),
    }
    match args.name {
        Some(name) => choices.name = name,
        None => unanswered.push(Question::Name),
    }
    let terminal = std::io::stdin().is_terminal();
    let settled = if terminal {
        ask(&mut choices, unanswered, &file)
    } else {
        if choices.connector == ConnectorKind::Cytube && choices.server.is_none() {
            choices.server = Some(DEFAULT_SITE.to_owned());
        }
        check(&choices, &file).map_err(|(question, problem)| match question {
            Some(question) => format!("{}: {problem}", question.flag()),
            None => problem,
        })
    };
    let config = match settled {
        Ok(config) => config,
        Err(problem) => {
            eprintln!("✗ {problem}; nothing was written");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = write_new(home, &commented_config(&choices)) {
        eprintln!("✗ cannot write {}: {err}", file.display());
        return ExitCode::FAILURE;
    }
    let chat = if config.bot.connector == ConnectorKind::Cytube {
        format!(
            "CyTube at {}",
            config.bot.cytube.server.as_deref().unwrap_or(DEFAULT_SITE)
        )
    } else {
        "the local chat".to_owned()
    };
    println!(
        "✓ Wrote {}: {chat}, channel {}, bot {}",
        file.display(),
        config.bot.channel,
        config.bot.name
    );
    if config.bot.connector == ConnectorKind::Cytube {
        println!(
            "  The bot joins as a guest unless its account's password is in ROSEY_CYTUBE_PASSWORD (or bot.cytube.password)."
        );
    }
    println!(
        "  Every other setting is in the file, commented out at its default. Next: rosey start"
    );
    ExitCode::SUCCESS
}

/// The config `choices` make, or the question whose answer broke a rule and the problem.
fn check(
    choices: &InitChoices,
    file: &std::path::Path,
) -> Result<Config, (Option<Question>, String)> {
    Config::parse_file(&commented_config(choices), file).map_err(|err| match err {
        ConfigError::Invalid { key, problem, .. } => {
            (Question::of_key(&key), format!("{key}: {problem}"))
        }
        other => (None, other.to_string()),
    })
}

/// Asks the `unanswered` questions on the terminal (the site only for CyTube), then asks
/// again, with the problem, each answer the config's rules refuse.
fn ask(
    choices: &mut InitChoices,
    unanswered: Vec<Question>,
    file: &std::path::Path,
) -> Result<Config, String> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut prompt = |question: &str, default: &str| -> Result<String, String> {
        print!("{question} [{default}]: ");
        std::io::stdout().flush().map_err(|err| err.to_string())?;
        match lines.next() {
            Some(Ok(line)) if line.trim().is_empty() => Ok(default.to_owned()),
            Some(Ok(line)) => Ok(line.trim().to_owned()),
            Some(Err(err)) => Err(format!("cannot read the answer: {err}")),
            None => Err("no answer (the input ended)".to_owned()),
        }
    };
    let mut put = |question: Question, choices: &mut InitChoices| -> Result<(), String> {
        match question {
            Question::Chat => loop {
                let current = if choices.connector == ConnectorKind::Cytube {
                    "cytube"
                } else {
                    "local"
                };
                match prompt("Chat to connect to: local or cytube", current)?.as_str() {
                    "local" => break choices.connector = ConnectorKind::Local,
                    "cytube" => break choices.connector = ConnectorKind::Cytube,
                    other => println!("  {other:?} is no chat rosey knows: answer local or cytube"),
                }
            },
            Question::Site => {
                if choices.connector == ConnectorKind::Cytube {
                    let current = choices
                        .server
                        .clone()
                        .unwrap_or_else(|| DEFAULT_SITE.to_owned());
                    choices.server = Some(prompt("CyTube site", &current)?);
                }
            }
            Question::Channel => choices.channel = prompt("Channel", &choices.channel)?,
            Question::Name => choices.name = prompt("The bot's user name", &choices.name)?,
        }
        Ok(())
    };
    for question in unanswered {
        put(question, choices)?;
    }
    loop {
        if choices.connector == ConnectorKind::Cytube && choices.server.is_none() {
            choices.server = Some(DEFAULT_SITE.to_owned());
        }
        match check(choices, file) {
            Ok(config) => return Ok(config),
            Err((Some(question), problem)) => {
                println!("  ✗ {problem}");
                put(question, choices)?;
            }
            Err((None, problem)) => return Err(problem),
        }
    }
}

/// Writes `text` as the home's `rosey.yaml`, making the home if it is new; never replaces a
/// file that appeared meanwhile.
fn write_new(home: &Home, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(home.root())?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(home.config_file())?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

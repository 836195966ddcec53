//! Replaying dead letters (`rosey deadletter replay`, the dashboard's Replay button): each is
//! sent again to the plugin it was parked for, once, and only when that plugin can take it
//! now: it runs (a crashed or restarting plugin would only park it again, or hold it while
//! down), and its installed version still handles that command or event.

use rosey_actors::{client as sup, ChildState};
use rosey_core::{
    dead_letters::{self, DeadLetter},
    manifest::{self, Manifest},
    messaging::{self, CommandMessage},
    registry::Registry,
};
use serde::Serialize;

use super::{dead_letters::jetstream, Daemon, OpError};

/// What a replay did, letter by letter.
#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    /// The letters sent again: `{id, summary}`.
    pub replayed: Vec<ReplayedLetter>,
    /// The letters left parked, each with why.
    pub refused: Vec<RefusedLetter>,
}

/// A letter sent again.
#[derive(Debug, Serialize)]
pub struct ReplayedLetter {
    /// Its id (gone from the dead letters now).
    pub id: u64,
    /// What it was: `command "roll 2d6" from alice`.
    pub summary: String,
}

/// A letter left parked.
#[derive(Debug, Serialize)]
pub struct RefusedLetter {
    /// Its id.
    pub id: u64,
    /// Why, with what to do.
    pub why: String,
}

/// Replays dead letter `id` or every dead letter of `plugin` (exactly one of them).
pub async fn replay(
    daemon: &Daemon,
    id: Option<u64>,
    plugin: Option<&str>,
) -> Result<ReplayReport, OpError> {
    match (id, plugin) {
        (Some(id), None) => Ok(ReplayReport {
            replayed: vec![replay_one(daemon, id).await?],
            refused: Vec::new(),
        }),
        (None, Some(plugin)) => replay_plugin(daemon, plugin).await,
        _ => Err(OpError::Conflict(
            "name one dead letter by its id, or one plugin, to replay".to_owned(),
        )),
    }
}

/// Replays dead letter `id`; an error when it cannot be (it stays parked).
async fn replay_one(daemon: &Daemon, id: u64) -> Result<ReplayedLetter, OpError> {
    let js = jetstream(daemon).await?;
    let letter = dead_letters::get(&js, id)
        .await
        .map_err(super::dead_letters::op_error)?;
    let plugin = ready_for(daemon, &letter.plugin).await?;
    plugin.takes(&letter).map_err(OpError::Conflict)?;
    dead_letters::replay(&js, &letter)
        .await
        .map_err(OpError::failed)?;
    Ok(ReplayedLetter {
        id,
        summary: messaging::describe(&letter.subject, &letter.payload),
    })
}

/// Replays every dead letter of plugin `name`, oldest first; those its installed version no
/// longer handles stay parked, each named with why. An error when none can be (the plugin is
/// not running, not installed, or the stream cannot be reached).
async fn replay_plugin(daemon: &Daemon, name: &str) -> Result<ReplayReport, OpError> {
    let js = jetstream(daemon).await?;
    let plugin = ready_for(daemon, name).await?;
    let letters = dead_letters::list(&js, Some(name))
        .await
        .map_err(super::dead_letters::op_error)?;
    let mut report = ReplayReport::default();
    for letter in letters {
        let sent = match plugin.takes(&letter) {
            Ok(()) => dead_letters::replay(&js, &letter)
                .await
                .map_err(|err| err.to_string()),
            Err(why) => Err(why),
        };
        match sent {
            Ok(()) => report.replayed.push(ReplayedLetter {
                id: letter.id,
                summary: messaging::describe(&letter.subject, &letter.payload),
            }),
            Err(why) => report.refused.push(RefusedLetter { id: letter.id, why }),
        }
    }
    Ok(report)
}

/// What the running plugin handles.
struct Handles {
    name: String,
    version: String,
    manifest: Manifest,
}

impl Handles {
    /// Whether this plugin, as installed, handles what `letter` is; why not, with the fix.
    fn takes(&self, letter: &DeadLetter) -> Result<(), String> {
        let Handles {
            name,
            version,
            manifest,
        } = self;
        let subject = letter.subject.as_str();
        if messaging::is_command_subject(subject) {
            let command = messaging::decode::<CommandMessage>(&letter.payload)
                .map(|command| command.command)
                .unwrap_or_else(|_| {
                    subject
                        .trim_start_matches(&messaging::command_subject(""))
                        .to_owned()
                });
            if manifest::command_names(&manifest.commands).contains(&command) {
                return Ok(());
            }
            return Err(format!(
                "{name} v{version} no longer handles the command {command:?}: purge it (`rosey deadletter purge {}`)",
                letter.id
            ));
        }
        let kind = subject
            .strip_prefix(&messaging::event_subject(""))
            .unwrap_or(subject);
        if manifest
            .events
            .iter()
            .any(|pattern| manifest::event_pattern_matches(pattern, kind))
        {
            return Ok(());
        }
        Err(format!(
            "{name} v{version} no longer takes {kind} events: purge it (`rosey deadletter purge {}`)",
            letter.id
        ))
    }
}

/// Plugin `name` when it runs now, with what its installed version handles; otherwise why
/// its letters cannot be replayed, and what to do.
async fn ready_for(daemon: &Daemon, name: &str) -> Result<Handles, OpError> {
    let home = daemon.home.clone();
    let registry = tokio::task::spawn_blocking(move || Registry::load(&home))
        .await
        .map_err(|err| OpError::Failed(format!("the registry read did not finish: {err}")))?
        .map_err(OpError::failed)?;
    let Some(installed) = registry.plugins.get(name) else {
        return Err(OpError::NotFound(format!(
            "{name} is not installed, so its dead letters have nowhere to go: install it again, or drop them with `rosey deadletter purge {name}`"
        )));
    };
    if !installed.enabled {
        return Err(OpError::Conflict(format!(
            "{name} is disabled: `rosey plugin enable {name}` first; its dead letters stay parked"
        )));
    }
    let Some(plugins) = daemon.stack.plugins() else {
        return Err(OpError::Conflict(
            "the plugin supervisor is not running: `rosey start plugins` first; the dead letters stay parked".to_owned(),
        ));
    };
    let children = sup::children(&plugins).await.map_err(OpError::failed)?;
    let state = children
        .iter()
        .find(|child| child.name == name)
        .map(|child| (child.state, child.last_exit.clone()));
    match state {
        Some((ChildState::Running, _)) => {}
        Some((state, last_exit)) => {
            let exit = last_exit.map_or_else(String::new, |exit| format!(" (last exit: {exit})"));
            return Err(OpError::Conflict(format!(
                "{name} is {}{exit}, and a replay would find it down again: fix it, start it \
                 (`rosey plugin reload {name}` or `rosey start {name}`) and replay once \
                 `rosey status` shows it running; its dead letters stay parked",
                state.as_str()
            )));
        }
        None => {
            return Err(OpError::Conflict(format!(
                "{name} is not running in the stack: `rosey start {name}` first; its dead letters stay parked"
            )))
        }
    }
    let version = installed.version.to_string();
    let manifest_path = daemon.home.plugin_version_manifest(name, &version);
    let manifest = tokio::task::spawn_blocking(move || Manifest::load(&manifest_path))
        .await
        .map_err(|err| OpError::Failed(format!("the manifest read did not finish: {err}")))?
        .map_err(|err| OpError::Failed(format!("{name} v{version}: {err}")))?;
    Ok(Handles {
        name: name.to_owned(),
        version,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use rosey_core::messaging::{encode, now_ms, EventMessage, Source, SCHEMA_VERSION};

    use super::*;

    fn handles() -> Handles {
        let manifest = Manifest::parse(
            "name: quotes\nversion: 1.2.0\ndescription: Quotes\nauthor: ann\nlibrary: libquotes.so\nabi: 1\n\
             commands: [quote]\nevents: [\"user.*\"]\n",
        )
        .expect("a manifest");
        Handles {
            name: "quotes".to_owned(),
            version: "1.2.0".to_owned(),
            manifest,
        }
    }

    fn letter(subject: &str, payload: Vec<u8>) -> DeadLetter {
        DeadLetter {
            id: 7,
            plugin: "quotes".to_owned(),
            subject: subject.to_owned(),
            attempts: Some(2),
            parked_at: SystemTime::now(),
            payload,
        }
    }

    fn command(word: &str) -> Vec<u8> {
        encode(&CommandMessage {
            v: SCHEMA_VERSION,
            id: "c1".to_owned(),
            command: word.to_owned(),
            args: String::new(),
            user: "ann".to_owned(),
            channel: "test".to_owned(),
            source: Source::Chat,
            time_ms: now_ms(),
            rank: None,
        })
    }

    #[test]
    fn a_letter_goes_back_only_to_a_version_that_still_handles_it_and_why_not_names_the_purge() {
        let quotes = handles();
        assert_eq!(
            quotes.takes(&letter("rosey.commands.quote", command("quote"))),
            Ok(())
        );
        let gone = quotes
            .takes(&letter("rosey.commands.addquote", command("addquote")))
            .expect_err("no longer a command of it");
        assert_eq!(
            gone,
            "quotes v1.2.0 no longer handles the command \"addquote\": purge it (`rosey deadletter purge 7`)"
        );
        let event = |kind: &str| {
            encode(&EventMessage {
                v: SCHEMA_VERSION,
                id: "e1".to_owned(),
                kind: kind.to_owned(),
                user: None,
                text: None,
                time_ms: now_ms(),
                data: serde_json::Value::Null,
                rank: None,
            })
        };
        assert_eq!(
            quotes.takes(&letter("rosey.events.user.join", event("user.join"))),
            Ok(())
        );
        let err = quotes
            .takes(&letter("rosey.events.chat.message", event("chat.message")))
            .expect_err("not an event it takes");
        assert!(err.contains("no longer takes chat.message events"), "{err}");
    }
}

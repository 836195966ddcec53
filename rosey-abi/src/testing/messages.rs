//! What a test hands a [`TestBot`]'s plugin: commands (in chat or by PM, at a rank), events,
//! chat lines, and time, whose passing fires the plugin's timers. Each is built as the daemon
//! builds it and handed over as the plugin host hands it over.

use std::time::Duration;

use abi_stable::std_types::{ROption, RString};

use super::{error_message, Said, TestBot};
use crate::{
    ffi::{FfiCommand, FfiEvent, FfiSource},
    Plugin, Rank,
};

/// The channel every message comes from.
const CHANNEL: &str = "test";

/// The event kind of a chat line (as the router names it).
const CHAT_MESSAGE_KIND: &str = "chat.message";

/// The version of the daemon's message schema, which a chat event's payload carries.
const SCHEMA_VERSION: u32 = 1;

/// How many timers one [`TestBot::advance`] may fire before the kit decides the plugin arms
/// them faster than time passes (a timer that re-arms itself with no delay, say).
const MAX_FIRINGS: u64 = 1_000_000;

/// `line` (`roll 2d6` or `!roll 2d6`) as the router reads it: the command word, lowercased,
/// and the rest, trimmed.
fn parse_line(line: &str) -> (String, String) {
    let rest = line.trim_start();
    let rest = rest.strip_prefix('!').unwrap_or(rest);
    let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if word.is_empty() {
        panic!("TestBot: {line:?} has no command word");
    }
    (word.to_lowercase(), args.trim().to_owned())
}

/// How a rank reads in an event's payload: by name where it has one, else the number.
fn rank_json(rank: Rank) -> serde_json::Value {
    match rank.name() {
        Some(name) => serde_json::Value::from(name),
        None => serde_json::Value::from(rank.0),
    }
}

impl<P: Plugin> TestBot<P> {
    /// `user` (rank registered) sends command `line` in chat; what was said. `line` is
    /// `roll 2d6` or `!roll 2d6`: the first word is the command (lowercased, as the router
    /// reads it), the rest its arguments, trimmed. Panics if the hook fails.
    pub fn command(&mut self, user: &str, line: &str) -> Vec<Said> {
        self.command_as(user, Rank::REGISTERED, line)
    }

    /// `user`, at `rank`, sends command `line` in chat; what was said. Panics if the hook
    /// fails.
    pub fn command_as(&mut self, user: &str, rank: Rank, line: &str) -> Vec<Said> {
        self.send_command(user, Some(rank), line, FfiSource::Chat)
            .unwrap_or_else(|err| {
                panic!(
                    "TestBot: {user}'s {line:?} failed: {err} (use try_command to test failures)"
                )
            })
    }

    /// `user`, at `rank`, sends command `line` to the bot by PM: `ctx.reply` answers by PM
    /// to `user`. What was said; panics if the hook fails.
    pub fn pm_command(&mut self, user: &str, rank: Rank, line: &str) -> Vec<Said> {
        self.send_command(user, Some(rank), line, FfiSource::Pm)
            .unwrap_or_else(|err| {
                panic!("TestBot: {user}'s {line:?} by PM failed: {err} (use try_command to test failures)")
            })
    }

    /// `user`, at `rank`, sends command `line` in chat; what was said, or the hook's error
    /// (a panic's message, with where it happened). On an error what the hook said before
    /// failing is kept for [`TestBot::said`]. After a panic the instance stays loaded (a real
    /// host would die, and the plugin restart: [`TestBot::restart`] does that).
    pub fn try_command(&mut self, user: &str, rank: Rank, line: &str) -> Result<Vec<Said>, String> {
        self.send_command(user, Some(rank), line, FfiSource::Chat)
    }

    /// `user`, whose rank the chat never said (`cmd.rank()` is `None`, as from a host older
    /// than ranks), sends command `line` in chat; what was said. Panics if the hook fails.
    pub fn command_unranked(&mut self, user: &str, line: &str) -> Vec<Said> {
        self.send_command(user, None, line, FfiSource::Chat)
            .unwrap_or_else(|err| panic!("TestBot: {user}'s {line:?} failed: {err}"))
    }

    fn send_command(
        &mut self,
        user: &str,
        rank: Option<Rank>,
        line: &str,
        source: FfiSource,
    ) -> Result<Vec<Said>, String> {
        let (command, args) = parse_line(line);
        let command = FfiCommand {
            id: RString::from(self.message_id("command")),
            command: RString::from(command),
            args: RString::from(args),
            user: RString::from(user),
            channel: RString::from(CHANNEL),
            source,
            time_ms: self.now_ms(),
        };
        let reply_to = (source == FfiSource::Pm).then(|| user.to_owned());
        self.hook(rank, reply_to, |plugin, host| {
            plugin.handle_command(host, &command)
        })
        .map_err(|err| error_message(&err))?;
        Ok(self.said())
    }

    /// Hands the plugin an event of `kind` about `user` (rank registered, when there is a
    /// user), with `text` and `payload_json` as given; what was said (`ctx.reply` says it in
    /// chat). Panics if the hook fails, or if `kind` is one the host reserves for timers and
    /// configuration (use [`TestBot::advance`] and [`TestBot::set_config`]).
    pub fn event(
        &mut self,
        kind: &str,
        user: Option<&str>,
        text: Option<&str>,
        payload_json: &str,
    ) -> Vec<Said> {
        let id = self.message_id("event");
        self.deliver_event(id, kind, user, text, payload_json)
    }

    fn deliver_event(
        &mut self,
        id: String,
        kind: &str,
        user: Option<&str>,
        text: Option<&str>,
        payload_json: &str,
    ) -> Vec<Said> {
        self.deliver_ranked_event(
            id,
            kind,
            user.map(|user| (user, Rank::REGISTERED)),
            text,
            payload_json,
        )
    }

    fn deliver_ranked_event(
        &mut self,
        id: String,
        kind: &str,
        user: Option<(&str, Rank)>,
        text: Option<&str>,
        payload_json: &str,
    ) -> Vec<Said> {
        let (user, rank) = (user.map(|(user, _)| user), user.map(|(_, rank)| rank));
        if kind == crate::TIMER_EVENT_KIND || kind == crate::CONFIG_EVENT_KIND {
            panic!("TestBot: {kind:?} is reserved for the host: use advance() or set_config()");
        }
        let event = FfiEvent {
            id: RString::from(id),
            kind: RString::from(kind),
            user: user.map(RString::from).into(),
            text: text.map(RString::from).into(),
            payload_json: RString::from(payload_json),
            time_ms: self.now_ms(),
        };
        match self.hook(rank, None, |plugin, host| plugin.handle_event(host, &event)) {
            Ok(()) => self.said(),
            Err(err) => panic!("TestBot: event {kind:?} failed: {}", error_message(&err)),
        }
    }

    /// `user` (rank registered) says `text` in chat: a `chat.message` event whose payload is
    /// the router's (`v`, `id`, `kind`, `user`, `text`, `time_ms`, `data.channel`, `rank`).
    /// What was said; panics if the hook fails. Only the event: a command in `text` is not
    /// routed (use [`TestBot::command`]).
    pub fn chat(&mut self, user: &str, text: &str) -> Vec<Said> {
        self.chat_as(user, Rank::REGISTERED, text)
    }

    /// `user` of channel rank `rank` says `text` in chat: like [`TestBot::chat`], with the rank
    /// in the event (`event.rank()`), as the router sends what the chat server announced (a
    /// moderator's line, to test that a plugin spares moderators).
    pub fn chat_as(&mut self, user: &str, rank: Rank, text: &str) -> Vec<Said> {
        let id = self.message_id("chat");
        let mut data = serde_json::json!({ "channel": CHANNEL });
        // As the router marks a command line (with the default prefix, `!`).
        if let Some(rest) = text.trim_start().strip_prefix('!') {
            let word = rest
                .split(char::is_whitespace)
                .next()
                .unwrap_or("")
                .to_lowercase();
            if crate::limits::is_valid_command(&word) {
                data["command"] = serde_json::Value::String(word);
            }
        }
        let payload = serde_json::json!({
            "v": SCHEMA_VERSION,
            "id": id,
            "kind": CHAT_MESSAGE_KIND,
            "user": user,
            "text": text,
            "time_ms": self.now_ms(),
            "data": data,
            "rank": rank_json(rank),
        });
        self.deliver_ranked_event(
            id,
            CHAT_MESSAGE_KIND,
            Some((user, rank)),
            Some(text),
            &payload.to_string(),
        )
    }

    /// Moves the fake clock `by` ahead, firing every timer that falls due on the way, in due
    /// order (ties: arming order), each with the clock at its due time; a repeating timer is
    /// re-armed one period after it was due. What was said (by hooks, and by the plugin's
    /// threads so far). Panics if a timer's hook fails.
    pub fn advance(&mut self, by: Duration) -> Vec<Said> {
        let by_ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let target = self.now_ms().saturating_add(by_ms);
        let mut fired = 0u64;
        while let Some((name, due_ms)) = self.next_due(target) {
            fired += 1;
            if fired > MAX_FIRINGS {
                panic!(
                    "TestBot: {MAX_FIRINGS} timers fired in one advance: the plugin re-arms timer {name:?} faster than time passes"
                );
            }
            let event = FfiEvent {
                id: RString::from(format!("timer:{name}:{due_ms}")),
                kind: RString::from(crate::TIMER_EVENT_KIND),
                user: ROption::RNone,
                text: ROption::RSome(RString::from(name.as_str())),
                payload_json: RString::from("{}"),
                time_ms: due_ms,
            };
            if let Err(err) =
                self.hook(None, None, |plugin, host| plugin.handle_event(host, &event))
            {
                panic!("TestBot: timer {name:?} failed: {}", error_message(&err));
            }
        }
        let mut state = self.shared.lock();
        state.now_ms = state.now_ms.max(target);
        drop(state);
        self.said()
    }

    /// The next timer due by `target`, with the clock moved to its due time; a one-off is
    /// disarmed and a repeating one re-armed, as the host does before the hook runs (so the
    /// hook may cancel or re-arm it).
    fn next_due(&mut self, target: u64) -> Option<(String, u64)> {
        let mut state = self.shared.lock();
        let (name, armed) = state
            .timers
            .iter()
            .filter(|(_, armed)| armed.due_ms <= target)
            .min_by_key(|(_, armed)| (armed.due_ms, armed.id))
            .map(|(name, armed)| (name.clone(), *armed))?;
        state.now_ms = state.now_ms.max(armed.due_ms);
        if armed.every_ms == 0 {
            state.timers.remove(&name);
        } else if let Some(next) = state.timers.get_mut(&name) {
            next.due_ms = armed.due_ms.saturating_add(armed.every_ms);
        }
        Some((name, armed.due_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_line;

    #[test]
    fn a_line_splits_into_a_lowercased_word_and_trimmed_args_with_or_without_the_bang() {
        assert_eq!(parse_line("!Roll  2d6 "), ("roll".into(), "2d6".into()));
        assert_eq!(parse_line("  roll"), ("roll".into(), String::new()));
        assert_eq!(parse_line("say a  b"), ("say".into(), "a  b".into()));
    }
}

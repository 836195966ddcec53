//! # quote-db
//!
//! A rosey plugin that keeps a channel's quote database.
//!
//! Commands:
//!
//! * `!quote add <text>` stores a quote and replies with its id.
//! * `!quote <id>` (or `!quote #<id>`) shows a quote.
//! * `!quote random` shows a random quote.
//! * `!quote find <word>` searches the quotes, ignoring case: it lists the matching ids and shows
//!   the first match.
//! * `!quote` alone explains the commands.
//!
//! Quotes live only in the plugin's key-value store (`quote:000001`, … and a `next_id` counter),
//! never in memory between commands, so they survive reloads and restarts of the host. Each
//! records who added it and when.
//!
//! Configuration (`config.yaml`): `max_length` (default 400) and `max_find_results` (default
//! 15).

mod quote;

use rosey_abi::{export_plugin, Command, Context, Error, Kv, LoadContext, Plugin, PluginResult};

use quote::{id_from_key, key, Quote, KEY_PREFIX, NEXT_ID_KEY};

const USAGE: &str = "Usage: !quote add <text> | !quote <id> | !quote random | !quote find <word>";

/// Where quotes are kept: the plugin's key-value store, or a map in tests.
pub trait Store {
    /// The value at `key`.
    fn get(&self, key: &str) -> PluginResult<Option<Vec<u8>>>;
    /// Stores `value` at `key`.
    fn set(&self, key: &str, value: &[u8]) -> PluginResult<()>;
    /// Keys starting with `prefix`, sorted.
    fn list(&self, prefix: &str) -> PluginResult<Vec<String>>;
}

impl Store for Kv<'_> {
    fn get(&self, key: &str) -> PluginResult<Option<Vec<u8>>> {
        Kv::get(self, key)
    }

    fn set(&self, key: &str, value: &[u8]) -> PluginResult<()> {
        Kv::set(self, key, value)
    }

    fn list(&self, prefix: &str) -> PluginResult<Vec<String>> {
        Kv::list(self, prefix)
    }
}

/// What `!quote …` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Nothing, or something unrecognised: explain.
    Usage,
    /// `add <text>`.
    Add(&'a str),
    /// `<id>`.
    Show(u64),
    /// `random`.
    Random,
    /// `find <word>`.
    Find(&'a str),
}

impl<'a> Request<'a> {
    /// Reads the arguments of `!quote`.
    pub fn parse(args: &'a str) -> Request<'a> {
        let args = args.trim();
        let (word, rest) = match args.split_once(char::is_whitespace) {
            Some((word, rest)) => (word, rest.trim()),
            None => (args, ""),
        };
        match word.to_ascii_lowercase().as_str() {
            "add" if !rest.is_empty() => Request::Add(rest),
            "random" if rest.is_empty() => Request::Random,
            "find" | "search" if !rest.is_empty() => Request::Find(rest),
            _ if rest.is_empty() => match word.trim_start_matches('#').parse() {
                Ok(id) => Request::Show(id),
                Err(_) => Request::Usage,
            },
            _ => Request::Usage,
        }
    }
}

/// The plugin: only its settings; the quotes are in the store.
pub struct QuoteDb {
    max_length: usize,
    max_find_results: usize,
    rng: fastrand::Rng,
}

impl QuoteDb {
    /// Handles `!quote <args>` from `user` at `time_ms` against `store`, returning the reply.
    pub fn handle(
        &mut self,
        store: &impl Store,
        user: &str,
        time_ms: u64,
        args: &str,
    ) -> PluginResult<String> {
        match Request::parse(args) {
            Request::Usage => Ok(USAGE.to_owned()),
            Request::Add(text) => self.add(store, user, time_ms, text),
            Request::Show(id) => Ok(match load(store, id)? {
                Some(quote) => quote.to_string(),
                None => format!("There is no quote #{id}."),
            }),
            Request::Random => {
                let ids = ids(store)?;
                if ids.is_empty() {
                    return Ok("No quotes yet. Add one with !quote add <text>".to_owned());
                }
                let id = ids[self.rng.usize(..ids.len())];
                Ok(match load(store, id)? {
                    Some(quote) => quote.to_string(),
                    None => format!("There is no quote #{id}."),
                })
            }
            Request::Find(needle) => self.find(store, needle),
        }
    }

    fn add(
        &self,
        store: &impl Store,
        user: &str,
        time_ms: u64,
        text: &str,
    ) -> PluginResult<String> {
        let length = text.chars().count();
        if length > self.max_length {
            return Ok(format!(
                "{user}: that quote is {length} characters long; the most is {}.",
                self.max_length
            ));
        }
        let id = next_id(store)?;
        let quote = Quote {
            id,
            added_by: user.to_owned(),
            time_ms,
            text: text.to_owned(),
        };
        store.set(&key(id), &quote.encode())?;
        store.set(NEXT_ID_KEY, (id + 1).to_string().as_bytes())?;
        Ok(format!("{user}: added quote #{id}."))
    }

    fn find(&self, store: &impl Store, needle: &str) -> PluginResult<String> {
        let mut matches = Vec::new();
        for id in ids(store)? {
            if let Some(quote) = load(store, id)? {
                if quote.matches(needle) {
                    matches.push(quote);
                }
            }
        }
        let Some(first) = matches.first() else {
            return Ok(format!("No quote matches {needle:?}."));
        };
        if matches.len() == 1 {
            return Ok(first.to_string());
        }
        let listed: Vec<String> = matches
            .iter()
            .take(self.max_find_results)
            .map(|quote| format!("#{}", quote.id))
            .collect();
        let more = match matches.len().saturating_sub(self.max_find_results) {
            0 => String::new(),
            more => format!(" and {more} more"),
        };
        Ok(format!(
            "{} quotes match {needle:?}: {}{more}. {first}",
            matches.len(),
            listed.join(", ")
        ))
    }
}

/// Quote `id` from the store, if it exists.
fn load(store: &impl Store, id: u64) -> PluginResult<Option<Quote>> {
    match store.get(&key(id))? {
        None => Ok(None),
        Some(bytes) => Quote::decode(id, &bytes).map(Some).map_err(Error::msg),
    }
}

/// The ids of every stored quote, ascending.
fn ids(store: &impl Store) -> PluginResult<Vec<u64>> {
    let mut ids: Vec<u64> = store
        .list(KEY_PREFIX)?
        .iter()
        .filter_map(|key| id_from_key(key))
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// The id the next quote gets: the counter, never below one past the highest stored id (so a
/// lost or damaged counter cannot make a new quote overwrite an old one).
fn next_id(store: &impl Store) -> PluginResult<u64> {
    let counter = store
        .get(NEXT_ID_KEY)?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or(1);
    let after_highest = ids(store)?.last().map_or(1, |id| id + 1);
    Ok(counter.max(after_highest).max(1))
}

impl Plugin for QuoteDb {
    fn load(ctx: &LoadContext<'_>) -> PluginResult<Self> {
        let config = ctx.config();
        let max_length = config.get_or("max_length", 400usize)?;
        let max_find_results = config.get_or("max_find_results", 15usize)?;
        if max_length == 0 || max_find_results == 0 {
            return Err(Error::msg(
                "config: max_length and max_find_results must be at least 1",
            ));
        }
        Ok(QuoteDb {
            max_length,
            max_find_results,
            rng: fastrand::Rng::new(),
        })
    }

    fn on_command(&mut self, ctx: &Context<'_>, cmd: &Command<'_>) -> PluginResult<()> {
        let reply = self.handle(&ctx.kv(), cmd.user(), cmd.time_ms(), cmd.args());
        match reply {
            Ok(reply) => {
                ctx.reply(reply);
                Ok(())
            }
            Err(err) => {
                ctx.reply("Sorry, the quote database is not working right now.");
                Err(err)
            }
        }
    }
}

export_plugin!(QuoteDb);

#[cfg(test)]
mod tests {
    use super::*;
    use std::{cell::RefCell, collections::BTreeMap};

    #[derive(Default)]
    struct MapStore(RefCell<BTreeMap<String, Vec<u8>>>);

    impl Store for MapStore {
        fn get(&self, key: &str) -> PluginResult<Option<Vec<u8>>> {
            Ok(self.0.borrow().get(key).cloned())
        }

        fn set(&self, key: &str, value: &[u8]) -> PluginResult<()> {
            self.0.borrow_mut().insert(key.to_owned(), value.to_vec());
            Ok(())
        }

        fn list(&self, prefix: &str) -> PluginResult<Vec<String>> {
            Ok(self
                .0
                .borrow()
                .keys()
                .filter(|key| key.starts_with(prefix))
                .cloned()
                .collect())
        }
    }

    fn db() -> QuoteDb {
        QuoteDb {
            max_length: 40,
            max_find_results: 2,
            rng: fastrand::Rng::with_seed(3),
        }
    }

    fn run(db: &mut QuoteDb, store: &MapStore, args: &str) -> String {
        db.handle(store, "alice", 1_714_521_600_000, args)
            .unwrap_or_else(|err| format!("ERROR {err}"))
    }

    #[test]
    fn parses_requests() {
        assert_eq!(Request::parse(""), Request::Usage);
        assert_eq!(Request::parse("add"), Request::Usage);
        assert_eq!(
            Request::parse("ADD  hello  world "),
            Request::Add("hello  world")
        );
        assert_eq!(Request::parse("12"), Request::Show(12));
        assert_eq!(Request::parse("#7"), Request::Show(7));
        assert_eq!(Request::parse("random"), Request::Random);
        assert_eq!(Request::parse("find Cake"), Request::Find("Cake"));
        assert_eq!(Request::parse("find"), Request::Usage);
        assert_eq!(Request::parse("12 13"), Request::Usage);
        assert_eq!(Request::parse("banana"), Request::Usage);
        assert_eq!(Request::parse("-1"), Request::Usage);
    }

    #[test]
    fn adds_shows_and_counts_up() {
        let (mut db, store) = (db(), MapStore::default());
        assert_eq!(
            run(&mut db, &store, "add the cake is a lie"),
            "alice: added quote #1."
        );
        assert_eq!(
            run(&mut db, &store, "add hello world"),
            "alice: added quote #2."
        );
        assert_eq!(
            run(&mut db, &store, "1"),
            "Quote #1: the cake is a lie (added by alice on 2024-05-01)"
        );
        assert!(run(&mut db, &store, "#2").starts_with("Quote #2: hello world (added by alice"));
        assert_eq!(run(&mut db, &store, "3"), "There is no quote #3.");
        assert_eq!(store.get(NEXT_ID_KEY).ok().flatten(), Some(b"3".to_vec()));
        assert!(store.get("quote:000001").ok().flatten().is_some());
    }

    #[test]
    fn a_lost_counter_never_overwrites_a_quote() {
        let (mut db, store) = (db(), MapStore::default());
        run(&mut db, &store, "add one");
        run(&mut db, &store, "add two");
        store.set(NEXT_ID_KEY, b"garbage").ok();
        assert_eq!(run(&mut db, &store, "add three"), "alice: added quote #3.");
        assert!(run(&mut db, &store, "1").contains("one"));
    }

    #[test]
    fn refuses_overlong_quotes() {
        let (mut db, store) = (db(), MapStore::default());
        let reply = run(&mut db, &store, &format!("add {}", "x".repeat(41)));
        assert!(reply.contains("41 characters"), "{reply}");
        assert!(ids(&store).unwrap_or_default().is_empty());
    }

    #[test]
    fn random_picks_a_stored_quote() {
        let (mut db, store) = (db(), MapStore::default());
        assert!(run(&mut db, &store, "random").starts_with("No quotes yet"));
        run(&mut db, &store, "add only one");
        assert!(run(&mut db, &store, "random").starts_with("Quote #1: only one"));
    }

    #[test]
    fn find_ignores_case_and_lists_ids() {
        let (mut db, store) = (db(), MapStore::default());
        for text in ["Cake time", "no match", "more CAKE", "cakewalk"] {
            run(&mut db, &store, &format!("add {text}"));
        }
        assert!(run(&mut db, &store, "find MATCH").starts_with("Quote #2: no match"));
        let reply = run(&mut db, &store, "find cake");
        assert!(
            reply.starts_with("3 quotes match \"cake\": #1, #3 and 1 more. Quote #1: Cake time "),
            "{reply}"
        );
        assert_eq!(
            run(&mut db, &store, "find pie"),
            "No quote matches \"pie\"."
        );
    }

    #[test]
    fn usage_when_asked_nothing() {
        let (mut db, store) = (db(), MapStore::default());
        assert_eq!(run(&mut db, &store, ""), USAGE);
        assert_eq!(run(&mut db, &store, "frobnicate now"), USAGE);
    }
}

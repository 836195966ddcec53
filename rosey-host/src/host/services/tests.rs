//! The services table against a fake daemon on the service channel: what each question and
//! action sends, how answers and failures come back to the plugin.

use std::{os::unix::net::UnixStream, thread};

use abi_stable::std_types::{RResult, RSlice, RStr, RString};
use rosey_abi::{
    channel::{ActionError, ActionErrorKind},
    services::HostServices,
};

use super::{Channel, Services};
use crate::wire::{read_frame, write_frame, FromHost, ToHost};

/// Services whose service channel a fake daemon answers with `answer` (one frame each, until
/// the host's end closes or `answer` gives `None`, which closes the daemon's end), and the
/// frames it was asked, in order, when it is done.
fn serve(
    mut answer: impl FnMut(&FromHost) -> Option<ToHost> + Send + 'static,
) -> (
    &'static Services,
    &'static HostServices,
    thread::JoinHandle<Vec<FromHost>>,
) {
    let (host, mut daemon) = UnixStream::pair().expect("service socketpair");
    let (channel, actor) = UnixStream::pair().expect("channel socketpair");
    // The actor's end of the main channel stays open for the test's length.
    std::mem::forget(actor);
    let asked = thread::spawn(move || {
        let mut asked = Vec::new();
        while let Ok(Some(body)) = read_frame(&mut daemon) {
            let frame = FromHost::decode(&body).expect("a frame the host wrote");
            let reply = answer(&frame);
            asked.push(frame);
            match reply {
                Some(reply) => write_frame(&mut daemon, &reply.encode()).expect("answer"),
                None => break,
            }
        }
        asked
    });
    let (services, table) = Services::install(Channel::new(channel), Some(host));
    (services, table, asked)
}

fn act(table: &HostServices, verb: &str, args: &[&str]) -> Result<String, String> {
    let args: Vec<RString> = args.iter().map(|arg| RString::from(*arg)).collect();
    match (table.act)(table.ctx, RStr::from(verb), RSlice::from_slice(&args)) {
        RResult::ROk(detail) => Ok(detail.into_string()),
        RResult::RErr(error) => Err(error.into_string()),
    }
}

fn decoded(error: Result<String, String>) -> ActionError {
    ActionError::decode(&error.expect_err("an error"))
}

#[test]
fn an_action_goes_to_the_daemon_and_its_answer_comes_back_unchanged() {
    let (services, table, asked) = serve(|frame| match frame {
        FromHost::Act { verb, .. } if verb == "queue" => {
            Some(ToHost::Answer(Ok("7\tNever Gonna Give You Up".to_owned())))
        }
        _ => Some(ToHost::Answer(Err(
            "bot_rank\tthe bot is not a moderator".to_owned()
        ))),
    });
    assert_eq!(
        act(table, "queue", &["https://youtu.be/x", "next", "true"]),
        Ok("7\tNever Gonna Give You Up".to_owned())
    );
    assert_eq!(
        act(table, "kick", &["bob", "spam"]),
        Err("bot_rank\tthe bot is not a moderator".to_owned())
    );
    services.close();
    assert_eq!(
        decoded(act(table, "skip", &[])),
        ActionError::new(ActionErrorKind::Unavailable, "the plugin has unloaded")
    );
    // Closing the host's end ends the fake daemon.
    *super::lock(&services.service) = None;
    assert_eq!(
        asked.join().expect("daemon"),
        [
            FromHost::Act {
                verb: "queue".to_owned(),
                args: vec![
                    "https://youtu.be/x".to_owned(),
                    "next".to_owned(),
                    "true".to_owned()
                ]
            },
            FromHost::Act {
                verb: "kick".to_owned(),
                args: vec!["bob".to_owned(), "spam".to_owned()]
            }
        ]
    );
}

#[test]
fn a_malformed_action_is_refused_by_the_host_without_asking() {
    let (services, table, asked) = serve(|_| Some(ToHost::Answer(Ok(String::new()))));
    let refused = decoded(act(table, "kick", &["not a name!", ""]));
    assert_eq!(refused.kind, ActionErrorKind::Invalid);
    assert!(refused.message.contains("user name"), "{refused:?}");
    assert_eq!(
        decoded(act(table, "format_disk", &[])).kind,
        ActionErrorKind::Invalid
    );
    assert_eq!(act(table, "skip", &[]), Ok(String::new()));
    *super::lock(&services.service) = None;
    assert_eq!(
        asked.join().expect("daemon"),
        [FromHost::Act {
            verb: "skip".to_owned(),
            args: vec![]
        }]
    );
}

#[test]
fn a_broken_service_channel_makes_actions_unavailable() {
    let (_services, table, asked) = serve(|_| None);
    let first = decoded(act(table, "skip", &[]));
    assert_eq!(first.kind, ActionErrorKind::Unavailable, "{first:?}");
    assert!(
        first.message.starts_with("cannot reach the daemon to skip"),
        "{first:?}"
    );
    let later = decoded(act(table, "skip", &[]));
    assert_eq!(later.kind, ActionErrorKind::Unavailable);
    assert!(later.message.contains("failed earlier"), "{later:?}");
    assert_eq!(asked.join().expect("daemon").len(), 1);
    let users = (table.users)(table.ctx).into_result();
    assert!(users.is_err_and(|err| err.as_str().contains("failed earlier")));
}

#[test]
fn each_reader_asks_for_its_part_and_reads_the_daemons_json() {
    let (services, table, asked) = serve(|frame| {
        let FromHost::Query { part } = frame else {
            return None;
        };
        let json = match part.as_str() {
            "roster" => r#"{"users":[{"name":"alice","rank":2,"afk":true}],"media":null}"#,
            "playlist" => {
                r#"{"items":[{"uid":4,"title":"Song","type":"yt","id":"abc","seconds":215,"temp":true,"queued_by":"bob"},{"title":"no uid"}],"current":4,"position_ms":61000,"paused":true,"locked":false}"#
            }
            "poll" => {
                r#"{"title":"Pizza?","options":["yes","no"],"counts":[3,null],"hidden":true,"opened_by":"mod","opened_ms":1700000000000}"#
            }
            _ => r#"{"name":"rosey","rank":2,"afk":false}"#,
        };
        Some(ToHost::Answer(Ok(json.to_owned())))
    });
    let users = (table.users)(table.ctx).into_result().expect("users");
    assert_eq!(
        (users[0].name.as_str(), users[0].rank, users[0].afk),
        ("alice", 2, true)
    );
    assert!((table.media)(table.ctx)
        .into_result()
        .expect("media")
        .is_none());
    let playlist = (table.playlist)(table.ctx).into_result().expect("playlist");
    assert_eq!(playlist.items.len(), 1, "an item without a uid is left out");
    let item = &playlist.items[0];
    assert_eq!(
        (
            item.uid,
            item.title.as_str(),
            item.kind.as_str(),
            item.id.as_str()
        ),
        (4, "Song", "yt", "abc")
    );
    assert_eq!(
        (item.duration_secs, item.temp, item.queued_by.as_str()),
        (215, true, "bob")
    );
    assert_eq!(playlist.current.into_option(), Some(4));
    assert_eq!(
        (playlist.position_ms, playlist.paused, playlist.locked),
        (61_000, true, false)
    );
    let poll = (table.poll)(table.ctx)
        .into_result()
        .expect("poll")
        .into_option()
        .expect("open");
    assert_eq!(poll.title.as_str(), "Pizza?");
    assert_eq!(poll.options.len(), 2);
    assert_eq!(poll.counts.as_slice(), [3, -1]);
    assert!(poll.hidden);
    assert_eq!(
        (poll.opened_by.as_str(), poll.opened_ms),
        ("mod", 1_700_000_000_000)
    );
    let bot = (table.bot)(table.ctx).into_result().expect("bot");
    assert_eq!((bot.name.as_str(), bot.rank), ("rosey", 2));
    *super::lock(&services.service) = None;
    let parts: Vec<String> = asked
        .join()
        .expect("daemon")
        .into_iter()
        .filter_map(|frame| match frame {
            FromHost::Query { part } => Some(part),
            _ => None,
        })
        .collect();
    assert_eq!(parts, ["roster", "roster", "playlist", "poll", "bot"]);
}

#[test]
fn no_poll_and_a_bot_not_yet_joined_read_as_such() {
    let (_services, table, _asked) = serve(|_| Some(ToHost::Answer(Ok("null".to_owned()))));
    let poll = (table.poll)(table.ctx).into_result().expect("poll");
    assert!(poll.is_none());
    let bot = (table.bot)(table.ctx).into_result();
    assert!(bot.is_err_and(|err| err.as_str().contains("has not joined")));
}

//! The CyTube emulator itself, checked against `docs/CYTUBE.md` with a tiny raw socket.io
//! client: playlist frames and their order, SILENT refusals, `queueFail` and `errorMsg`
//! texts, moderation, polls and voteskip.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use rosey_e2e::cytube::{CytubeServer, Limits};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const CHANNEL: &str = "test";
const WAIT: Duration = Duration::from_secs(5);
/// How long a SILENT refusal is given to (not) answer.
const QUIET: Duration = Duration::from_millis(400);

/// A minimal socket.io v4 client: answers pings, records every event it receives.
struct Client {
    _runtime: tokio::runtime::Runtime,
    out: mpsc::UnboundedSender<String>,
    /// Every frame received, raw (`42[...]`, `43<id>[...]`).
    frames: Arc<Mutex<Vec<String>>>,
}

impl Client {
    /// Connects to `server`, logs in as `name` (with `password` if it has an account) and
    /// joins the test channel; waits for the login.
    fn join(server: &CytubeServer, name: &str, password: Option<&str>) -> Client {
        let client = Client::connect(server);
        client.emit("joinChannel", json!({ "name": CHANNEL }));
        let login = match password {
            Some(pw) => json!({"name": name, "pw": pw}),
            None => json!({ "name": name }),
        };
        client.emit("login", login);
        client.wait_for("login", |d| d["success"] == true);
        client
    }

    fn connect(server: &CytubeServer) -> Client {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("client runtime");
        let (out, mut rx) = mpsc::unbounded_channel::<String>();
        let frames = Arc::new(Mutex::new(Vec::new()));
        let host = server.url().trim_start_matches("http://").to_owned();
        let url = format!("ws://{host}/socket.io/?EIO=4&transport=websocket");
        let seen = frames.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let stream = tokio::net::TcpStream::connect(&host).await.expect("tcp");
            let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), stream)
                .await
                .expect("websocket");
            ws.send(Message::text("40")).await.expect("send 40");
            let _ = ready_tx.send(());
            loop {
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            let text = text.as_str().to_owned();
                            if text == "2" {
                                let _ = ws.send(Message::text("3")).await;
                            } else {
                                seen.lock().unwrap().push(text);
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => {
                            seen.lock().unwrap().push("closed".to_owned());
                            break;
                        }
                    },
                    text = rx.recv() => match text {
                        Some(text) => { let _ = ws.send(Message::text(text)).await; }
                        None => break,
                    },
                }
            }
        });
        ready_rx.recv_timeout(WAIT).expect("connected");
        Client {
            _runtime: runtime,
            out,
            frames,
        }
    }

    /// Emits event `name` (`Value::Null`: without data).
    fn emit(&self, name: &str, data: Value) {
        let body = if data.is_null() {
            json!([name])
        } else {
            json!([name, data])
        };
        self.out.send(format!("42{body}")).expect("client running");
    }

    /// Emits event `name` asking for acknowledgement `ack`.
    fn emit_ack(&self, ack: u64, name: &str, data: Value) {
        self.out
            .send(format!("42{ack}{}", json!([name, data])))
            .expect("client running");
    }

    /// The events received so far: (name, data).
    fn events(&self) -> Vec<(String, Value)> {
        self.frames
            .lock()
            .unwrap()
            .iter()
            .filter_map(|frame| {
                let Value::Array(items) = serde_json::from_str(frame.strip_prefix("42")?).ok()?
                else {
                    return None;
                };
                let name = items.first()?.as_str()?.to_owned();
                Some((name, items.get(1).cloned().unwrap_or(Value::Null)))
            })
            .collect()
    }

    /// How many events so far (to look at what comes after).
    fn mark(&self) -> usize {
        self.events().len()
    }

    /// The events after `mark`.
    fn since(&self, mark: usize) -> Vec<(String, Value)> {
        self.events().split_off(mark)
    }

    /// The names of the events after `mark`, leaving out `usercount` and `mediaUpdate`.
    fn names_since(&self, mark: usize) -> Vec<String> {
        self.since(mark)
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| name != "usercount" && name != "mediaUpdate")
            .collect()
    }

    /// Waits for an event `name` whose data passes `check`; returns its data.
    fn wait_for(&self, name: &str, check: impl Fn(&Value) -> bool) -> Value {
        self.wait_after(0, name, check)
    }

    /// [`Client::wait_for`] among the events after `mark`.
    fn wait_after(&self, mark: usize, name: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some((_, data)) = self
                .since(mark)
                .into_iter()
                .find(|(n, d)| n == name && check(d))
            {
                return data;
            }
            assert!(
                Instant::now() < deadline,
                "no {name} within {WAIT:?}; got {:#?}",
                self.since(mark)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asserts nothing at all arrives for a while after `mark` (a SILENT refusal).
    fn assert_silent(&self, mark: usize) {
        std::thread::sleep(QUIET);
        assert_eq!(self.since(mark), vec![], "a SILENT refusal sends nothing");
    }

    /// The raw frames received so far.
    fn raw(&self) -> Vec<String> {
        self.frames.lock().unwrap().clone()
    }
}

/// A server, and a socket `mod` logged in with an account and promoted to `rank`.
fn with_socket(limits: Limits, rank: i64) -> (CytubeServer, Client) {
    let server = CytubeServer::start(limits);
    server.add_account("mod", "pw");
    let client = Client::join(&server, "mod", Some("pw"));
    client.wait_for("rank", |r| r == &json!(1));
    client.wait_for("userlist", |_| true);
    if rank != 1 {
        let mark = client.mark();
        server.set_rank(CHANNEL, "mod", rank);
        client.wait_after(mark, "rank", |r| r == &json!(rank));
        if rank >= 2 {
            client.wait_after(mark, "userlist", |_| true);
        }
    }
    (server, client)
}

/// CyTube's limits with the playback clock stopped (one tick an hour), so that no
/// `mediaUpdate` disturbs a check for silence.
fn frozen() -> Limits {
    Limits {
        media_tick: Duration::from_secs(3600),
        ..Limits::default()
    }
}

fn queue(client: &Client, id: &str, pos: &str) {
    client.emit(
        "queue",
        json!({"id": id, "type": "yt", "pos": pos, "temp": false}),
    );
}

#[test]
fn the_join_burst_carries_the_whole_permission_table_and_options() {
    let server = CytubeServer::start(frozen());
    server.set_rank(CHANNEL, "admin", 2);
    assert_eq!(
        server.queue_as(CHANNEL, "admin", "yt", "first", false),
        None
    );
    let client = Client::connect(&server);
    client.emit("joinChannel", json!({ "name": CHANNEL }));
    client.wait_for("usercount", |_| true);
    let events = client.events();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "rank",
            "setPermissions",
            "setPlaylistLocked",
            "emoteList",
            "drinkCount",
            "channelCSSJS",
            "setMotd",
            "channelOpts",
            "setPlaylistMeta",
            "playlist",
            "setCurrent",
            "setCurrent",
            "changeMedia",
            "userlist",
            "usercount"
        ]
    );
    let perms = &events[1].1;
    assert_eq!(perms["playlistadd"], json!(1.5));
    assert_eq!(perms["oplaylistadd"], json!(-1));
    assert_eq!(perms["ban"], json!(2));
    assert_eq!(events[2].1, json!(true), "locked by default");
    assert_eq!(events[7].1["allow_voteskip"], json!(true));
    assert_eq!(events[7].1["voteskip_ratio"], json!(0.5));
    let change = &events[12].1;
    assert_eq!(change["title"], "Media first");
    assert_eq!(change["currentTime"], json!(-3));
    assert_eq!(change["paused"], json!(true));
}

#[test]
fn a_moderator_queue_is_announced_then_plays_and_the_clock_runs() {
    let limits = Limits {
        media_tick: Duration::from_millis(50),
        ..Limits::default()
    };
    let (server, client) = with_socket(limits, 2);
    server.set_media_info("yt", "abc", "A song", 1);
    let mark = client.mark();
    queue(&client, "abc", "end");
    client.wait_after(mark, "voteskip", |_| true);
    assert_eq!(
        client.names_since(mark)[..6],
        [
            "queue",
            "setPlaylistMeta",
            "setCurrent",
            "changeMedia",
            "drinkCount",
            "voteskip"
        ]
    );
    let queued = &client.since(mark)[0].1;
    assert_eq!(queued["after"], "prepend");
    assert_eq!(queued["item"]["queueby"], "mod");
    assert_eq!(queued["item"]["temp"], false, "rank 2 has addnontemp");
    assert_eq!(queued["item"]["media"]["duration"], "00:01");
    let uid = queued["item"]["uid"].clone();
    client.wait_after(mark, "mediaUpdate", |u| {
        u == &json!({"currentTime": 0, "paused": false})
    });
    // 1 s long: ends at 3 s, and the lone item plays again.
    client.wait_after(mark + 6, "changeMedia", |_| true);
    assert_eq!(server.current(CHANNEL), uid.as_u64());
}

#[test]
fn below_playlistadd_on_a_locked_playlist_nothing_comes_back() {
    let (server, client) = with_socket(frozen(), 1);
    let mark = client.mark();
    queue(&client, "abc", "end");
    client.assert_silent(mark);
    assert!(server.playlist(CHANNEL).is_empty());
    assert_eq!(server.received("mod").last().unwrap().0, "queue");
    // Unlocked, `oplaylistadd` (-1) lets anyone add, but below `addnontemp` it is temporary.
    server.set_playlist_locked(CHANNEL, false);
    client.wait_for("setPlaylistLocked", |l| l == &json!(false));
    let mark = client.mark();
    queue(&client, "abc", "end");
    let queued = client.wait_after(mark, "queue", |_| true);
    assert_eq!(queued["item"]["temp"], true);
    client.wait_after(mark, "drinkCount", |_| true);
    // `next` still needs `playlistnext` (1.5): SILENT.
    let mark = client.mark();
    queue(&client, "def", "next");
    client.assert_silent(mark);
}

#[test]
fn queue_refusals_answer_with_cytube_texts() {
    let (server, client) = with_socket(frozen(), 1);
    server.set_playlist_locked(CHANNEL, false);
    let fail = |data: Value| {
        let mark = client.mark();
        client.emit("queue", data);
        let answer = client.wait_after(mark, "queueFail", |_| true);
        answer["msg"].as_str().unwrap().to_owned()
    };
    let live = fail(json!({"id": "chan", "type": "tw", "pos": "end"}));
    assert_eq!(live, "You don't have permission to add live media");
    // Lookup errors are HTML-escaped (CyTube's `XSS.sanitizeText` in `queueStandard`).
    let unknown = fail(json!({"id": "x", "type": "xx", "pos": "end"}));
    assert_eq!(unknown, "Unknown media type &#39;xx&#39;");
    server.reject_media("yt", "gone", "Video not found");
    assert_eq!(
        fail(json!({"id": "gone", "type": "yt", "pos": "end"})),
        "Video not found"
    );
    // The third request of the burst passes; the fourth is throttled.
    let mark = client.mark();
    queue(&client, "one", "end");
    client.wait_after(mark, "queue", |_| true);
    let throttled = fail(json!({"id": "two", "type": "yt", "pos": "end"}));
    assert_eq!(throttled, "You are adding videos too quickly");
    // A test user's queue goes through the same checks.
    assert_eq!(
        server
            .queue_as(CHANNEL, "alice", "yt", "one", false)
            .as_deref(),
        Some("This item is already on the playlist")
    );
    assert_eq!(
        server.queue_as(CHANNEL, "alice", "yt", "three", false),
        None
    );
    // A typecheck failure is an errorMsg naming the event.
    let mark = client.mark();
    client.emit("queue", json!({"id": "x", "type": "yt"}));
    let error = client.wait_after(mark, "errorMsg", |_| true);
    assert_eq!(
        error["msg"],
        "Unexpected error for message queue: Missing key: string:pos"
    );
}

#[test]
fn delete_move_jump_and_play_next_send_their_frames() {
    let (server, client) = with_socket(frozen(), 2);
    for id in ["a", "b", "c"] {
        queue(&client, id, "end");
    }
    server.wait(WAIT, "three items", || {
        (server.playlist(CHANNEL).len() == 3).then_some(())
    });
    let uids: Vec<u64> = server.playlist(CHANNEL).iter().map(|e| e.uid).collect();
    // moveMedia echoes the request.
    let mark = client.mark();
    client.emit("moveMedia", json!({"from": uids[2], "after": "prepend"}));
    let moved = client.wait_after(mark, "moveVideo", |_| true);
    assert_eq!(moved, json!({"from": uids[2], "after": "prepend"}));
    assert_eq!(server.playlist(CHANNEL)[0].uid, uids[2]);
    // delete wants a JSON number: a string is SILENT.
    let mark = client.mark();
    client.emit("delete", json!(uids[1].to_string()));
    client.assert_silent(mark);
    client.emit("delete", json!(uids[1]));
    client.wait_after(mark, "setPlaylistMeta", |m| m["count"] == 2);
    assert_eq!(client.names_since(mark), ["delete", "setPlaylistMeta"]);
    // jumpTo takes a string uid too (compared loosely).
    let mark = client.mark();
    client.emit("jumpTo", json!(uids[2].to_string()));
    client.wait_after(mark, "voteskip", |_| true);
    assert_eq!(
        client.names_since(mark),
        ["setCurrent", "changeMedia", "drinkCount", "voteskip"]
    );
    assert_eq!(server.current(CHANNEL), Some(uids[2]));
    // playNext wraps to the first item.
    let mark = client.mark();
    client.emit("playNext", Value::Null);
    let current = client.wait_after(mark, "setCurrent", |_| true);
    assert_eq!(current, json!(uids[0]), "after c (moved first) comes a");
}

#[test]
fn kicking_a_higher_rank_is_refused_by_error_and_a_lower_one_leaves() {
    let (server, client) = with_socket(frozen(), 2);
    server.set_rank(CHANNEL, "boss", 3);
    server.join(CHANNEL, "gus");
    let mark = client.mark();
    client.emit("chatMsg", json!({"msg": "/kick boss bye"}));
    let error = client.wait_after(mark, "errorMsg", |_| true);
    assert_eq!(error["msg"], "You do not have permission to kick boss");
    // A target not in the channel: SILENT.
    let mark = client.mark();
    client.emit("chatMsg", json!({"msg": "/kick nobody"}));
    client.assert_silent(mark);
    let mark = client.mark();
    client.emit("chatMsg", json!({"msg": "/kick gus be nice"}));
    let notice = client.wait_after(mark, "chatMsg", |m| m["username"] == "[server]");
    assert_eq!(notice["msg"], "mod kicked gus");
    assert_eq!(notice["meta"]["addClass"], "server-whisper");
    assert_eq!(
        client
            .since(mark)
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["userLeave", "usercount", "chatMsg"]
    );
    assert!(!server.present(CHANNEL, "gus"));
    assert_eq!(server.kicked(), [("gus".to_owned(), "be nice".to_owned())]);
    // Commands are never echoed: no chatMsg from mod.
    assert!(client.events().iter().all(|(_, d)| d["username"] != "mod"));
}

#[test]
fn mute_shadow_mute_and_clear() {
    let (server, moderator) = with_socket(frozen(), 2);
    server.add_account("carl", "pw");
    let carl = Client::join(&server, "carl", Some("pw"));
    carl.wait_for("userlist", |_| true);
    // carl (rank 1) cannot mute: SILENT.
    let mark = carl.mark();
    carl.emit("chatMsg", json!({"msg": "/mute mod"}));
    carl.assert_silent(mark);
    let (mod_mark, carl_mark) = (moderator.mark(), carl.mark());
    moderator.emit("chatMsg", json!({"msg": "/mute carl"}));
    let meta = moderator.wait_after(mod_mark, "setUserMeta", |_| true);
    assert_eq!(meta["name"], "carl");
    assert_eq!(meta["meta"]["muted"], true);
    assert_eq!(
        meta["meta"]["smuted"], false,
        "moderators get the long form"
    );
    let own = carl.wait_after(carl_mark, "setUserMeta", |_| true);
    assert_eq!(own["meta"], json!({"afk": false, "muted": true}));
    assert!(server.is_muted(CHANNEL, "carl"));
    let carl_mark = carl.mark();
    carl.emit("chatMsg", json!({"msg": "hello?"}));
    let noflood = carl.wait_after(carl_mark, "noflood", |_| true);
    assert_eq!(noflood["msg"], "You have been muted on this channel.");
    assert!(server.chat_from("carl").is_empty());
    // A muted test user's line reaches nobody.
    server.say(CHANNEL, "dora", "/afk");
    moderator.emit("chatMsg", json!({"msg": "/smute dora"}));
    server.wait(WAIT, "dora shadow-muted", || {
        server.is_shadow_muted(CHANNEL, "dora").then_some(())
    });
    let mark = moderator.mark();
    server.say(CHANNEL, "dora", "psst");
    let shadow = moderator.wait_after(mark, "chatMsg", |m| m["username"] == "dora");
    assert_eq!(shadow["meta"]["shadow"], true);
    std::thread::sleep(QUIET);
    assert!(carl.events().iter().all(|(_, d)| d["username"] != "dora"));
    // /unmute of someone not muted, then /clear.
    let mark = moderator.mark();
    moderator.emit("chatMsg", json!({"msg": "/unmute eve"}));
    let error = moderator.wait_after(mark, "errorMsg", |_| true);
    assert_eq!(error["msg"], "eve is not muted.");
    let mark = carl.mark();
    moderator.emit("chatMsg", json!({"msg": "/clear"}));
    let cleared = carl.wait_after(mark, "clearchat", |_| true);
    assert_eq!(cleared, json!({"clearedBy": "mod"}));
    let notice = carl.wait_after(mark, "chatMsg", |_| true);
    assert_eq!(notice["msg"], "mod cleared chat.");
    assert_eq!(server.chat_cleared(CHANNEL), 1);
}

#[test]
fn polls_open_vote_hide_and_close() {
    let (server, moderator) = with_socket(frozen(), 2);
    server.add_account("carl", "pw");
    let carl = Client::join(&server, "carl", Some("pw"));
    carl.wait_for("userlist", |_| true);
    // `obscured` is required: a typecheck errorMsg.
    let mark = moderator.mark();
    moderator.emit("newPoll", json!({"title": "t", "opts": ["a"]}));
    let error = moderator.wait_after(mark, "errorMsg", |_| true);
    assert_eq!(
        error["msg"],
        "Unexpected error for message newPoll: Missing key: boolean:obscured"
    );
    // A validation error goes to the acknowledgement when the client asked for one.
    let bad = json!({"title": "t", "opts": [""], "obscured": false});
    moderator.emit_ack(7, "newPoll", bad);
    server.wait(WAIT, "the ack", || {
        moderator.raw().into_iter().find(|f| f.starts_with("437"))
    });
    let ack = moderator
        .raw()
        .into_iter()
        .find(|f| f.starts_with("437"))
        .unwrap();
    assert_eq!(
        ack,
        r#"437[{"error":{"message":"Poll options must be 1-255 characters long."}}]"#
    );
    // Below pollctl: SILENT.
    let mark = carl.mark();
    carl.emit(
        "newPoll",
        json!({"title": "t", "opts": ["a"], "obscured": false}),
    );
    carl.assert_silent(mark);
    let (mod_mark, carl_mark) = (moderator.mark(), carl.mark());
    moderator.emit_ack(
        8,
        "newPoll",
        json!({"title": "Best <pet>?", "opts": ["cat", "dog"], "obscured": true}),
    );
    let opened = carl.wait_after(carl_mark, "newPoll", |_| true);
    assert_eq!(opened["title"], "Best &lt;pet&gt;?");
    assert_eq!(opened["counts"], json!(["?", "?"]));
    assert_eq!(opened["initiator"], "mod");
    let seen = moderator.wait_after(mod_mark, "newPoll", |_| true);
    assert_eq!(seen["counts"], json!(["0?", "0?"]));
    assert!(moderator.raw().contains(&"438[{}]".to_owned()));
    server.vote_as(CHANNEL, "alice", 1);
    let update = moderator.wait_after(mod_mark, "updatePoll", |_| true);
    assert_eq!(update["counts"], json!(["0?", "1?"]));
    carl.emit("vote", json!({"option": 0}));
    moderator.wait_after(mod_mark, "updatePoll", |u| {
        u["counts"] == json!(["1?", "1?"])
    });
    assert_eq!(server.poll(CHANNEL).unwrap().counts, [1, 1]);
    let mark = moderator.mark();
    moderator.emit("closePoll", Value::Null);
    moderator.wait_after(mark, "closePoll", |_| true);
    assert_eq!(moderator.names_since(mark), ["updatePoll", "closePoll"]);
    assert_eq!(moderator.since(mark)[0].1["counts"], json!([1, 1]));
    assert!(server.poll(CHANNEL).is_none());
    // The chat command.
    let carl_mark = carl.mark();
    moderator.emit("chatMsg", json!({"msg": "/poll Lunch?,soup,salad"}));
    let polled = carl.wait_after(carl_mark, "newPoll", |_| true);
    assert_eq!(polled["title"], " Lunch?");
    assert_eq!(polled["options"], json!(["soup", "salad"]));
}

#[test]
fn voteskip_counts_afk_users_out_and_passes() {
    let (server, moderator) = with_socket(frozen(), 2);
    for id in ["one", "two"] {
        queue(&moderator, id, "end");
    }
    server.join(CHANNEL, "alice");
    server.join(CHANNEL, "bob");
    server.join(CHANNEL, "cleo");
    server.wait(WAIT, "two items", || {
        (server.playlist(CHANNEL).len() == 2).then_some(())
    });
    let second = server.playlist(CHANNEL)[1].uid;
    // 4 eligible, ratio 0.5: 2 votes needed.
    let mark = moderator.mark();
    server.vote_skip_as(CHANNEL, "alice");
    let tally = moderator.wait_after(mark, "voteskip", |v| v["count"] != 0);
    assert_eq!(tally, json!({"count": 1, "need": 2}));
    // The same user again: SILENT.
    let mark = moderator.mark();
    server.vote_skip_as(CHANNEL, "alice");
    moderator.assert_silent(mark);
    // bob and cleo go AFK: 2 eligible, 1 vote is enough.
    server.set_afk(CHANNEL, "bob", true);
    let mark = moderator.mark();
    server.set_afk(CHANNEL, "cleo", true);
    let passed = moderator.wait_after(mark, "chatMsg", |m| m["username"] == "[voteskip]");
    assert_eq!(
        passed["msg"],
        "Voteskip passed: 1/2 skipped; eligible voters: 2 = total (4) - AFK (2) - no \
         permission (0); ratio = 0.5"
    );
    moderator.wait_after(mark, "drinkCount", |_| true);
    assert_eq!(server.current(CHANNEL), Some(second));
    // The new item's frames come after the action's own, as in CyTube (they wait a tick).
    moderator.wait_after(mark, "voteskip", |v| v["need"] == 0);
    let names = moderator.names_since(mark);
    let from = names.iter().position(|n| n == "chatMsg").unwrap();
    assert_eq!(
        names[from..],
        [
            "chatMsg",
            "voteskip",
            "setUserMeta",
            "setAFK",
            "setCurrent",
            "changeMedia",
            "drinkCount",
            "voteskip"
        ]
    );
    assert!(server.is_afk(CHANNEL, "cleo"));
}

#[test]
fn a_banned_name_is_kicked_and_cannot_come_back() {
    let (server, moderator) = with_socket(frozen(), 2);
    server.add_account("eve", "pw");
    let eve = Client::join(&server, "eve", Some("pw"));
    eve.wait_for("userlist", |_| true);
    let mark = moderator.mark();
    moderator.emit("chatMsg", json!({"msg": "/ban mod"}));
    let error = moderator.wait_after(mark, "errorMsg", |_| true);
    assert_eq!(error["msg"], "You cannot ban yourself");
    moderator.emit("chatMsg", json!({"msg": "/ban eve spam"}));
    let notice = moderator.wait_after(mark, "chatMsg", |m| m["username"] == "[server]");
    assert_eq!(notice["msg"], "mod namebanned eve");
    let kick = eve.wait_for("kick", |_| true);
    assert_eq!(kick["reason"], "You're banned!");
    assert!(server.is_banned(CHANNEL, "eve"));
    moderator.wait_after(mark, "userLeave", |u| u["name"] == "eve");
    let mark = moderator.mark();
    moderator.emit("requestBanlist", Value::Null);
    let list = moderator.wait_after(mark, "banlist", |_| true);
    assert_eq!(list[0]["name"], "eve");
    assert_eq!(list[0]["ip"], "*");
    assert_eq!(list[0]["reason"], "spam");
    let again = Client::join(&server, "eve", Some("pw"));
    let kick = again.wait_for("kick", |_| true);
    assert_eq!(kick["reason"], "You are banned from this channel.");
}

#[test]
fn playback_plays_through_and_deletes_temporary_items() {
    let limits = Limits {
        media_tick: Duration::from_millis(20),
        ..Limits::default()
    };
    let server = CytubeServer::start(limits);
    server.set_media_info("yt", "short", "Short", 2);
    server.set_playlist_locked(CHANNEL, false);
    // alice (rank 1) lacks addnontemp: her items are temporary.
    assert_eq!(
        server.queue_as(CHANNEL, "alice", "yt", "short", false),
        None
    );
    assert_eq!(server.queue_as(CHANNEL, "alice", "yt", "long", false), None);
    let entries = server.playlist(CHANNEL);
    assert!(entries.iter().all(|e| e.temp && e.queueby == "alice"));
    let (short, long) = (entries[0].uid, entries[1].uid);
    assert_eq!(server.current(CHANNEL), Some(short));
    server.wait(WAIT, "the short item to end", || {
        (server.current(CHANNEL) == Some(long)).then_some(())
    });
    assert_eq!(
        server.playlist(CHANNEL).len(),
        1,
        "the temporary item is gone"
    );
    // Skipping time: past the end + 2 s, the lone temporary item is deleted too.
    server.advance_media(CHANNEL, 100.0);
    assert!(server.playlist(CHANNEL).is_empty());
    assert_eq!(server.current(CHANNEL), None);
}

//! The channel model read from CyTube's frames, in the shapes docs/CYTUBE.md records.

use serde_json::json;

use super::*;

fn item(uid: u64, id: &str, by: &str) -> Value {
    json!({"uid": uid, "temp": false, "queueby": by,
        "media": {"id": id, "title": format!("Media {id}"), "seconds": 60, "duration": "01:00", "type": "yt", "meta": {}}})
}

fn kinds(events: &[ModelEvent]) -> Vec<&'static str> {
    events.iter().map(|(kind, _, _)| *kind).collect()
}

#[test]
fn the_playlist_follows_queue_delete_and_move() {
    let mut model = ChannelModel::new("bot");
    let set = model.note("playlist", &json!([item(1, "a", "x"), item(2, "b", "x")]));
    assert_eq!(kinds(&set), [messaging::EVENT_PLAYLIST_SET]);
    model.note("setCurrent", &json!(1));
    let added = model.note("queue", &json!({"item": item(3, "c", "bot"), "after": 1}));
    assert_eq!(kinds(&added), [messaging::EVENT_PLAYLIST_ADD]);
    assert_eq!(added[0].1.as_deref(), Some("bot"));
    let order = |model: &ChannelModel| -> Vec<u64> {
        model.playlist.items.iter().map(|item| item.uid).collect()
    };
    assert_eq!(order(&model), [1, 3, 2]);
    model.note(
        "queue",
        &json!({"item": item(4, "d", "bot"), "after": "prepend"}),
    );
    assert_eq!(order(&model), [4, 1, 3, 2]);
    model.note("moveVideo", &json!({"from": 4, "after": "append"}));
    assert_eq!(order(&model), [1, 3, 2, 4]);
    model.note("moveVideo", &json!({"from": 2, "after": 1}));
    assert_eq!(order(&model), [1, 2, 3, 4]);
    model.note("moveVideo", &json!({"from": 3, "after": "prepend"}));
    assert_eq!(order(&model), [3, 1, 2, 4]);
    let deleted = model.note("delete", &json!({"uid": 1}));
    assert_eq!(kinds(&deleted), [messaging::EVENT_PLAYLIST_DELETE]);
    assert_eq!(order(&model), [3, 2, 4]);
    assert_eq!(model.item(2).map(|i| i.title.as_str()), Some("Media b"));
}

#[test]
fn permissions_follow_the_lock_and_the_o_twins() {
    let mut model = ChannelModel::new("bot");
    model.note(
        "setPermissions",
        &json!({"playlistadd": 1.5, "oplaylistadd": -1, "playlistdelete": 2, "oplaylistdelete": 2, "kick": 1.5, "chatclear": 2}),
    );
    model.note("rank", &json!(1));
    model.note("setPlaylistLocked", &json!(false));
    assert!(model.allows("playlistadd"), "open playlist: anyone may add");
    let locked = model.note("setPlaylistLocked", &json!(true));
    assert_eq!(kinds(&locked), [messaging::EVENT_PLAYLIST_LOCK]);
    assert!(
        !model.allows("playlistadd"),
        "locked: the plain key decides"
    );
    assert_eq!(model.needed_rank("playlistadd"), Some(1.5));
    assert!(!model.allows("kick"));
    assert!(
        !model.allows("ban"),
        "a key the table lacks is held by nobody"
    );
    assert_eq!(model.needed_rank("ban"), None);
    model.note("rank", &json!(2));
    assert!(model.allows("kick") && model.allows("playlistdelete") && model.allows("chatclear"));
}

#[test]
fn polls_read_hidden_counts_in_both_forms() {
    let mut model = ChannelModel::new("bot");
    let frame = |counts: Value| {
        json!({"title": "Best &amp; worst?", "options": ["a", "b"], "counts": counts,
            "initiator": "alice", "timestamp": 5})
    };
    let opened = model.note("newPoll", &frame(json!([1, 0])));
    assert_eq!(kinds(&opened), [messaging::EVENT_POLL_OPEN]);
    let poll = model.poll.clone().expect("open");
    assert_eq!(poll.title, "Best & worst?");
    assert_eq!(poll.counts, [Some(1), Some(0)]);
    assert!(!poll.hidden);
    model.note("updatePoll", &frame(json!(["2?", "0?"])));
    let poll = model.poll.clone().expect("open");
    assert!(poll.hidden);
    assert_eq!(poll.counts, [Some(2), Some(0)]);
    model.note("updatePoll", &frame(json!(["?", "?"])));
    assert_eq!(
        model.poll.as_ref().map(|p| p.counts.clone()),
        Some(vec![None, None])
    );
    let closed = model.note("closePoll", &Value::Null);
    assert_eq!(kinds(&closed), [messaging::EVENT_POLL_CLOSE]);
    assert_eq!(closed[0].2["title"], "Best & worst?");
    assert!(model.poll.is_none());
}

#[test]
fn mutes_and_notices_become_events() {
    let mut model = ChannelModel::new("bot");
    model.note(
        "userlist",
        &json!([{"name": "Bob", "rank": 1, "meta": {"afk": false, "muted": false}}]),
    );
    let muted = model.note(
        "setUserMeta",
        &json!({"name": "Bob", "meta": {"afk": false, "muted": true, "smuted": false}}),
    );
    assert_eq!(kinds(&muted), [messaging::EVENT_USER_MUTE]);
    assert!(model.user("bob").is_some_and(|u| u.muted));
    assert!(
        model
            .note(
                "setUserMeta",
                &json!({"name": "Bob", "meta": {"afk": true, "muted": true}})
            )
            .is_empty(),
        "an AFK change alone is not a mute event"
    );
    let notice = |msg: &str| json!({"username": "[server]", "msg": msg, "meta": {}, "time": 1});
    let kicked = model.note("chatMsg", &notice("alice kicked Bob"));
    assert_eq!(kinds(&kicked), [messaging::EVENT_USER_KICK]);
    assert_eq!(kicked[0].2, json!({"name": "Bob", "by": "alice"}));
    let banned = model.note("chatMsg", &notice("alice namebanned spammer"));
    assert_eq!(kinds(&banned), [messaging::EVENT_USER_BAN]);
    assert!(model
        .note("chatMsg", &notice("alice cleared chat."))
        .is_empty());
    let spoof = json!({"username": "mallory", "msg": "alice kicked Bob", "meta": {}, "time": 1});
    assert!(
        model.note("chatMsg", &spoof).is_empty(),
        "only the server's notices count"
    );
}

#[test]
fn progress_is_throttled_but_pauses_are_told() {
    let mut model = ChannelModel::new("bot");
    let update = |time: f64, paused: bool| json!({"currentTime": time, "paused": paused});
    assert_eq!(model.note("mediaUpdate", &update(0.0, false)).len(), 1);
    assert!(model.note("mediaUpdate", &update(5.0, false)).is_empty());
    assert_eq!(model.playlist.position_ms, 5000);
    assert_eq!(model.note("mediaUpdate", &update(6.0, true)).len(), 1);
    assert!(model.playlist.paused);
}

#[test]
fn a_mute_of_someone_not_in_the_user_list_is_still_told() {
    let mut model = ChannelModel::new("bot");
    let muted = model.note(
        "setUserMeta",
        &json!({"name": "Ghost", "meta": {"muted": true, "smuted": false}}),
    );
    assert_eq!(kinds(&muted), [messaging::EVENT_USER_MUTE]);
    assert_eq!(
        muted[0].2,
        json!({"name": "Ghost", "muted": true, "smuted": false})
    );
}

#[test]
fn a_notice_naming_no_valid_user_is_no_event() {
    let mut model = ChannelModel::new("bot");
    let notice =
        json!({"username": "[server]", "msg": "alice kicked [voteskip]", "meta": {}, "time": 1});
    assert!(model.note("chatMsg", &notice).is_empty());
}

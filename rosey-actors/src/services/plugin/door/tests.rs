//! A door's own book-keeping, with no message flowing: what it shows when printed, the poison
//! counts it keeps on disk, the window of messages done with, and an early copy a host gave
//! back before handling it. (The door reading a real consumer is tested end to end.)

use std::{path::Path, sync::Arc, time::Duration};

use bytes::Bytes;

use super::*;

/// A NATS client that is never connected (no server listens where it looks, and it stops
/// trying after one attempt): enough for the parts of a door and its actor's arguments that
/// never send anything.
pub(in crate::services::plugin) async fn unconnected_client() -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(1)
        .connect("nats://127.0.0.1:1")
        .await
        .expect("a client that connects lazily")
}

/// What a plugin reading `rosey.commands.roll` wants of its consumer.
pub(in crate::services::plugin) fn roll_wants() -> Wants {
    Wants {
        filter_subjects: vec!["rosey.commands.roll".to_owned()],
        ack_wait: Duration::from_secs(30),
    }
}

/// A door for plugin `dice` v1.0.0 keeping its poison counts in `attempts_file`.
pub(in crate::services::plugin) async fn door_at(attempts_file: &Path) -> Arc<Door> {
    Arc::new(Door::new(
        "dice",
        "1.0.0",
        roll_wants(),
        jetstream::new(unconnected_client().await),
        rosey_core::messaging::StoreBudget::default(),
        attempts_file.to_path_buf(),
    ))
}

#[tokio::test]
async fn a_door_prints_its_state_and_never_waits_for_its_lock_to_do_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let door = door_at(&dir.path().join("attempts.json")).await;
    let shown = format!("{door:?}");
    for part in [
        r#"name: "dice""#,
        r#"version: "1.0.0""#,
        "standby: None",
        "held: false",
        "returned: 0",
    ] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
    // Printed while the serving loop holds the lock (a log line from inside it, say).
    let state = door.lock();
    let shown = format!("{door:?}");
    drop(state);
    assert!(shown.contains(r#"state: <locked>"#), "{shown}");
    assert!(!shown.contains("version"), "{shown}");
}

#[tokio::test]
async fn a_stream_made_anew_forgets_the_poison_counts_on_disk_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("attempts.json");
    std::fs::write(&file, r#"{"7":2}"#).expect("write counts");
    let door = door_at(&file).await;
    assert_eq!(door.attempts(7), 2, "counts are read back at the start");
    door.forget_sequences();
    assert_eq!(door.attempts(7), 0);
    assert_eq!(std::fs::read_to_string(&file).expect("counts"), "{}");
    // A door made now (a daemon restart) finds nothing to count either.
    assert_eq!(door_at(&file).await.attempts(7), 0);
}

#[tokio::test]
async fn poison_counts_that_cannot_be_written_still_change_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Its folder is a file: no write there can succeed.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "").expect("write a file");
    let door = door_at(&blocker.join("attempts.json")).await;
    door.lock().attempts.insert(3, 1);
    door.done(3, Some("m-3".to_owned()));
    assert_eq!(door.attempts(3), 0, "done with, whatever the disk says");
}

#[tokio::test]
async fn a_door_remembers_the_last_messages_done_with_and_forgets_older_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let door = door_at(&dir.path().join("attempts.json")).await;
    let last = RECENT as u64 + 1;
    for seq in 1..=last {
        door.done(seq, Some(format!("m-{seq}")));
    }
    // Done twice (an ack sent again): still one entry.
    door.done(last, Some(format!("m-{last}")));
    let state = door.lock();
    assert_eq!(state.recent.len(), RECENT);
    assert_eq!(state.recent_ids.len(), RECENT);
    assert!(
        !state.recent_ids.contains_key(&1),
        "the oldest is forgotten"
    );
    assert_eq!(
        state.recent_ids.get(&last),
        Some(&Some(format!("m-{last}")))
    );
}

#[tokio::test]
async fn an_early_copy_given_back_unhandled_is_next_again_and_not_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let door = door_at(&dir.path().join("attempts.json")).await;
    let copy = EarlyCopy {
        id: "m-1".to_owned(),
        subject: "rosey.commands.roll".to_owned(),
        payload: Bytes::from_static(b"{}"),
        arrived_ms: 42,
    };
    door.hold(Taken::early(copy));
    assert!(door.return_held(false), "a message was in hand");
    assert!(!door.return_held(false), "and is no longer");
    let again = door.lock().early.take().expect("put back first in line");
    assert_eq!(again.id, "m-1");
    assert_eq!(again.arrived_ms, 42, "it keeps its waiting time");
    assert_eq!(
        door.handled(),
        Handled::default(),
        "nothing counted as handled"
    );
}

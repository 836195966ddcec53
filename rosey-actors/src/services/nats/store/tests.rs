//! Tests of the module `store`.

use super::*;

/// What nats-server 2.15 answers, word for word.
const EOF_ANSWER: &str = "stream store EOF (code 500, error code 10057)";
const FULL_ANSWER: &str = "write /srv/bot/data/nats/jetstream/$G/streams/ROSEY/msgs/1.blk: no space left on device (code 500, error code 10057)";

#[test]
fn the_probe_tells_a_working_store_from_a_failed_one() {
    let refused = |code, text: &str| Answer::Refused(code, text.to_owned());
    let delete_failed = ErrorCode::STREAM_MESSAGE_DELETE_FAILED;
    assert_eq!(read_probe(refused(delete_failed, EOF_ANSWER)), Probe::Fine);
    assert_eq!(
        read_probe(refused(delete_failed, FULL_ANSWER)),
        Probe::Failed(FULL_ANSWER.to_owned())
    );
    assert_eq!(
        read_probe(refused(ErrorCode::STREAM_NOT_FOUND, "stream not found")),
        Probe::Fine
    );
    assert!(matches!(
        read_probe(refused(
            ErrorCode::JETSTREAM_NOT_ENABLED,
            "JetStream not enabled"
        )),
        Probe::Off(_)
    ));
    assert!(matches!(read_probe(Answer::NoResponders), Probe::Off(_)));
    assert!(matches!(
        read_probe(Answer::Other("timed out".to_owned())),
        Probe::Unknown(_)
    ));
}

#[test]
fn a_full_disk_is_shown_and_a_failed_store_reopened_once_space_is_back() {
    let dir = Path::new("/srv/bot/data/nats");
    let needed = 4 * MIB;
    let room = |bytes| Room {
        bytes,
        inodes: 1000,
    };
    let failed = Probe::Failed(FULL_ANSWER.to_owned());
    // Full, nothing failed yet: shown.
    let Verdict::Degraded(Trouble::DiskFull, note) =
        judge(&Probe::Fine, room(MIB), needed, dir, true)
    else {
        panic!("a full disk is shown");
    };
    assert!(
        note.contains("/srv/bot/data/nats is full (1.0 MiB free)"),
        "{note}"
    );
    // Full and failed: shown, and it says what happens next.
    let Verdict::Degraded(Trouble::StoreFailed, note) = judge(&failed, room(0), needed, dir, true)
    else {
        panic!("a failed store is shown");
    };
    assert!(
        note.contains("no space left on device") && note.contains("restarts once space is back"),
        "{note}"
    );
    // Room again: reopened, not counted against the restart budget.
    let Verdict::Reopen(reopen) = judge(&failed, room(100 * MIB), needed, dir, true) else {
        panic!("reopened once space is back");
    };
    assert!(reopen.space_back);
    assert!(
        reopen
            .reason
            .contains("restarting nats-server now that space is back (100.0 MiB free)"),
        "{}",
        reopen.reason
    );
    // A failure while the disk never looked full restarts the server too, counted: one
    // that keeps failing must end with the supervisor giving up.
    assert!(matches!(
        judge(&failed, room(100 * MIB), needed, dir, false),
        Verdict::Reopen(Reopen {
            space_back: false,
            ..
        })
    ));
    assert_eq!(
        judge(&Probe::Fine, room(100 * MIB), needed, dir, false),
        Verdict::Fine
    );
    assert_eq!(
        judge(
            &Probe::Unknown("timed out".to_owned()),
            room(100 * MIB),
            needed,
            dir,
            false
        ),
        Verdict::Keep
    );
    // Out of inodes is full too, with bytes to spare.
    let no_files = Room {
        bytes: 100 * MIB,
        inodes: 0,
    };
    let Verdict::Degraded(Trouble::StoreFailed, note) = judge(&failed, no_files, needed, dir, true)
    else {
        panic!("a disk out of inodes is full");
    };
    assert!(note.contains("room for 0 files"), "{note}");
}

#[test]
fn a_disk_that_cannot_be_asked_is_taken_as_unlimited_and_shown_as_unknown() {
    for path in [Path::new("/no/such/folder"), Path::new("nul\0in/the/path")] {
        assert_eq!(free_bytes(path), u64::MAX, "{}", path.display());
        assert_eq!(free_inodes(path), u64::MAX, "{}", path.display());
    }
    // procfs counts no inodes (0 of 0): no limit, rather than "out of files".
    assert_eq!(free_inodes(Path::new("/proc")), u64::MAX);
    assert_eq!(mib(u64::MAX), "unknown");
    assert_eq!(used_bytes(Path::new("/no/such/folder")), 0);
}

#[test]
fn jetstream_turned_off_by_the_server_restarts_it_as_a_counted_failure() {
    let dir = Path::new("/srv/bot/data/nats");
    let room = Room {
        bytes: 100 * MIB,
        inodes: 1000,
    };
    let off = Probe::Off("no responders".to_owned());
    assert_eq!(
        judge(&off, room, 4 * MIB, dir, false),
        Verdict::Reopen(Reopen {
            reason: "JetStream disabled by the server (no responders); restarting nats-server"
                .to_owned(),
            space_back: false,
        })
    );
    // A delete that went through (no stream reaches that sequence) is no trouble either.
    assert_eq!(Answer::from(Ok(true)), Answer::Deleted);
    assert_eq!(read_probe(Answer::Deleted), Probe::Fine);
}

#[tokio::test]
async fn the_probe_finds_a_working_store_fine_and_a_server_without_jetstream_off() {
    let with = crate::tests::nats::TestNats::start(64 * MIB).await;
    let client = with.client().await;
    // No streams yet: the keeper's to make, nothing wrong with the store.
    assert_eq!(probe_store(&client).await, Probe::Fine);
    let js = async_nats::jetstream::new(client.clone());
    let budget = messaging::StoreBudget::new(32 * MIB);
    for config in [
        messaging::stream_config(&budget),
        messaging::dead_letter_stream_config(&budget),
    ] {
        js.create_stream(config).await.expect("stream");
    }
    assert_eq!(probe_store(&client).await, Probe::Fine);

    let without = crate::tests::nats::TestNats::without_jetstream().await;
    assert_eq!(
        probe_store(&without.client().await).await,
        Probe::Off("no responders".to_owned())
    );
}

#[test]
fn room_is_a_few_mib_or_a_small_part_of_a_big_store() {
    assert_eq!(room_needed(&messaging::StoreBudget::new(30 * MIB)), 4 * MIB);
    assert_eq!(
        room_needed(&messaging::StoreBudget::new(320 * MIB)),
        10 * MIB
    );
}

//! Tests of the module `early`.

use super::*;

fn copy(id: &str) -> EarlyCopy {
    EarlyCopy {
        id: id.to_owned(),
        subject: "rosey.commands.roll".to_owned(),
        payload: Bytes::from_static(b"{}"),
        arrived_ms: 0,
    }
}

#[test]
fn nothing_is_taken_early_until_the_door_is_caught_up() {
    let mut early = EarlyCopies::default();
    early.offer(copy("a"));
    assert!(early.take().is_none());
    assert_eq!(
        early.on_durable(Some("a"), 1, 0),
        DurableFate::Deliver { crashed: 0 }
    );
    early.offer(copy("b"));
    assert_eq!(early.take().map(|copy| copy.id), Some("b".to_owned()));
}

#[test]
fn a_handled_early_copy_has_its_durable_copy_acked_not_delivered() {
    let mut early = EarlyCopies::default();
    early.set_caught_up(true);
    early.offer(copy("a"));
    let taken = early.take().expect("caught up: taken early");
    early.settle(taken.id);
    assert_eq!(early.on_durable(Some("a"), 1, 0), DurableFate::Ack);
}

#[test]
fn a_durable_copy_overtaking_its_early_copy_replaces_it() {
    let mut early = EarlyCopies::default();
    early.set_caught_up(true);
    early.offer(copy("a"));
    assert_eq!(
        early.on_durable(Some("a"), 1, 0),
        DurableFate::Deliver { crashed: 0 }
    );
    assert!(
        early.take().is_none(),
        "the early copy went with its durable one"
    );
    early.offer(copy("a"));
    assert!(
        early.take().is_none(),
        "a late plain copy is not taken again"
    );
}

#[test]
fn a_crash_on_an_early_copy_is_carried_by_the_durable_copy() {
    let mut early = EarlyCopies::default();
    early.set_caught_up(true);
    early.offer(copy("a"));
    let taken = early.take().expect("taken early");
    early.crashed(taken.id);
    assert_eq!(
        early.on_durable(Some("a"), 1, 0),
        DurableFate::Deliver { crashed: 1 }
    );
}

#[test]
fn a_backlog_stops_early_copies_until_the_door_catches_up() {
    let mut early = EarlyCopies::default();
    early.set_caught_up(true);
    assert_eq!(
        early.on_durable(Some("old"), 1, 3),
        DurableFate::Deliver { crashed: 0 }
    );
    early.offer(copy("new"));
    assert!(
        early.take().is_none(),
        "three older messages are still to come"
    );
    early.on_durable(Some("older-2"), 1, 1);
    // The one passed over comes from the stream, with nothing behind it.
    early.on_durable(Some("new"), 2, 0);
    early.offer(copy("newer"));
    assert_eq!(early.take().map(|copy| copy.id), Some("newer".to_owned()));
}

#[test]
fn messages_already_seen_early_do_not_count_as_a_backlog() {
    let mut early = EarlyCopies::default();
    early.set_caught_up(true);
    early.offer(copy("a"));
    let taken = early.take().expect("taken early");
    early.settle(taken.id);
    early.offer(copy("b"));
    early.offer(copy("c"));
    // a's durable copy: b and c are stored behind it, and both were seen.
    assert_eq!(early.on_durable(Some("a"), 1, 2), DurableFate::Ack);
    early.offer(copy("d"));
    let ids: Vec<String> = std::iter::from_fn(|| early.take())
        .map(|copy| copy.id)
        .collect();
    assert_eq!(ids, ["b", "c", "d"]);
    // Three pending behind b's durable copy but only c and d seen: one was missed.
    assert_eq!(
        early.on_durable(Some("b"), 1, 3),
        DurableFate::Deliver { crashed: 0 }
    );
    assert!(!early.caught_up());
}

#[test]
fn a_durable_copy_without_an_id_behind_the_early_ones_stops_early_copies() {
    let mut early = EarlyCopies::default();
    early.set_caught_up(true);
    early.on_durable(None, 1, 1);
    assert!(
        !early.caught_up(),
        "the pending message was never seen early"
    );
}

#[test]
fn a_durable_copy_delivered_before_a_new_subscription_cannot_say_the_door_caught_up() {
    let mut early = EarlyCopies::default();
    early.rearm(10);
    early.on_durable(Some("a"), 9, 0);
    early.offer(copy("b"));
    assert!(
        early.take().is_none(),
        "message 10 may have been stored unseen"
    );
    early.on_durable(Some("b"), 10, 0);
    early.offer(copy("d"));
    assert_eq!(early.take().map(|copy| copy.id), Some("d".to_owned()));
}

#[test]
fn a_copy_passed_over_keeps_the_door_from_catching_up_until_its_durable_copy_arrives() {
    let mut early = EarlyCopies::default();
    early.set_caught_up(true);
    early.offer(copy("a"));
    let taken = early.take().expect("taken early");
    early.settle(taken.id);
    // b and c came together from two subscriptions: their order is unknown.
    early.lose_order(vec!["b".to_owned(), "c".to_owned()]);
    // a's durable copy was delivered before b was stored: nothing pending, it says.
    assert_eq!(early.on_durable(Some("a"), 1, 0), DurableFate::Ack);
    early.offer(copy("d"));
    assert!(early.take().is_none(), "d must not overtake b and c");
    assert_eq!(
        early.on_durable(Some("b"), 2, 2),
        DurableFate::Deliver { crashed: 0 }
    );
    assert_eq!(
        early.on_durable(Some("c"), 3, 1),
        DurableFate::Deliver { crashed: 0 }
    );
    assert_eq!(
        early.on_durable(Some("d"), 4, 0),
        DurableFate::Deliver { crashed: 0 }
    );
    assert!(early.caught_up());
    early.offer(copy("e"));
    assert_eq!(early.take().map(|copy| copy.id), Some("e".to_owned()));
}

#[test]
fn a_republished_duplicate_is_not_taken_twice() {
    let mut early = EarlyCopies::default();
    early.set_caught_up(true);
    early.offer(copy("a"));
    let taken = early.take().expect("taken early");
    early.settle(taken.id);
    early.offer(copy("a"));
    assert!(early.take().is_none());
}

#[test]
fn a_full_queue_hands_the_rest_to_the_stream() {
    let mut early = EarlyCopies::default();
    early.set_caught_up(true);
    for i in 0..=MAX_QUEUED {
        early.offer(copy(&format!("m{i}")));
    }
    assert_eq!(early.queued(), MAX_QUEUED);
    assert!(!early.caught_up());
    early.offer(copy("later"));
    assert_eq!(early.queued(), MAX_QUEUED, "nothing is queued after a gap");
}

#[test]
fn a_copy_put_back_is_next_again() {
    let mut early = EarlyCopies::default();
    early.set_caught_up(true);
    early.offer(copy("a"));
    early.offer(copy("b"));
    let first = early.take().expect("a");
    early.put_back(first);
    assert_eq!(early.take().map(|copy| copy.id), Some("a".to_owned()));
}

#[test]
fn ids_are_known_for_the_last_few_thousand_copies_only() {
    let mut early = EarlyCopies::default();
    for i in 0..=KNOWN {
        early.offer(copy(&format!("m{i}")));
    }
    early.set_caught_up(true);
    early.offer(copy(&format!("m{KNOWN}")));
    assert!(early.take().is_none(), "the latest id is still known");
    early.offer(copy("m0"));
    assert_eq!(
        early.take().map(|copy| copy.id),
        Some("m0".to_owned()),
        "the oldest was forgotten: a copy of it is new again"
    );
}

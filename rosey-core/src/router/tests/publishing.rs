//! What the router says about its publishing while NATS does not store its messages: the
//! reason in `last_error`, and a summary in its debug output rather than the queue itself.

use super::*;

#[tokio::test]
async fn a_message_not_stored_in_time_stays_queued_and_last_error_says_why() {
    let settings = RouterSettings {
        publish_timeout: Duration::from_millis(20),
        retry_initial: Duration::from_millis(10),
        retry_max: Duration::from_millis(10),
        ..RouterSettings::default()
    };
    let router = Router::new(offline().await, RouteTable::new(), settings);
    assert_eq!(router.last_error(), None);
    router.route(&chat("alice", "hello", "m1")).expect("queued");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let error = loop {
        if let Some(error) = router.last_error() {
            break error;
        }
        assert!(tokio::time::Instant::now() < deadline, "no error reported");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(error.starts_with("publishing to rosey.events."), "{error}");
    assert!(error.ends_with(": no ack within 20ms"), "{error}");
    assert_eq!(
        router.pending(),
        1,
        "the message waits for the next attempt"
    );
}

#[tokio::test]
async fn the_routers_debug_output_sums_up_the_queue_without_its_payloads() {
    let mut routes = RouteTable::new();
    routes.insert("roll", "dice-roller");
    let router = Router::new(offline().await, routes, RouterSettings::default());
    router
        .route(&chat("alice", "a private-looking message", "m1"))
        .expect("queued");
    let shown = format!("{router:?}");
    for part in ["Router {", "routes: 1", "pending: 1"] {
        assert!(shown.contains(part), "{part:?} missing from {shown}");
    }
    assert!(!shown.contains("private-looking"), "{shown}");
}

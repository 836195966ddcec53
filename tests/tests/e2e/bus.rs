//! The message bus is locked and heals itself: no anonymous client, a read-only user that can
//! watch but not act, credentials that are private and outlive a restart, and a stack that
//! makes its stream and a plugin's consumer again when someone holding the daemon's password
//! deletes them (as a hostile plugin that had it would).

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    time::{Duration, Instant},
};

use futures::StreamExt;
use rosey_core::{
    bus::{BusUser, Credentials},
    messaging,
    paths::Home,
};
use rosey_e2e::stack::TestStack;

/// How long the stack may take to answer again after its stream or consumer was deleted.
const HEALED_WITHIN: Duration = Duration::from_secs(20);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// A JetStream context that gives up quickly: a request the server refuses gets no answer.
fn quick(client: async_nats::Client) -> async_nats::jetstream::Context {
    let mut js = async_nats::jetstream::new(client);
    js.set_timeout(Duration::from_secs(2));
    js
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_clients_are_refused_and_the_reader_can_only_watch() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let url = stack.nats_url();
    assert!(
        !url.contains('@'),
        "the URL in status carries no credentials: {url}"
    );

    let anonymous = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(1)
        .connection_timeout(Duration::from_secs(2))
        .connect(url.as_str());
    let refused = match tokio::time::timeout(Duration::from_secs(5), anonymous).await {
        Ok(Ok(client)) => {
            // Connected at the TCP level only if the server did not check: it must not answer.
            client.flush().await.is_err()
        }
        Ok(Err(_)) | Err(_) => true,
    };
    assert!(refused, "an anonymous client must not get in");

    let daemon = stack.nats_client(BusUser::Daemon).await;
    let reader = stack.nats_client(BusUser::Reader).await;
    let mut watched = reader
        .subscribe("rosey.>")
        .await
        .expect("reader subscribes");
    reader.flush().await.expect("flush");
    let mut commands = daemon
        .subscribe("rosey.commands.>")
        .await
        .expect("daemon subscribes");
    daemon.flush().await.expect("flush");

    // The reader sees what the bot hears and says.
    let watching = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(10), watched.next())
            .await
            .ok()
            .flatten()
            .map(|message| message.subject.to_string())
    });
    let said = tokio::task::block_in_place(|| stack.say("!roll 1d1"));
    assert!(said.contains("= 1"), "{said}");
    let seen = watching
        .await
        .expect("watcher")
        .expect("the reader sees rosey.> traffic");
    assert!(seen.starts_with("rosey."), "{seen}");
    // Drain what the daemon's subscription saw of that command.
    while tokio::time::timeout(Duration::from_millis(300), commands.next())
        .await
        .is_ok()
    {}

    // It may read stream info …
    let js = quick(reader.clone());
    let mut stream = js
        .get_stream(messaging::STREAM_NAME)
        .await
        .expect("the reader reads stream info");
    stream.info().await.expect("stream info");
    // … but not delete the stream …
    assert!(
        js.delete_stream(messaging::STREAM_NAME).await.is_err(),
        "the reader must not delete the stream"
    );
    assert!(
        quick(daemon.clone())
            .get_stream(messaging::STREAM_NAME)
            .await
            .is_ok(),
        "the stream is still there"
    );
    // … nor change it, nor publish a command.
    assert!(js
        .update_stream(messaging::stream_config(&Default::default()))
        .await
        .is_err());
    let _ = reader
        .publish(
            messaging::command_subject("roll"),
            b"{\"v\":1}".as_slice().into(),
        )
        .await;
    let _ = reader.flush().await;
    assert!(
        tokio::time::timeout(Duration::from_secs(1), commands.next())
            .await
            .is_err(),
        "a command published by the reader must not get through"
    );
    assert!(js
        .publish(messaging::command_subject("roll"), "x".into())
        .await
        .expect("sent")
        .await
        .is_err());
}

#[test]
fn credentials_are_private_and_survive_a_restart() {
    let stack = TestStack::with_plugins(&[]);
    stack.start();
    let home = Home::new(stack.home.path());
    assert_eq!(mode(&home.nats_auth_dir()), 0o700);
    assert_eq!(mode(&home.nats_credentials_file()), 0o600);
    assert_eq!(mode(&home.nats_server_config()), 0o600);
    let first = Credentials::load(&home).expect("credentials");

    stack.home.run_ok(&["stop"]);
    stack.start();
    let again = Credentials::load(&home).expect("credentials");
    assert_eq!(first, again, "a restart keeps the passwords");

    // Nothing the operator sees prints a password.
    let status = stack.home.run_ok(&["status"]) + &stack.home.run_ok(&["status", "--json"]);
    let logs = stack.home.run_ok(&["logs", "-n", "1000"]);
    for user in BusUser::ALL {
        let password = first.password(user);
        assert!(!status.contains(password), "status shows a password");
        assert!(!logs.contains(password), "logs show a password");
    }
}

/// Sends `!roll 1d1` until it is answered; returns how long that took.
fn answered_again(stack: &TestStack) -> Duration {
    let since = Instant::now();
    stack.say_until("!roll 1d1", "= 1", HEALED_WITHIN);
    since.elapsed()
}

/// The stack's status line about JetStream repairs, once it names `what`.
fn repair_shown(stack: &TestStack, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = stack.status()["jetstream"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if line.contains(what) {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "status never showed {what:?}: {line:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_stream_is_made_again_and_the_bot_answers() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    assert!(stack.say("!roll 1d1").contains("= 1"));
    assert!(
        stack.status()["jetstream"].is_null(),
        "nothing repaired yet"
    );

    let hostile = quick(stack.nats_client(BusUser::Daemon).await);
    hostile
        .delete_stream(messaging::STREAM_NAME)
        .await
        .expect("the daemon's user may delete the stream");

    let took = tokio::task::block_in_place(|| answered_again(&stack));
    assert!(took < HEALED_WITHIN, "answered again after {took:?}");
    let line = tokio::task::block_in_place(|| repair_shown(&stack, "stream ROSEY deleted"));
    let logs = stack.home.run_ok(&["logs", "-n", "1000"]);
    let repairs: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("JetStream repaired"))
        .collect();
    // One deletion is one repair; only a consumer's advisory overtaking the stream's by more
    // than the keeper's coalescing window (a loaded machine) makes it two.
    assert!(
        line.starts_with("repaired 1 time") || line.starts_with("repaired 2 times"),
        "one deletion, one repair: {line}\n{repairs:#?}"
    );
    assert!(
        repairs.iter().all(|line| line.contains("WARN")),
        "{repairs:#?}"
    );
    let text = stack.home.run_ok(&["status"]);
    assert!(text.contains("jetstream: repaired"), "{text}");
    hostile
        .get_stream(messaging::STREAM_NAME)
        .await
        .expect("the stream exists again")
        .consumer_info(messaging::consumer_name("dice-roller"))
        .await
        .expect("and the plugin's consumer with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_consumer_is_made_again_and_the_plugin_answers() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    assert!(stack.say("!roll 1d1").contains("= 1"));

    let hostile = quick(stack.nats_client(BusUser::Daemon).await);
    let consumer = messaging::consumer_name("dice-roller");
    hostile
        .get_stream(messaging::STREAM_NAME)
        .await
        .expect("stream")
        .delete_consumer(&consumer)
        .await
        .expect("the daemon's user may delete a consumer");

    let took = tokio::task::block_in_place(|| answered_again(&stack));
    assert!(took < HEALED_WITHIN, "answered again after {took:?}");
    tokio::task::block_in_place(|| repair_shown(&stack, &format!("consumer {consumer} deleted")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_stream_is_restored_and_a_deleted_dead_letter_stream_made_again() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let hostile = quick(stack.nats_client(BusUser::Daemon).await);

    // Commands no longer stored: the bot would hear them and never answer.
    let mut narrowed = messaging::stream_config(&Default::default());
    narrowed.subjects = vec!["rosey.events.>".to_owned()];
    hostile
        .update_stream(narrowed)
        .await
        .expect("the daemon's user may change the stream");
    let took = tokio::task::block_in_place(|| answered_again(&stack));
    assert!(took < HEALED_WITHIN, "answered again after {took:?}");
    tokio::task::block_in_place(|| repair_shown(&stack, "stream ROSEY changed"));
    let mut stream = hostile
        .get_stream(messaging::STREAM_NAME)
        .await
        .expect("stream");
    let subjects = stream.info().await.expect("info").config.subjects.clone();
    assert_eq!(
        subjects,
        messaging::stream_config(&Default::default()).subjects
    );

    hostile
        .delete_stream(messaging::DEAD_LETTER_STREAM)
        .await
        .expect("the daemon's user may delete the dead-letter stream");
    let line =
        tokio::task::block_in_place(|| repair_shown(&stack, "stream ROSEY_DEADLETTER deleted"));
    assert!(line.starts_with("repaired 2 times"), "{line}");
    hostile
        .get_stream(messaging::DEAD_LETTER_STREAM)
        .await
        .expect("the dead-letter stream exists again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_tls_clear_text_is_refused_and_the_stack_still_works() {
    let config = rosey_e2e::stack::TEST_CONFIG.replacen(
        "nats:\n  port: 0\n",
        "nats:\n  port: 0\n  tls: { cert: tls/cert.pem, key: tls/key.pem }\n",
        1,
    );
    assert!(config.contains("tls:"), "TEST_CONFIG starts with nats.port");
    let stack = TestStack::with_config(&["dice-roller"], &config);
    let dir = stack.home.path().join("tls");
    std::fs::create_dir_all(&dir).expect("tls dir");
    rosey_e2e::stack::self_signed_certificate(
        "rosey-test",
        &dir.join("cert.pem"),
        &dir.join("key.pem"),
    );
    stack.start();
    assert!(stack.say("!roll 1d1").contains("= 1"));
    let server_config =
        std::fs::read_to_string(Home::new(stack.home.path()).nats_server_config()).expect("conf");
    assert!(server_config.contains("cert_file"), "{server_config}");

    // The right password without TLS (or without trusting the certificate) gets nowhere.
    let credentials = Credentials::load(&Home::new(stack.home.path())).expect("credentials");
    let url = stack.nats_url();
    let clear = async_nats::ConnectOptions::with_user_and_password(
        BusUser::Reader.name().to_owned(),
        credentials.password(BusUser::Reader).to_owned(),
    )
    .connection_timeout(Duration::from_secs(2))
    .connect(url.as_str());
    if let Ok(Ok(client)) = tokio::time::timeout(Duration::from_secs(5), clear).await {
        assert!(client.flush().await.is_err(), "clear text got in");
    }
    // Through the helper (TLS, the pinned certificate) the reader gets in.
    let reader = stack.nats_client(BusUser::Reader).await;
    quick(reader)
        .get_stream(messaging::STREAM_NAME)
        .await
        .expect("the reader reads stream info over TLS");
}

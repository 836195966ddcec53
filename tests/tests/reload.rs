//! End to end: plugin operations on a running bot (hot reload), against the real daemon, real
//! plugin hosts and a real nats-server.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::StreamExt;
use rosey_core::messaging::{self, ChatAction, CommandMessage, Source, SCHEMA_VERSION};
use rosey_e2e::stack::TestStack;

fn nats_url(stack: &TestStack) -> String {
    stack.unit("nats")["detail"]
        .as_str()
        .expect("nats URL in status")
        .to_owned()
}

/// Publishes `roll 1d1` commands at `per_second` for `duration`, returning their ids.
async fn steady_load(
    js: async_nats::jetstream::Context,
    per_second: u64,
    duration: Duration,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
    let end = Instant::now() + duration;
    let mut acks = Vec::new();
    while Instant::now() < end {
        ticks.tick().await;
        let id = format!("load-{}", ids.len());
        let command = CommandMessage {
            v: SCHEMA_VERSION,
            id: id.clone(),
            command: "roll".to_owned(),
            args: "1d1".to_owned(),
            user: "load".to_owned(),
            channel: "test".to_owned(),
            source: Source::Chat,
            time_ms: messaging::now_ms(),
        };
        let ack = js
            .publish(
                messaging::command_subject("roll"),
                messaging::encode(&command).into(),
            )
            .await
            .expect("publish");
        acks.push(ack);
        ids.push(id);
    }
    for ack in acks {
        ack.await.expect("the stream stored the command");
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_lose_and_duplicate_nothing() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let client = async_nats::connect(nats_url(&stack))
        .await
        .expect("connect");
    let mut replies = client
        .subscribe(messaging::CHAT_ACTION_SUBJECT)
        .await
        .expect("subscribe");
    let counts: std::sync::Arc<std::sync::Mutex<HashMap<String, u32>>> = Default::default();
    let counter = {
        let counts = counts.clone();
        tokio::spawn(async move {
            while let Some(message) = replies.next().await {
                if let Ok(action) = messaging::decode::<ChatAction>(&message.payload) {
                    if let Some(id) = action.in_reply_to {
                        *counts.lock().expect("counts").entry(id).or_default() += 1;
                    }
                }
            }
        })
    };
    let load = tokio::spawn(steady_load(
        async_nats::jetstream::new(client.clone()),
        500,
        Duration::from_secs(4),
    ));
    let home = stack.home.path();
    let reloads = tokio::task::spawn_blocking(move || {
        let mut done = 0;
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..6 {
            let out = std::process::Command::new(rosey_e2e::cli::rosey_bin())
                .arg("--home")
                .arg(&home)
                .args(["plugin", "reload", "dice-roller"])
                .output()
                .expect("rosey plugin reload");
            assert!(out.status.success(), "{out:?}");
            done += 1;
            std::thread::sleep(Duration::from_millis(300));
        }
        done
    });
    let ids = load.await.expect("load task");
    assert_eq!(reloads.await.expect("reloads"), 6);
    assert!(ids.len() >= 1500, "the load ran: {} commands", ids.len());

    // Every command is answered exactly once (allowing for a redelivery's ack wait).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answered = {
            let counts = counts.lock().expect("counts");
            ids.iter().filter(|id| counts.contains_key(*id)).count()
        };
        if answered == ids.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    counter.abort();
    let counts = counts.lock().expect("counts");
    let lost: Vec<&String> = ids.iter().filter(|id| !counts.contains_key(*id)).collect();
    let duplicated: Vec<(&String, &u32)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        lost.is_empty(),
        "{} of {} lost, e.g. {:?}",
        lost.len(),
        ids.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(
        duplicated.is_empty(),
        "{} duplicated, e.g. {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(5)]
    );
    let unit = stack.unit("dice-roller");
    assert_eq!(unit["restarts"], 0, "reloads are not crashes: {unit}");
}

//! Driving rosey-core's CyTube connector in process against the emulated CyTube of
//! [`crate::cytube`]: a bot's settings as `rosey.yaml` gives them, a runtime of the test's own
//! (the emulator keeps its own, so it is made and dropped outside the test's), and bounded
//! waits for a status, an event the bot heard, or a state of the server.

use std::{future::Future, sync::Arc, time::Duration};

use rosey_core::{
    config::{BotConfig, CytubeConfig},
    connector::{
        ChannelEvent, Connector, ConnectorStatus, CytubeConnector, CytubeSettings, Incoming,
        IncomingReceiver,
    },
    messaging,
};

use crate::cytube::{CytubeServer, Limits};

/// The channel the bots sit in.
pub const CHANNEL: &str = "test";
/// The bot's name.
pub const BOT: &str = "rosey";
/// The password of the bot's account.
pub const PASSWORD: &str = "s3cret";
/// How long a test waits for what it expects before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// Runs `test` to its end on a fresh single-threaded runtime.
pub fn run<F: Future>(test: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the test's runtime")
        .block_on(test)
}

/// The settings of bot `name` in the emulator's test channel (a guest without `password`),
/// built from `bot:` as rosey.yaml gives it; reconnecting after 0.2 s, then at most 1 s, so a
/// longer wait in the status is CyTube's floor.
pub fn settings(server: &CytubeServer, name: &str, password: Option<&str>) -> CytubeSettings {
    let bot = BotConfig {
        name: name.into(),
        channel: CHANNEL.into(),
        cytube: CytubeConfig {
            server: Some(server.url()),
            password: password.map(str::to_owned),
            reconnect_initial_ms: 200,
            reconnect_max_ms: 1000,
            connect_timeout_ms: 5000,
            ..CytubeConfig::default()
        },
        ..BotConfig::default()
    };
    CytubeSettings::from_config(&bot, None).expect("the bot's settings")
}

/// Waits until the connector's status satisfies `wanted`; returns it.
pub async fn status_where(
    connector: &CytubeConnector,
    wanted: impl FnMut(&ConnectorStatus) -> bool,
) -> ConnectorStatus {
    let mut status = connector.status();
    let seen = tokio::time::timeout(WAIT, status.wait_for(wanted))
        .await
        .expect("the status within the wait")
        .expect("the connector lives")
        .clone();
    seen
}

/// Waits for the first status that says the connection is not (or no longer) working.
pub async fn trouble(connector: &CytubeConnector) -> ConnectorStatus {
    status_where(connector, |status| {
        matches!(
            status,
            ConnectorStatus::Degraded(_) | ConnectorStatus::Failed(_)
        )
    })
    .await
}

/// Checks `check` every 20 ms until it returns something, for at most [`WAIT`].
pub async fn until<T>(what: &str, check: impl Fn() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next event of `kind` the connector heard for which `wanted` holds, skipping the rest.
pub async fn event(
    incoming: &mut IncomingReceiver,
    kind: &str,
    wanted: impl Fn(&ChannelEvent) -> bool,
) -> ChannelEvent {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            match incoming.recv().await {
                Some(Incoming::Event(event)) if event.kind == kind && wanted(&event) => {
                    return event
                }
                Some(_) => {}
                None => panic!("the connector closed before a {kind} event"),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {kind} event within {WAIT:?}"))
}

/// Starts the bot, registered, and waits until it knows it has `rank` in the channel (it then
/// sits in the channel, logged in); returns it and what it hears.
pub async fn bot_with_rank(
    server: &CytubeServer,
    rank: f64,
) -> (Arc<CytubeConnector>, IncomingReceiver) {
    let connector = CytubeConnector::start(settings(server, BOT, Some(PASSWORD)));
    let mut incoming = connector.incoming().expect("the incoming receiver");
    event(&mut incoming, messaging::EVENT_BOT_RANK, |event| {
        event.data["rank"].as_f64() == Some(rank)
    })
    .await;
    status_where(&connector, |status| *status == ConnectorStatus::Connected).await;
    (connector, incoming)
}

/// A server with the bot's account, where the bot is a moderator and alice sits.
pub fn moderated(limits: Limits) -> CytubeServer {
    let server = CytubeServer::start(limits);
    server.add_account(BOT, PASSWORD);
    server.set_rank(CHANNEL, BOT, 2);
    server.join(CHANNEL, "alice");
    server
}

/// Whether the server received a chat line from the bot starting with `start`.
pub fn bot_said(server: &CytubeServer, start: &str) -> bool {
    server.received(BOT).iter().any(|(event, data)| {
        event == "chatMsg"
            && data["msg"]
                .as_str()
                .is_some_and(|msg| msg.starts_with(start))
    })
}

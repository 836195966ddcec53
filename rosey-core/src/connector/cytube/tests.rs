//! The connector as a whole: its settings from `rosey.yaml`, and what its handle refuses and
//! when; `ends` has how each way a server can fail a connection is named in the status. The
//! servers are scripted on loopback: `socketconfig` on one port names a WebSocket port whose
//! first connection plays a script of frames, and records what the bot sent.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures::{FutureExt, SinkExt, StreamExt};
use rosey_abi::channel::{Action, ActionErrorKind};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    task::JoinHandle,
};
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::config::{BotConfig, CytubeConfig};

mod ends;

/// How long a test waits for the status it expects before failing.
const WAIT: Duration = Duration::from_secs(10);

/// The engine.io `open` packet CyTube sends, with these ping timings in ms.
fn open(ping_interval: u64, ping_timeout: u64) -> String {
    format!(
        r#"0{{"sid":"s1","upgrades":[],"pingInterval":{ping_interval},"pingTimeout":{ping_timeout},"maxPayload":1048576}}"#
    )
}

/// socket.io's answer to the bot's `40`.
const CONNECTED: &str = r#"40{"sid":"n1"}"#;

/// One step of a scripted server's side of a WebSocket connection.
#[derive(Clone)]
enum Step {
    /// Send this text frame.
    Send(String),
    /// Send a binary frame (which socket.io over CyTube never uses).
    Binary,
    /// Read the bot's next text frame and record it.
    Read,
    /// Send a WebSocket close frame, then wait for the bot to go.
    Close,
    /// Say nothing more; wait for the bot to go.
    Hold,
}

/// `Send` of `text`.
fn send(text: &str) -> Step {
    Step::Send(text.to_owned())
}

/// The steps of a handshake that goes well with these ping timings, up to the bot's
/// `joinChannel` and `login`, which are read.
fn handshake(ping_interval: u64, ping_timeout: u64) -> Vec<Step> {
    vec![
        Step::Send(open(ping_interval, ping_timeout)),
        Step::Read,
        send(CONNECTED),
        Step::Read,
        Step::Read,
    ]
}

/// A scripted CyTube: the settings of a bot on it, and the frames the bot sent.
struct Scripted {
    settings: CytubeSettings,
    heard: Arc<Mutex<Vec<String>>>,
    tasks: Vec<JoinHandle<()>>,
}

/// Settings for a bot on the site at `site` that waits a minute before reconnecting (so the
/// first attempt's end stays in the status).
fn settings(site: Url) -> CytubeSettings {
    CytubeSettings {
        server: site,
        channel: "test".into(),
        user: "bot".into(),
        password: Some("pw".into()),
        channel_password: None,
        chat_burst: 10,
        chat_per_sec: 5.0,
        reconnect_initial: Duration::from_secs(60),
        reconnect_max: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(5),
    }
}

/// Answers every `socketconfig` request on `web` with one server, `ws_port` on loopback;
/// returns the site's URL and the serving task.
fn serve_socketconfig(web: TcpListener, ws_port: u16) -> (Url, JoinHandle<()>) {
    let site =
        Url::parse(&format!("http://{}/", web.local_addr().expect("address"))).expect("site URL");
    let config = serde_json::json!({
        "servers": [{"url": format!("http://127.0.0.1:{ws_port}"), "secure": false}]
    })
    .to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = web.accept().await {
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{config}",
                config.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    (site, task)
}

impl Scripted {
    /// Serves `socketconfig` naming a WebSocket server whose first connection plays `steps`.
    async fn start(steps: Vec<Step>) -> Scripted {
        let web = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let ws = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let ws_port = ws.local_addr().expect("address").port();
        let (site, web) = serve_socketconfig(web, ws_port);
        let heard = Arc::new(Mutex::new(Vec::new()));
        let record = heard.clone();
        let ws = tokio::spawn(async move {
            let Ok((stream, _)) = ws.accept().await else {
                return;
            };
            let mut ws = tokio_tungstenite::accept_async(stream)
                .await
                .expect("the bot's WebSocket handshake");
            for step in steps {
                match step {
                    Step::Send(text) => {
                        let _ = ws.send(Message::text(text)).await;
                    }
                    Step::Binary => {
                        let _ = ws.send(Message::binary(vec![1u8, 2, 3])).await;
                    }
                    Step::Read => {
                        while let Some(Ok(message)) = ws.next().await {
                            if let Message::Text(text) = message {
                                record
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .push(text.as_str().to_owned());
                                break;
                            }
                        }
                    }
                    Step::Close => {
                        let _ = ws.send(Message::Close(None)).await;
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                    Step::Hold => while let Some(Ok(_)) = ws.next().await {},
                }
            }
        });
        Scripted {
            settings: settings(site),
            heard,
            tasks: vec![web, ws],
        }
    }

    /// The frames the bot sent so far.
    fn heard(&self) -> Vec<String> {
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Waits for the first status that is neither `Connecting` nor `Connected`.
async fn first_trouble(connector: &CytubeConnector) -> ConnectorStatus {
    let mut status = connector.status();
    let trouble = tokio::time::timeout(
        WAIT,
        status.wait_for(|status| {
            matches!(
                status,
                ConnectorStatus::Degraded(_) | ConnectorStatus::Failed(_)
            )
        }),
    )
    .await
    .expect("the connection ends within the wait")
    .expect("the connector lives")
    .clone();
    trouble
}

/// Connects a bot with `settings` and returns the reason its first connection ended with,
/// as the status tells it (a retry a minute later).
async fn reason_it_ends(settings: CytubeSettings) -> String {
    let connector = CytubeConnector::start(settings);
    let status = first_trouble(&connector).await;
    connector.close().await.expect("closed");
    match status {
        ConnectorStatus::Degraded(reason) => reason
            .strip_suffix("; reconnecting in 60.0 s")
            .unwrap_or_else(|| panic!("a retry in a minute: {reason}"))
            .to_owned(),
        other => panic!("not a retry: {other:?}"),
    }
}

/// Settings with `connect_timeout` shortened to `ms`.
fn impatient(mut settings: CytubeSettings, ms: u64) -> CytubeSettings {
    settings.connect_timeout = Duration::from_millis(ms);
    settings
}

/// `bot:` of a rosey.yaml whose bot `bot` sits in channel `test` of the site at `server`.
fn bot_config(server: &str) -> BotConfig {
    BotConfig {
        name: "bot".into(),
        channel: "test".into(),
        cytube: CytubeConfig {
            server: Some(server.into()),
            ..CytubeConfig::default()
        },
        ..BotConfig::default()
    }
}

#[test]
fn the_site_address_gets_a_trailing_slash_so_socketconfig_joins_below_it() {
    let settings =
        CytubeSettings::from_config(&bot_config("https://example.com/cytube"), None).expect("ok");
    assert_eq!(settings.server.as_str(), "https://example.com/cytube/");
    assert_eq!(
        settings
            .server
            .join("socketconfig/test.json")
            .expect("joined")
            .as_str(),
        "https://example.com/cytube/socketconfig/test.json"
    );
}

#[test]
fn a_site_address_that_is_not_a_url_is_refused_naming_the_setting() {
    let err = CytubeSettings::from_config(&bot_config("cytu.be"), None).expect_err("no URL");
    assert_eq!(
        err,
        CytubeSettingsError::BadServer {
            server: "cytu.be".into(),
            source: url::ParseError::RelativeUrlWithoutBase,
        }
    );
    assert_eq!(
        err.to_string(),
        "bot.cytube.server \"cytu.be\" is not a URL: relative URL without a base"
    );
}

#[tokio::test]
async fn the_connector_shows_its_settings_but_never_a_password() {
    let mut bot = bot_config("http://127.0.0.1:9/");
    bot.cytube.channel_password = Some("door-secret".into());
    let connector = CytubeConnector::start(
        CytubeSettings::from_config(&bot, Some("hunter2".into())).expect("ok"),
    );
    let shown = format!("{connector:?}");
    assert!(
        shown.starts_with(
            r#"CytubeConnector { settings: CytubeSettings { server: "http://127.0.0.1:9/", channel: "test", user: "bot", guest: false, channel_password: true, "#
        ),
        "{shown}"
    );
    assert!(
        !shown.contains("hunter2") && !shown.contains("door-secret"),
        "{shown}"
    );
}

#[tokio::test]
async fn while_connecting_actions_are_refused_and_messages_wait_and_after_close_sends_and_actions_fail(
) {
    let server = Scripted::start(vec![Step::Hold]).await;
    let connector = CytubeConnector::start(server.settings.clone());
    let err = connector
        .act(Action::Skip)
        .await
        .expect_err("not connected yet");
    assert_eq!(
        (err.kind, err.message.as_str()),
        (
            ActionErrorKind::Unavailable,
            "the bot is still connecting to CyTube; nothing was done"
        )
    );
    connector
        .send(Outgoing::Chat {
            text: "first words".into(),
        })
        .await
        .expect("queued");
    assert_eq!(connector.pending(), 1, "it waits to be said");
    connector.close().await.expect("closed");
    let err = connector
        .send(Outgoing::Chat {
            text: "too late".into(),
        })
        .await
        .expect_err("closed");
    assert_eq!(
        err.to_string(),
        "the cytube connector is closed; create a new one to talk to the chat again"
    );
    // An action after close is refused at once, never left to wait for an answer.
    let err = connector
        .act(Action::Skip)
        .now_or_never()
        .expect("answered without waiting")
        .expect_err("closed");
    assert_eq!(
        (err.kind, err.message.as_str()),
        (
            ActionErrorKind::Unavailable,
            "the CyTube connector is closed; nothing was done"
        )
    );
}

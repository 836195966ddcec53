//! How each way a server can fail a connection is named in the status: the WebSocket
//! upgrade or the engine.io and socket.io handshakes not finished, closed or refused, a session
//! the server ends or stops pinging, a login never answered. Each ends the attempt with a
//! retry, its reason in the status.

use super::*;

#[tokio::test]
async fn a_server_that_never_finishes_the_websocket_handshake_is_left_after_the_timeout() {
    // socketconfig answers; the WebSocket port accepts and never answers the upgrade.
    let hold = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = hold.local_addr().expect("address").port();
    let holder = tokio::spawn(async move {
        let (_stream, _) = hold.accept().await.expect("accept");
        std::future::pending::<()>().await;
    });
    let web = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (site, web) = serve_socketconfig(web, port);
    assert_eq!(
        reason_it_ends(impatient(settings(site.clone()), 300)).await,
        format!("no connection to {site} within 300ms")
    );
    holder.abort();
    web.abort();
}

#[tokio::test]
async fn a_server_that_sends_no_open_packet_is_left_after_the_timeout() {
    let server = Scripted::start(vec![Step::Hold]).await;
    assert_eq!(
        reason_it_ends(impatient(server.settings.clone(), 1000)).await,
        "no engine.io open packet"
    );
}

#[tokio::test]
async fn a_connection_dropped_without_a_close_while_connecting_is_lost() {
    // The script ends at once: the server drops the connection after the upgrade.
    let server = Scripted::start(Vec::new()).await;
    assert_eq!(
        reason_it_ends(server.settings.clone()).await,
        "connection to CyTube lost: WebSocket protocol error: Connection reset without closing handshake"
    );
}

#[tokio::test]
async fn a_first_packet_other_than_open_is_named() {
    let server = Scripted::start(vec![send("40"), Step::Hold]).await;
    assert_eq!(
        reason_it_ends(server.settings.clone()).await,
        "the server did not open an engine.io session (sent Connect(None))"
    );
}

#[tokio::test]
async fn a_websocket_closed_before_the_open_packet_ends_the_attempt() {
    // A binary frame is skipped; the close is not.
    let server = Scripted::start(vec![Step::Binary, Step::Close]).await;
    assert_eq!(
        reason_it_ends(server.settings.clone()).await,
        "the server closed the WebSocket"
    );
}

#[tokio::test]
async fn a_websocket_closed_before_the_connect_answer_ends_the_attempt() {
    let server = Scripted::start(vec![send(&open(25_000, 20_000)), Step::Read, Step::Close]).await;
    assert_eq!(
        reason_it_ends(server.settings.clone()).await,
        "the server closed the WebSocket"
    );
    assert_eq!(server.heard(), ["40"]);
}

#[tokio::test]
async fn no_connect_answer_is_left_after_the_timeout() {
    let server = Scripted::start(vec![send(&open(25_000, 20_000)), Step::Read, Step::Hold]).await;
    assert_eq!(
        reason_it_ends(impatient(server.settings.clone(), 1000)).await,
        "no socket.io connect answer"
    );
}

#[tokio::test]
async fn a_connect_error_is_cytube_refusing_the_connection_in_its_words() {
    let server = Scripted::start(vec![
        send(&open(25_000, 20_000)),
        Step::Read,
        send(r#"44{"message":"Not authorized"}"#),
        Step::Hold,
    ])
    .await;
    let connector = CytubeConnector::start(server.settings.clone());
    let status = first_trouble(&connector).await;
    assert_eq!(
        status,
        ConnectorStatus::Degraded(
            "CyTube refused the connection: Not authorized; reconnecting in 60.0 s".into()
        )
    );
    // Meanwhile actions are refused, saying why.
    let err = connector
        .act(Action::ClearChat)
        .await
        .expect_err("not connected");
    assert_eq!(
        (err.kind, err.message),
        (
            ActionErrorKind::Unavailable,
            "the bot is not connected to CyTube (CyTube refused the connection: Not authorized; reconnecting in 60.0 s); nothing was done".to_owned()
        )
    );
    connector.close().await.expect("closed");
}

#[tokio::test]
async fn a_ping_while_connecting_is_answered_and_other_packets_are_skipped() {
    let mut steps = vec![
        send(&open(25_000, 20_000)),
        Step::Read,
        send("2"),
        Step::Read,
        send("3"),
        send(r#"42["rank",-1]"#),
        send(CONNECTED),
        Step::Read,
        Step::Read,
    ];
    steps.extend([send("1"), Step::Hold]);
    let server = Scripted::start(steps).await;
    assert_eq!(
        reason_it_ends(server.settings.clone()).await,
        "the server ended the engine.io session"
    );
    assert_eq!(
        server.heard(),
        [
            "40",
            "3",
            r#"42["joinChannel",{"name":"test"}]"#,
            r#"42["login",{"name":"bot","pw":"pw"}]"#
        ]
    );
}

#[tokio::test]
async fn a_socketio_disconnect_ends_the_session() {
    let mut steps = handshake(25_000, 20_000);
    steps.extend([send("41"), Step::Hold]);
    let server = Scripted::start(steps).await;
    assert_eq!(
        reason_it_ends(server.settings.clone()).await,
        "the server ended the socket.io session"
    );
}

#[tokio::test]
async fn a_connect_error_after_connecting_is_a_refusal_too() {
    let mut steps = handshake(25_000, 20_000);
    steps.extend([send(r#"44{"message":"Server restarting"}"#), Step::Hold]);
    let server = Scripted::start(steps).await;
    assert_eq!(
        reason_it_ends(server.settings.clone()).await,
        "CyTube refused the connection: Server restarting"
    );
}

#[tokio::test]
async fn frames_that_are_no_event_are_skipped_until_the_websocket_closes() {
    // Not one of them ends the session (an undecodable frame included): the close does.
    let mut steps = handshake(25_000, 20_000);
    steps.extend([
        Step::Binary,
        send("not a packet"),
        send("3"),
        send(r#"4312["ok"]"#),
        Step::Close,
    ]);
    let server = Scripted::start(steps).await;
    assert_eq!(
        reason_it_ends(server.settings.clone()).await,
        "the server closed the WebSocket"
    );
}

#[tokio::test]
async fn a_server_that_stops_pinging_is_left_after_its_ping_window() {
    // engine.io 4: the server pings every interval; no ping within interval + timeout is a
    // dead connection.
    let mut steps = handshake(1000, 200);
    steps.push(Step::Hold);
    let server = Scripted::start(steps).await;
    assert_eq!(
        reason_it_ends(server.settings.clone()).await,
        "no ping from the server in 1 s"
    );
}

#[tokio::test]
async fn a_login_never_answered_is_left_after_the_connect_timeout() {
    let mut steps = handshake(25_000, 20_000);
    steps.push(Step::Hold);
    let server = Scripted::start(steps).await;
    assert_eq!(
        reason_it_ends(impatient(server.settings.clone(), 1000)).await,
        "no answer to the login within 1 s"
    );
}

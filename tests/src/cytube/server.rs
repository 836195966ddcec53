//! The emulator's network side: one port serving both `GET /socketconfig/<channel>.json` and
//! the socket.io WebSocket (`/socket.io/?EIO=4&transport=websocket`), engine.io framing and
//! pings. What sockets say goes to [`super::protocol`].

use std::{sync::Arc, time::Duration};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_tungstenite::{
    tungstenite::{handshake::derive_accept_key, protocol::Role, Message},
    WebSocketStream,
};

use super::{
    protocol,
    state::{Bucket, Limiter, Shared, Socket},
    users,
};

/// What the server side sends a socket.
pub(crate) enum Out {
    /// A text frame.
    Frame(String),
    /// Close the WebSocket cleanly (after a kick).
    Close,
    /// Drop the TCP connection with no goodbye (a server going down).
    Drop,
}

/// Accepts connections until aborted.
pub(crate) async fn accept(listener: TcpListener, shared: Arc<Shared>, port: u16) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, shared.clone(), port));
    }
}

async fn connection(mut stream: TcpStream, shared: Arc<Shared>, port: u16) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 && head.len() < 16 * 1024 => head.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    let header = |name: &str| {
        text.split("\r\n").skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    if let Some(rest) = path.strip_prefix("/socketconfig/") {
        let body = if rest.ends_with(".json") {
            json!({"servers": [{"url": format!("http://127.0.0.1:{port}"), "secure": false}]})
                .to_string()
        } else {
            "{}".to_owned()
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        return;
    }
    let upgrade = header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let key = header("sec-websocket-key");
    match (
        path.starts_with("/socket.io/") && path.contains("EIO=4"),
        upgrade,
        key,
    ) {
        (true, true, Some(key)) => {
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            );
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
            let ws = WebSocketStream::from_raw_socket(stream, Role::Server, None).await;
            session(ws, shared).await;
        }
        _ => {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    }
}

async fn session(mut ws: WebSocketStream<TcpStream>, shared: Arc<Shared>) {
    let (ping_interval, ping_timeout, sid) = {
        let mut state = shared.lock();
        state.connections_total += 1;
        let sid = format!("sid{}", state.connections_total);
        (
            Duration::from_millis(state.limits.ping_interval_ms),
            Duration::from_millis(state.limits.ping_timeout_ms),
            sid,
        )
    };
    let open = json!({"sid": sid, "upgrades": [], "pingInterval": ping_interval.as_millis() as u64,
        "pingTimeout": ping_timeout.as_millis() as u64, "maxPayload": 1_048_576});
    if ws.send(Message::text(format!("0{open}"))).await.is_err() {
        return;
    }
    // The client connects to the namespace: `40`.
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.as_str().starts_with("40") => break,
            Ok(Some(Ok(_))) => {}
            _ => return,
        }
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let admitted = shared.lock().connects.take();
    if !admitted {
        let _ = ws
            .send(Message::text(r#"44{"message":"Rate limit exceeded"}"#))
            .await;
        let _ = ws.close(None).await;
        return;
    }
    let id = {
        let mut state = shared.lock();
        let id = state.next_socket;
        state.next_socket += 1;
        let chat = Bucket::new(state.limits.chat_burst, state.limits.chat_per_sec);
        state.sockets.insert(
            id,
            Socket {
                tx,
                name: None,
                channel: None,
                global: -1.0,
                rank: -1.0,
                registered: false,
                chat,
                queue: Limiter::default(),
                afk: false,
                active: std::time::Instant::now(),
                requested_playlist: None,
                pending_channel: None,
            },
        );
        let _ = state.sockets[&id]
            .tx
            .send(Out::Frame(format!("40{}", json!({"sid": sid}))));
        // On connect CyTube sends the socket its rank: -1, not logged in.
        let _ = state.sockets[&id]
            .tx
            .send(Out::Frame(r#"42["rank",-1]"#.to_owned()));
        if state.sockets.len() > state.limits.max_sockets {
            users::kick_socket(&mut state, id, "Too many connections from your IP address");
        }
        id
    };
    let mut pings = tokio::time::interval(ping_interval);
    pings.tick().await;
    let mut last_pong = tokio::time::Instant::now();
    loop {
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let text = text.as_str();
                if text == "3" {
                    last_pong = tokio::time::Instant::now();
                } else if text == "41" || text == "1" {
                    break;
                } else if let Some(event) = text.strip_prefix("42") {
                    // `42<ack id>[...]` asks for an acknowledgement `43<ack id>[...]`.
                    let digits = event.len() - event.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                    let ack = event[..digits].parse::<u64>().ok();
                    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&event[digits..]) else {
                        continue;
                    };
                    let name = items.first().and_then(Value::as_str).unwrap_or_default().to_owned();
                    let data = items.get(1).cloned().unwrap_or(Value::Null);
                    protocol::on_event(&mut shared.lock(), id, &name, data, ack);
                }
            }
            out = rx.recv() => match out {
                Some(Out::Frame(frame)) => {
                    if ws.send(Message::text(frame)).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close) => {
                    let _ = ws.close(None).await;
                    break;
                }
                Some(Out::Drop) | None => return,
            },
            _ = pings.tick() => {
                if last_pong.elapsed() > ping_interval + ping_timeout {
                    break;
                }
                if ws.send(Message::text("2")).await.is_err() {
                    break;
                }
            }
        }
    }
    let mut state = shared.lock();
    users::leave(&mut state, id);
    super::playback::flush_all(&mut state);
}

/// The clock: a media tick every `tick` (one emulated second of playback), and the poll
/// timeouts and auto-AFK checked every 50 ms.
pub(crate) async fn clock(shared: Arc<Shared>, tick: Duration) {
    let mut media = tokio::time::interval(tick);
    media.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    media.tick().await;
    let mut timers = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = media.tick() => super::playback::tick_all(&mut shared.lock()),
            _ = timers.tick() => super::playback::timers(&mut shared.lock()),
        }
    }
}

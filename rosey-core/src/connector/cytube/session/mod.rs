//! One connection to CyTube, from the socketconfig request to its end: the engine.io and
//! socket.io handshakes, `joinChannel` and `login`, then serving until the connection ends.
//!
//! What the server sends is read in order. Chat heard before the join burst ends (the
//! `userlist` that closes it) or stamped before this connection began is the replayed
//! backlog, and the bot's own messages are echoes: neither reaches the incoming queue, so no
//! command in them runs. Echoes, `cooldown` and `errorMsg` answer the oldest message in
//! flight (see [`super::outbox`]).

mod acting;

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_tungstenite::{tungstenite::Message, WebSocketStream};

use super::{
    closed,
    framing::{self, Packet},
    html,
    http::{self, Transport},
    reconnect::{self, kicked, refused, Ended},
    Shared,
};
use crate::{
    connector::{cytube::channel::ChannelModel, ChannelEvent, ConnectorStatus, Incoming, Outgoing},
    messaging::{self, now_ms},
};

type Ws = WebSocketStream<Transport>;

/// Runs one connection to its end; also says whether it got as far as logging in.
pub(super) async fn run(shared: &Shared) -> (Ended, bool) {
    let mut session = Session {
        shared,
        connected_at_ms: now_ms(),
        joined: false,
        logged_in: false,
        self_name: shared.settings.user.clone(),
        sent_channel_password: false,
        waiting: None,
    };
    *shared.model() = ChannelModel::new(&shared.settings.user);
    let ended = session.run().await;
    session.abandon_actions();
    (ended, session.logged_in)
}

struct Session<'a> {
    shared: &'a Shared,
    connected_at_ms: u64,
    /// The join burst ended (`userlist` came): chat from now on is live.
    joined: bool,
    logged_in: bool,
    /// The name the server logged the bot in as.
    self_name: String,
    sent_channel_password: bool,
    /// The channel action in hand.
    waiting: Option<acting::Waiting>,
}

/// Resolves at `when`, never when `None`.
async fn at(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(tokio::time::Instant::from_std(when)).await,
        None => std::future::pending().await,
    }
}

fn lost(err: impl std::fmt::Display) -> Ended {
    Ended::retry(format!("connection to CyTube lost: {err}"))
}

impl Session<'_> {
    async fn run(&mut self) -> Ended {
        let settings = &self.shared.settings;
        let limit = settings.connect_timeout;
        let mut closing = self.shared.closing.subscribe();
        let connect = async {
            let url = http::socket_url(&settings.server, &settings.channel, limit)
                .await
                .map_err(|err| Ended::retry(err.to_string()))?;
            let transport = http::open(&url)
                .await
                .map_err(|err| Ended::retry(err.to_string()))?;
            let (ws, _) = tokio_tungstenite::client_async(url.as_str(), transport)
                .await
                .map_err(|err| Ended::retry(format!("WebSocket handshake with {url}: {err}")))?;
            Ok::<_, Ended>(ws)
        };
        self.connected_at_ms = now_ms();
        let mut ws = tokio::select! {
            connected = tokio::time::timeout(limit, connect) => match connected {
                Ok(Ok(ws)) => ws,
                Ok(Err(ended)) => return ended,
                Err(_) => return Ended::retry(format!("no connection to {} within {limit:?}", settings.server)),
            },
            _ = closed(&mut closing) => return Ended::Closed,
        };
        let (ping_interval, ping_timeout) = match self.handshake(&mut ws).await {
            Ok(timing) => timing,
            Err(ended) => return ended,
        };
        // A channel password is given when the server asks for it (`needPassword`).
        let join = json!({ "name": settings.channel });
        let mut login = json!({ "name": settings.user });
        if let Some(password) = &settings.password {
            login["pw"] = json!(password);
        }
        for frame in [
            framing::event("joinChannel", &join),
            framing::event("login", &login),
        ] {
            if let Err(err) = ws.send(Message::text(frame)).await {
                return lost(err);
            }
        }
        let ended = self
            .serve(&mut ws, &mut closing, ping_interval + ping_timeout)
            .await;
        if ended == Ended::Closed {
            // A clean goodbye: leave the namespace, then close the WebSocket.
            let _ = ws.send(Message::text(framing::DISCONNECT)).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        }
        ended
    }

    /// engine.io `open`, then socket.io `CONNECT`; returns the ping interval and timeout.
    async fn handshake(&mut self, ws: &mut Ws) -> Result<(Duration, Duration), Ended> {
        let limit = self.shared.settings.connect_timeout;
        let open = match tokio::time::timeout(limit, next_packet(ws)).await {
            Ok(Ok(Packet::Open(open))) => open,
            Ok(Ok(other)) => {
                return Err(Ended::retry(format!(
                    "the server did not open an engine.io session (sent {other:?})"
                )))
            }
            Ok(Err(ended)) => return Err(ended),
            Err(_) => return Err(Ended::retry("no engine.io open packet")),
        };
        let millis = |key: &str, default: u64| {
            Duration::from_millis(open.get(key).and_then(Value::as_u64).unwrap_or(default))
        };
        let timing = (
            millis("pingInterval", 25_000),
            millis("pingTimeout", 20_000),
        );
        ws.send(Message::text(framing::CONNECT))
            .await
            .map_err(lost)?;
        loop {
            match tokio::time::timeout(limit, next_packet(ws)).await {
                Ok(Ok(Packet::Connect(_))) => return Ok(timing),
                Ok(Ok(Packet::ConnectError(message))) => return Err(refused(&message)),
                Ok(Ok(Packet::Ping)) => {
                    ws.send(Message::text(framing::PONG)).await.map_err(lost)?;
                }
                Ok(Ok(_)) => {}
                Ok(Err(ended)) => return Err(ended),
                Err(_) => return Err(Ended::retry("no socket.io connect answer")),
            }
        }
    }

    async fn serve(
        &mut self,
        ws: &mut Ws,
        closing: &mut tokio::sync::watch::Receiver<bool>,
        ping_window: Duration,
    ) -> Ended {
        let shared = self.shared;
        let mut ping_deadline = Instant::now() + ping_window;
        let login_deadline = Instant::now() + shared.settings.connect_timeout;
        loop {
            let now = Instant::now();
            let (send_at, expiry) = {
                let outbox = shared.outbox();
                let send_at = if self.logged_in && !self.holds_outbox() {
                    outbox.next_send_at(now)
                } else {
                    None
                };
                (send_at, outbox.next_expiry())
            };
            let action_at = self.action_due(now);
            let deadline = if self.logged_in {
                ping_deadline
            } else {
                ping_deadline.min(login_deadline)
            };
            tokio::select! {
                biased;
                _ = closed(closing) => return Ended::Closed,
                frame = ws.next() => {
                    let text = match frame {
                        None => return Ended::retry("the server closed the connection"),
                        Some(Err(err)) => return lost(err),
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) => return Ended::retry("the server closed the WebSocket"),
                        Some(Ok(_)) => continue,
                    };
                    let packet = match framing::decode(text.as_str()) {
                        Ok(packet) => packet,
                        Err(_) => continue,
                    };
                    match packet {
                        Packet::Ping => {
                            ping_deadline = Instant::now() + ping_window;
                            if let Err(err) = ws.send(Message::text(framing::PONG)).await {
                                return lost(err);
                            }
                        }
                        Packet::Close => return Ended::retry("the server ended the engine.io session"),
                        Packet::Disconnect => return Ended::retry("the server ended the socket.io session"),
                        Packet::ConnectError(message) => return refused(&message),
                        Packet::Event { name, data } => {
                            if let Err(ended) = self.on_event(ws, &name, data).await {
                                return ended;
                            }
                        }
                        _ => {}
                    }
                }
                _ = at(send_at) => {
                    let next = shared.outbox().take(Instant::now());
                    if let Some(out) = next {
                        if let Err(err) = ws.send(Message::text(frame_for(&out))).await {
                            return lost(err);
                        }
                    }
                }
                _ = at(expiry) => {
                    shared.outbox().expire(Instant::now());
                }
                _ = at(action_at) => {
                    if let Err(ended) = self.step_action(ws).await {
                        return ended;
                    }
                }
                _ = shared.queued.notified() => {}
                _ = at(Some(deadline)) => {
                    return if self.logged_in || Instant::now() < login_deadline {
                        Ended::retry(format!("no ping from the server in {} s", ping_window.as_secs()))
                    } else {
                        Ended::retry(format!(
                            "no answer to the login within {} s",
                            shared.settings.connect_timeout.as_secs()
                        ))
                    };
                }
            }
        }
    }

    async fn on_event(&mut self, ws: &mut Ws, name: &str, data: Value) -> Result<(), Ended> {
        let settings = &self.shared.settings;
        let events = self.shared.model().note(name, &data);
        let the_actions_own = self.settle_action(name, &data);
        for (kind, user, data) in events {
            self.event(kind, user, data);
        }
        if the_actions_own {
            return Ok(());
        }
        match name {
            "chatMsg" => self.on_message(&data, false),
            "pm" => self.on_message(&data, true),
            "login" => {
                if data["success"].as_bool() == Some(true) {
                    if let Some(name) = data["name"].as_str() {
                        self.self_name = name.to_owned();
                        self.shared.model().self_name = name.to_owned();
                    }
                    self.logged_in = true;
                    self.shared.set_status(ConnectorStatus::Connected);
                } else {
                    let error = data["error"].as_str().unwrap_or("no reason given");
                    if error.contains("per IP") || error.to_lowercase().contains("guest login") {
                        return Err(Ended::retry_after(
                            format!("CyTube delays the guest login: {error}"),
                            reconnect::GUEST_LOGIN_FLOOR,
                        ));
                    }
                    return Err(Ended::Fatal(format!(
                        "CyTube refused to log in {:?}: {error}{}",
                        settings.user,
                        if settings.password.is_some() {
                            " (check bot.name and the password in bot.cytube.password or ROSEY_CYTUBE_PASSWORD)"
                        } else {
                            " (as a guest; a registered name needs its password in bot.cytube.password or ROSEY_CYTUBE_PASSWORD)"
                        }
                    )));
                }
            }
            "kick" => {
                let reason = data["reason"].as_str().unwrap_or("no reason given");
                return Err(kicked(reason, &settings.user));
            }
            "needPassword" => {
                match (&settings.channel_password, self.sent_channel_password) {
                    (Some(password), false) => {
                        self.sent_channel_password = true;
                        ws.send(Message::text(framing::event("channelPassword", &json!(password))))
                            .await
                            .map_err(lost)?;
                    }
                    (Some(_), true) => {
                        return Err(Ended::Fatal(format!(
                            "CyTube refused the password of channel {:?}: check bot.cytube.channel_password",
                            settings.channel
                        )))
                    }
                    (None, _) => {
                        return Err(Ended::Fatal(format!(
                            "channel {:?} needs a password: set bot.cytube.channel_password",
                            settings.channel
                        )))
                    }
                }
            }
            "cooldown" => {
                let gap = data.as_u64().or_else(|| data.as_f64().map(|ms| ms as u64));
                self.shared
                    .outbox()
                    .dropped(gap.unwrap_or(1000), Instant::now());
            }
            "errorMsg" => {
                let error = data["msg"].as_str().unwrap_or("").to_owned();
                let refused = self.shared.outbox().refused();
                let mut event = json!({ "error": error });
                if let Some(out) = refused {
                    event["refused"] = match out {
                        Outgoing::Chat { text } => json!({ "text": text }),
                        Outgoing::Pm { to, text } => json!({ "to": to, "text": text }),
                    };
                }
                self.event(messaging::EVENT_BOT_ERROR, None, event);
            }
            "userlist" => {
                self.joined = true;
                self.event(messaging::EVENT_USER_LIST, None, json!({ "users": data }));
            }
            "addUser" | "userLeave" | "setAFK" | "setUserRank" => {
                let kind = match name {
                    "addUser" => messaging::EVENT_USER_JOIN,
                    "userLeave" => messaging::EVENT_USER_LEAVE,
                    "setAFK" => messaging::EVENT_USER_AFK,
                    _ => messaging::EVENT_USER_RANK,
                };
                let user = data["name"].as_str().map(str::to_owned);
                self.event(kind, user, data);
            }
            "rank" => {
                let user = Some(self.self_name.clone());
                self.event(messaging::EVENT_BOT_RANK, user, json!({ "rank": data }));
            }
            "usercount" => self.event(messaging::EVENT_USER_COUNT, None, json!({ "count": data })),
            "changeMedia" => self.event(messaging::EVENT_MEDIA_CHANGE, None, data),
            _ => {}
        }
        Ok(())
    }

    /// A `chatMsg` or `pm`: an echo of the bot's own, the backlog, or something new.
    fn on_message(&mut self, data: &Value, pm: bool) {
        let user = data["username"].as_str().unwrap_or_default();
        let html = data["msg"].as_str().unwrap_or_default();
        let time_ms = data["time"].as_u64().unwrap_or_else(now_ms);
        let old = !pm && (!self.joined || time_ms < self.connected_at_ms);
        if user.eq_ignore_ascii_case(&self.self_name) {
            if !old {
                self.shared.outbox().confirmed();
            }
            return;
        }
        if old || user.is_empty() {
            return;
        }
        if !rosey_abi::channel::is_valid_user_name(user) {
            // `[server]`, `[voteskip]`: the server's own notices, never a user's words.
            let text = html::to_plain_text(html);
            self.event(
                messaging::EVENT_CHAT_NOTICE,
                None,
                json!({ "from": user, "text": text }),
            );
            return;
        }
        let id = message_id(&self.shared.settings.channel, pm, user, html, time_ms);
        let text = html::to_plain_text(html);
        let (user, html) = (user.to_owned(), Some(html.to_owned()));
        let incoming = if pm {
            Incoming::Pm {
                user,
                text,
                time_ms,
                id,
                html,
                rank: None,
            }
        } else {
            Incoming::Chat {
                user,
                text,
                time_ms,
                id,
                html,
                rank: None,
            }
        };
        // Fails only once the connector is closed, when nobody reads it any more.
        let _ = self.shared.incoming.push(incoming);
    }

    fn event(&self, kind: &str, user: Option<String>, data: Value) {
        let _ = self.shared.incoming.push(Incoming::Event(ChannelEvent {
            kind: kind.to_owned(),
            user,
            time_ms: now_ms(),
            id: self.shared.event_id(),
            data,
        }));
    }
}

/// The next engine.io packet, skipping frames that are not text.
async fn next_packet(ws: &mut Ws) -> Result<Packet, Ended> {
    loop {
        match ws.next().await {
            None => return Err(Ended::retry("the server closed the connection")),
            Some(Err(err)) => return Err(lost(err)),
            Some(Ok(Message::Text(text))) => {
                return framing::decode(text.as_str()).map_err(|err| lost(err.to_string()))
            }
            Some(Ok(Message::Close(_))) => {
                return Err(Ended::retry("the server closed the WebSocket"))
            }
            Some(Ok(_)) => {}
        }
    }
}

/// The frame that says `out`.
fn frame_for(out: &Outgoing) -> String {
    match out {
        Outgoing::Chat { text } => framing::event("chatMsg", &json!({ "msg": text, "meta": {} })),
        Outgoing::Pm { to, text } => {
            framing::event("pm", &json!({ "to": to, "msg": text, "meta": {} }))
        }
    }
}

/// A message's id, the same every time the server shows it (so a replay can never be
/// published twice within the stream's duplicate window).
fn message_id(channel: &str, pm: bool, user: &str, html: &str, time_ms: u64) -> String {
    let digest = Sha256::digest(format!("{channel}\n{user}\n{html}").as_bytes());
    format!(
        "cytube-{}-{time_ms}-{}",
        if pm { "pm" } else { "chat" },
        hex::encode(&digest[..6])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_for_the_same_message() {
        let a = message_id("c", false, "alice", "!roll", 5);
        assert_eq!(a, message_id("c", false, "alice", "!roll", 5));
        assert_ne!(a, message_id("c", true, "alice", "!roll", 5));
        assert_ne!(a, message_id("c", false, "alice", "!roll", 6));
        assert_ne!(a, message_id("c", false, "bob", "!roll", 5));
    }

    #[test]
    fn frames_for_chat_and_pm() {
        assert_eq!(
            frame_for(&Outgoing::Pm {
                to: "bob".into(),
                text: "hi".into()
            }),
            framing::event("pm", &json!({ "to": "bob", "msg": "hi", "meta": {} }))
        );
    }
}

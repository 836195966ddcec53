//! engine.io (protocol 4) and socket.io (v4) framing over WebSocket text frames, the subset a
//! CyTube client needs: the engine.io `open`, `close`, `ping`, `pong` and `message` packets, and
//! inside a message the socket.io `CONNECT`, `DISCONNECT`, `EVENT` and `CONNECT_ERROR` packets
//! of the default namespace. Binary packets and acks are never used by CyTube's chat.

use serde_json::Value;

/// One decoded WebSocket text frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// engine.io `0{…}`: the session's parameters (`sid`, `pingInterval`, `pingTimeout`).
    Open(Value),
    /// engine.io `1`: the server closes the session.
    Close,
    /// engine.io `2`: the server's ping, answered with [`Packet::Pong`].
    Ping,
    /// engine.io `3`.
    Pong,
    /// socket.io `40{…}`: connected to the namespace.
    Connect(Option<Value>),
    /// socket.io `41`: the namespace was left.
    Disconnect,
    /// socket.io `42["name",args…]`: an event.
    Event {
        /// The event name (`chatMsg`, `login`, …).
        name: String,
        /// Its first argument (`null` when it had none).
        data: Value,
    },
    /// socket.io `44{"message":…}`: the server refused the connection.
    ConnectError(String),
    /// Anything else (`noop`, acks, other namespaces): ignored.
    Other,
}

/// A frame that is not engine.io/socket.io.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("not an engine.io packet: {0}")]
pub struct FrameError(pub String);

/// Decodes one text frame.
pub fn decode(text: &str) -> Result<Packet, FrameError> {
    let bad = || FrameError(text.chars().take(80).collect());
    let mut chars = text.chars();
    let kind = chars.next().ok_or_else(bad)?;
    let rest = chars.as_str();
    match kind {
        '0' => serde_json::from_str(rest)
            .map(Packet::Open)
            .map_err(|_| bad()),
        '1' => Ok(Packet::Close),
        '2' => Ok(Packet::Ping),
        '3' => Ok(Packet::Pong),
        '4' => decode_socketio(rest).ok_or_else(bad),
        '5' | '6' => Ok(Packet::Other),
        _ => Err(bad()),
    }
}

fn decode_socketio(text: &str) -> Option<Packet> {
    let mut chars = text.chars();
    let kind = chars.next()?;
    let mut rest = chars.as_str();
    // Only the default namespace is used; a packet of another one (`/admin,…`) is ignored.
    if rest.starts_with('/') {
        return Some(Packet::Other);
    }
    match kind {
        '0' => Some(Packet::Connect(serde_json::from_str(rest).ok())),
        '1' => Some(Packet::Disconnect),
        '2' => {
            // An ack id may precede the array: `42 12["name",…]`.
            rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            let Value::Array(mut items) = serde_json::from_str(rest).ok()? else {
                return None;
            };
            if items.is_empty() {
                return None;
            }
            let name = match items.remove(0) {
                Value::String(name) => name,
                _ => return None,
            };
            let data = if items.is_empty() {
                Value::Null
            } else {
                items.remove(0)
            };
            Some(Packet::Event { name, data })
        }
        '4' => {
            let value: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
            let message = match &value {
                Value::Object(map) => map
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| value.to_string()),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            Some(Packet::ConnectError(message))
        }
        _ => Some(Packet::Other),
    }
}

/// The client's answer to a ping.
pub const PONG: &str = "3";

/// Connects to the default namespace.
pub const CONNECT: &str = "40";

/// Leaves the default namespace (a clean close).
pub const DISCONNECT: &str = "41";

/// An event frame: `42["name",data]`.
pub fn event(name: &str, data: &Value) -> String {
    format!(
        "42{}",
        Value::Array(vec![Value::String(name.to_owned()), data.clone()])
    )
}

/// A socket.io event frame with no payload (`42["playNext"]`), as CyTube's client sends
/// `playNext`, `voteskip` and `closePoll`.
pub fn event_without_data(name: &str) -> String {
    format!("42{}", Value::Array(vec![Value::String(name.to_owned())]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_what_cytube_sends() {
        let open = decode(r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":120000,"maxPayload":1048576}"#)
            .expect("open");
        assert_eq!(
            open,
            Packet::Open(
                json!({"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":120000,"maxPayload":1048576})
            )
        );
        assert_eq!(decode("2"), Ok(Packet::Ping));
        assert_eq!(decode("1"), Ok(Packet::Close));
        assert_eq!(
            decode(r#"40{"sid":"x"}"#),
            Ok(Packet::Connect(Some(json!({"sid":"x"}))))
        );
        assert_eq!(decode("41"), Ok(Packet::Disconnect));
        assert_eq!(
            decode(r#"42["chatMsg",{"username":"u","msg":"hi &amp; bye","meta":{},"time":5}]"#),
            Ok(Packet::Event {
                name: "chatMsg".into(),
                data: json!({"username":"u","msg":"hi &amp; bye","meta":{},"time":5}),
            })
        );
        assert_eq!(
            decode(r#"42["rank",-1]"#),
            Ok(Packet::Event {
                name: "rank".into(),
                data: json!(-1)
            })
        );
        assert_eq!(
            decode(r#"42["channelNotRegistered"]"#),
            Ok(Packet::Event {
                name: "channelNotRegistered".into(),
                data: Value::Null
            })
        );
        assert_eq!(
            decode(r#"4212["cooldown",100]"#),
            Ok(Packet::Event {
                name: "cooldown".into(),
                data: json!(100)
            })
        );
        assert_eq!(
            decode(r#"44{"message":"Rate limit exceeded"}"#),
            Ok(Packet::ConnectError("Rate limit exceeded".into()))
        );
        assert_eq!(decode(r#"42/admin,["x"]"#), Ok(Packet::Other));
        assert_eq!(decode("6"), Ok(Packet::Other));
    }

    #[test]
    fn decodes_pongs_acks_and_connect_errors_of_every_shape() {
        assert_eq!(decode("3"), Ok(Packet::Pong));
        // An ack (`43<id>[…]`) or a binary event is nothing the bot asked for.
        assert_eq!(decode(r#"4312["ok"]"#), Ok(Packet::Other));
        assert_eq!(decode(r#"451-["x",{}]"#), Ok(Packet::Other));
        assert_eq!(
            decode(r#"44"Not authorized""#),
            Ok(Packet::ConnectError("Not authorized".into()))
        );
        assert_eq!(
            decode(r#"44{"data":1}"#),
            Ok(Packet::ConnectError(r#"{"data":1}"#.into()))
        );
        assert_eq!(decode("44[1,2]"), Ok(Packet::ConnectError("[1,2]".into())));
        assert_eq!(decode("44"), Ok(Packet::ConnectError("null".into())));
    }

    #[test]
    fn refuses_what_is_not_a_packet() {
        assert!(decode("").is_err());
        assert!(decode("hello").is_err());
        assert!(decode("0not json").is_err());
        assert!(decode("42{}").is_err());
        assert!(decode("42[]").is_err());
        assert!(decode("42[5]").is_err());
    }

    #[test]
    fn encodes_events_as_cytube_reads_them() {
        assert_eq!(
            event("joinChannel", &json!({"name":"test"})),
            r#"42["joinChannel",{"name":"test"}]"#
        );
        assert_eq!(
            event("chatMsg", &json!({"msg":"a \"quote\""})),
            r#"42["chatMsg",{"msg":"a \"quote\""}]"#
        );
    }
}

//! The network side of connecting: a TCP or TLS stream to a server, a minimal HTTP/1.1 GET
//! (enough for CyTube's `socketconfig/<channel>.json`, with redirects and chunked bodies), and
//! the choice of the socket.io server a channel lives on.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use serde::Deserialize;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};
use url::Url;

/// The largest socketconfig answer read.
const MAX_BODY: usize = 1024 * 1024;

/// A plain or TLS connection.
#[derive(Debug)]
pub enum Transport {
    /// `http://`, `ws://`.
    Plain(TcpStream),
    /// `https://`, `wss://`.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "tls")]
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Whether `scheme` needs TLS.
fn secure(scheme: &str) -> bool {
    matches!(scheme, "https" | "wss")
}

/// Opens a connection to `url`'s host and port, with TLS for `https`/`wss`.
pub async fn open(url: &Url) -> Result<Transport, String> {
    let host = url
        .host_str()
        .ok_or_else(|| format!("{url} names no host"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("{url} names no port"))?;
    let host_for_socket = host.trim_start_matches('[').trim_end_matches(']');
    let stream = TcpStream::connect((host_for_socket, port))
        .await
        .map_err(|err| format!("cannot connect to {host}:{port}: {err}"))?;
    let _ = stream.set_nodelay(true);
    if !secure(url.scheme()) {
        return Ok(Transport::Plain(stream));
    }
    #[cfg(feature = "tls")]
    {
        let name =
            tokio_rustls::rustls::pki_types::ServerName::try_from(host_for_socket.to_owned())
                .map_err(|err| format!("{host} is not a TLS server name: {err}"))?;
        let stream = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, stream)
            .await
            .map_err(|err| format!("TLS with {host}:{port} failed: {err}"))?;
        Ok(Transport::Tls(Box::new(stream)))
    }
    #[cfg(not(feature = "tls"))]
    Err(format!(
        "{url} needs TLS, and this rosey was built without the `tls` feature of rosey-core"
    ))
}

#[cfg(feature = "tls")]
fn tls_config() -> Result<std::sync::Arc<tokio_rustls::rustls::ClientConfig>, String> {
    use std::sync::{Arc, OnceLock};
    use tokio_rustls::rustls;
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no trusted root certificates found on this system: install the ca-certificates package".to_owned());
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("cannot set up TLS: {err}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// An HTTP answer.
struct Response {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

/// `GET url`, following up to 3 redirects; the body of a 200 answer.
pub async fn get(url: &Url, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut url = url.clone();
    for _ in 0..4 {
        let response = tokio::time::timeout(timeout, get_once(&url))
            .await
            .map_err(|_| format!("GET {url}: no answer within {timeout:?}"))??;
        match (response.status, response.location) {
            (200, _) => return Ok(response.body),
            (301 | 302 | 303 | 307 | 308, Some(location)) => {
                url = url
                    .join(&location)
                    .map_err(|err| format!("GET {url}: bad redirect {location:?}: {err}"))?;
            }
            (status, _) => return Err(format!("GET {url}: HTTP {status}")),
        }
    }
    Err(format!("GET {url}: too many redirects"))
}

async fn get_once(url: &Url) -> Result<Response, String> {
    let mut stream = open(url).await?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rosey\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|err| format!("GET {url}: {err}"))?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(MAX_BODY as u64 + 16 * 1024)
        .read_to_end(&mut raw)
        .await
        .map_err(|err| format!("GET {url}: {err}"))?;
    parse_response(&raw).map_err(|err| format!("GET {url}: {err}"))
}

fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let head_end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("the answer has no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or("the answer has no status line")?;
    let mut location = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("location") {
            location = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let body = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(Response {
        status,
        location,
        body,
    })
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or("a chunked body ends early")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size || out.len() + size > MAX_BODY {
            return Err("a chunked body ends early or is too large".to_owned());
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[derive(Deserialize)]
struct SocketConfig {
    servers: Vec<SocketServer>,
}

#[derive(Deserialize)]
struct SocketServer {
    url: String,
    #[serde(default)]
    secure: bool,
}

/// The WebSocket URL of channel `channel` on the CyTube at `base`: asks
/// `<base>/socketconfig/<channel>.json` and prefers a secure server when one is listed.
pub async fn socket_url(base: &Url, channel: &str, timeout: Duration) -> Result<Url, String> {
    let config_url = base
        .join(&format!("socketconfig/{channel}.json"))
        .map_err(|err| format!("cannot build the socketconfig URL from {base}: {err}"))?;
    let body = get(&config_url, timeout).await?;
    let config: SocketConfig = serde_json::from_slice(&body)
        .map_err(|err| format!("{config_url} is not a CyTube socketconfig: {err}"))?;
    choose_server(&config)
        .ok_or_else(|| format!("{config_url} lists no server"))
        .and_then(|server| websocket_url(&server.url))
}

fn choose_server(config: &SocketConfig) -> Option<&SocketServer> {
    let usable = |server: &&SocketServer| cfg!(feature = "tls") || !server.secure;
    config
        .servers
        .iter()
        .filter(usable)
        .find(|server| server.secure)
        .or_else(|| config.servers.iter().find(|server| !server.secure))
}

/// `http://host:port` → `ws://host:port/socket.io/?EIO=4&transport=websocket`.
pub fn websocket_url(server: &str) -> Result<Url, String> {
    let mut url = Url::parse(server).map_err(|err| format!("bad server URL {server:?}: {err}"))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(format!(
                "server URL {server:?} has scheme {other:?}; expected http or https"
            ))
        }
    };
    url.set_scheme(scheme)
        .map_err(|_| format!("cannot use {server:?} as a WebSocket URL"))?;
    let url = url
        .join("/socket.io/?EIO=4&transport=websocket")
        .map_err(|err| format!("bad server URL {server:?}: {err}"))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls() {
        assert_eq!(
            websocket_url("http://127.0.0.1:1337")
                .expect("url")
                .as_str(),
            "ws://127.0.0.1:1337/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            websocket_url("https://cytu.be:10443")
                .expect("url")
                .as_str(),
            "wss://cytu.be:10443/socket.io/?EIO=4&transport=websocket"
        );
        assert!(websocket_url("ftp://x").is_err());
    }

    #[test]
    fn prefers_a_secure_server() {
        let config: SocketConfig = serde_json::from_str(
            r#"{"servers":[{"url":"http://a:1","secure":false},{"url":"https://a:2","secure":true}]}"#,
        )
        .expect("json");
        let chosen = choose_server(&config).expect("one");
        assert_eq!(
            chosen.url,
            if cfg!(feature = "tls") {
                "https://a:2"
            } else {
                "http://a:1"
            }
        );
    }

    #[test]
    fn parses_plain_and_chunked_answers() {
        let plain = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").expect("ok");
        assert_eq!((plain.status, plain.body.as_slice()), (200, &b"{}"[..]));
        let chunked = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        )
        .expect("ok");
        assert_eq!(chunked.body, b"{\"a\":1}");
        let moved =
            parse_response(b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n").expect("ok");
        assert_eq!(
            (moved.status, moved.location.as_deref()),
            (301, Some("https://x/"))
        );
        assert!(parse_response(b"garbage").is_err());
    }
}

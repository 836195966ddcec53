//! The network side of connecting: a TCP or TLS stream to a server, a minimal HTTP/1.1 GET
//! (enough for CyTube's `socketconfig/<channel>.json`, with redirects and chunked bodies), and
//! the choice of the socket.io server a channel lives on.

use std::{io, time::Duration};

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

mod transport;
pub use transport::{open, Transport};

/// The largest socketconfig answer read.
const MAX_BODY: usize = 1024 * 1024;

/// Why a connection, a GET or the choice of a channel's server failed: the connector retries
/// on any of them, and an embedder can tell a refused connection from a bad address or a
/// server that is not CyTube.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL has no host to connect to.
    #[error("{url} names no host")]
    NoHost {
        /// The URL.
        url: Url,
    },
    /// The URL has no port, and its scheme has no default one.
    #[error("{url} names no port")]
    NoPort {
        /// The URL.
        url: Url,
    },
    /// The TCP connection failed.
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        /// The host as the URL names it.
        host: String,
        /// The port.
        port: u16,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The host cannot be checked against a certificate.
    #[cfg(feature = "tls")]
    #[error("{host} is not a TLS server name: {source}")]
    ServerName {
        /// The host as the URL names it.
        host: String,
        /// Why rustls refuses it.
        #[source]
        source: tokio_rustls::rustls::pki_types::InvalidDnsNameError,
    },
    /// The TLS handshake failed (often a certificate the system does not trust).
    #[cfg(feature = "tls")]
    #[error("TLS with {host}:{port} failed: {source}")]
    Tls {
        /// The host as the URL names it.
        host: String,
        /// The port.
        port: u16,
        /// The handshake's error.
        #[source]
        source: io::Error,
    },
    /// TLS cannot be set up on this system at all.
    #[cfg(feature = "tls")]
    #[error(transparent)]
    TlsSetup(#[from] TlsSetupError),
    /// The URL needs TLS, which this build left out.
    #[error("{url} needs TLS, and this rosey was built without the `tls` feature of rosey-core")]
    TlsNotBuilt {
        /// The URL.
        url: Url,
    },
    /// Sending the request or reading the answer failed.
    #[error("GET {url}: {source}")]
    Io {
        /// The URL asked.
        url: Url,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The answer is not HTTP this client can read.
    #[error("GET {url}: {source}")]
    Response {
        /// The URL asked.
        url: Url,
        /// What is wrong with the answer.
        #[source]
        source: ResponseError,
    },
    /// No (complete) answer in time.
    #[error("GET {url}: no answer within {timeout:?}")]
    Timeout {
        /// The URL asked.
        url: Url,
        /// How long it was given.
        timeout: Duration,
    },
    /// A redirect to somewhere that is not a URL.
    #[error("GET {url}: bad redirect {location:?}: {source}")]
    BadRedirect {
        /// The URL that redirected.
        url: Url,
        /// Its `Location`.
        location: String,
        /// Why it does not join onto `url`.
        #[source]
        source: url::ParseError,
    },
    /// An answer other than 200 or a redirect.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL asked.
        url: Url,
        /// The HTTP status.
        status: u16,
    },
    /// Redirected more often than a socketconfig ever is.
    #[error("GET {url}: too many redirects")]
    TooManyRedirects {
        /// The last URL asked.
        url: Url,
    },
    /// The site's base URL cannot take the socketconfig path.
    #[error("cannot build the socketconfig URL from {base}: {source}")]
    SocketConfigUrl {
        /// The site's base URL.
        base: Url,
        /// Why the join failed.
        #[source]
        source: url::ParseError,
    },
    /// The socketconfig answer is not CyTube's JSON (often not a CyTube site, or a wrong
    /// channel name).
    #[error("{url} is not a CyTube socketconfig: {source}")]
    NotSocketConfig {
        /// The socketconfig URL.
        url: Url,
        /// Why it does not read.
        #[source]
        source: serde_json::Error,
    },
    /// The socketconfig lists no server this build can use.
    #[error("{url} lists no server")]
    NoServer {
        /// The socketconfig URL.
        url: Url,
    },
    /// A server URL that does not parse, or cannot take the socket.io path.
    #[error("bad server URL {server:?}: {source}")]
    BadServerUrl {
        /// The server URL as listed.
        server: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// A server URL that is neither http(s) nor ws(s).
    #[error("server URL {server:?} has scheme {scheme:?}; expected http or https")]
    ServerScheme {
        /// The server URL as listed.
        server: String,
        /// Its scheme.
        scheme: String,
    },
    /// A server URL whose scheme cannot become `ws` or `wss`.
    #[error("cannot use {server:?} as a WebSocket URL")]
    NotWebSocket {
        /// The server URL as listed.
        server: String,
    },
}

/// Why TLS cannot be set up on this system; found once and the same for every server.
#[cfg(feature = "tls")]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TlsSetupError {
    /// The system's trust store is empty or missing.
    #[error(
        "no trusted root certificates found on this system: install the ca-certificates package"
    )]
    NoRootCertificates,
    /// rustls refused its own default protocol versions.
    #[error("cannot set up TLS: {0}")]
    Protocols(#[source] tokio_rustls::rustls::Error),
}

/// Why an HTTP answer cannot be read: it is cut short, or not HTTP/1.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// No blank line ends the headers.
    #[error("the answer has no end of headers")]
    NoEndOfHeaders,
    /// The first line has no numeric status.
    #[error("the answer has no status line")]
    NoStatusLine,
    /// A chunk's size line is missing.
    #[error("a chunked body ends early")]
    ChunkedEndsEarly,
    /// A chunk's size is not hexadecimal.
    #[error("bad chunk size {0:?}")]
    BadChunkSize(String),
    /// A chunk is cut short, or the body grows past the largest answer read.
    #[error("a chunked body ends early or is too large")]
    ChunkCutOrTooLarge,
}

/// An HTTP answer.
struct Response {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

/// `GET url`, following up to 3 redirects; the body of a 200 answer.
pub async fn get(url: &Url, timeout: Duration) -> Result<Vec<u8>, HttpError> {
    let mut url = url.clone();
    for _ in 0..4 {
        let response = tokio::time::timeout(timeout, get_once(&url))
            .await
            .map_err(|_| HttpError::Timeout {
                url: url.clone(),
                timeout,
            })??;
        match (response.status, response.location) {
            (200, _) => return Ok(response.body),
            (301 | 302 | 303 | 307 | 308, Some(location)) => {
                url = url
                    .join(&location)
                    .map_err(|source| HttpError::BadRedirect {
                        url: url.clone(),
                        location: location.clone(),
                        source,
                    })?;
            }
            (status, _) => return Err(HttpError::Status { url, status }),
        }
    }
    Err(HttpError::TooManyRedirects { url })
}

async fn get_once(url: &Url) -> Result<Response, HttpError> {
    let io_error = |source| HttpError::Io {
        url: url.clone(),
        source,
    };
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
        .map_err(io_error)?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(MAX_BODY as u64 + 16 * 1024)
        .read_to_end(&mut raw)
        .await
        .map_err(io_error)?;
    parse_response(&raw).map_err(|source| HttpError::Response {
        url: url.clone(),
        source,
    })
}

fn parse_response(raw: &[u8]) -> Result<Response, ResponseError> {
    let head_end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or(ResponseError::NoEndOfHeaders)?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or(ResponseError::NoStatusLine)?;
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

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, ResponseError> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or(ResponseError::ChunkedEndsEarly)?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| ResponseError::BadChunkSize(size_text.to_string()))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size || out.len() + size > MAX_BODY {
            return Err(ResponseError::ChunkCutOrTooLarge);
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
pub async fn socket_url(base: &Url, channel: &str, timeout: Duration) -> Result<Url, HttpError> {
    let config_url = base
        .join(&format!("socketconfig/{channel}.json"))
        .map_err(|source| HttpError::SocketConfigUrl {
            base: base.clone(),
            source,
        })?;
    let body = get(&config_url, timeout).await?;
    let config: SocketConfig =
        serde_json::from_slice(&body).map_err(|source| HttpError::NotSocketConfig {
            url: config_url.clone(),
            source,
        })?;
    choose_server(&config)
        .ok_or(HttpError::NoServer { url: config_url })
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
pub fn websocket_url(server: &str) -> Result<Url, HttpError> {
    let bad_url = |source| HttpError::BadServerUrl {
        server: server.to_owned(),
        source,
    };
    let mut url = Url::parse(server).map_err(bad_url)?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(HttpError::ServerScheme {
                server: server.to_owned(),
                scheme: other.to_owned(),
            })
        }
    };
    url.set_scheme(scheme)
        .map_err(|()| HttpError::NotWebSocket {
            server: server.to_owned(),
        })?;
    let url = url
        .join("/socket.io/?EIO=4&transport=websocket")
        .map_err(bad_url)?;
    Ok(url)
}

#[cfg(test)]
mod tests;

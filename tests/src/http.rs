//! A minimal blocking HTTP/1.1 client for the dashboard's API tests: one request per
//! connection (`Connection: close`), loopback only, with the status, headers and body back.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

/// One answer.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (chunked encoding undone).
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON; panics, showing the response, when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("not JSON ({err}): {self:?}"))
    }

    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(found, _)| found == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Sends `method url` with extra `headers` and an optional body; panics on I/O failure.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpResponse {
    request_bytes(method, url, headers, body.unwrap_or("").as_bytes())
}

/// `POST url` with `body` as it is (`Content-Type: application/octet-stream`: an uploaded
/// archive) and extra `headers`.
pub fn post_bytes(url: &str, body: &[u8], headers: &[(&str, &str)]) -> HttpResponse {
    let mut all = vec![("Content-Type", "application/octet-stream")];
    all.extend_from_slice(headers);
    request_bytes("POST", url, &all, body)
}

/// Sends `method url` with extra `headers` and a body of any bytes; panics on I/O failure,
/// except that a server which answers and closes before reading the whole body (a refused
/// upload) is not a failure: its answer is returned.
pub fn request_bytes(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(authority).unwrap_or_else(|err| panic!("{url}: {err}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("read timeout");
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    // A test may declare a length of its own (a body too large to send).
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let sent = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    if raw.is_empty() {
        sent.unwrap_or_else(|err| panic!("{method} {url}: {err}"));
        read.unwrap_or_else(|err| panic!("{method} {url}: {err}"));
    }
    parse(&raw).unwrap_or_else(|| panic!("{method} {url}: unreadable answer {raw:?}"))
}

/// `GET url`.
pub fn get(url: &str, headers: &[(&str, &str)]) -> HttpResponse {
    request("GET", url, headers, None)
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, body: &serde_json::Value) -> HttpResponse {
    post_json_with(url, body, &[])
}

/// `POST url` with a JSON body and extra `headers` (`Authorization`).
pub fn post_json_with(
    url: &str,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    request("POST", url, &all, Some(&body.to_string()))
}

fn parse(raw: &[u8]) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    if chunked {
        body = unchunk(&body)?;
    }
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn unchunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = raw.windows(2).position(|window| window == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&raw[..end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

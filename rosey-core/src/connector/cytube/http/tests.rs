//! The HTTP client and the choice of a channel's server: URL and answer parsing, and `get`,
//! `socket_url` and `open` against scripted loopback servers (a real `TcpListener` answering
//! each connection with raw HTTP/1.1 bytes).

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

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
    assert!(matches!(
        websocket_url("ftp://x"),
        Err(HttpError::ServerScheme { .. })
    ));
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
    let moved = parse_response(b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n").expect("ok");
    assert_eq!(
        (moved.status, moved.location.as_deref()),
        (301, Some("https://x/"))
    );
    assert_eq!(
        parse_response(b"garbage").err(),
        Some(ResponseError::NoEndOfHeaders)
    );
}

/// Long enough for any loopback answer; the tests that wait for a timeout use their own.
const PATIENT: Duration = Duration::from_secs(5);

/// Reads one request's head from `stream`; returns its first line (`GET /x HTTP/1.1`).
async fn read_request(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.expect("read the request");
        assert!(n > 0, "the client closed before its request ended");
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    head.split("\r\n").next().unwrap_or_default().to_owned()
}

/// A loopback server answering its connections in turn with `answers(base)` (raw bytes, then
/// closing), where `base` is its own `http://127.0.0.1:<port>/`; the task yields the request
/// lines it read, once every answer was given.
async fn scripted(answers: impl FnOnce(&Url) -> Vec<Vec<u8>>) -> (Url, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    let base = Url::parse(&format!("http://127.0.0.1:{port}/")).expect("base URL");
    let answers = answers(&base);
    let server = tokio::spawn(async move {
        let mut requests = Vec::new();
        for answer in answers {
            let (mut stream, _) = listener.accept().await.expect("accept");
            requests.push(read_request(&mut stream).await);
            stream.write_all(&answer).await.expect("answer");
            stream.shutdown().await.expect("close");
        }
        requests
    });
    (base, server)
}

/// A raw HTTP/1.1 answer with status line `status` and header lines `headers`, then `body`.
fn answer(status: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(body);
    text.into_bytes()
}

#[tokio::test]
async fn get_follows_301_302_and_303_to_the_answer_asking_paths_with_their_query() {
    let (base, server) = scripted(|base| {
        vec![
            answer("301 Moved Permanently", &["Location: /two?x=1&y=2"], ""),
            answer("302 Found", &[&format!("Location: {}three/", base)], ""),
            answer("303 See Other", &["Location: four"], ""),
            answer("200 OK", &["Content-Length: 2"], "{}"),
        ]
    })
    .await;
    let body = get(&base.join("one").expect("url"), PATIENT)
        .await
        .expect("the final answer");
    assert_eq!(body, b"{}");
    assert_eq!(
        server.await.expect("server"),
        [
            "GET /one HTTP/1.1",
            "GET /two?x=1&y=2 HTTP/1.1",
            "GET /three/ HTTP/1.1",
            "GET /three/four HTTP/1.1",
        ]
    );
}

#[tokio::test]
async fn get_follows_307_and_308_and_reads_a_chunked_answer() {
    let (base, server) = scripted(|_| {
        vec![
            answer("307 Temporary Redirect", &["location: /b"], ""),
            answer("308 Permanent Redirect", &["LOCATION: /c"], ""),
            answer(
                "200 OK",
                &["Transfer-Encoding: chunked"],
                "3\r\n{\"a\r\n4;ext=1\r\n\":1}\r\n0\r\n\r\n",
            ),
        ]
    })
    .await;
    let body = get(&base.join("a").expect("url"), PATIENT)
        .await
        .expect("the final answer");
    assert_eq!(body, b"{\"a\":1}");
    assert_eq!(
        server.await.expect("server"),
        ["GET /a HTTP/1.1", "GET /b HTTP/1.1", "GET /c HTTP/1.1"]
    );
}

#[tokio::test]
async fn a_fourth_redirect_is_one_too_many_and_names_the_last_url() {
    let (base, server) = scripted(|_| {
        (1..=4)
            .map(|n| answer("302 Found", &[&format!("Location: /r{n}")], ""))
            .collect()
    })
    .await;
    let err = get(&base, PATIENT).await.expect_err("too many redirects");
    let last = base.join("r4").expect("url");
    assert!(
        matches!(&err, HttpError::TooManyRedirects { url } if *url == last),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("GET {last}: too many redirects"));
    assert_eq!(
        server.await.expect("server").len(),
        4,
        "four requests, no fifth"
    );
}

#[tokio::test]
async fn a_redirect_to_what_is_not_a_url_is_a_bad_redirect_naming_both() {
    let (base, server) =
        scripted(|_| vec![answer("302 Found", &["Location: http://[::1/x"], "")]).await;
    let err = get(&base, PATIENT).await.expect_err("a bad redirect");
    match &err {
        HttpError::BadRedirect { url, location, .. } => {
            assert_eq!((url, location.as_str()), (&base, "http://[::1/x"));
        }
        other => panic!("not a bad redirect: {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("GET {base}: bad redirect \"http://[::1/x\": invalid IPv6 address")
    );
    server.await.expect("server");
}

#[tokio::test]
async fn an_answer_other_than_200_or_a_redirect_with_a_location_is_a_status_error() {
    let (base, server) = scripted(|_| {
        vec![
            answer("404 Not Found", &["Content-Length: 0"], ""),
            answer("301 Moved Permanently", &["Content-Length: 0"], ""),
        ]
    })
    .await;
    let missing = base.join("socketconfig/nope.json").expect("url");
    let err = get(&missing, PATIENT).await.expect_err("a 404");
    assert!(
        matches!(&err, HttpError::Status { url, status: 404 } if *url == missing),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("GET {missing}: HTTP 404"));
    let err = get(&base, PATIENT)
        .await
        .expect_err("a redirect to nowhere");
    assert!(
        matches!(&err, HttpError::Status { status: 301, .. }),
        "a redirect without a Location is not followed: {err:?}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_a_response_error_naming_the_url() {
    let (base, server) = scripted(|_| {
        vec![
            b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(),
            answer("OK", &["Content-Length: 0"], ""),
        ]
    })
    .await;
    let err = get(&base, PATIENT).await.expect_err("not HTTP");
    assert!(
        matches!(&err, HttpError::Response { url, source: ResponseError::NoEndOfHeaders } if *url == base),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("GET {base}: the answer has no end of headers")
    );
    let err = get(&base, PATIENT).await.expect_err("no status");
    assert!(
        matches!(
            &err,
            HttpError::Response {
                source: ResponseError::NoStatusLine,
                ..
            }
        ),
        "{err:?}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn a_chunked_answer_cut_short_is_refused() {
    let (base, server) = scripted(|_| {
        vec![answer(
            "200 OK",
            &["Transfer-Encoding: chunked"],
            "10\r\n{\"servers\"",
        )]
    })
    .await;
    let err = get(&base, PATIENT).await.expect_err("cut short");
    assert!(
        matches!(
            &err,
            HttpError::Response {
                source: ResponseError::ChunkCutOrTooLarge,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("GET {base}: a chunked body ends early or is too large")
    );
    server.await.expect("server");
}

#[test]
fn a_chunked_body_larger_than_the_largest_answer_is_refused_whole_or_not() {
    let chunk = |size: usize| {
        let mut bytes = format!("{size:x}\r\n").into_bytes();
        bytes.extend(std::iter::repeat_n(b'x', size));
        bytes.extend_from_slice(b"\r\n");
        bytes
    };
    let mut one_too_large = chunk(MAX_BODY + 1);
    one_too_large.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        dechunk(&one_too_large).err(),
        Some(ResponseError::ChunkCutOrTooLarge)
    );
    // Each piece fits; together they do not.
    let mut two = chunk(MAX_BODY / 2 + 1);
    two.extend(chunk(MAX_BODY / 2));
    two.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(dechunk(&two).err(), Some(ResponseError::ChunkCutOrTooLarge));
    let mut exactly = chunk(MAX_BODY);
    exactly.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(dechunk(&exactly).map(|body| body.len()), Ok(MAX_BODY));
}

#[test]
fn header_lines_without_a_colon_are_skipped() {
    let moved = parse_response(b"HTTP/1.1 302 Found\r\nnot a header\r\nLocation: /x\r\n\r\n")
        .expect("read");
    assert_eq!((moved.status, moved.location.as_deref()), (302, Some("/x")));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_naming_the_url_and_the_wait() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    let url = Url::parse(&format!("http://{addr}/socketconfig/test.json")).expect("url");
    // Reads the request and holds the connection open without a word.
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        read_request(&mut stream).await;
        stream
    });
    let wait = Duration::from_millis(200);
    let err = get(&url, wait).await.expect_err("no answer");
    assert!(
        matches!(&err, HttpError::Timeout { url: asked, timeout } if *asked == url && *timeout == wait),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("GET {url}: no answer within 200ms")
    );
    drop(server.await.expect("server"));
}

#[tokio::test]
async fn a_connection_reset_while_reading_is_an_io_error_naming_the_url() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let url = Url::parse(&format!("http://{addr}/socketconfig/test.json")).expect("url");
    // Reads the request, then resets the connection instead of answering.
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        read_request(&mut stream).await;
        stream.set_zero_linger().expect("SO_LINGER 0");
        drop(stream);
    });
    let err = get(&url, PATIENT).await.expect_err("reset");
    match &err {
        HttpError::Io { url: asked, source } => {
            assert_eq!(asked, &url);
            assert_eq!(source.kind(), io::ErrorKind::ConnectionReset, "{source}");
        }
        other => panic!("not an I/O error: {other:?}"),
    }
    assert!(
        err.to_string().starts_with(&format!("GET {url}: ")),
        "{err}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn socket_url_asks_the_channels_socketconfig_and_takes_its_server() {
    let (base, server) = scripted(|_| {
        vec![answer(
            "200 OK",
            &["Content-Type: application/json"],
            r#"{"servers":[{"url":"http://127.0.0.1:1337","secure":false}]}"#,
        )]
    })
    .await;
    let url = socket_url(&base, "my-channel", PATIENT)
        .await
        .expect("the server");
    assert_eq!(
        url.as_str(),
        "ws://127.0.0.1:1337/socket.io/?EIO=4&transport=websocket"
    );
    assert_eq!(
        server.await.expect("server"),
        ["GET /socketconfig/my-channel.json HTTP/1.1"]
    );
}

#[tokio::test]
async fn a_socketconfig_that_is_not_cytubes_json_is_named() {
    let (base, server) = scripted(|_| {
        vec![answer(
            "200 OK",
            &["Content-Type: text/html"],
            "<html>not here</html>",
        )]
    })
    .await;
    let err = socket_url(&base, "test", PATIENT)
        .await
        .expect_err("not a socketconfig");
    let config = base.join("socketconfig/test.json").expect("url");
    assert!(
        matches!(&err, HttpError::NotSocketConfig { url, .. } if *url == config),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("{config} is not a CyTube socketconfig: ")),
        "{err}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn a_site_address_that_cannot_take_a_path_is_refused_before_asking() {
    let base = Url::parse("mailto:admin@example.com").expect("url");
    let err = socket_url(&base, "test", PATIENT)
        .await
        .expect_err("no socketconfig URL");
    assert!(
        matches!(&err, HttpError::SocketConfigUrl { base: named, .. } if *named == base),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("cannot build the socketconfig URL from mailto:admin@example.com: "),
        "{err}"
    );
}

#[test]
fn a_server_url_that_does_not_parse_is_named() {
    let err = websocket_url("127.0.0.1:1337").expect_err("not a URL");
    assert!(
        matches!(&err, HttpError::BadServerUrl { server, .. } if server == "127.0.0.1:1337"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "bad server URL \"127.0.0.1:1337\": relative URL without a base"
    );
}

#[tokio::test]
async fn a_plain_connection_shuts_down_its_writing_side() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let url = Url::parse(&format!("http://{addr}/")).expect("url");
    let mut transport = open(&url).await.expect("connect");
    assert!(matches!(transport, Transport::Plain(_)));
    let (mut server, _) = listener.accept().await.expect("accept");
    transport.write_all(b"bye").await.expect("write");
    transport.shutdown().await.expect("shut down");
    let mut heard = Vec::new();
    server
        .read_to_end(&mut heard)
        .await
        .expect("read to the end");
    assert_eq!(heard, b"bye", "the server read everything, then the end");
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn https_to_a_server_that_does_not_speak_tls_fails_naming_host_and_port() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    // A plain HTTP server: it answers the TLS ClientHello with a plain-text error.
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut hello = [0u8; 512];
        let _ = stream.read(&mut hello).await.expect("read the hello");
        let refusal = answer("400 Bad Request", &["Content-Length: 0"], "");
        stream.write_all(&refusal).await.expect("answer");
        stream.shutdown().await.expect("close");
    });
    let url = Url::parse(&format!("https://127.0.0.1:{port}/")).expect("url");
    let err = open(&url).await.expect_err("no TLS");
    match transport::tls_config() {
        Ok(_) => {
            assert!(
                matches!(&err, HttpError::Tls { host, port: p, .. } if host == "127.0.0.1" && *p == port),
                "{err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("TLS with 127.0.0.1:{port} failed: ")),
                "{err}"
            );
        }
        // A system without root certificates fails before the handshake, saying so.
        Err(setup) => {
            assert!(
                matches!(&err, HttpError::TlsSetup(found) if *found == setup),
                "{err:?}"
            );
        }
    }
    server.abort();
}

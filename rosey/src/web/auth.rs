//! Who may use the dashboard, checked before every request.
//!
//! - Every request must carry the token (`web.token`, or the one generated into the home, see
//!   [`super::token`]): `Authorization: Bearer <token>`, or the `rosey_token` cookie, which
//!   opening the page once as `/?token=<token>` (the link `rosey start` and `rosey status`
//!   print) sets (HttpOnly, SameSite=Strict) before redirecting to `/`, so the token leaves the
//!   address bar.
//! - With `web.token: none` the dashboard only listens on loopback (config validation), and
//!   requests must name a loopback host (`Host:`), which stops a foreign web page from reaching
//!   it through DNS rebinding.
//! - Every POST must be `Content-Type: application/json`, or `application/octet-stream` (an
//!   uploaded plugin archive): a cross-site form or `fetch` can send neither without a CORS
//!   preflight, which this server never grants.

use axum::{
    extract::{Request, State},
    http::{header, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{api::ApiError, WebState};

/// The cookie the page's `?token=` sets.
const COOKIE: &str = "rosey_token";

/// Lets a request through, or answers 401/403/415 with a JSON error.
pub(super) async fn guard(State(state): State<WebState>, request: Request, next: Next) -> Response {
    match &state.token {
        Some(token) => {
            if !carries(&request, token) {
                if request.uri().path() == "/"
                    && query_token(&request).is_some_and(|given| same(&given, token))
                {
                    return remember(token);
                }
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "this dashboard needs its token: open the link `rosey status` prints (/?token=…) once in the browser, or send `Authorization: Bearer <token>`",
                )
                .into_response();
            }
        }
        None => {
            if !loopback_host(&request) {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "the dashboard answers only to a loopback host name (127.0.0.1, localhost, [::1]); to reach it from elsewhere set web.host in rosey.yaml and remove web.token: none",
                )
                .into_response();
            }
        }
    }
    if request.method() == Method::POST && !preflighted_body(&request) {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST requests must be sent as Content-Type: application/json (an archive upload: application/octet-stream)",
        )
        .into_response();
    }
    next.run(request).await
}

/// Compares in time independent of where the first difference is.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

/// The token as the cookie holds it: hex-encoded when it has characters a cookie value may
/// not (a configured token may), as is otherwise (a generated one is hex already).
fn cookie_value(token: &str) -> String {
    if token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        token.to_owned()
    } else {
        let hex: String = token.bytes().map(|b| format!("{b:02x}")).collect();
        format!("x{hex}")
    }
}

fn carries(request: &Request, token: &str) -> bool {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| same(given.trim(), token));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value, &cookie_value(token)));
    bearer || cookie
}

fn query_token(request: &Request) -> Option<String> {
    request
        .uri()
        .query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "token")
        .and_then(|(_, value)| super::token::decode(value))
}

/// 303 to `/` with the token cookie set.
fn remember(token: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_owned()),
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                    cookie_value(token)
                ),
            ),
        ],
    )
        .into_response()
}

fn loopback_host(request: &Request) -> bool {
    let Some(host) = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        // HTTP/1.0 without Host: only a local tool does that.
        return true;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    rosey_core::config::is_loopback(name)
}

/// Whether the body's type is one a cross-site page cannot send without a preflight.
fn preflighted_body(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.split(';').next().is_some_and(|kind| {
                ["application/json", "application/octet-stream"]
                    .iter()
                    .any(|allowed| kind.trim().eq_ignore_ascii_case(allowed))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)], uri: &str) -> Request {
        let mut builder = Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn the_token_comes_as_bearer_or_cookie() {
        assert!(carries(
            &request(&[("authorization", "Bearer s3cret")], "/"),
            "s3cret"
        ));
        assert!(!carries(
            &request(&[("authorization", "Bearer nope")], "/"),
            "s3cret"
        ));
        assert!(carries(
            &request(&[("cookie", "a=b; rosey_token=s3cret")], "/"),
            "s3cret"
        ));
        assert!(!carries(
            &request(&[("cookie", "rosey_token=s3cre")], "/"),
            "s3cret"
        ));
        assert!(!carries(&request(&[], "/?token=s3cret"), "s3cret"));
        assert_eq!(
            query_token(&request(&[], "/?x=1&token=s3cret")).as_deref(),
            Some("s3cret")
        );
    }

    #[test]
    fn only_loopback_host_names_pass_without_a_token() {
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "localhost",
        ] {
            assert!(loopback_host(&request(&[("host", host)], "/")), "{host}");
        }
        for host in ["evil.example:8080", "10.0.0.1:8080", "evil.example"] {
            assert!(!loopback_host(&request(&[("host", host)], "/")), "{host}");
        }
    }

    #[test]
    fn posts_must_be_json_or_an_upload() {
        assert!(preflighted_body(&request(
            &[("content-type", "application/json; charset=utf-8")],
            "/"
        )));
        assert!(preflighted_body(&request(
            &[("content-type", "application/octet-stream")],
            "/"
        )));
        for simple in [
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
        ] {
            assert!(
                !preflighted_body(&request(&[("content-type", simple)], "/")),
                "{simple}"
            );
        }
        assert!(!preflighted_body(&request(&[], "/")));
    }
}

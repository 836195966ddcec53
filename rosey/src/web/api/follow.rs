//! A plugin's log, followed live: the last lines of `logs/plugins/<name>.log`, then each line
//! as the daemon's log hub writes it (the hub is the file's only writer and broadcasts every
//! line it writes, so nothing is polled and rotation does not matter).
//!
//! Server-sent events: `lines` once (a JSON array: the last lines), then `line` per new line
//! (its text), and `skipped` (a count) when this stream fell so far behind that the hub
//! dropped lines for it (the file still has them).

use std::convert::Infallible;

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::sse::{Event, Sse},
};
use futures::Stream;
use rosey_core::logs::{LiveLine, LogSource};
use tokio::sync::{broadcast, mpsc};

use super::{log_request, ApiError, ApiResult, LogQuery};
use crate::web::WebState;

/// How many of `early` (lines the hub sent after this stream subscribed, read before the
/// file was) the file's last lines `tail` already hold: the longest start of `early` that
/// ends `tail`.
fn overlap(tail: &[String], early: &[String]) -> usize {
    (1..=early.len().min(tail.len()))
        .rev()
        .find(|&n| tail[tail.len() - n..] == early[..n])
        .unwrap_or(0)
}

/// `GET /api/plugins/{name}/log/follow?lines=N`.
pub(super) async fn follow(
    State(state): State<WebState>,
    Path(name): Path<String>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let lines = log_request(&name, query)?;
    let daemon = state.daemon()?;
    let source = LogSource::Plugin(name.clone());
    // Subscribed before the file is read, so no line falls between the two.
    let mut live = daemon.logs.subscribe();
    let path = daemon.home.plugin_log(&name);
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || rosey_core::logs::tail(&path, lines)).await
    };
    let tail = match read {
        Ok(Ok(lines)) => lines,
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => {
            // A plugin that has not logged yet is followed from its first line; a name that
            // is neither installed nor logged is a mistake.
            let installed = crate::daemon::ops::installed(&daemon).await?;
            if !installed.iter().any(|plugin| plugin.name == name) {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no plugin named {name:?} is installed, and it has no log"),
                ));
            }
            Vec::new()
        }
        Ok(Err(err)) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {err}", path.display()),
            ))
        }
        Err(err) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reading {} did not finish: {err}", path.display()),
            ))
        }
    };
    let mut early = Vec::new();
    loop {
        match live.try_recv() {
            Ok(LiveLine { source: from, line }) if from == source => early.push(line),
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    let early = early.split_off(overlap(&tail, &early));

    let (tx, rx) = mpsc::channel::<Event>(256);
    let mut stopping = state.stopping.clone();
    tokio::spawn(async move {
        let first = Event::default()
            .event("lines")
            .data(serde_json::to_string(&tail).unwrap_or_else(|_| "[]".to_owned()));
        if tx.send(first).await.is_err() {
            return;
        }
        for line in early {
            if tx
                .send(Event::default().event("line").data(line))
                .await
                .is_err()
            {
                return;
            }
        }
        loop {
            let event = tokio::select! {
                received = live.recv() => match received {
                    Ok(LiveLine { source: from, line }) if from == source => {
                        Event::default().event("line").data(line)
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        Event::default().event("skipped").data(missed.to_string())
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = stopping.wait_for(|stop| *stop) => break,
                _ = tx.closed() => break,
            };
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    Ok(super::event_stream(rx))
}

#[cfg(test)]
mod tests {
    use super::overlap;

    fn lines(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn lines_both_read_and_received_are_sent_once() {
        assert_eq!(overlap(&lines("a b c"), &lines("b c d e")), 2);
        assert_eq!(overlap(&lines("a b c"), &lines("d e")), 0);
        assert_eq!(overlap(&lines("a b c"), &lines("a b c")), 3);
        assert_eq!(overlap(&[], &lines("a")), 0);
        assert_eq!(overlap(&lines("a"), &[]), 0);
        assert_eq!(overlap(&lines("c b c"), &lines("c x")), 1);
    }
}

//! The dashboard's metrics routes, behind the same token as every other route:
//!
//! ```text
//! GET /metrics        Prometheus text format (what the libraries count, and each unit's
//!                     state, memory and restarts and each plugin's dead letters as status
//!                     reads them now)
//! GET /api/history    the last hour in 10 s points: commands, answers and mean reply time
//!                     per plugin, restarts per unit (the dashboard's charts)
//! GET /charts.js      the page's script that draws them
//! ```

use axum::{
    extract::State,
    http::{header, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
use serde_json::json;

use super::{api::ApiError, auth, WebState};
use crate::daemon::{metrics, ops};

/// The metrics routes, behind the auth guard.
pub(super) fn router(state: WebState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/api/history", get(history))
        .route("/charts.js", get(charts))
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .with_state(state)
}

fn installed() -> Result<&'static metrics::Metrics, ApiError> {
    metrics::get().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this process records no metrics (only the rosey daemon does)",
        )
    })
}

async fn scrape(State(state): State<WebState>) -> Result<Response, ApiError> {
    let metrics = installed()?;
    let _one_at_a_time = metrics.scrape_lock.lock().await;
    // Before the stack is up, status cannot be read: what has been counted is still served,
    // without the units' rows.
    if let Some(daemon) = state.daemon.get() {
        match ops::status(daemon).await {
            Ok(report) => metrics.scraped.update(&report),
            Err(err) => tracing::warn!("metrics: status could not be read: {err}"),
        }
    }
    let text = metrics.recording.render().map_err(|err| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the metrics could not be rendered: {err}"),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response())
}

/// The charts' script.
const CHARTS: &str = include_str!("charts.js");

async fn charts() -> Response {
    super::api::script(CHARTS)
}

async fn history() -> Result<Json<serde_json::Value>, ApiError> {
    let metrics = installed()?;
    Ok(Json(json!({
        "interval_secs": metrics::INTERVAL.as_secs(),
        "points": metrics.history.points(),
    })))
}

//! The dead letters on the dashboard: listed, shown, replayed and purged through the same
//! operations as `rosey deadletter list|show|replay|purge`
//! ([`crate::daemon::ops::dead_letters`], [`crate::daemon::ops::replay`]), so a replay is
//! refused for the same reasons and in the same words.

use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        Path, Query, State,
    },
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiResult};
use crate::{
    daemon::ops::{
        dead_letters::{self, DeadLetterView},
        replay::{self, ReplayReport},
    },
    web::WebState,
};

/// `?plugin=<name>`, and for a purge `&older_than_secs=<n>`.
#[derive(Deserialize)]
pub(super) struct Filter {
    /// One plugin's letters only.
    plugin: Option<String>,
    /// For a purge: only letters parked longer ago than this.
    older_than_secs: Option<u64>,
}

fn filter(query: Result<Query<Filter>, QueryRejection>) -> ApiResult<Filter> {
    let Query(filter) = query.map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{err}: the query takes plugin=<name> and, for a purge, older_than_secs=<seconds>"
            ),
        )
    })?;
    if let Some(plugin) = &filter.plugin {
        if !rosey_core::manifest::is_valid_plugin_name(plugin) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{plugin:?} is not a plugin name (3 to 50 characters of a-z, 0-9 and -)"),
            ));
        }
    }
    Ok(filter)
}

/// A dead letter's id from the URL.
fn id(text: &str) -> ApiResult<u64> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{text:?} is not a dead letter's id: use the number GET /api/deadletters lists"
            ),
        )
    })
}

/// The body of a purge: `{"yes": true}`.
#[derive(Deserialize)]
pub(super) struct Confirmed {
    /// Confirms removing them for good (the CLI's `--yes`).
    #[serde(default)]
    yes: bool,
}

/// Refuses a purge the caller did not confirm, as `rosey deadletter purge` refuses one from a
/// script without `--yes`.
fn confirmed(body: Result<Json<Confirmed>, JsonRejection>, what: &str) -> ApiResult<()> {
    match body {
        Ok(Json(Confirmed { yes: true })) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("purging {what} removes it for good: send {{\"yes\": true}} to confirm"),
        )),
    }
}

/// `GET /api/deadletters[?plugin=<name>]`: every dead letter, or one plugin's, oldest first.
pub(super) async fn list(
    State(state): State<WebState>,
    query: Result<Query<Filter>, QueryRejection>,
) -> ApiResult<Json<Vec<DeadLetterView>>> {
    let filter = filter(query)?;
    let daemon = state.daemon()?;
    Ok(Json(
        dead_letters::list(&daemon, filter.plugin.as_deref()).await?,
    ))
}

/// `GET /api/deadletters/{id}`: one, with its message.
pub(super) async fn show(
    State(state): State<WebState>,
    Path(text): Path<String>,
) -> ApiResult<Json<DeadLetterView>> {
    let id = id(&text)?;
    Ok(Json(dead_letters::show(&*state.daemon()?, id).await?))
}

/// `POST /api/deadletters/{id}/replay`: sends it again to its plugin, once; 409 with why when
/// the plugin cannot take it now (the letter stays parked).
pub(super) async fn replay_one(
    State(state): State<WebState>,
    Path(text): Path<String>,
) -> ApiResult<Json<ReplayReport>> {
    let id = id(&text)?;
    let report = replay::replay(&*state.daemon()?, Some(id), None).await?;
    tracing::info!("dead letter {id} replayed (from the dashboard)");
    Ok(Json(report))
}

/// `POST /api/deadletters/replay?plugin=<name>`: every dead letter of one plugin, oldest
/// first; those it refuses are in `refused`, each with why.
pub(super) async fn replay_plugin(
    State(state): State<WebState>,
    query: Result<Query<Filter>, QueryRejection>,
) -> ApiResult<Json<ReplayReport>> {
    let Some(plugin) = filter(query)?.plugin else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "name the plugin whose dead letters to replay: ?plugin=<name> (or POST /api/deadletters/<id>/replay for one)",
        ));
    };
    let report = replay::replay(&*state.daemon()?, None, Some(&plugin)).await?;
    tracing::info!(
        "{plugin}'s dead letters replayed: {} sent, {} left parked (from the dashboard)",
        report.replayed.len(),
        report.refused.len()
    );
    Ok(Json(report))
}

/// How many were removed, in a sentence.
fn removed(count: usize) -> serde_json::Value {
    let noun = if count == 1 {
        "dead letter"
    } else {
        "dead letters"
    };
    json!({ "purged": count, "message": format!("removed {count} {noun}") })
}

/// `POST /api/deadletters/{id}/purge {"yes": true}`: removes one.
pub(super) async fn purge_one(
    State(state): State<WebState>,
    Path(text): Path<String>,
    body: Result<Json<Confirmed>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = id(&text)?;
    confirmed(body, &format!("dead letter {id}"))?;
    let count = dead_letters::purge(&*state.daemon()?, Some(id), None, None).await?;
    tracing::info!("dead letter {id} purged (from the dashboard)");
    Ok(Json(removed(count)))
}

/// `POST /api/deadletters/purge[?plugin=<name>][&older_than_secs=<n>] {"yes": true}`:
/// removes one plugin's (or every plugin's) letters, those parked longer ago than the age
/// when given.
pub(super) async fn purge(
    State(state): State<WebState>,
    query: Result<Query<Filter>, QueryRejection>,
    body: Result<Json<Confirmed>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let filter = filter(query)?;
    let what = match &filter.plugin {
        Some(plugin) => format!("{plugin}'s dead letters"),
        None => "every dead letter".to_owned(),
    };
    confirmed(body, &what)?;
    let count = dead_letters::purge(
        &*state.daemon()?,
        None,
        filter.plugin.as_deref(),
        filter.older_than_secs.map(std::time::Duration::from_secs),
    )
    .await?;
    tracing::info!("{what}: {count} purged (from the dashboard)");
    Ok(Json(removed(count)))
}

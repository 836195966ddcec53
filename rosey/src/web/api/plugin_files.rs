//! Installing a plugin by upload and removing one, from the dashboard: the daemon runs the
//! CLI's own install and remove ([`crate::daemon::ops::plugin_files`]), so the checks, the
//! swap with rollback and every message are those of `rosey plugin install|update|remove`.
//!
//! The archive comes as the raw request body (`Content-Type: application/octet-stream`,
//! which a cross-site page cannot send without a CORS preflight, like JSON), at most
//! [`MAX_UPLOAD_BYTES`]. It is written to a temporary folder inside the home's `data/run/`,
//! under the uploaded file's own name (so messages name it as the CLI would), and removed
//! when the request ends, whatever happened.

use std::path::Path;

use axum::{
    body::Body,
    extract::{
        rejection::{JsonRejection, QueryRejection},
        Path as UrlPath, Query, State,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::{ApiError, ApiResult};
use crate::{
    daemon::ops::plugin_files::{self, FileOpError, FileOpKind},
    web::WebState,
};

/// The largest archive the dashboard takes; the CLI takes up to the archive format's own
/// limit ([`rosey_core::archive::MAX_ARCHIVE_BYTES`]).
pub(super) const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// The name an upload gets when the browser gave none usable.
const DEFAULT_NAME: &str = "upload.roseyplug";

impl From<FileOpError> for ApiError {
    fn from(err: FileOpError) -> ApiError {
        let status = match err.kind {
            FileOpKind::NotFound => StatusCode::NOT_FOUND,
            FileOpKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            FileOpKind::Conflict => StatusCode::CONFLICT,
            FileOpKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, err.message)
    }
}

/// `?file=<name>&update=true`.
#[derive(Deserialize)]
pub(super) struct InstallQuery {
    /// The uploaded file's name, as the operator chose it.
    file: Option<String>,
    /// The operator confirmed that it replaces the installed version.
    #[serde(default)]
    update: bool,
}

/// The uploaded file's own name, reduced to a safe file name: its last path component, with
/// anything but letters, digits, `.`, `-` and `_` replaced.
fn file_name(given: Option<&str>) -> String {
    let base = given
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let name: String = base
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.trim_matches('.').is_empty() {
        DEFAULT_NAME.to_owned()
    } else {
        name
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the archive is larger than {} MiB, the most the dashboard takes: install it on the daemon's machine with `rosey plugin install <file>`",
            MAX_UPLOAD_BYTES / (1024 * 1024)
        ),
    )
}

/// Writes the request body to `path`, refusing more than [`MAX_UPLOAD_BYTES`].
async fn save(body: Body, path: &Path) -> ApiResult<u64> {
    let write_err = |err: std::io::Error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "cannot write the upload to {}: {err}; check the free space of the home",
                path.display()
            ),
        )
    };
    let mut file = tokio::fs::File::create(path).await.map_err(write_err)?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the upload broke off ({err}): try again"),
            )
        })?;
        size += chunk.len() as u64;
        if size > MAX_UPLOAD_BYTES {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(write_err)?;
    }
    file.flush().await.map_err(write_err)?;
    Ok(size)
}

/// `POST /api/plugins/install?file=<name>[&update=true]`, the archive as the body: installs
/// it as `rosey plugin install` does. An archive of a newer version of an installed plugin is
/// an update, which must be confirmed (`update=true`); without it the answer is 409 with
/// `confirm: {name, installed, offered}`, and nothing changed.
pub(super) async fn install(
    State(state): State<WebState>,
    query: Result<Query<InstallQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{err}: send ?file=<name>.roseyplug, and &update=true to confirm an update"),
        )
    })?;
    let daemon = state.daemon()?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|size| size > MAX_UPLOAD_BYTES) {
        return Err(too_large());
    }
    let run_dir = daemon.home.run_dir();
    let folder = tempfile::Builder::new()
        .prefix(rosey_core::paths::Home::UPLOAD_PREFIX)
        .tempdir_in(&run_dir)
        .map_err(|err| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "cannot make a folder for the upload in {}: {err}; check the permissions and free space of the home",
                    run_dir.display()
                ),
            )
        })?;
    let name = file_name(query.file.as_deref());
    let archive = folder.path().join(&name);
    if save(body, &archive).await? == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the upload is empty: choose a .roseyplug file (`rosey plugin pack` makes one)",
        ));
    }
    if !query.update {
        if let Some((manifest, Some(installed))) =
            plugin_files::peek(&daemon, archive.clone()).await
        {
            if manifest.version > installed {
                let confirm = json!({
                    "name": manifest.name,
                    "installed": installed.to_string(),
                    "offered": manifest.version.to_string(),
                });
                let error = format!(
                    "{} v{installed} is installed: confirm to update it to v{} (send update=true)",
                    manifest.name, manifest.version
                );
                return Ok((
                    StatusCode::CONFLICT,
                    Json(json!({ "error": error, "confirm": confirm })),
                )
                    .into_response());
            }
        }
    }
    let result = plugin_files::install(&daemon, archive, query.update).await;
    // Messages name the file as the operator knows it, not the temporary folder it sat in.
    let shown = |text: String| text.replace(&format!("{}/", folder.path().display()), "");
    let report = result.map_err(|err| FileOpError {
        kind: err.kind,
        message: shown(err.message),
    })?;
    drop(folder);
    Ok(Json(json!({ "ok": true, "plugin": report })).into_response())
}

/// The body of `POST /api/plugins/{name}/remove`.
#[derive(Deserialize, Default)]
pub(super) struct RemoveRequest {
    /// Confirms deleting the plugin's storage and config (the CLI's `--yes`).
    #[serde(default)]
    yes: bool,
    /// Keeps its storage and config (the CLI's `--keep-data`).
    #[serde(default)]
    keep_data: bool,
}

/// `POST /api/plugins/{name}/remove {"yes": true}` (or `{"keep_data": true}`): unloads and
/// removes it as `rosey plugin remove` does. Deleting its data must be confirmed, as the
/// CLI's `--yes` does; without it the answer is 409 with `confirm`, and nothing changed.
pub(super) async fn remove(
    State(state): State<WebState>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<RemoveRequest>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(request) = body.map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{}: send {{\"yes\": true}} to remove it with its data, or {{\"keep_data\": true}}",
                err.body_text()
            ),
        )
    })?;
    if super::is_service(&name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{name} is a service, not a plugin: it cannot be removed"),
        ));
    }
    let daemon = state.daemon()?;
    plugin_files::ensure_installed(&daemon, &name).await?;
    if !request.keep_data && !request.yes {
        let home = &daemon.home;
        let error = format!(
            "removing {name} deletes its data ({} and {}): send {{\"yes\": true}} to confirm, or {{\"keep_data\": true}} to keep it",
            home.plugin_storage_dir(&name).display(),
            home.plugin_config_file(&name).display()
        );
        return Ok((
            StatusCode::CONFLICT,
            Json(json!({ "error": error, "confirm": { "name": name } })),
        )
            .into_response());
    }
    let report = plugin_files::remove(&daemon, &name, request.keep_data).await?;
    Ok(Json(json!({ "ok": true, "message": report.message, "removed": report })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uploaded_name_stays_inside_its_folder() {
        let folder = Path::new("/home/data/run/.upload-x");
        for (given, expected) in [
            (
                Some("dice-roller-0.2.0.roseyplug"),
                "dice-roller-0.2.0.roseyplug",
            ),
            (Some("../../etc/passwd"), "passwd"),
            (Some("C:\\Users\\a\\b.roseyplug"), "b.roseyplug"),
            (Some(".."), DEFAULT_NAME),
            (Some("a b;c.roseyplug"), "a_b_c.roseyplug"),
            (None, DEFAULT_NAME),
        ] {
            let path = folder.join(file_name(given));
            assert_eq!(path, folder.join(expected), "{given:?}");
            assert_eq!(path.parent(), Some(folder), "{given:?}");
        }
    }
}

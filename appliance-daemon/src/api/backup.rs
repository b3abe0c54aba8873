//! `POST /api/v1/backup` and `POST /api/v1/backup/restore` (crate::backup,
//! docs/backup.md): the backup file made with the operator's password and sent as a
//! download; a backup file uploaded with its password in `X-Password` and applied, the
//! answer being the restore's report.

use api_types::{BackupRequest, RestoreReport};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::extract::{Caller, Json};
use super::peer_sync::NotBackup;
use super::ApiError;
use crate::backup::{Made, Who};
use crate::state::AppState;

/// Pieces of the backup file sent at a time.
const CHUNK: usize = 64 * 1024;

fn who(caller: &Caller) -> Who {
    Who {
        user: caller.session.user.to_string(),
        address: caller.address,
    }
}

pub(super) async fn make(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<BackupRequest>,
) -> Result<Response, ApiError> {
    let made = state
        .backup
        .make(body.password, body.include_history, &who(&caller))
        .await?;
    send(made).await
}

/// A backup file as a download (the API's and the Backup page's): streamed from `data`,
/// removed once sent or once the client has left (dropping [`Made`] removes it).
pub(crate) async fn send(made: Made) -> Result<Response, ApiError> {
    let (path, name) = (made.path.clone(), made.file_name());
    file_download(&path, &name, made).await
}

/// The file at `path` as an attachment named `name`, streamed; `keep` lives as long as the
/// stream does (a [`Made`] then removes the file).
pub(crate) async fn file_download(
    path: &std::path::Path,
    name: &str,
    keep: impl Send + Sync + 'static,
) -> Result<Response, ApiError> {
    use futures::StreamExt;
    let unreadable = |e| ApiError::internal("Reading the backup failed", e);
    let file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    let size = file.metadata().await.map_err(unreadable)?.len();
    let headers = [
        (header::CONTENT_TYPE, "application/x-tar".to_string()),
        (header::CONTENT_LENGTH, size.to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ),
    ];
    let stream = tokio_util::io::ReaderStream::with_capacity(file, CHUNK).map(move |chunk| {
        let _ = &keep;
        chunk
    });
    Ok((headers, Body::from_stream(stream)).into_response())
}

pub(super) async fn restore(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    _synced: NotBackup,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<RestoreReport>, ApiError> {
    // UTF-8, not only visible ASCII (`to_str`): a backup's password may be any text.
    let Some(password) = headers
        .get("x-password")
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(str::to_string)
    else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "password_required",
            "Send the backup's password in the X-Password header; nothing was changed.",
        ));
    };
    let reader = crate::update::body::reader(body);
    let report = state
        .backup
        .restore(reader, password, &who(&caller))
        .await?;
    Ok(axum::Json(report))
}

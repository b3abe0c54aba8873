//! Scheduled backups (crate::backup::runner, docs/backup.md "Scheduled backups"):
//! `GET/PUT /api/v1/backup/schedule`, `POST /api/v1/backup/schedule/run` (run now),
//! `GET /api/v1/backup/stored` (the kept backups) and `GET /api/v1/backup/stored/{name}`
//! (one of them, as a download).

use axum::extract::{Path, State};
use axum::response::Response;
use std::sync::Arc;

use super::extract::{Caller, Json};
use super::ApiError;
use crate::backup::runner::View;
use crate::backup::schedule::{Change, Run};
use crate::backup::stored::Stored;
use crate::state::AppState;

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<View>, ApiError> {
    Ok(axum::Json(state.backup_schedule.view().await?))
}

pub(super) async fn put(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    _synced: super::peer_sync::NotBackup,
    Json(change): Json<Change>,
) -> Result<axum::Json<View>, ApiError> {
    let view = state
        .backup_schedule
        .set(change, &caller.session.user, caller.address)
        .await?;
    Ok(axum::Json(view))
}

pub(super) async fn run(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<Run>, ApiError> {
    let run = state
        .backup_schedule
        .run_now(&caller.session.user, caller.address)
        .await?;
    Ok(axum::Json(run))
}

pub(super) async fn stored(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<Vec<Stored>>, ApiError> {
    Ok(axum::Json(state.backup_schedule.stored()?))
}

pub(super) async fn download(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let path = state.backup_schedule.stored_path(&name)?;
    super::backup::file_download(&path, &name, ()).await
}

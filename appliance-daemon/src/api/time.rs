//! `GET|PUT /api/v1/time`: NTP servers and the synchronization state.

use axum::extract::State;
use std::sync::Arc;

use super::extract::{Caller, Json};
use super::peer_sync::NotBackup;
use super::ApiError;
use crate::state::AppState;
use crate::time::{ChangeError, View};

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<View>, ApiError> {
    state
        .time
        .view()
        .await
        .map(axum::Json)
        .map_err(|e| ApiError::internal("Reading the time state failed", e))
}

pub(super) use api_types::TimeRequest as PutTime;

pub(super) async fn put(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    _synced: NotBackup,
    Json(body): Json<PutTime>,
) -> Result<axum::Json<View>, ApiError> {
    match state
        .time
        .change_servers(&body.servers, &caller.session.user, caller.address)
        .await
    {
        Ok(_) => {}
        Err(ChangeError::Invalid(problems)) => {
            let message = format!(
                "The server list is refused: {}; nothing was changed.",
                problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            return Err(ApiError::invalid("invalid_time", message, problems));
        }
        Err(ChangeError::Failed(e)) => {
            return Err(ApiError::internal("Changing the NTP servers failed", e))
        }
    }
    state
        .time
        .view()
        .await
        .map(axum::Json)
        .map_err(|e| ApiError::internal("Reading the time state failed", e))
}

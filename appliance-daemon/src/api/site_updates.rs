//! `/api/v1/updates/site/{name}/…`: what an operator does to an installed site package.

use axum::extract::{Path, State};
use std::sync::Arc;

use super::extract::Caller;
use super::peer_sync::NotBackup;
use super::ApiError;
use crate::state::AppState;
use crate::update::SiteVersion;

/// `POST /api/v1/updates/site/{name}/rollback`: `current` back to the previous version.
pub(super) async fn rollback(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    _synced: NotBackup,
    Path(name): Path<String>,
) -> Result<axum::Json<SiteVersion>, ApiError> {
    let version = state
        .updater
        .roll_back_site(name, &caller.session.user, caller.address)
        .await?;
    Ok(axum::Json(version))
}

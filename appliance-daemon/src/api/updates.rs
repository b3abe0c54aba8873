//! `/api/v1/updates`: installed versions, the install waiting for a boot, rollbacks, history.

use axum::extract::State;
use std::sync::Arc;

use super::extract::Caller;
use super::{ApiError, AppState};
use crate::update::View;

pub async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<View>, ApiError> {
    Ok(axum::Json(state.updater.view()?))
}

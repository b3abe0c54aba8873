//! `GET /api/v1/status`: Status > Basics and Status > Specs (crate::status).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::extract::Caller;
use super::ApiError;
use crate::state::AppState;

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Response, ApiError> {
    let json = state.status.json().await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response())
}

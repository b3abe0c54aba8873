//! `/api/v1/failover…`: the operator's side of the failover pair (domain service
//! `crate::failover`).

use axum::extract::State;
use std::sync::Arc;

use super::extract::{Caller, Json};
use super::ApiError;
use crate::failover::{BreakAnswer, EstablishRequest, FailoverKey, View};
use crate::state::AppState;

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<View>, ApiError> {
    Ok(axum::Json(state.failover.view()?))
}

pub(super) async fn put_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<api_types::FailoverKeyRequest>,
) -> Result<axum::Json<FailoverKey>, ApiError> {
    Ok(axum::Json(
        state
            .failover
            .set_key(
                body.key.as_deref(),
                body.generate,
                &caller.session.user,
                caller.address,
            )
            .await?,
    ))
}

pub(super) async fn establish(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<EstablishRequest>,
) -> Result<axum::Json<View>, ApiError> {
    Ok(axum::Json(
        state
            .failover
            .establish(&body, &caller.session.user, caller.address)
            .await?,
    ))
}

pub(super) async fn break_pair(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<BreakAnswer>, ApiError> {
    Ok(axum::Json(
        state
            .failover
            .break_pair(&caller.session.user, caller.address)
            .await?,
    ))
}

pub(super) async fn become_primary(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<api_types::BecomePrimaryRequest>,
) -> Result<axum::Json<api_types::BecomePrimaryAnswer>, ApiError> {
    Ok(axum::Json(
        state
            .failover
            .become_primary(body.pull, &caller.session.user, caller.address)
            .await?,
    ))
}

pub(super) async fn put_auto(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<api_types::AutoFailoverRequest>,
) -> Result<axum::Json<View>, ApiError> {
    Ok(axum::Json(
        state
            .failover
            .set_auto(
                body.enabled,
                body.missed_checks,
                &caller.session.user,
                caller.address,
            )
            .await?,
    ))
}

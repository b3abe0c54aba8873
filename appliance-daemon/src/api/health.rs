//! `GET /api/v1/health`: unauthenticated liveness and identity of the running system.

use axum::extract::State;
use axum::Json;
use std::sync::Arc;

use crate::state::AppState;
pub(crate) use api_types::Health;

/// The health of the running system.
pub(super) fn of(state: &AppState) -> Health {
    Health {
        status: "ok".to_string(),
        version: state.system.release.version.clone(),
        slot: state.system.slot.to_string(),
        profile: state.system.release.profile.clone(),
    }
}

pub(super) async fn get(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(of(&state))
}

//! `GET /api/v1/health`: unauthenticated liveness and identity of the running system.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::state::AppState;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
    /// `A`, `B` or `factory`.
    pub slot: String,
    /// `box` or `vm`.
    pub profile: String,
}

impl Health {
    pub fn of(state: &AppState) -> Self {
        Health {
            status: "ok".to_string(),
            version: state.system.release.version.clone(),
            slot: state.system.slot.to_string(),
            profile: state.system.release.profile.clone(),
        }
    }
}

pub async fn get(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health::of(&state))
}

//! The JSON API under `/api/v1` (contract in DESIGN.md "API core": extend, don't rename).

mod error;
mod health;

use axum::Router;
use std::sync::Arc;

pub use error::ApiError;
pub use health::Health;

use crate::system::SystemInfo;

/// What handlers share. Later: the settings store, sessions, the update engine.
#[derive(Debug)]
pub struct AppState {
    pub system: SystemInfo,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/health", axum::routing::get(health::get))
        .fallback(error::not_found)
        .with_state(state)
}

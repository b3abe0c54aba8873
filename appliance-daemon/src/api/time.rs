//! `GET|PUT /api/v1/time`: NTP servers and the synchronization state.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::extract::{Caller, Json};
use super::{ApiError, AppState};
use crate::store::Audit;
use crate::time::{config, View};

pub async fn get(
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutTime {
    pub servers: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Invalid {
    error: &'static str,
    message: String,
    problems: Vec<config::Problem>,
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<PutTime>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let servers = match config::validate(&body.servers) {
        Ok(s) => s,
        Err(problems) => {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(Invalid {
                    error: "invalid_time",
                    message: format!(
                        "The server list is refused: {}; nothing was changed.",
                        problems
                            .iter()
                            .map(|p| format!("{}: {}", p.field, p.message))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    problems,
                }),
            )
                .into_response())
        }
    };
    let detail = if servers.is_empty() {
        "NTP off (no servers)".to_string()
    } else {
        format!("NTP servers {}", servers.join(", "))
    };
    state
        .time
        .set_servers(
            servers,
            Audit::user(
                &*caller.session.user,
                caller.address,
                "time.servers",
                detail,
            ),
        )
        .await
        .map_err(|e| ApiError::internal("Changing the NTP servers failed", e))?;
    let view = state
        .time
        .view()
        .await
        .map_err(|e| ApiError::internal("Reading the time state failed", e))?;
    Ok(axum::Json(view).into_response())
}

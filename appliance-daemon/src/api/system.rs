//! `POST /api/v1/system/reboot` and `/shutdown`: answer first, then ask init.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::sync::Arc;

use super::extract::Caller;
use super::ApiError;
use crate::state::AppState;
use crate::system::power::PowerAction;

/// The answer, written as [`api_types::PowerAction`].
#[derive(Debug, Clone, Serialize)]
#[serde(into = "api_types::PowerAction")]
pub struct Accepted {
    pub status: &'static str,
}

impl From<Accepted> for api_types::PowerAction {
    fn from(accepted: Accepted) -> Self {
        api_types::PowerAction {
            status: accepted.status.to_string(),
        }
    }
}

pub(super) async fn reboot(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<(StatusCode, axum::Json<Accepted>), ApiError> {
    go_down(&state, &caller, PowerAction::Reboot)?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Accepted {
            status: "rebooting",
        }),
    ))
}

pub(super) async fn shutdown(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<(StatusCode, axum::Json<Accepted>), ApiError> {
    go_down(&state, &caller, PowerAction::PowerOff)?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Accepted {
            status: "powering_off",
        }),
    ))
}

/// Record the request and hand it to init shortly after the answer has gone out.
fn go_down(state: &AppState, caller: &Caller, action: PowerAction) -> Result<(), ApiError> {
    Ok(state
        .shutdown
        .schedule(&caller.session.user, caller.address, action)?)
}

//! `POST /api/v1/system/factory-reset` (crate::reset): `{"confirm":"factory-reset",
//! "then":"poweroff"|"reboot"}` answered 202 before the restart that carries it out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::sync::Arc;

use grubenv::Then;

use super::extract::Confirmed;
use super::ApiError;
use crate::reset;
use crate::state::AppState;

/// The body of `POST /api/v1/system/factory-reset`.
pub(super) use api_types::FactoryReset as ResetRequest;

/// The answer: the reset starts with the restart that follows. Written as
/// [`api_types::ResetAccepted`].
#[derive(Debug, Clone, Serialize)]
#[serde(into = "api_types::ResetAccepted")]
pub struct ResetAccepted {
    pub status: &'static str,
    pub then: &'static str,
}

impl From<ResetAccepted> for api_types::ResetAccepted {
    fn from(accepted: ResetAccepted) -> Self {
        api_types::ResetAccepted {
            status: accepted.status.to_string(),
            then: accepted.then.to_string(),
        }
    }
}

/// What the request asks for, or why it is refused (nothing started).
fn validate(body: &[u8]) -> Result<Then, ApiError> {
    let request: ResetRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ResetRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("The body is not the expected JSON object: {e}"),
            )
        })?
    };
    Ok(reset::check(
        request.confirm.as_deref(),
        request.then.as_deref(),
    )?)
}

pub(super) async fn post(
    State(state): State<Arc<AppState>>,
    Confirmed(caller): Confirmed,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<ResetAccepted>), ApiError> {
    let then = validate(&body)?;
    reset::start(
        &state.updater,
        &state.shutdown,
        &state.store,
        &caller.session.user,
        caller.address,
        then,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(ResetAccepted {
            status: "resetting",
            then: then.as_str(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_is_required() {
        for body in [
            &b""[..],
            b"{}",
            br#"{"confirm":"yes"}"#,
            br#"{"then":"reboot"}"#,
            br#"{"confirm":"FACTORY-RESET"}"#,
        ] {
            let err = validate(body).unwrap_err();
            assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY, "{body:?}");
            assert_eq!(err.error, "confirmation_required");
            assert!(err.message.contains("Nothing was started"));
        }
    }

    #[test]
    fn power_off_is_the_default() {
        assert_eq!(
            validate(br#"{"confirm":"factory-reset"}"#).unwrap(),
            Then::PowerOff
        );
        assert_eq!(
            validate(br#"{"confirm":"factory-reset","then":"reboot"}"#).unwrap(),
            Then::Reboot
        );
        let err = validate(br#"{"confirm":"factory-reset","then":"halt"}"#).unwrap_err();
        assert_eq!(err.error, "invalid_then");
        assert_eq!(validate(b"{oops").unwrap_err().error, "malformed_json");
    }

    #[test]
    fn refusals_while_busy_are_conflicts() {
        let err = ApiError::from(reset::ResetError::UpdateInProgress);
        assert_eq!(
            (err.status, err.error),
            (StatusCode::CONFLICT, "update_in_progress")
        );
        assert!(err.message.contains("Nothing was started"));
        let err = ApiError::from(reset::ResetError::AlreadyGoingDown);
        assert_eq!(
            (err.status, err.error),
            (StatusCode::CONFLICT, "already_going_down")
        );
    }
}

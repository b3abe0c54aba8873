//! `POST /api/v1/session` (log in) and `DELETE /api/v1/session` (log out).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::extract::{AnyCaller, Json, Peer};
use super::ApiError;
use crate::auth::{AuthError, Kind};
use crate::state::AppState;

pub(super) use api_types::{Credentials, Session as Created};

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    Peer(address): Peer,
    Json(body): Json<Credentials>,
) -> Response {
    match state
        .auth
        .login(
            &body.username,
            &body.password,
            body.totp.as_deref(),
            Kind::Api,
            address,
        )
        .await
    {
        Ok(login) => axum::Json(Created {
            token: login.token,
            must_change_password: login.must_change_password,
            must_enrol_totp: login.must_enrol_totp,
        })
        .into_response(),
        Err(err) => {
            let retry = match &err {
                AuthError::Locked { remaining_seconds } => Some(*remaining_seconds),
                AuthError::Busy {
                    retry_after_seconds,
                } => Some(*retry_after_seconds),
                _ => None,
            };
            let mut response = auth_error(err).into_response();
            if let Some(seconds) = retry {
                if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            response
        }
    }
}

pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    AnyCaller(caller): AnyCaller,
) -> StatusCode {
    state.auth.logout(&caller.token);
    StatusCode::NO_CONTENT
}

/// How each authentication failure reads in the API.
pub(super) fn auth_error(err: AuthError) -> ApiError {
    let message = err.to_string();
    match err {
        AuthError::InvalidCredentials => {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", message)
        }
        AuthError::Locked { .. } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "locked", message),
        AuthError::WrongPassword => ApiError::new(StatusCode::FORBIDDEN, "wrong_password", message),
        AuthError::Weak(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", message)
        }
        AuthError::NoSession => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message),
        AuthError::Hash(e) => ApiError::internal("Hashing the password failed", e),
        AuthError::Store(e) => e.into(),
        AuthError::Task(e) => ApiError::internal("The password check did not finish", e),
        AuthError::NoSuchUser(_) => ApiError::new(StatusCode::NOT_FOUND, "no_such_user", message),
        AuthError::Busy { .. } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message),
        AuthError::TotpRequired | AuthError::SecondStep(_) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "totp_required", message)
        }
        AuthError::TotpInvalid => ApiError::new(StatusCode::UNAUTHORIZED, "totp_invalid", message),
        AuthError::NotEnrolling => ApiError::new(StatusCode::CONFLICT, "not_enrolling", message),
        AuthError::NoTotp => ApiError::new(StatusCode::CONFLICT, "no_totp", message),
        AuthError::LastEnabled(_) => {
            ApiError::new(StatusCode::CONFLICT, "last_enabled_account", message)
        }
        AuthError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "account_exists", message),
        AuthError::InvalidName(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_name", message)
        }
        AuthError::PasswordRequired => ApiError::new(
            StatusCode::FORBIDDEN,
            "password_required",
            "This change needs the account's password again in the `X-Current-Password` header; \
             nothing was changed.",
        ),
    }
}

//! Request extractors of the API: the authenticated caller, JSON bodies whose rejections are
//! JSON errors, and the client's address.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use std::net::IpAddr;
use std::sync::Arc;

use super::ApiError;
use crate::auth::{Kind, Session};
use crate::server::https::{ClientAddr, PairClient};
use crate::state::AppState;

/// The client's IP address, for the audit log (None in unit tests without a server).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ClientAddr>()
                .map(|ClientAddr(a)| a.ip()),
        ))
    }
}

/// A request on the pair channel: the public-key SHA-256 of the client certificate its
/// TLS handshake proved. Anything else is refused before the handler runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PairChannel(pub [u8; 32]);

impl<S: Send + Sync> FromRequestParts<S> for PairChannel {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<PairClient>()
            .map(|PairClient(sha256)| PairChannel(*sha256))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "pair_channel_required",
                    "This call is for the other appliance of a failover pair, over the pair \
                     channel with its pair certificate.",
                )
            })
    }
}

/// An API caller with a valid Bearer token whose password needs no change.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub token: String,
    pub session: Session,
    pub address: Option<IpAddr>,
}

/// A caller who may still have to change the password: only for that change and logout.
#[derive(Debug, Clone)]
pub(crate) struct AnyCaller(pub Caller);

impl FromRequestParts<Arc<AppState>> for AnyCaller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "This call needs `Authorization: Bearer <token>`; get a token from POST /api/v1/session.",
            )
        })?;
        let session = state.auth.session(&token, Kind::Api).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "The token is not valid or the session has expired; log in again.",
            )
        })?;
        let Peer(address) = Peer::from_request_parts(parts, state)
            .await
            .unwrap_or(Peer(None));
        Ok(AnyCaller(Caller {
            token,
            session,
            address,
        }))
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let AnyCaller(caller) = AnyCaller::from_request_parts(parts, state).await?;
        if caller.session.must_change_password {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "must_change_password",
                "The password must be changed first: PUT /api/v1/account/password.",
            ));
        }
        if caller.session.must_enrol_totp {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "totp_enrolment_required",
                "The security policy requires two-factor sign-in: enrol a TOTP first with \
                 POST /api/v1/account/totp and POST /api/v1/account/totp/confirm.",
            ));
        }
        Ok(caller)
    }
}

/// The header that carries the account's password again for a sensitive act.
const CURRENT_PASSWORD: &str = "x-current-password";

/// A [`Caller`] who gave the account's password again in `X-Current-Password` (UTF-8),
/// checked before the body is read: for a factory reset, a change of the served
/// certificate or key, and of the update server. Missing: 403 `password_required`; wrong:
/// 403 `wrong_password`, audited and counted toward the lockout as a failed login.
#[derive(Debug, Clone)]
pub(crate) struct Confirmed(pub Caller);

impl FromRequestParts<Arc<AppState>> for Confirmed {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let password = parts
            .headers
            .get(CURRENT_PASSWORD)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .map(str::to_string);
        let what = act(parts.method.as_str(), parts.uri.path());
        state
            .auth
            .confirm_password(
                &caller.session.user,
                password.as_deref(),
                what,
                caller.address,
            )
            .await
            .map_err(|err| match err {
                crate::auth::AuthError::WrongPassword => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "wrong_password",
                    "The password in the `X-Current-Password` header is wrong; nothing was changed.",
                ),
                other => super::session::auth_error(other),
            })?;
        Ok(Confirmed(caller))
    }
}

/// What a confirmed request does, for the audit log of a wrong password.
fn act(method: &str, path: &str) -> &'static str {
    match (method, path) {
        (_, "/api/v1/system/factory-reset") => "a factory reset",
        (_, "/api/v1/updates/server") => "an update server change",
        (_, "/api/v1/tls/certificate") => "a change of the served certificate",
        (_, "/api/v1/certificates/import") => "a certificate import",
        (_, "/api/v1/account/totp") => "turning two-factor sign-in off",
        ("POST", "/api/v1/accounts") => "an account creation",
        ("PUT", p) if p.starts_with("/api/v1/accounts/") => "an account's enabling or disabling",
        ("DELETE", p) if p.starts_with("/api/v1/accounts/") => "an account deletion",
        ("DELETE", _) => "a certificate deletion",
        _ => "a certificate assignment",
    }
}

fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// `axum::Json` whose failures are the API's JSON errors.
#[derive(Debug, Clone)]
pub(crate) struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let (code, message) = match &rejection {
        JsonRejection::MissingJsonContentType(_) => (
            "unsupported_media_type",
            "The body must be JSON with `Content-Type: application/json`.".to_string(),
        ),
        JsonRejection::JsonSyntaxError(_) => (
            "malformed_json",
            format!("The body is not valid JSON: {}", rejection.body_text()),
        ),
        JsonRejection::JsonDataError(_) => (
            "invalid_body",
            format!(
                "The JSON does not have the expected fields and types: {}",
                rejection.body_text()
            ),
        ),
        JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            format!(
                "The body is larger than the {} bytes this call accepts.",
                super::BODY_LIMIT
            ),
        ),
        _ => ("bad_request", rejection.body_text()),
    };
    ApiError::new(status, code, message)
}

//! The caller's account (`PUT /api/v1/account/password`), the audit log and the security
//! policy (lockout and session limits).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::extract::{AnyCaller, Caller, Json};
use super::peer_sync::NotBackup;
use super::session::auth_error;
use super::ApiError;
use crate::state::AppState;
use crate::store::{Audit, AuditEntry, SecurityPolicy};

use super::extract::Confirmed;
pub(super) use api_types::{
    Account, AccountChange, AccountList, NewAccount, PasswordChange, RecoveryCodes, TotpConfirm,
    TotpEnrolment, Unlocked,
};

pub(super) async fn change_password(
    State(state): State<Arc<AppState>>,
    AnyCaller(caller): AnyCaller,
    _synced: NotBackup,
    Json(body): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .change_password(
            &caller.token,
            &caller.session,
            &body.current,
            &body.new,
            caller.address,
        )
        .await
        .map_err(auth_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/accounts/{name}/unlock`: another administrator ends the account's
/// lockout (every source) at once; audited.
pub(super) async fn unlock(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<axum::Json<Unlocked>, ApiError> {
    let audit = Audit::user(
        &*caller.session.user,
        caller.address,
        "account.unlock",
        format!("sign-in to {name:?} unlocked"),
    );
    let was_locked = state.auth.unlock(&name, audit).await.map_err(auth_error)?;
    Ok(axum::Json(Unlocked { was_locked }))
}

/// `GET /api/v1/accounts`: every account, without secrets.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<AccountList>, ApiError> {
    let accounts = state
        .auth
        .accounts()
        .map_err(auth_error)?
        .into_iter()
        .map(|a| Account {
            name: a.name,
            enabled: a.enabled,
            totp: a.totp,
            created_at: a.created_at,
            last_login: a.last_login,
        })
        .collect();
    Ok(axum::Json(AccountList { accounts }))
}

/// `POST /api/v1/accounts`: another administrator (password given again).
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    _synced: NotBackup,
    Confirmed(caller): Confirmed,
    Json(body): Json<NewAccount>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .create_account(
            &body.name,
            &body.password,
            &caller.session.user,
            caller.address,
        )
        .await
        .map_err(auth_error)?;
    Ok(StatusCode::CREATED)
}

/// `PUT /api/v1/accounts/{name}`: enable or disable (password given again); a disabled
/// account's sessions end at once.
pub(super) async fn change(
    State(state): State<Arc<AppState>>,
    _synced: NotBackup,
    Confirmed(caller): Confirmed,
    axum::extract::Path(name): axum::extract::Path<String>,
    Json(body): Json<AccountChange>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .set_enabled(&name, body.enabled, &caller.session.user, caller.address)
        .await
        .map_err(auth_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/accounts/{name}` (password given again); its sessions end at once.
pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    _synced: NotBackup,
    Confirmed(caller): Confirmed,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .delete_account(&name, &caller.session.user, caller.address)
        .await
        .map_err(auth_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/account/totp`: start the caller's own TOTP enrolment (allowed to a
/// session that must enrol one).
pub(super) async fn start_totp(
    State(state): State<Arc<AppState>>,
    AnyCaller(caller): AnyCaller,
    _synced: NotBackup,
) -> Result<axum::Json<TotpEnrolment>, ApiError> {
    let e = state
        .auth
        .start_totp(&caller.session.user)
        .map_err(auth_error)?;
    Ok(axum::Json(TotpEnrolment {
        secret: e.secret,
        uri: e.uri,
        qr_svg: e.qr_svg,
    }))
}

/// `POST /api/v1/account/totp/confirm`: a code of the new secret enrols it; the
/// recovery codes are in the answer, and nowhere else ever again.
pub(super) async fn confirm_totp(
    State(state): State<Arc<AppState>>,
    AnyCaller(caller): AnyCaller,
    _synced: NotBackup,
    Json(body): Json<TotpConfirm>,
) -> Result<axum::Json<RecoveryCodes>, ApiError> {
    let recovery_codes = state
        .auth
        .confirm_totp(&caller.session.user, &body.code, caller.address)
        .await
        .map_err(auth_error)?;
    Ok(axum::Json(RecoveryCodes { recovery_codes }))
}

/// `DELETE /api/v1/account/totp`: turn the caller's own TOTP off (password given again).
pub(super) async fn disable_totp(
    State(state): State<Arc<AppState>>,
    _synced: NotBackup,
    Confirmed(caller): Confirmed,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .disable_totp(&caller.session.user, caller.address)
        .await
        .map_err(auth_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub(super) struct AuditQuery {
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub(super) struct AuditLog {
    pub entries: Vec<AuditEntry>,
}

pub(super) async fn audit(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<AuditLog>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(axum::Json(AuditLog {
        entries: state.store.audit_log(limit)?,
    }))
}

pub(super) async fn get_policy(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<SecurityPolicy>, ApiError> {
    Ok(axum::Json(state.store.get::<SecurityPolicy>()?))
}

pub(super) async fn put_policy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    _synced: NotBackup,
    Json(policy): Json<SecurityPolicy>,
) -> Result<axum::Json<SecurityPolicy>, ApiError> {
    validate_policy(&policy)?;
    let detail = format!(
        "lock after {} failures for {} s; sessions {} s idle, {} s at most; two-factor {}",
        policy.max_failed_logins,
        policy.lockout_seconds,
        policy.session_idle_seconds,
        policy.session_max_seconds,
        if policy.require_totp {
            "required"
        } else {
            "optional"
        }
    );
    state
        .auth
        .set_policy(
            policy.clone(),
            Audit::user(
                &*caller.session.user,
                caller.address,
                "security.policy",
                detail,
            ),
        )
        .await
        .map_err(super::session::auth_error)?;
    Ok(axum::Json(policy))
}

fn validate_policy(p: &SecurityPolicy) -> Result<(), ApiError> {
    let bad = |m: &str| {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy",
            m.to_string(),
        ))
    };
    if p.max_failed_logins > 100 {
        return bad("max_failed_logins must be between 0 (no lockout) and 100.");
    }
    if !(60..=86_400).contains(&p.lockout_seconds) {
        return bad("lockout_seconds must be between 60 and 86400.");
    }
    if !(60..=86_400).contains(&p.session_idle_seconds) {
        return bad("session_idle_seconds must be between 60 and 86400.");
    }
    if !(300..=7 * 86_400).contains(&p.session_max_seconds)
        || p.session_max_seconds < p.session_idle_seconds
    {
        return bad("session_max_seconds must be between 300 and 604800 and not below session_idle_seconds.");
    }
    Ok(())
}

//! `/api/v1/tls`: which certificate is served, installing an administrator's certificate,
//! and going back to a self-signed one (crate::tls::Certificates).

use axum::extract::State;
use std::sync::Arc;

use super::extract::{Caller, Confirmed, Json};
use super::peer_sync::NotBackup;
use super::ApiError;
use crate::state::AppState;
use crate::tls::TlsView;

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> axum::Json<TlsView> {
    axum::Json(state.tls.view())
}

pub(super) use api_types::CertificateInstall as Install;

pub(super) async fn install(
    State(state): State<Arc<AppState>>,
    _synced: NotBackup,
    Confirmed(caller): Confirmed,
    Json(body): Json<Install>,
) -> Result<axum::Json<TlsView>, ApiError> {
    let view = state
        .tls
        .install(
            body.certificate,
            body.key,
            &caller.session.user,
            caller.address,
        )
        .await?;
    Ok(axum::Json(view))
}

pub(super) async fn self_signed(
    State(state): State<Arc<AppState>>,
    _synced: NotBackup,
    Confirmed(caller): Confirmed,
) -> Result<axum::Json<TlsView>, ApiError> {
    let view = state
        .tls
        .use_self_signed(&caller.session.user, caller.address)
        .await?;
    Ok(axum::Json(view))
}

//! The HTTPS certificate: which one is served, installing an administrator's certificate,
//! and going back to a self-signed one.

use axum::extract::State;
use axum::http::StatusCode;
use std::sync::Arc;

use super::extract::{Caller, Json};
use super::{ApiError, AppState};
use crate::store::Audit;
use crate::tls::{self, InstallError};

pub use api_types::Certificate as TlsView;

fn view(state: &AppState) -> TlsView {
    TlsView {
        installed: tls::is_installed(&state.tls_dir),
        certificate_sha256: state
            .certificate_pin
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    }
}

pub async fn get(State(state): State<Arc<AppState>>, _caller: Caller) -> axum::Json<TlsView> {
    axum::Json(view(&state))
}

pub use api_types::CertificateInstall as Install;

pub async fn install(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<Install>,
) -> Result<axum::Json<TlsView>, ApiError> {
    let dir = state.tls_dir.clone();
    let identity =
        tokio::task::spawn_blocking(move || tls::install(&dir, &body.certificate, &body.key))
            .await
            .map_err(|e| ApiError::internal("Installing the certificate did not finish", e))?
            .map_err(|e| match e {
                InstallError::Store(e) => ApiError::internal("Storing the certificate failed", e),
                InstallError::Mismatch => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "certificate_key_mismatch",
                    e.to_string(),
                ),
                other => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_certificate",
                    other.to_string(),
                ),
            })?;
    switch(
        &state,
        &identity,
        &caller,
        "tls.install",
        "certificate installed",
    )?;
    Ok(axum::Json(view(&state)))
}

pub async fn self_signed(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<TlsView>, ApiError> {
    let dir = state.tls_dir.clone();
    let hostname = crate::system::hostname();
    let identity = tokio::task::spawn_blocking(move || tls::use_self_signed(&dir, &hostname))
        .await
        .map_err(|e| ApiError::internal("Making a certificate did not finish", e))?
        .map_err(|e| ApiError::internal("Making a self-signed certificate failed", e))?;
    switch(
        &state,
        &identity,
        &caller,
        "tls.self_signed",
        "back to a self-signed certificate",
    )?;
    Ok(axum::Json(view(&state)))
}

/// Serve `identity` from the next handshake on, and record who did it.
fn switch(
    state: &AppState,
    identity: &tls::Identity,
    caller: &Caller,
    action: &'static str,
    what: &str,
) -> Result<(), ApiError> {
    state
        .served
        .replace(identity)
        .map_err(|e| ApiError::internal("Serving the new certificate failed", e))?;
    let pin = tls::public_key_fingerprint(identity);
    *state
        .certificate_pin
        .write()
        .unwrap_or_else(|e| e.into_inner()) = pin.clone();
    state.store.change(
        Audit::user(
            &*caller.session.user,
            caller.address,
            action,
            format!("{what}; public key SHA-256 {pin}"),
        ),
        |_| Ok::<_, crate::store::Error>(()),
    )?;
    tracing::info!(%pin, "{what}");
    Ok(())
}

//! `/api/v1/updates/server`, `/check`, `/install` and `/download-key`: the update server
//! setting, "check for updates", installing a catalog package by id, and the appliance
//! download key (docs/updates.md "Update server"; crate::update).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;

use super::extract::{Caller, Confirmed, Json};
use super::peer_sync::NotBackup;
use super::ApiError;
use crate::state::AppState;
use crate::update::catalog::Offer;
use crate::update::install::Installed;
use crate::update::server::{Change, UpdateServer};

pub(super) async fn get_server(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<UpdateServer>, ApiError> {
    Ok(axum::Json(state.store.get()?))
}

pub(super) async fn put_server(
    State(state): State<Arc<AppState>>,
    _synced: NotBackup,
    Confirmed(caller): Confirmed,
    Json(change): Json<Change>,
) -> Result<axum::Json<UpdateServer>, ApiError> {
    let server = change.validate().map_err(|reason| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_update_server",
            format!("{reason}; nothing was changed."),
        )
    })?;
    state
        .updater
        .store_server(server.clone(), &caller.session.user, caller.address)
        .await?;
    Ok(axum::Json(server))
}

/// `POST /api/v1/updates/check`: the catalog part of `GET /api/v1/updates` after the check.
pub(super) async fn check(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<Offer>, ApiError> {
    let offer = state
        .updater
        .check_for_updates(&caller.session.user, caller.address)
        .await?;
    Ok(axum::Json(offer))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InstallById {
    pub id: String,
}

/// `POST /api/v1/updates/install`: download the package, then install it exactly as an
/// upload.
pub(super) async fn install(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<InstallById>,
) -> Result<axum::Json<Installed>, ApiError> {
    let installed = state
        .updater
        .install_by_id(
            &state.state_dir,
            &body.id,
            &caller.session.user,
            caller.address,
        )
        .await?;
    Ok(axum::Json(installed))
}

/// `GET /api/v1/updates/download-key`: the armored text.
pub(super) async fn download_key(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), ApiError> {
    let key = state.updater.issue_download_key().await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        key.text,
    ))
}

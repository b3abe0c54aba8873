//! `/api/v1/updates/site/{name}/…`: what an operator does to an installed site package.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;

use super::extract::Caller;
use super::{ApiError, AppState};
use crate::update::site::RollbackError;

#[derive(Debug, Serialize)]
pub struct SiteVersion {
    pub name: String,
    /// The version now in use.
    pub version: String,
    /// The version left, kept for a rollback the other way.
    pub previous: Option<String>,
}

/// `POST /api/v1/updates/site/{name}/rollback`: `current` back to the previous version.
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<axum::Json<SiteVersion>, ApiError> {
    rollback_site(&state, name, &caller.session.user, caller.address)
        .await
        .map(axum::Json)
}

/// Switch site package `name` back to its previous version (the API and the Updates page).
pub(crate) async fn rollback_site(
    state: &Arc<AppState>,
    name: String,
    user: &str,
    address: Option<IpAddr>,
) -> Result<SiteVersion, ApiError> {
    let st = Arc::clone(state);
    let user = user.to_string();
    let site = name.clone();
    let result =
        tokio::task::spawn_blocking(move || st.updater.rollback_site(&site, &user, address))
            .await
            .map_err(|e| ApiError::internal("The rollback did not finish", e))?;
    match result {
        Ok(info) => Ok(SiteVersion {
            name,
            version: info.version,
            previous: info.previous,
        }),
        Err(RollbackError::Install(e)) => Err(super::updates::install_error(e)),
        Err(e) => {
            let status = match e {
                RollbackError::NotInstalled(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            Err(ApiError::new(
                status,
                e.code(),
                format!("{e}; nothing was changed."),
            ))
        }
    }
}

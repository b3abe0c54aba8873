//! `/api/v1/updates/server`, `/check`, `/install` and `/download-key`: the update server
//! setting, "check for updates", installing a catalog package by id, and the appliance
//! download key (docs/updates.md "Update server").

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

use super::extract::{Caller, Json};
use super::{ApiError, AppState};
use crate::store::Audit;
use crate::update::catalog::{CheckError, DownloadError, Offer};
use crate::update::download_key::KeyError;
use crate::update::fetch::FetchError;
use crate::update::install::Installed;
use crate::update::server::{Change, UpdateServer};

pub async fn get_server(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<UpdateServer>, ApiError> {
    Ok(axum::Json(state.store.get()?))
}

pub async fn put_server(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(change): Json<Change>,
) -> Result<axum::Json<UpdateServer>, ApiError> {
    let server = change.validate().map_err(|reason| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_update_server",
            format!("{reason}; nothing was changed."),
        )
    })?;
    store_server(&state, server.clone(), &caller.session.user, caller.address).await?;
    Ok(axum::Json(server))
}

/// Store a checked update server setting, with its audit entry (the API and the Updates
/// page).
pub(crate) async fn store_server(
    state: &AppState,
    server: UpdateServer,
    user: &str,
    address: Option<IpAddr>,
) -> Result<(), ApiError> {
    let detail = format!(
        "update server {}, {}",
        server.url.as_deref().unwrap_or("none"),
        if server.ca_certificate.is_some() {
            "own CA certificate"
        } else {
            "system CA bundle"
        }
    );
    state
        .store
        .change_async(
            Audit::user(user, address, "update.server", detail),
            move |tx| tx.put(&server),
        )
        .await?;
    Ok(())
}

/// `POST /api/v1/updates/check`: the catalog part of `GET /api/v1/updates` after the check.
pub async fn check(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<Offer>, ApiError> {
    state
        .updater
        .check_for_updates(&caller.session.user, caller.address)
        .await
        .map(axum::Json)
        .map_err(check_error)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallById {
    pub id: String,
}

/// `POST /api/v1/updates/install`: download the package, then install it exactly as an
/// upload (signature verified again, every check, progress events).
pub async fn install(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<InstallById>,
) -> Result<axum::Json<Installed>, ApiError> {
    install_by_id(&state, &body.id, &caller.session.user, caller.address)
        .await
        .map(axum::Json)
}

/// Download the catalog package `id` and install it (the API and the Updates page).
pub(crate) async fn install_by_id(
    state: &Arc<AppState>,
    id: &str,
    user: &str,
    address: Option<IpAddr>,
) -> Result<Installed, ApiError> {
    let user = user.to_string();
    let file = state
        .updater
        .download(&state.state_dir, id, &user, address)
        .await
        .map_err(download_error)?;
    let st = Arc::clone(state);
    tokio::task::spawn_blocking(move || {
        let result = std::fs::File::open(&file)
            .map_err(|e| crate::update::install::InstallError::Package {
                code: "io",
                message: format!("cannot read the downloaded package: {e}"),
            })
            .and_then(|f| {
                st.updater
                    .install_package(std::io::BufReader::new(f), &user, address)
            });
        if let Err(e) = std::fs::remove_file(&file) {
            tracing::warn!("cannot remove {}: {e}", file.display());
        }
        result
    })
    .await
    .map_err(|e| ApiError::internal("The install did not finish", e))?
    .map_err(super::updates::install_error)
}

/// `GET /api/v1/updates/download-key`: the armored text.
pub async fn download_key(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), ApiError> {
    let text = issue_download_key(&state).await?.text;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    ))
}

/// A new download key (the API and the Updates page).
pub(crate) async fn issue_download_key(
    state: &Arc<AppState>,
) -> Result<package::download_key::Issued, ApiError> {
    let identity = state.store.identity()?;
    let st = Arc::clone(state);
    tokio::task::spawn_blocking(move || st.updater.download_key(&identity))
        .await
        .map_err(|e| ApiError::internal("Making the download key failed", e))?
        .map_err(|e| match e {
            KeyError::Installed(d) => download_error(d),
            other => ApiError::internal("Making the download key failed", other),
        })
}

pub(crate) fn check_error(e: CheckError) -> ApiError {
    let status = match &e {
        CheckError::NoServer
        | CheckError::BadServer(_)
        | CheckError::Fetch(FetchError::Trust(_)) => StatusCode::CONFLICT,
        CheckError::Fetch(_) | CheckError::Catalog(_) => StatusCode::BAD_GATEWAY,
        CheckError::Keys(_) | CheckError::Store(_) => {
            return ApiError::internal("Checking for updates failed", e)
        }
    };
    ApiError::new(
        status,
        e.code(),
        format!("{e}; the list of available updates was not changed."),
    )
}

fn download_error(e: DownloadError) -> ApiError {
    let status = match e {
        DownloadError::Install(inner) => return super::updates::install_error(inner),
        DownloadError::Check(inner) => return check_error(inner),
        DownloadError::NoCatalog | DownloadError::Catalog(_) => StatusCode::CONFLICT,
        DownloadError::UnknownPackage(_) => StatusCode::NOT_FOUND,
        DownloadError::Blocked(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DownloadError::Fetch(FetchError::Trust(_)) => StatusCode::CONFLICT,
        DownloadError::Fetch(_) | DownloadError::Mismatch { .. } => StatusCode::BAD_GATEWAY,
        DownloadError::Cache { .. } => {
            return ApiError::internal("Downloading the update failed", e)
        }
    };
    ApiError::new(
        status,
        e.code(),
        format!("{e}; nothing was changed on the running system."),
    )
}

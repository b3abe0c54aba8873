//! `/api/v1/certificates`: the certificate store (crate::tls::Certificates): list, import
//! (PEM, DER or PKCS#12 bytes; `X-Password` when encrypted; `?name=` for the operator's
//! name), export, request (key made here, CSR out), assign to addresses, delete.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

use api_types::{
    CertificateAssign, CertificateExport, CertificateImported, CertificateRequest,
    CertificateRequested, CertificateSettings, StoredCertificate,
};

use super::extract::{Caller, Confirmed, Json};
use super::peer_sync::NotBackup;
use super::ApiError;
use crate::state::AppState;
use crate::tls::import::IMPORT_LIMIT;
use crate::tls::{CertificateError, Exported, ImportError};

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> axum::Json<Vec<StoredCertificate>> {
    axum::Json(state.tls.list())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImportQuery {
    name: Option<String>,
}

pub(super) async fn import(
    State(state): State<Arc<AppState>>,
    _synced: NotBackup,
    Confirmed(caller): Confirmed,
    Query(query): Query<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, axum::Json<CertificateImported>), ApiError> {
    let too_large = || {
        CertificateError::Refused(ImportError::TooLarge {
            limit: IMPORT_LIMIT,
        })
    };
    // Refused before a byte of the body is read when the client says its size.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > IMPORT_LIMIT as u64) {
        drain(body).await;
        return Err(too_large().into());
    }
    let bytes = axum::body::to_bytes(body, IMPORT_LIMIT)
        .await
        .map_err(|_| too_large())?;
    let password = headers
        .get("x-password")
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(str::to_string);
    let imported = state
        .tls
        .import(
            bytes.to_vec(),
            password,
            query.name,
            &caller.session.user,
            caller.address,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(imported)))
}

/// Read and drop what is still arriving of a refused upload (up to [`DRAIN_LIMIT`]), so
/// that its sender gets the answer rather than a reset connection; nothing is kept.
async fn drain(body: Body) {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len();
        if seen > DRAIN_LIMIT {
            break;
        }
    }
}

/// The most of a refused upload read to its end before the connection is closed on it.
const DRAIN_LIMIT: usize = 16 << 20;

pub(super) async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<CertificateExport>,
) -> Result<Response, ApiError> {
    let file = state
        .tls
        .export(
            &id,
            &body.format,
            body.password,
            &caller.session.user,
            caller.address,
        )
        .await?;
    Ok(download(file))
}

/// An exported certificate as a download (the API's answer and the page's).
pub(crate) fn download(file: Exported) -> Response {
    let headers = [
        (header::CONTENT_TYPE, file.content_type.to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", file.file_name),
        ),
        (header::CACHE_CONTROL, "no-store".to_string()),
    ];
    (headers, file.bytes).into_response()
}

pub(super) async fn request(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    _synced: NotBackup,
    Json(body): Json<CertificateRequest>,
) -> Result<(StatusCode, axum::Json<CertificateRequested>), ApiError> {
    let answer = state
        .tls
        .request(body.names, body.key, &caller.session.user, caller.address)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

pub(super) async fn assign(
    State(state): State<Arc<AppState>>,
    _synced: NotBackup,
    Confirmed(caller): Confirmed,
    Path(id): Path<String>,
    Json(body): Json<CertificateAssign>,
) -> Result<axum::Json<StoredCertificate>, ApiError> {
    let answer = state
        .tls
        .assign(&id, body.addresses, &caller.session.user, caller.address)
        .await?;
    Ok(axum::Json(answer))
}

pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    _synced: NotBackup,
    Confirmed(caller): Confirmed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .tls
        .delete(&id, &caller.session.user, caller.address)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn settings(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> axum::Json<CertificateSettings> {
    axum::Json(state.tls.settings())
}

pub(super) async fn put_settings(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    _synced: NotBackup,
    Json(body): Json<CertificateSettings>,
) -> Result<axum::Json<CertificateSettings>, ApiError> {
    let answer = state
        .tls
        .set_settings(body, &caller.session.user, caller.address)
        .await?;
    Ok(axum::Json(answer))
}

//! The pair's sync over HTTP (domain: `crate::failover`'s sync, docs/failover.md "Sync"):
//! the operator's Sync now (`POST /api/v1/failover/sync`, on the primary), the backup's
//! side of the pair channel (`POST /api/v1/peer/sync/manifest`, what it holds;
//! `POST /api/v1/peer/sync`, a generation streamed in), the primary's side of Become
//! primary's final sync (`POST /api/v1/peer/sync/pull`), and [`NotBackup`], the one check
//! that refuses changes of synced settings on a backup (`409 managed_by_primary`).

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use std::sync::Arc;

use super::extract::{Caller, PairChannel};
use super::ApiError;
use crate::failover::GENERATION_HEADER;
use crate::state::AppState;

pub(super) async fn sync_now(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<api_types::SyncAnswer>, ApiError> {
    Ok(axum::Json(state.failover.sync_now().await?))
}

pub(super) async fn manifest(
    State(state): State<Arc<AppState>>,
    PairChannel(client): PairChannel,
) -> Result<axum::Json<crate::failover::PeerManifest>, ApiError> {
    Ok(axum::Json(state.failover.answer_manifest(client).await?))
}

/// The backup about to become primary pulls a final sync (this appliance's Sync now).
pub(super) async fn pull(
    State(state): State<Arc<AppState>>,
    PairChannel(client): PairChannel,
) -> Result<axum::Json<crate::failover::PeerSynced>, ApiError> {
    Ok(axum::Json(state.failover.answer_pull(client).await?))
}

pub(super) async fn sync(
    State(state): State<Arc<AppState>>,
    PairChannel(client): PairChannel,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<crate::failover::PeerSynced>, ApiError> {
    let Some(generation) = headers
        .get(GENERATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("Send the generation in the {GENERATION_HEADER} header; nothing was changed."),
        ));
    };
    let reader = crate::update::body::reader(body);
    Ok(axum::Json(
        state
            .failover
            .answer_sync(client, generation, reader)
            .await?,
    ))
}

/// A change of a setting the pair's sync carries (accounts, security policy, time
/// servers, certificate, update server, site packages, restores): refused with `409
/// managed_by_primary` while this appliance is a backup, saying where to change it. Put
/// in the handler's arguments; it reads the pair's role, nothing else.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NotBackup;

impl FromRequestParts<Arc<AppState>> for NotBackup {
    type Rejection = ApiError;
    async fn from_request_parts(
        _parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        match state.failover.managed_by_primary() {
            Some(sentence) => Err(refusal(&sentence)),
            None => Ok(NotBackup),
        }
    }
}

/// The answer to a change of a synced setting on a backup (the API's and the pages').
pub(crate) fn refusal(sentence: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "managed_by_primary",
        format!("{sentence} Nothing was changed."),
    )
}

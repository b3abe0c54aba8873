//! `/api/v1/peer/…`: the pair channel, what two appliances of a failover pair say to each
//! other. Outside the administrator's sessions: only a connection on the pair channel
//! (its TLS server name, a client certificate proven in the handshake) gets here
//! ([`PairChannel`]); the failover service decides what that certificate is worth
//! (docs/failover.md).

use axum::extract::State;
use std::sync::Arc;

use super::extract::{Json, PairChannel, Peer};
use super::ApiError;
use crate::state::AppState;
use api_types::{PeerEstablish, PeerHello, PeerHelloAnswer, PeerIdentity, PeerState};

pub(super) async fn hello(
    State(state): State<Arc<AppState>>,
    PairChannel(client): PairChannel,
    Json(body): Json<PeerHello>,
) -> Result<axum::Json<PeerHelloAnswer>, ApiError> {
    Ok(axum::Json(state.failover.answer_hello(client, &body)?))
}

pub(super) async fn establish(
    State(state): State<Arc<AppState>>,
    PairChannel(client): PairChannel,
    Peer(address): Peer,
    Json(body): Json<PeerEstablish>,
) -> Result<axum::Json<PeerIdentity>, ApiError> {
    Ok(axum::Json(
        state
            .failover
            .answer_establish(client, &body, address)
            .await?,
    ))
}

pub(super) async fn confirm(
    State(state): State<Arc<AppState>>,
    PairChannel(client): PairChannel,
) -> Result<axum::Json<PeerIdentity>, ApiError> {
    Ok(axum::Json(state.failover.answer_confirm(client)?))
}

pub(super) async fn peer_state(
    State(state): State<Arc<AppState>>,
    PairChannel(client): PairChannel,
    Json(body): Json<PeerState>,
) -> Result<axum::Json<PeerState>, ApiError> {
    Ok(axum::Json(
        state.failover.answer_state(client, &body).await?,
    ))
}

pub(super) async fn primary(
    State(state): State<Arc<AppState>>,
    PairChannel(client): PairChannel,
    Peer(address): Peer,
    Json(body): Json<PeerState>,
) -> Result<axum::Json<PeerState>, ApiError> {
    Ok(axum::Json(
        state
            .failover
            .answer_primary(client, &body, address)
            .await?,
    ))
}

pub(super) async fn break_pair(
    State(state): State<Arc<AppState>>,
    PairChannel(client): PairChannel,
    Peer(address): Peer,
) -> Result<axum::Json<PeerState>, ApiError> {
    Ok(axum::Json(
        state.failover.answer_break(client, address).await?,
    ))
}

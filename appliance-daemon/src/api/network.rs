//! `GET|PUT /api/v1/network` and `POST /api/v1/network/confirm`: the network settings,
//! what the kernel has, and the change waiting for confirmation (docs/network.md).
//!
//! Errors carry more than `{error, message}` where a client needs it: `problems` (every
//! wrong field) for `invalid_network`, `address` and `mac` for `address_in_use`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

use super::extract::{Caller, Json};
use super::ApiError;
use crate::net::view::shared_ip_history;
use crate::net::{Actor, ConfirmError, NetworkConfig, NetworkView, Problem, PutError};
use crate::state::AppState;
use crate::store::Store;

/// An API error, with the shared IP and the MAC that holds it for `address_in_use`.
#[derive(Debug, Serialize)]
struct NetworkError {
    #[serde(flatten)]
    api: ApiError,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
}

impl From<ApiError> for NetworkError {
    fn from(api: ApiError) -> Self {
        NetworkError {
            api,
            address: None,
            mac: None,
        }
    }
}

impl IntoResponse for NetworkError {
    fn into_response(self) -> Response {
        (self.api.status, axum::Json(&self)).into_response()
    }
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "network_unavailable",
        "The network manager is not running; the appliance's log has the details.",
    )
}

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<NetworkView>, ApiError> {
    let view = state.net.view().await.ok_or_else(unavailable)?;
    Ok(axum::Json(with_history(&state.store, view)?))
}

pub(super) async fn put(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<serde_json::Value>,
) -> Result<axum::Json<NetworkView>, Response> {
    let actor = actor(&state, &caller);
    let config: NetworkConfig = serde_json::from_value(body.clone()).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("The JSON does not have the expected fields and types: {e}"),
        )
        .into_response()
    })?;
    let unknown = unknown_fields(
        &body,
        &serde_json::to_value(&config).unwrap_or_default(),
        "",
    );
    if !unknown.is_empty() {
        return Err(invalid(unknown).into_response());
    }
    match state.net.put(config, actor).await {
        Ok(view) => Ok(axum::Json(
            with_history(&state.store, view).map_err(IntoResponse::into_response)?,
        )),
        Err(err) => Err(put_error(err).into_response()),
    }
}

pub(super) async fn confirm(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<NetworkView>, ApiError> {
    match state.net.confirm(actor(&state, &caller)).await {
        Ok(view) => Ok(axum::Json(with_history(&state.store, view)?)),
        Err(ConfirmError::NothingPending) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_pending_change",
            "No network change is waiting for confirmation (it was confirmed already, or it \
             reverted).",
        )),
        Err(ConfirmError::Store(err)) => Err(ApiError::internal(
            "The network settings could not be saved",
            err,
        )),
        Err(ConfirmError::Stopped) => Err(unavailable()),
    }
}

fn actor(state: &AppState, caller: &Caller) -> Actor {
    Actor::new(&caller.session.user, caller.address, state.mode)
}

fn with_history(store: &Store, mut view: NetworkView) -> Result<NetworkView, ApiError> {
    view.shared_ip_history = shared_ip_history(store)?;
    Ok(view)
}

fn invalid(problems: Vec<Problem>) -> ApiError {
    let message = format!(
        "The network settings have {} problem{}; nothing was changed.",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    ApiError::invalid("invalid_network", message, problems)
}

fn put_error(err: PutError) -> NetworkError {
    match err {
        PutError::Invalid(problems) => invalid(problems).into(),
        PutError::WouldDisconnect(message) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "would_disconnect",
            format!("{message} Nothing was changed."),
        )
        .into(),
        PutError::AddressInUse { address, mac } => NetworkError {
            api: ApiError::new(
                StatusCode::CONFLICT,
                "address_in_use",
                format!(
                    "The shared IP {address} is in use by {mac}, which answered the probe: \
                     disable it there first. Nothing was changed."
                ),
            ),
            address: Some(address),
            mac: Some(mac),
        },
        PutError::ApplyFailed(message) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "apply_failed", message).into()
        }
        PutError::Stopped => unavailable().into(),
    }
}

/// Fields of `sent` that the settings do not have (a typo like `gateway` for `gateways`
/// would otherwise be dropped without a word): `known` is the parsed body written back.
fn unknown_fields(sent: &serde_json::Value, known: &serde_json::Value, at: &str) -> Vec<Problem> {
    use serde_json::Value;
    let mut problems = Vec::new();
    match (sent, known) {
        (Value::Object(s), Value::Object(k)) => {
            for (key, value) in s {
                let field = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match k.get(key) {
                    Some(inner) => problems.extend(unknown_fields(value, inner, &field)),
                    None => problems.push(Problem {
                        field,
                        message: "is not a network setting".to_string(),
                    }),
                }
            }
        }
        (Value::Array(s), Value::Array(k)) => {
            for (i, (value, inner)) in s.iter().zip(k).enumerate() {
                problems.extend(unknown_fields(value, inner, &format!("{at}[{i}]")));
            }
        }
        _ => {}
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named_with_their_place() {
        let sent = serde_json::json!({
            "gateway": "10.0.0.1",
            "interfaces": [{"mac": "52:54:00:00:00:01", "dhcp": true, "adresses": []}],
            "dns": {"servers": [], "serach": []}
        });
        let config: NetworkConfig = serde_json::from_value(sent.clone()).unwrap();
        let known = serde_json::to_value(&config).unwrap();
        let fields: Vec<String> = unknown_fields(&sent, &known, "")
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            vec!["dns.serach", "gateway", "interfaces[0].adresses"]
        );
    }
}

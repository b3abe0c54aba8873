//! `GET /api/v1/logs` (the persistent log, a page at a time or as a text download) and
//! `GET /api/v1/support/bundle` (crate::logs, docs/logs.md), and `GET|PUT
//! /api/v1/logs/forwarding` (syslog forwarding, crate::logs::forward).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

use super::extract::{Caller, Json};
use super::peer_sync::NotBackup;
use super::ApiError;
use crate::logs::bundle::{self, Inputs};
use crate::logs::forward::ChangeError;
use crate::logs::Filter;
use crate::state::AppState;
use crate::store::Audit;

/// The answer's form, beside the filters (a flattened struct would read `limit` as text).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Format {
    /// `text`: every matching line, oldest first, as a text file.
    pub format: Option<String>,
}

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Query(filter): Query<Filter>,
    Query(q): Query<Format>,
) -> Result<Response, ApiError> {
    match q.format.as_deref() {
        None | Some("" | "json") => Ok(axum::Json(state.logs.page(filter).await?).into_response()),
        Some("text") => text_download(&state, filter).await,
        Some(other) => Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_filter",
            format!("{other:?} is not a format of the log: use json or text"),
        )),
    }
}

/// The matching lines as a text attachment (the API's and the Logs page's download).
pub(crate) async fn text_download(state: &AppState, filter: Filter) -> Result<Response, ApiError> {
    let text = state.logs.text(filter).await?;
    let name = format!("appliance-log-{}.txt", file_date());
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        text,
    )
        .into_response())
}

fn file_date() -> String {
    units::rfc3339(units::now())
        .replace([':', '-'], "")
        .trim_end_matches('Z')
        .to_string()
}

pub(super) async fn support_bundle(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    bundle_download(&state, &caller.session.user, caller.address).await
}

/// Make the support bundle, audit it, send it (the API's and the Logs page's).
pub(crate) async fn bundle_download(
    state: &AppState,
    user: &str,
    address: Option<IpAddr>,
) -> Result<Response, ApiError> {
    let failed =
        |e: &dyn std::fmt::Display| ApiError::internal("Making the support bundle failed", e);
    let status = state.status.json().await?.to_vec();
    let records = state.store.raw_records()?;
    let audit = bundle::audit_json(&state.store.audit_log(1000)?);
    let env = state.updater.platform.env();
    let grubenv = tokio::task::spawn_blocking(move || match env.read() {
        Ok(s) => s.env().to_block().map_or_else(
            |e| format!("grubenv cannot be written out: {e}\n"),
            |b| {
                String::from_utf8_lossy(&b)
                    .trim_end_matches(['#', '\n'])
                    .to_string()
                    + "\n"
            },
        ),
        Err(e) => format!("grubenv cannot be read: {e}\n"),
    })
    .await
    .map_err(|e| failed(&e))?;
    let inputs = Inputs {
        status,
        records,
        audit,
        grubenv,
        log_dir: state.logs.dir().to_path_buf(),
        created: units::now(),
        version: state.system.release.version.clone(),
    };
    let bytes = tokio::task::spawn_blocking(move || bundle::build(&inputs))
        .await
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))?;
    state
        .store
        .change_async(
            Audit::user(
                user,
                address,
                "support.bundle",
                format!("support bundle downloaded ({} bytes)", bytes.len()),
            ),
            |_| Ok::<(), crate::store::Error>(()),
        )
        .await?;
    let name = format!("appliance-support-{}.tar.zst", file_date());
    Ok((
        [
            (header::CONTENT_TYPE, "application/zstd".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /api/v1/logs/forwarding`: the syslog servers and each link's state.
pub(super) async fn get_forwarding(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> axum::Json<api_types::Forwarding> {
    axum::Json(state.forwarding.view())
}

/// `PUT /api/v1/logs/forwarding`: replace the servers (checked as a whole).
pub(super) async fn put_forwarding(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    _synced: NotBackup,
    Json(body): Json<api_types::ForwardingRequest>,
) -> Result<axum::Json<api_types::Forwarding>, ApiError> {
    match state
        .forwarding
        .change(&body.servers, &caller.session.user, caller.address)
        .await
    {
        Ok(view) => Ok(axum::Json(view)),
        Err(ChangeError::Invalid(problems)) => {
            let message = format!(
                "The syslog servers are refused: {}; nothing was changed.",
                problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            Err(ApiError::invalid("invalid_forwarding", message, problems))
        }
        Err(ChangeError::Store(e)) => {
            Err(ApiError::internal("Changing the syslog servers failed", e))
        }
    }
}

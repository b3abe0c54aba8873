//! `POST /api/v1/backup` and `POST /api/v1/backup/restore` (crate::backup,
//! docs/backup.md): the backup file made with the operator's password and sent as a
//! download; a backup file uploaded with its password in `X-Password` and applied.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::extract::{Caller, Json};
use super::ApiError;
use crate::auth::Kind;
use crate::backup::{self, BackupInfo};
use crate::state::AppState;
use crate::store::Audit;

/// Pieces of the backup file sent at a time.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackupRequest {
    password: String,
    #[serde(default)]
    include_history: bool,
}

pub(super) async fn make(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<BackupRequest>,
) -> Result<Response, ApiError> {
    if body.include_history {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "history_not_included",
            "This version backs up the settings, certificates and site packages; the logged history stays on the appliance. Ask again without include_history.",
        ));
    }
    let st = Arc::clone(&state);
    let audit = Audit::user(
        &*caller.session.user,
        caller.address,
        "backup.made",
        "settings backup downloaded",
    );
    let made = tokio::task::spawn_blocking(move || {
        let made = backup::make(
            &st.store,
            &st.state_dir,
            &st.system.release.profile,
            &st.system.release.version,
            &body.password,
        )?;
        st.store
            .change(audit, |_| Ok::<_, crate::store::Error>(()))?;
        Ok::<_, backup::BackupError>(made)
    })
    .await
    .map_err(|e| ApiError::internal("The backup did not finish", e))??;
    let file = tokio::fs::File::open(&made.path)
        .await
        .map_err(|e| ApiError::internal("Reading the backup failed", e))?;
    let headers = [
        (header::CONTENT_TYPE, "application/x-tar".to_string()),
        (header::CONTENT_LENGTH, made.size.to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", made.file_name()),
        ),
    ];
    // The file goes when the stream does (sent, or the client left): `Made` removes it.
    let stream = futures::stream::unfold((file, made), |(mut file, made)| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), (file, made)))
            }
            Err(e) => Some((Err(e), (file, made))),
        }
    });
    Ok((headers, Body::from_stream(stream)).into_response())
}

/// What a restore answers.
#[derive(Debug, Serialize)]
pub(super) struct RestoreAnswer {
    restored_from: BackupInfo,
    /// The service records now in force.
    records: Vec<String>,
    /// The service directories now in force (certificates, site packages).
    directories: Vec<String>,
    /// What stayed this appliance's own.
    kept: Vec<&'static str>,
    /// `kept` when the caller's account survived the restore, else `ended`.
    session: &'static str,
    /// Services that could not take the restored settings at once (they do at the next
    /// restart); empty when all did.
    not_reloaded: Vec<String>,
}

pub(super) async fn restore(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<RestoreAnswer>, ApiError> {
    let Some(password) = headers
        .get("x-password")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "password_required",
            "Send the backup's password in the X-Password header; nothing was changed.",
        ));
    };
    let mut reader = crate::update::body::reader(body);
    let st = Arc::clone(&state);
    let audit = Audit::user(
        &*caller.session.user,
        caller.address,
        "backup.restored",
        "settings restored from a backup",
    );
    let restored = tokio::task::spawn_blocking(move || {
        let result = backup::restore(&st.store, &st.state_dir, &mut reader, &password, audit);
        if result.is_err() {
            reader.drain();
        }
        result
    })
    .await
    .map_err(|e| ApiError::internal("The restore did not finish", e))??;
    let not_reloaded = state.service_part_replaced().await;
    let session = if state.auth.session(&caller.token, Kind::Api).is_some() {
        "kept"
    } else {
        "ended"
    };
    tracing::warn!(
        from = %restored.from.appliance_id,
        version = %restored.from.version,
        "settings restored from a backup"
    );
    Ok(axum::Json(RestoreAnswer {
        records: restored.applied.records,
        directories: restored.applied.header.directories.clone(),
        restored_from: restored.from,
        kept: vec![
            "appliance id",
            "network settings",
            "host name",
            "boot slots and update history",
            "logs",
        ],
        session,
        not_reloaded,
    }))
}

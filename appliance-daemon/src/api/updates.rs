//! `/api/v1/updates`: installed versions, the install waiting for a boot, rollbacks, history.

use axum::extract::State;
use std::io::Read;
use std::sync::Arc;

use super::extract::Caller;
use super::{ApiError, AppState};
use crate::update::install::{InstallError, Installed};
use crate::update::View;

pub async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<View>, ApiError> {
    Ok(axum::Json(state.updater.view()?))
}

/// `GET /api/v1/updates/progress`: server-sent events, one `progress` event with the
/// current state at once and one per change (every MiB written, each phase).
pub async fn progress(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> axum::response::sse::Sse<
    impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let mut rx = state.updater.progress.subscribe();
    let stream = async_stream(move |tx| async move {
        loop {
            let current = rx.borrow_and_update().clone();
            let event = Event::default()
                .event("progress")
                .json_data(&current)
                .unwrap_or_else(|_| Event::default().comment("unencodable"));
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A stream fed by a task, without a macro crate: the task ends when the client leaves.
fn async_stream<T, F, Fut>(f: F) -> impl futures::Stream<Item = T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(f(tx));
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// `POST /api/v1/updates/upload`: the body is the package (any size: it is streamed).
pub async fn upload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Body,
) -> Result<axum::Json<Installed>, ApiError> {
    let reader = crate::update::body::reader(body);
    install(&state, reader, &caller.session.user, caller.address)
        .await
        .map(axum::Json)
}

/// How much of a refused upload is read and dropped before answering.
const DRAIN_LIMIT: u64 = 2 << 30;

/// Run an install on a blocking thread; errors as API errors.
pub async fn install(
    state: &Arc<AppState>,
    reader: crate::update::body::BodyReader,
    user: &str,
    address: Option<std::net::IpAddr>,
) -> Result<Installed, ApiError> {
    let st = Arc::clone(state);
    let user = user.to_string();
    let mut reader = reader;
    tokio::task::spawn_blocking(move || {
        let result = st.updater.install_package(&mut reader, &user, address);
        if result.is_err() {
            // Read what is left of a refused upload, so that the client, still sending,
            // receives the answer instead of a reset connection.
            let _ = std::io::copy(&mut (&mut reader).take(DRAIN_LIMIT), &mut std::io::sink());
        }
        result
    })
    .await
    .map_err(|e| ApiError::internal("The install did not finish", e))?
    .map_err(install_error)
}

pub fn install_error(e: InstallError) -> ApiError {
    use axum::http::StatusCode;
    let code = e.code();
    let status = match &e {
        InstallError::Busy | InstallError::ResetPending => StatusCode::CONFLICT,
        InstallError::Refused(r) => match r.code() {
            "not_confirmed" => StatusCode::CONFLICT,
            "no_space" => StatusCode::INSUFFICIENT_STORAGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        },
        InstallError::Package { code, .. } => match *code {
            "io" | "truncated" => StatusCode::BAD_REQUEST,
            "no_keys" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        },
        InstallError::Payload { code, .. } => match *code {
            "io" | "truncated" => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        },
        InstallError::Write { .. }
        | InstallError::Data { .. }
        | InstallError::Boot(_)
        | InstallError::Store(_)
        | InstallError::RunningVersion(_) => {
            return ApiError::internal("Installing the package failed", e)
        }
    };
    ApiError::new(
        status,
        code,
        format!("{e}; nothing was changed on the running system."),
    )
}

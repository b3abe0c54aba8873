//! `/api/v1/updates`: installed versions, the install waiting for a boot, rollbacks, history.

use axum::extract::State;
use std::sync::Arc;

use super::extract::Caller;
use super::ApiError;
use crate::state::AppState;
use crate::update::install::Installed;
use crate::update::View;

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<View>, ApiError> {
    Ok(axum::Json(state.updater.view()?))
}

/// How often an open progress stream looks whether its session has expired (a logout is
/// seen at once).
const SESSION_LOOK: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET /api/v1/updates/progress`: server-sent events, one `progress` event with the
/// current state at once and one per change (every MiB written, each phase). The stream
/// ends when the session that opened it ends (logout, expiry, password change).
pub(super) async fn progress(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> axum::response::sse::Sse<
    impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let mut rx = state.updater.progress.subscribe();
    let mut ended = state.auth.sessions_ended();
    let token = caller.token;
    let stream = async_stream(move |tx| async move {
        let mut look = tokio::time::interval(SESSION_LOOK);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let current = rx.borrow_and_update().clone();
            let event = Event::default()
                .event("progress")
                .json_data(&current)
                .unwrap_or_else(|_| Event::default().comment("unencodable"));
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        break;
                    }
                    gone = ended.changed() => {
                        if gone.is_err() {
                            return;
                        }
                    }
                    _ = look.tick() => {}
                    () = tx.closed() => return,
                }
                if !state.auth.alive(&token, crate::auth::Kind::Api) {
                    tracing::debug!("progress stream closed: its session ended");
                    return;
                }
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

/// `?downgrade=true` of an upload: the operator's explicit consent to an older version.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct UploadQuery {
    downgrade: bool,
}

/// `POST /api/v1/updates/upload`: the body is the package (any size: it is streamed).
pub(super) async fn upload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::Query(query): axum::extract::Query<UploadQuery>,
    body: axum::body::Body,
) -> Result<axum::Json<Installed>, ApiError> {
    let reader = crate::update::body::reader(body);
    let installed = state
        .updater
        .install_upload(
            reader,
            &caller.session.user,
            caller.address,
            query.downgrade,
        )
        .await?;
    Ok(axum::Json(installed))
}

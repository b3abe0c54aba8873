//! The local socket (`/run/appliance/daemon.sock`, root only, mode 0600; in dev mode
//! `local.sock` in the state directory): what someone at the console may do without a
//! password, being root there the proof of presence. Today one call: `POST /unlock/{name}`
//! ends the account's lockout (`appliancectl unlock NAME`), audited as done from the console.
//! Plain HTTP/1.1 over the socket, with the listeners' timeouts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use tokio::net::UnixListener;

use super::limits;
use crate::auth::AuthError;
use crate::state::AppState;
use crate::store::Audit;
use api_types::{ErrorBody, Unlocked};

/// Who the audit log names for a call on the local socket.
const CONSOLE: &str = "root (console)";

/// Bind the socket at `path` (replacing a stale one) and serve it; a failure is logged and
/// leaves the daemon without it (the API's unlock still works).
pub(crate) fn start(path: &std::path::Path, state: Arc<AppState>) {
    let _ = std::fs::remove_file(path);
    let listener = match UnixListener::bind(path) {
        Ok(l) => l,
        Err(err) => {
            tracing::error!("cannot listen on {}: {err}", path.display());
            return;
        }
    };
    if let Err(err) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        tracing::error!("cannot restrict {} to root: {err}", path.display());
        return;
    }
    tracing::info!(path = %path.display(), "local socket ready");
    let app = Router::new()
        .route("/unlock/{name}", post(unlock))
        .with_state(state);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let app = app.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    TowerToHyperService::new(app.clone()).call(limits::timed(req))
                });
                let _ = limits::http1()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

async fn unlock(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let audit = Audit::user(
        CONSOLE,
        None,
        "account.unlock",
        format!("sign-in to {name:?} unlocked from the console"),
    );
    match state.auth.unlock(&name, audit).await {
        Ok(was_locked) => axum::Json(Unlocked { was_locked }).into_response(),
        Err(err) => {
            let status = match err {
                AuthError::NoSuchUser(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let body = ErrorBody {
                error: if status == StatusCode::NOT_FOUND {
                    "no_such_user".into()
                } else {
                    "internal".into()
                },
                message: err.to_string(),
                problems: Vec::new(),
            };
            (status, axum::Json(body)).into_response()
        }
    }
}

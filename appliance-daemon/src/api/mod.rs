//! The JSON API under `/api/v1` (contract in docs/admin-interface.md: extend, don't rename):
//! a thin adapter that reads requests, calls the domain services ([`crate::state::AppState`])
//! and maps their typed errors to statuses (`domain_errors.rs`).
//!
//! Every route is registered through [`Routes`], which keeps the list the OpenAPI document
//! is checked against (`openapi.json` beside this file, served at `/api/v1/openapi.json`).

mod account;
pub(crate) mod backup;
mod backup_schedule;
mod catalog;
pub(crate) mod certificates;
mod domain_errors;
mod error;
pub(crate) mod extract;
mod failover;
mod health;
pub(crate) mod logs;
mod network;
mod peer;
pub(crate) mod peer_sync;
mod reset;
mod session;
mod site_updates;
mod status;
mod system;
mod time;
mod tls;
mod updates;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) use error::ApiError;

use crate::state::AppState;

/// Largest JSON body any API call accepts (uploads have their own limit).
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// The OpenAPI 3 document of this API.
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// The API routes and the list of what they are.
pub(crate) struct Routes {
    paths: BTreeMap<&'static str, MethodRouter<Arc<AppState>>>,
    list: Vec<(Method, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Routes {
            paths: BTreeMap::new(),
            list: Vec::new(),
        }
    }

    fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
        let entry = self.paths.remove(path).unwrap_or_default();
        self.paths.insert(path, entry.on(filter, handler));
        self.list.push((method, path));
        self
    }

    /// Every (method, path) served, in registration order.
    #[cfg(test)]
    pub(crate) fn list(&self) -> &[(Method, &'static str)] {
        &self.list
    }

    /// Like [`Routes::add`] for a route whose body is streamed: no body limit.
    fn add_stream<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
        let entry = self.paths.remove(path).unwrap_or_default();
        self.paths.insert(
            path,
            entry.on(filter, handler).layer(DefaultBodyLimit::disable()),
        );
        self.list.push((method, path));
        self
    }

    fn into_router(self) -> Router<Arc<AppState>> {
        self.paths
            .into_iter()
            .fold(Router::new(), |router, (path, methods)| {
                router.route(path, methods.fallback(error::method_not_allowed))
            })
    }
}

/// The whole API.
pub(crate) fn routes() -> Routes {
    Routes::new()
        .add(Method::GET, "/api/v1/health", health::get)
        .add(Method::GET, "/api/v1/openapi.json", openapi)
        .add(Method::POST, "/api/v1/session", session::create)
        .add(Method::DELETE, "/api/v1/session", session::delete)
        .add(
            Method::PUT,
            "/api/v1/account/password",
            account::change_password,
        )
        .add(Method::GET, "/api/v1/status", status::get)
        .add(Method::GET, "/api/v1/audit", account::audit)
        .add(Method::GET, "/api/v1/logs", logs::get)
        .add(Method::GET, "/api/v1/logs/forwarding", logs::get_forwarding)
        .add(Method::PUT, "/api/v1/logs/forwarding", logs::put_forwarding)
        .add(Method::GET, "/api/v1/support/bundle", logs::support_bundle)
        .add(
            Method::POST,
            "/api/v1/accounts/{name}/unlock",
            account::unlock,
        )
        .add(Method::GET, "/api/v1/accounts", account::list)
        .add(Method::POST, "/api/v1/accounts", account::create)
        .add(Method::PUT, "/api/v1/accounts/{name}", account::change)
        .add(Method::DELETE, "/api/v1/accounts/{name}", account::delete)
        .add(Method::POST, "/api/v1/account/totp", account::start_totp)
        .add(
            Method::DELETE,
            "/api/v1/account/totp",
            account::disable_totp,
        )
        .add(
            Method::POST,
            "/api/v1/account/totp/confirm",
            account::confirm_totp,
        )
        .add(Method::GET, "/api/v1/security/policy", account::get_policy)
        .add(Method::PUT, "/api/v1/security/policy", account::put_policy)
        .add(Method::GET, "/api/v1/network", network::get)
        .add(Method::PUT, "/api/v1/network", network::put)
        .add(Method::POST, "/api/v1/network/confirm", network::confirm)
        .add(Method::POST, "/api/v1/system/reboot", system::reboot)
        .add(Method::POST, "/api/v1/system/shutdown", system::shutdown)
        .add(Method::GET, "/api/v1/updates", updates::get)
        .add(Method::GET, "/api/v1/updates/progress", updates::progress)
        .add_stream(Method::POST, "/api/v1/updates/upload", updates::upload)
        .add(
            Method::POST,
            "/api/v1/updates/site/{name}/rollback",
            site_updates::rollback,
        )
        .add(Method::GET, "/api/v1/updates/server", catalog::get_server)
        .add(Method::PUT, "/api/v1/updates/server", catalog::put_server)
        .add(Method::POST, "/api/v1/updates/check", catalog::check)
        .add(Method::POST, "/api/v1/updates/install", catalog::install)
        .add(
            Method::GET,
            "/api/v1/updates/download-key",
            catalog::download_key,
        )
        .add(Method::GET, "/api/v1/time", time::get)
        .add(Method::PUT, "/api/v1/time", time::put)
        .add(Method::GET, "/api/v1/tls", tls::get)
        .add(Method::PUT, "/api/v1/tls/certificate", tls::install)
        .add(Method::DELETE, "/api/v1/tls/certificate", tls::self_signed)
        .add(Method::GET, "/api/v1/certificates", certificates::list)
        .add_stream(
            Method::POST,
            "/api/v1/certificates/import",
            certificates::import,
        )
        .add(
            Method::GET,
            "/api/v1/certificates/settings",
            certificates::settings,
        )
        .add(
            Method::PUT,
            "/api/v1/certificates/settings",
            certificates::put_settings,
        )
        .add(
            Method::POST,
            "/api/v1/certificates/request",
            certificates::request,
        )
        .add(
            Method::POST,
            "/api/v1/certificates/{id}/export",
            certificates::export,
        )
        .add(
            Method::PUT,
            "/api/v1/certificates/{id}/assign",
            certificates::assign,
        )
        .add(
            Method::DELETE,
            "/api/v1/certificates/{id}",
            certificates::delete,
        )
        .add(Method::POST, "/api/v1/system/factory-reset", reset::post)
        .add(Method::POST, "/api/v1/backup", backup::make)
        .add_stream(Method::POST, "/api/v1/backup/restore", backup::restore)
        .add(Method::GET, "/api/v1/failover", failover::get)
        .add(Method::PUT, "/api/v1/failover/key", failover::put_key)
        .add(
            Method::POST,
            "/api/v1/failover/establish",
            failover::establish,
        )
        .add(Method::POST, "/api/v1/failover/break", failover::break_pair)
        .add(Method::POST, "/api/v1/failover/sync", peer_sync::sync_now)
        .add(
            Method::POST,
            "/api/v1/failover/become-primary",
            failover::become_primary,
        )
        .add(Method::PUT, "/api/v1/failover/auto", failover::put_auto)
        .add(Method::POST, "/api/v1/peer/hello", peer::hello)
        .add(Method::POST, "/api/v1/peer/establish", peer::establish)
        .add(Method::GET, "/api/v1/peer/confirm", peer::confirm)
        .add(Method::POST, "/api/v1/peer/state", peer::peer_state)
        .add(Method::POST, "/api/v1/peer/primary", peer::primary)
        .add(Method::POST, "/api/v1/peer/break", peer::break_pair)
        .add(
            Method::POST,
            "/api/v1/peer/sync/manifest",
            peer_sync::manifest,
        )
        .add_stream(Method::POST, "/api/v1/peer/sync", peer_sync::sync)
        .add(Method::POST, "/api/v1/peer/sync/pull", peer_sync::pull)
        .add(Method::GET, "/api/v1/backup/schedule", backup_schedule::get)
        .add(Method::PUT, "/api/v1/backup/schedule", backup_schedule::put)
        .add(
            Method::POST,
            "/api/v1/backup/schedule/run",
            backup_schedule::run,
        )
        .add(
            Method::GET,
            "/api/v1/backup/stored",
            backup_schedule::stored,
        )
        .add(
            Method::GET,
            "/api/v1/backup/stored/{name}",
            backup_schedule::download,
        )
}

/// The API router with its body limit, for the state given.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    routes()
        .into_router()
        .layer(axum::middleware::map_response(api_headers))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// On every API answer: never cached (tokens, settings and backups pass through here), and
/// read only as the type it says it is.
async fn api_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The 404 handler for everything outside the API and the web UI.
pub(crate) use error::not_found;

async fn openapi() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document names exactly the routes served, with the same methods.
    #[test]
    fn openapi_documents_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json parses");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented = Vec::new();
        for (path, item) in paths {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                    documented.push(format!("{} /api/v1{path}", method.to_uppercase()));
                }
            }
        }
        let mut served: Vec<String> = routes()
            .list()
            .iter()
            .map(|(m, p)| format!("{m} {p}"))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(served, documented, "served routes vs openapi.json");
    }

    #[test]
    fn every_operation_describes_its_errors() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{method} {path} has no responses"));
                assert!(!responses.is_empty(), "{method} {path}");
                let public = path == "/health"
                    || path == "/openapi.json"
                    || (path == "/session" && method == "post");
                if !public {
                    assert!(
                        responses.contains_key("401"),
                        "{method} {path} must document 401"
                    );
                }
            }
        }
    }
}

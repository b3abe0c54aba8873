//! Plain HTTP: every request is answered with a 301 to the same path over HTTPS, so an
//! operator typing the appliance's address into a browser lands on the admin interface.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::limits;

use api_types::ErrorBody;

/// Serve redirects on `listener` to HTTPS on `https_port`, within the caps and timeouts of
/// [`limits`] (its request bodies are never read).
pub(crate) async fn serve(listener: TcpListener, https_port: u16) {
    let app = Router::new().fallback(redirect).with_state(https_port);
    let connections = limits::Connections::new(limits::HTTP);
    loop {
        let (tcp, peer, admitted) = limits::accept(&listener, &connections).await;
        let app = app.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            let service = hyper::service::service_fn(move |req| {
                TowerToHyperService::new(app.clone()).call(limits::timed(req))
            });
            let result = limits::http1()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
            if let Err(err) = result {
                tracing::debug!(%peer, "HTTP connection ended with an error: {err}");
            }
        });
    }
}

async fn redirect(State(https_port): State<u16>, headers: HeaderMap, uri: Uri) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<axum::http::uri::Authority>().ok());
    let Some(host) = host else {
        let body = ErrorBody {
            error: "bad_request".into(),
            message:
                "The request has no valid Host header; use https:// and the appliance's address."
                    .into(),
            problems: Vec::new(),
        };
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let location = location(host.host(), https_port, &uri);
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, location)],
    )
        .into_response()
}

/// `https://host[:port]/path?query`; the port is left out when it is 443.
pub(crate) fn location(host: &str, https_port: u16, uri: &Uri) -> String {
    let path = uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    if https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{https_port}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_path_and_query_and_drops_the_default_port() {
        let uri: Uri = "/appliance/network?tab=dns".parse().unwrap();
        assert_eq!(
            location("10.0.0.5", 443, &uri),
            "https://10.0.0.5/appliance/network?tab=dns"
        );
        assert_eq!(
            location("[fe80::1]", 8443, &"/".parse().unwrap()),
            "https://[fe80::1]:8443/"
        );
    }
}

//! The HTTPS accept loop: TCP accept, TLS handshake (bounded in time), HTTP/1.1 via hyper,
//! requests to the axum router. One task per connection; a bad client only costs itself.
//!
//! The TLS server name the client sends picks the configuration: the pair channel's name
//! ([`pair::PAIR_SERVER_NAME`]) gets the pair identity and must show a client certificate,
//! whose public-key SHA-256 handlers receive as [`PairClient`]; any other name (or none)
//! gets the certificate chosen by the local address the connection arrived on, then by
//! that name ([`crate::tls::select`]), as browsers and appliancectl expect. Its answers
//! carry `Strict-Transport-Security` when that certificate is not self-signed and HSTS is
//! on (docs/certificates.md "TLS settings").

use axum::Router;
use hyper::service::Service as _;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::LazyConfigAcceptor;

use super::limits;

/// The TCP peer of the connection, set on every request (the audit log names it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub SocketAddr);

/// On the pair channel: SHA-256 of the public key of the certificate the client proved
/// it holds (the failover service decides what it is worth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PairClient(pub [u8; 32]);

/// The two TLS configurations served on one port.
#[derive(Debug, Clone)]
pub(crate) struct TlsConfigs {
    /// The served certificates (browsers, appliancectl), by local address and name.
    pub service: Arc<crate::tls::select::Selector>,
    /// The pair identity, client certificate required.
    pub pair: Arc<ServerConfig>,
}

/// Serve `app` on `listener` until the process ends, within the caps and timeouts of
/// [`limits`].
pub(crate) async fn serve(listener: TcpListener, tls: TlsConfigs, app: Router) {
    let connections = limits::Connections::new(limits::HTTPS);
    loop {
        let (tcp, peer, admitted) = limits::accept(&listener, &connections).await;
        let configs = tls.clone();
        let app = app.clone();
        // The address the client reached (with a wildcard listener, which of ours).
        let local = tcp
            .local_addr()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        tokio::spawn(async move {
            let _admitted = admitted;
            let handshake = async {
                let start =
                    LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp).await?;
                let (pair_channel, config, hsts) = {
                    let hello = start.client_hello();
                    let server_name = hello.server_name();
                    if server_name == Some(pair::PAIR_SERVER_NAME) {
                        (true, Arc::clone(&configs.pair), false)
                    } else {
                        let served = configs.service.choose(local, server_name);
                        (false, served.config, served.hsts)
                    }
                };
                let stream = start.into_stream(config).await?;
                let client = pair_channel
                    .then(|| stream.get_ref().1.peer_certificates())
                    .flatten()
                    .and_then(|chain| chain.first())
                    .map(|leaf| PairClient(appliancectl::tls::fingerprint(leaf.as_ref())));
                Ok::<_, std::io::Error>((stream, client, hsts))
            };
            let (tls, pair_client, hsts) =
                match tokio::time::timeout(limits::HANDSHAKE_TIMEOUT, handshake).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(err)) => {
                        tracing::debug!(%peer, "TLS handshake failed: {err}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            // Handlers see the client's address (audit log) through this extension.
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut req = limits::timed(req);
                    req.extensions_mut().insert(ClientAddr(peer));
                    if let Some(client) = pair_client {
                        req.extensions_mut().insert(client);
                    }
                    let answer = TowerToHyperService::new(app.clone()).call(req);
                    async move {
                        let mut response = answer.await?;
                        if hsts {
                            response.headers_mut().insert(
                                hyper::header::STRICT_TRANSPORT_SECURITY,
                                hyper::header::HeaderValue::from_static(crate::tls::select::HSTS),
                            );
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
            let result = limits::http1()
                .serve_connection(TokioIo::new(tls), service)
                .await;
            if let Err(err) = result {
                tracing::debug!(%peer, "HTTPS connection ended with an error: {err}");
            }
        });
    }
}

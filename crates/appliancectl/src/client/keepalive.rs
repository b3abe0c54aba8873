//! One HTTPS connection kept open for a series of small requests: what a check sent
//! several times a second needs, where a TCP and TLS handshake per call (what
//! [`Client::send`] does) would cost more than the check itself. The connection is opened
//! at the first request, reused while the server keeps it, and opened again after any
//! failure or timeout (a request whose answer did not come leaves the connection in an
//! unknown state: it is dropped).

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper::header::CONNECTION;
use hyper::Method;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

use super::{connect, read_answer, session_facts, AbortOnDrop, Client, Response};
use crate::{Error, Result};

/// A [`Client`]'s connection kept for its next requests.
#[derive(Debug)]
pub struct Connection {
    client: Client,
    open: Option<Open>,
    /// Connections opened so far (the first included).
    opened: u64,
}

struct Open {
    sender: SendRequest<Full<Bytes>>,
    _driver: AbortOnDrop,
    peer_certificate: Option<CertificateDer<'static>>,
    tls_version: Option<rustls::ProtocolVersion>,
}

impl std::fmt::Debug for Open {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Open")
    }
}

impl Connection {
    pub fn new(client: Client) -> Self {
        Connection {
            client,
            open: None,
            opened: 0,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How many connections were opened so far: one while the server keeps it.
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// Forget the connection: the next request opens a new one.
    pub fn close(&mut self) {
        self.open = None;
    }

    /// One request on the kept connection (opened first if need be), whatever status
    /// comes back, within the client's timeout. On any failure the connection is dropped.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response> {
        let timeout = self.client.timeout();
        let endpoint = self.client.endpoint().to_string();
        match tokio::time::timeout(timeout, self.exchange(method, path, body)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => {
                self.open = None;
                Err(err)
            }
            Err(_) => {
                self.open = None;
                Err(Error::Timeout {
                    endpoint,
                    seconds: timeout.as_secs(),
                })
            }
        }
    }

    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response> {
        let endpoint = self.client.endpoint().to_string();
        let http_error = |source| Error::Http {
            endpoint: endpoint.clone(),
            source,
        };
        if self.open.as_ref().is_some_and(|o| o.sender.is_closed()) {
            self.open = None;
        }
        let open = match &mut self.open {
            Some(open) => open,
            None => {
                let tls = connect(
                    self.client.endpoint(),
                    self.client.tls(),
                    self.client.server_name(),
                )
                .await?;
                let (peer_certificate, tls_version) = session_facts(&tls);
                let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .map_err(http_error)?;
                let driver = AbortOnDrop(tokio::spawn(async move {
                    // Its failures surface as the next request's error.
                    let _ = connection.await;
                }));
                self.opened += 1;
                self.open.insert(Open {
                    sender,
                    _driver: driver,
                    peer_certificate,
                    tls_version,
                })
            }
        };
        open.sender.ready().await.map_err(http_error)?;
        let mut request = self.client.build_request(&method, path, body)?;
        // Kept open: the one difference from a [`Client::send`].
        request.headers_mut().remove(CONNECTION);
        let answer = open
            .sender
            .send_request(request)
            .await
            .map_err(http_error)?;
        let status = answer.status();
        let (head, body) = answer.into_parts();
        let body = read_answer(body, &endpoint, &method, path, status).await?;
        Ok(Response {
            status,
            headers: head.headers,
            body,
            peer_certificate: open.peer_certificate.clone(),
            tls_version: open.tls_version,
            endpoint,
            method,
            path: path.to_string(),
        })
    }
}

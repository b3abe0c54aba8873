//! The HTTPS client: one TCP + TLS connection and one HTTP/1.1 request per call
//! ([`Connection`] keeps one open for a series of calls).

mod keepalive;

pub use keepalive::Connection;

use crate::api::{Credentials, ErrorBody, Health, PasswordChange, PowerAction, Session, Status};
use crate::tls::{
    client_config, client_config_with, fingerprint, ClientIdentity, PinMismatch, Trust,
};
use crate::{Endpoint, Error, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{
    HeaderValue, ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST, USER_AGENT,
};
use hyper::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ClientConfig;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How long one call (connect, handshake, request, whole answer) may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read; the API's largest (network, updates) are a few KiB, so more is
/// a broken or hostile server, refused before it fills the memory.
const MAX_ANSWER: usize = 16 << 20;
const USER_AGENT_VALUE: &str = concat!("appliancectl/", env!("CARGO_PKG_VERSION"));

/// A client of one appliance, with its trust and (after [`Client::login`]) a session token.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    tls: Arc<ClientConfig>,
    token: Option<String>,
    timeout: Duration,
    user_agent: &'static str,
    /// The TLS server name sent instead of the endpoint's host (the pair channel's).
    server_name: Option<String>,
    /// The account's password given again, sent as `X-Current-Password` ([`Client::confirmed`]).
    current_password: Option<Secret>,
}

/// The header that carries the account's password again for a sensitive call: a factory
/// reset, a change of the served certificate or key, of the update server.
pub const CURRENT_PASSWORD_HEADER: &str = "x-current-password";

/// A password kept for a call, never printed.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<password>")
    }
}

/// An answer as received: status, headers and raw body, and what the TLS session was.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The leaf certificate the server presented.
    pub peer_certificate: Option<CertificateDer<'static>>,
    /// The TLS version negotiated.
    pub tls_version: Option<rustls::ProtocolVersion>,
    endpoint: String,
    method: Method,
    path: String,
}

impl Response {
    /// An answer read outside [`Client::exchange`] (a streamed download's refusal).
    pub(crate) fn received(
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        endpoint: String,
        method: Method,
        path: &str,
    ) -> Self {
        Response {
            status,
            headers,
            body,
            peer_certificate: None,
            tls_version: None,
            endpoint,
            method,
            path: path.to_string(),
        }
    }

    /// The body as JSON; an empty body reads as `null`.
    pub fn json_value(&self) -> Result<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        self.json()
    }

    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| self.unexpected(format!("{e}")))
    }

    /// `Ok(self)` for a 2xx status, else the API's error (or [`Error::Response`] when the
    /// body is not an API error).
    pub fn error_for_status(self) -> Result<Self> {
        if self.status.is_success() {
            return Ok(self);
        }
        // A body without a code is not the API's error (a proxy's page, say).
        match serde_json::from_slice::<ErrorBody>(&self.body)
            .ok()
            .filter(|e| !e.error.is_empty())
        {
            Some(e) => Err(Error::Api {
                status: self.status,
                message: if e.message.is_empty() {
                    format!(
                        "The appliance refused the request with HTTP {}.",
                        self.status
                    )
                } else {
                    e.message
                },
                code: e.error,
                problems: e.problems,
            }),
            None => {
                let text = String::from_utf8_lossy(&self.body);
                let excerpt: String = text.chars().take(200).collect();
                Err(self.unexpected(format!("the body is not an API error: {excerpt:?}")))
            }
        }
    }

    fn unexpected(&self, reason: String) -> Error {
        Error::Response {
            endpoint: self.endpoint.clone(),
            method: self.method.to_string(),
            path: self.path.clone(),
            status: self.status,
            reason,
        }
    }
}

impl Client {
    pub fn new(endpoint: Endpoint, trust: &Trust) -> Result<Self> {
        Ok(Client::with_config(endpoint, client_config(trust)?, None))
    }

    fn with_config(
        endpoint: Endpoint,
        tls: Arc<ClientConfig>,
        server_name: Option<String>,
    ) -> Self {
        Client {
            endpoint,
            tls,
            token: None,
            timeout: DEFAULT_TIMEOUT,
            user_agent: USER_AGENT_VALUE,
            server_name,
            current_password: None,
        }
    }

    /// A client that presents `identity` when the server asks for a client certificate,
    /// and sends `server_name` as the TLS server name whatever the endpoint's host (an
    /// appliance's pair channel: its peer is reached by address, and the name selects the
    /// channel).
    pub fn with_identity(
        endpoint: Endpoint,
        trust: &Trust,
        identity: ClientIdentity,
        server_name: &str,
    ) -> Result<Self> {
        ServerName::try_from(server_name.to_string()).map_err(|_| Error::InvalidHost {
            input: server_name.to_string(),
            reason: "not a valid DNS name".to_string(),
        })?;
        Ok(Client::with_config(
            endpoint,
            client_config_with(trust, Some(identity))?,
            Some(server_name.to_string()),
        ))
    }

    pub(crate) fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Say `user_agent` (`program/version`) instead of appliancectl's, so that a server's
    /// log tells which program asked.
    pub fn with_user_agent(mut self, user_agent: &'static str) -> Self {
        self.user_agent = user_agent;
        self
    }

    pub(crate) fn user_agent(&self) -> &'static str {
        self.user_agent
    }

    pub(crate) fn tls(&self) -> &Arc<ClientConfig> {
        &self.tls
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The session token sent as `Authorization: Bearer`, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// A copy of this client that gives the account's password again
    /// (`X-Current-Password`) with each request, for the calls that ask for it: a factory
    /// reset, certificate import, assignment, deletion and installation, and the update
    /// server. Without it they answer 403 `password_required`.
    pub fn confirmed(&self, password: &str) -> Client {
        let mut client = self.clone();
        client.set_current_password(Some(password));
        client
    }

    /// Give the password again with each request from now on (None: no longer).
    pub fn set_current_password(&mut self, password: Option<&str>) {
        self.current_password = password.map(|p| Secret(p.to_string()));
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET /api/v1/health`.
    pub async fn health(&self) -> Result<Health> {
        self.call(Method::GET, "/api/v1/health", None).await?.json()
    }

    /// `POST /api/v1/session`; on success the client keeps the token for later calls.
    pub async fn login(&mut self, username: &str, password: &str) -> Result<Session> {
        self.login_with_code(username, password, None).await
    }

    /// [`Client::login`] with the account's TOTP code or a recovery code (an account with
    /// two-factor sign-in answers `totp_required` without it).
    pub async fn login_with_code(
        &mut self,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<Session> {
        let body = json!(Credentials {
            username: username.to_string(),
            password: password.to_string(),
            totp: code.map(str::to_string),
        });
        let session: Session = self
            .call(Method::POST, "/api/v1/session", Some(&body))
            .await?
            .json()?;
        self.token = Some(session.token.clone());
        Ok(session)
    }

    /// `PUT /api/v1/account/password`.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<()> {
        let body = json!(PasswordChange {
            current: current.to_string(),
            new: new.to_string(),
        });
        self.call(Method::PUT, "/api/v1/account/password", Some(&body))
            .await?;
        Ok(())
    }

    /// `GET /api/v1/status`.
    pub async fn status(&self) -> Result<Status> {
        self.call(Method::GET, "/api/v1/status", None).await?.json()
    }

    /// `POST /api/v1/system/reboot`.
    pub async fn reboot(&self) -> Result<PowerAction> {
        self.call(Method::POST, "/api/v1/system/reboot", None)
            .await?
            .json()
    }

    /// `POST /api/v1/system/shutdown`.
    pub async fn shutdown(&self) -> Result<PowerAction> {
        self.call(Method::POST, "/api/v1/system/shutdown", None)
            .await?
            .json()
    }

    /// Any call, whatever status comes back: the status and the body as JSON (`null` when
    /// empty). Transport failures and non-JSON bodies are errors.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value)> {
        let response = self.send(method, path, body.as_ref()).await?;
        Ok((response.status, response.json_value()?))
    }

    /// Any call; a status other than 2xx becomes [`Error::Api`].
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Response> {
        self.send(method, path, body).await?.error_for_status()
    }

    /// Any call, whatever status comes back, with the raw body.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Response> {
        let request = self.build_request(&method, path, body)?;
        self.exchange(method, path, request, Limit::Total(self.timeout))
            .await
    }

    /// Any call with the caller's headers and raw body, whatever status comes back; no
    /// `Accept` or `Content-Type` is added (a browser's form post, an upload, a request the
    /// API must refuse).
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Response> {
        let request_error = |reason: String| Error::Request {
            method: method.to_string(),
            path: path.to_string(),
            reason,
        };
        let mut builder = self.bare_request_builder(&method, path)?;
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(body.into()))
            .map_err(|e| request_error(e.to_string()))?;
        self.exchange(method, path, request, Limit::Total(self.timeout))
            .await
    }

    /// A call whose body is streamed from `body` (its chunks as they come; bounded
    /// memory), with the caller's headers, whatever status comes back, within the client's
    /// timeout.
    pub async fn send_stream<B>(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: B,
    ) -> Result<Response>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut builder = self.request_builder(&method, path)?;
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(body).map_err(|e| Error::Request {
            method: method.to_string(),
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        self.exchange(method, path, request, Limit::Total(self.timeout))
            .await
    }

    /// Send `request` on a new connection and read the whole answer, within `limit`.
    pub(crate) async fn exchange<B>(
        &self,
        method: Method,
        path: &str,
        request: Request<B>,
        limit: Limit,
    ) -> Result<Response>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let endpoint = self.endpoint.to_string();
        let exchange = async {
            let tls = connect(&self.endpoint, &self.tls, self.server_name()).await?;
            let (peer_certificate, tls_version) = session_facts(&tls);
            let http_error = |source| Error::Http {
                endpoint: endpoint.clone(),
                source,
            };
            let (answer, driver) = send(tls, request).await.map_err(http_error)?;
            let status = answer.status();
            let (head, body) = answer.into_parts();
            let body = read_answer(body, &endpoint, &method, path, status).await?;
            drop(driver);
            Ok::<_, Error>((status, head.headers, body, peer_certificate, tls_version))
        };
        let timeout = |seconds: u64| Error::Timeout {
            endpoint: endpoint.clone(),
            seconds,
        };
        let (status, headers, body, peer_certificate, tls_version) = match limit {
            Limit::Total(total) => tokio::time::timeout(total, exchange)
                .await
                .map_err(|_| timeout(total.as_secs()))??,
            Limit::Idle(idle, activity) => {
                let mut exchange = std::pin::pin!(exchange);
                loop {
                    let left = idle.saturating_sub(activity.idle_for());
                    if left.is_zero() {
                        return Err(timeout(idle.as_secs()));
                    }
                    if let Ok(done) = tokio::time::timeout(left, &mut exchange).await {
                        break done?;
                    }
                }
            }
        };
        Ok(Response {
            status,
            headers,
            body,
            peer_certificate,
            tls_version,
            endpoint,
            method,
            path: path.to_string(),
        })
    }

    pub(crate) fn build_request(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Request<Full<Bytes>>> {
        let request_error = |reason: String| Error::Request {
            method: method.to_string(),
            path: path.to_string(),
            reason,
        };
        let mut builder = self.request_builder(method, path)?;
        let bytes = match body {
            Some(body) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(body).map_err(|e| request_error(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        builder
            .body(Full::new(bytes))
            .map_err(|e| request_error(e.to_string()))
    }

    /// The headers every API request carries: host, agent, JSON answers, the session token.
    pub(crate) fn request_builder(
        &self,
        method: &Method,
        path: &str,
    ) -> Result<hyper::http::request::Builder> {
        Ok(self
            .bare_request_builder(method, path)?
            .header(ACCEPT, "application/json"))
    }

    /// Host, agent, one request per connection, and the session token if there is one.
    pub(crate) fn bare_request_builder(
        &self,
        method: &Method,
        path: &str,
    ) -> Result<hyper::http::request::Builder> {
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, self.endpoint.authority())
            .header(USER_AGENT, self.user_agent)
            .header(CONNECTION, "close");
        if let Some(token) = &self.token {
            let value =
                HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| Error::Request {
                    method: method.to_string(),
                    path: path.to_string(),
                    reason: "the session token is not a valid header".into(),
                })?;
            builder = builder.header(AUTHORIZATION, value);
        }
        if let Some(Secret(password)) = &self.current_password {
            let value =
                HeaderValue::from_bytes(password.as_bytes()).map_err(|_| Error::Request {
                    method: method.to_string(),
                    path: path.to_string(),
                    reason: "the password holds a control character and cannot be sent".into(),
                })?;
            builder = builder.header(CURRENT_PASSWORD_HEADER, value);
        }
        Ok(builder)
    }
}

/// The server's leaf certificate and the TLS version of a connection.
pub(crate) fn session_facts(
    tls: &TlsStream<TcpStream>,
) -> (
    Option<CertificateDer<'static>>,
    Option<rustls::ProtocolVersion>,
) {
    let (_, session) = tls.get_ref();
    let leaf = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| leaf.clone().into_owned());
    (leaf, session.protocol_version())
}

/// The whole body of an answer, at most [`MAX_ANSWER`] bytes.
pub(crate) async fn read_answer(
    body: hyper::body::Incoming,
    endpoint: &str,
    method: &Method,
    path: &str,
    status: StatusCode,
) -> Result<Bytes> {
    Ok(Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|err| match err.downcast::<hyper::Error>() {
            Ok(source) => Error::Http {
                endpoint: endpoint.to_string(),
                source: *source,
            },
            Err(_) => Error::Response {
                endpoint: endpoint.to_string(),
                method: method.to_string(),
                path: path.to_string(),
                status,
                reason: format!("the answer is larger than {} MiB", MAX_ANSWER >> 20),
            },
        })?
        .to_bytes())
}

/// The SHA-256 fingerprint of the certificate the server at `endpoint` presents, read
/// without trusting it: for trust on first use, to be compared by a person with the one the
/// appliance shows.
pub async fn fetch_fingerprint(endpoint: &Endpoint) -> Result<[u8; 32]> {
    let config = client_config(&Trust::InsecureAcceptAny)?;
    let seen = tokio::time::timeout(DEFAULT_TIMEOUT, async {
        let tls = connect(endpoint, &config, None).await?;
        let (_, connection) = tls.get_ref();
        connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| fingerprint(leaf.as_ref()))
            .ok_or_else(|| Error::Tls {
                endpoint: endpoint.to_string(),
                source: std::io::Error::other("the server presented no certificate"),
            })
    })
    .await
    .map_err(|_| Error::Timeout {
        endpoint: endpoint.to_string(),
        seconds: DEFAULT_TIMEOUT.as_secs(),
    })??;
    Ok(seen)
}

/// TCP to the first address of `endpoint` that answers, then the TLS handshake.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    tls: &Arc<ClientConfig>,
    server_name: Option<&str>,
) -> Result<TlsStream<TcpStream>> {
    let name = endpoint.to_string();
    let addresses: Vec<_> = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|source| Error::Resolve {
            host: endpoint.host.clone(),
            source,
        })?
        .collect();
    let mut last_error =
        std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
    let mut tcp = None;
    for address in addresses {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                tcp = Some(stream);
                break;
            }
            Ok(Err(err)) => last_error = err,
            Err(_) => {
                last_error = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "no answer from {address} within {} s",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                );
            }
        }
    }
    let tcp = tcp.ok_or(Error::Connect {
        endpoint: name.clone(),
        source: last_error,
    })?;
    // A pin holds for any name; with a CA file the name is what gets verified.
    let host = server_name.unwrap_or(&endpoint.host);
    let server_name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_string()).map_err(|_| Error::InvalidHost {
            input: host.to_string(),
            reason: "not a valid DNS name".to_string(),
        })?,
    };
    TlsConnector::from(tls.clone())
        .connect(server_name, tcp)
        .await
        .map_err(|err| tls_error(name, err))
}

/// Say which certificate was refused and why, when that is the cause.
fn tls_error(endpoint: String, err: std::io::Error) -> Error {
    let rustls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(inner) => {
            if let Some(mismatch) = PinMismatch::from_rustls(inner) {
                Error::CertificateMismatch {
                    endpoint,
                    seen: mismatch.seen,
                    expected: mismatch.expected,
                }
            } else if matches!(inner, rustls::Error::InvalidCertificate(_)) {
                Error::CertificateRejected {
                    endpoint,
                    reason: inner.clone(),
                }
            } else {
                Error::Tls {
                    endpoint,
                    source: err,
                }
            }
        }
        None => Error::Tls {
            endpoint,
            source: err,
        },
    }
}

/// How long a call may take.
pub(crate) enum Limit {
    /// The whole call, from connecting to the last byte of the answer.
    Total(Duration),
    /// Without progress: no byte of the request sent (see [`Activity`]) for this long.
    Idle(Duration, Arc<Activity>),
}

/// When a streamed request body last sent something.
#[derive(Debug)]
pub(crate) struct Activity {
    start: std::time::Instant,
    /// Milliseconds after `start`.
    last: std::sync::atomic::AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            start: std::time::Instant::now(),
            last: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last.store(now, std::sync::atomic::Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(std::sync::atomic::Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Send `request` as the one request of the HTTP/1.1 connection over `tls`: the answer
/// (head, and a body still to read) and the task that drives the connection, to be kept
/// until the body is read (dropping it closes the connection).
pub(crate) async fn send<B>(
    tls: TlsStream<TcpStream>,
    request: Request<B>,
) -> std::result::Result<(hyper::Response<hyper::body::Incoming>, AbortOnDrop), hyper::Error>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    let driver = AbortOnDrop(tokio::spawn(async move {
        // Its failures surface as the request's or the body's error.
        let _ = connection.await;
    }));
    let answer = sender.send_request(request).await?;
    Ok((answer, driver))
}

/// Stops the connection task when the call ends, on every path (timeouts included).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

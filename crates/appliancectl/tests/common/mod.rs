//! A small HTTPS appliance for the tests: the API core on axum behind rustls, with a
//! certificate made by rcgen, on 127.0.0.1 and its own runtime thread (so that blocking
//! clients and the binary can talk to it from plain tests).
#![allow(dead_code)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub(crate) const USER: &str = "admin";
pub(crate) const PASSWORD: &str = "secret-pass";
pub(crate) const TOKEN: &str = "tok-0123456789";

#[derive(Debug, Default)]
pub(crate) struct Appliance {
    pub must_change_password: Mutex<bool>,
    pub password: Mutex<String>,
    /// Every Authorization header received, in order (None when absent).
    pub authorizations: Mutex<Vec<Option<String>>>,
    pub power: Mutex<Vec<&'static str>>,
}

pub(crate) struct TestServer {
    pub addr: SocketAddr,
    pub fingerprint: [u8; 32],
    /// When the certificate was issued by a test CA: that CA's PEM file.
    pub ca_file: Option<PathBuf>,
    pub appliance: Arc<Appliance>,
}

impl TestServer {
    /// A self-signed appliance whose password was already changed.
    pub(crate) fn start() -> Self {
        Self::start_with(false, false)
    }

    /// A fresh appliance: the first login must change the password.
    pub(crate) fn start_fresh() -> Self {
        Self::start_with(true, false)
    }

    /// An appliance with a certificate for `localhost` and 127.0.0.1 issued by a test CA.
    pub(crate) fn start_with_ca() -> Self {
        Self::start_with(false, true)
    }

    fn start_with(must_change_password: bool, with_ca: bool) -> Self {
        // Like the real appliance, a self-signed certificate names none of the addresses the
        // operator uses; the CA-issued one names what the tests connect to.
        let names = if with_ca {
            vec!["localhost".to_string(), "127.0.0.1".to_string()]
        } else {
            vec!["appliance.invalid".to_string()]
        };
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let (cert, ca_file) = if with_ca {
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let ca = ca_params.self_signed(&ca_key).unwrap();
            let path = scratch_dir("ca").join("ca.pem");
            std::fs::write(&path, ca.pem()).unwrap();
            (params.signed_by(&key, &ca, &ca_key).unwrap(), Some(path))
        } else {
            (params.self_signed(&key).unwrap(), None)
        };
        let der: CertificateDer<'static> = cert.der().clone();
        let fingerprint = appliancectl::tls::fingerprint(der.as_ref());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let tls = rustls::ServerConfig::builder_with_provider(appliancectl::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der], key)
            .unwrap();
        let appliance = Arc::new(Appliance {
            must_change_password: Mutex::new(must_change_password),
            password: Mutex::new(PASSWORD.to_string()),
            ..Appliance::default()
        });
        let app = router(appliance.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(serve(listener, Arc::new(tls), app));
        });
        TestServer {
            addr,
            fingerprint,
            ca_file,
            appliance,
        }
    }

    pub(crate) fn authorizations(&self) -> Vec<Option<String>> {
        self.appliance.authorizations.lock().unwrap().clone()
    }
}

async fn serve(listener: std::net::TcpListener, tls: Arc<rustls::ServerConfig>, app: Router) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                .await;
        });
    }
}

/// A fresh directory under the system's temporary directory.
pub(crate) fn scratch_dir(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "appliancectl-test-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

type Shared = State<Arc<Appliance>>;

/// The session check every authenticated call makes, as the contract describes it: the
/// answer to send instead, if the call is refused.
fn refusal(appliance: &Appliance, headers: &HeaderMap, password_change: bool) -> Option<Response> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    appliance
        .authorizations
        .lock()
        .unwrap()
        .push(header.clone());
    if header.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return Some(api_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Log in first.",
        ));
    }
    if !password_change && *appliance.must_change_password.lock().unwrap() {
        return Some(api_error(
            StatusCode::FORBIDDEN,
            "must_change_password",
            "The password must be changed before anything else.",
        ));
    }
    None
}

fn router(appliance: Arc<Appliance>) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/session", post(session))
        .route("/api/v1/account/password", put(password))
        .route("/api/v1/status", get(status))
        .route("/api/v1/system/reboot", post(reboot))
        .route("/api/v1/system/shutdown", post(shutdown))
        .route("/huge", get(huge))
        .with_state(appliance)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": "1.2.0", "slot": "A", "profile": "vm"}))
}

async fn session(State(appliance): Shared, Json(body): Json<Value>) -> Response {
    let right = body["username"] == USER
        && body["password"].as_str() == Some(appliance.password.lock().unwrap().as_str());
    if !right {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "The user name or the password is wrong.",
        );
    }
    let must_change = *appliance.must_change_password.lock().unwrap();
    Json(json!({"token": TOKEN, "must_change_password": must_change})).into_response()
}

async fn password(
    State(appliance): Shared,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = refusal(&appliance, &headers, true) {
        return refused;
    }
    let mut password = appliance.password.lock().unwrap();
    if body["current"].as_str() != Some(password.as_str()) {
        return api_error(
            StatusCode::FORBIDDEN,
            "wrong_password",
            "The current password is wrong.",
        );
    }
    let new = body["new"].as_str().unwrap_or("");
    if new.len() < 8 {
        return api_error(
            StatusCode::BAD_REQUEST,
            "weak_password",
            "The new password needs at least 8 characters.",
        );
    }
    *password = new.to_string();
    *appliance.must_change_password.lock().unwrap() = false;
    StatusCode::NO_CONTENT.into_response()
}

/// Key order and spacing as a server might send them; `--json` must pass them through.
pub(crate) const STATUS_BODY: &str = r#"{"model":"RS-1000","profile":"box","serial":"SN123","appliance_id":"ap-42","hostname":"appliance","version":"1.2.0","slot":"A","uptime_seconds":7380,"time":"2025-01-02T03:04:05Z","specs":{"cpu":{"model":"Xeon E-2224","logical_cores":4,"mhz":3400.0},"memory":{"total_bytes":4294967296,"available_bytes":3221225472},"disks":[{"name":"sda","size_bytes":68719476736,"model":"QEMU HARDDISK","rotational":false}],"nics":[{"name":"eth0","mac":"52:54:00:12:34:56","carrier":true,"speed_mbps":1000,"ipv4":["10.0.2.15/24"]}],"watchdog":"i6300esb"}}"#;

async fn status(State(appliance): Shared, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&appliance, &headers, false) {
        return refused;
    }
    ([("content-type", "application/json")], STATUS_BODY).into_response()
}

fn power(appliance: &Appliance, headers: &HeaderMap, what: &'static str) -> Response {
    if let Some(refused) = refusal(appliance, headers, false) {
        return refused;
    }
    appliance.power.lock().unwrap().push(what);
    (StatusCode::ACCEPTED, Json(json!({"status": what}))).into_response()
}

async fn reboot(State(appliance): Shared, headers: HeaderMap) -> Response {
    power(&appliance, &headers, "rebooting")
}

async fn shutdown(State(appliance): Shared, headers: HeaderMap) -> Response {
    power(&appliance, &headers, "powering_off")
}

/// An answer far larger than any the API gives (17 MiB), as a broken server might send.
async fn huge() -> Response {
    vec![b' '; 17 << 20].into_response()
}

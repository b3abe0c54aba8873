//! A vendor's update server for tests: packages built and signed with the dev key, and an
//! HTTPS server in this process whose certificate a test CA issued; and the appliance's
//! upload endpoint the packages may go to instead. Its HTTPS server ([`serve_https`]) also
//! serves other tests' endpoints (a backup destination).

// Each test file uses a part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use appliance_tests::dev::DevDaemon;
use appliance_tests::https::{self, Response};
use package::{Metadata, Requirement, Signer, Version};

pub(crate) fn dev_key() -> Signer {
    Signer::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../keys/dev/dev.key")).unwrap()
}

/// A dev-mode daemon (a vm on slot A) in a new state directory named after `tag`, which
/// trusts the dev key; and that directory.
pub(crate) fn daemon_trusting_dev_key(tag: &str) -> (DevDaemon, PathBuf) {
    let state = appliance_tests::dev::state_dir(tag);
    std::fs::create_dir_all(state.join("keys")).unwrap();
    std::fs::write(state.join("keys/dev.pub"), dev_key().public().to_text()).unwrap();
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    );
    (d, state)
}

/// "Needs `name` `min` or later."
pub(crate) fn needs(name: &str, min: &str) -> Vec<Requirement> {
    vec![Requirement {
        name: name.into(),
        min_version: min.parse().unwrap(),
    }]
}

/// `POST /api/v1/updates/upload` of `body`.
pub(crate) fn upload(d: &DevDaemon, token: &str, body: &[u8]) -> Response {
    upload_to(d, token, "/api/v1/updates/upload", body)
}

/// An upload to `path` (e.g. with a query).
pub(crate) fn upload_to(d: &DevDaemon, token: &str, path: &str, body: &[u8]) -> Response {
    let auth = format!("Bearer {token}");
    https::request(
        d.https,
        "POST",
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/octet-stream"),
        ],
        body,
        &d.trust(),
        Duration::from_secs(60),
    )
    .unwrap()
}

fn meta(version: &str, requires: Vec<Requirement>) -> Metadata {
    Metadata {
        version: version.parse::<Version>().unwrap(),
        profiles: vec!["vm".into()],
        requires,
        floor: None,
        created: 1_700_000_000,
    }
}

/// `base-VERSION-vm.pkg` in `out_dir`, its slot image (1 MiB) made in `work`.
pub(crate) fn base_package(work: &Path, out_dir: &Path, version: &str, requires: Vec<Requirement>) {
    base_package_of(work, out_dir, version, requires, 1);
}

/// [`base_package`] with a slot image of `mib` MiB.
pub(crate) fn base_package_of(
    work: &Path,
    out_dir: &Path,
    version: &str,
    requires: Vec<Requirement>,
    mib: u32,
) {
    let slot = work.join(format!("slot-{version}.sqfs"));
    let seed = version.bytes().map(u32::from).sum::<u32>();
    let data: Vec<u8> = (0..(mib << 20)).map(|i| ((i + seed) % 251) as u8).collect();
    std::fs::write(&slot, data).unwrap();
    package::build_base(
        &slot,
        &meta(version, requires),
        &out_dir.join(format!("base-{version}-vm.pkg")),
        &[dev_key()],
    )
    .unwrap();
}

/// `NAME-VERSION.pkg` in `out_dir`: a site package whose `index.html` names its version.
pub(crate) fn site_package(work: &Path, out_dir: &Path, name: &str, version: &str) {
    let tree = work.join(format!("tree-{name}-{version}"));
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("index.html"), format!("{name} {version}")).unwrap();
    package::build_site(
        &tree,
        name,
        &meta(version, vec![]),
        &out_dir.join(format!("{name}-{version}.pkg")),
        &[dev_key()],
    )
    .unwrap();
}

/// A test CA and a certificate for 127.0.0.1 it issued: (CA PEM, server TLS config).
pub(crate) fn certificates() -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Test update CA");
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    (ca_cert.pem(), Arc::new(config))
}

/// Serves the files under `root` over HTTPS on a loopback port, in a thread of its own.
pub(crate) fn update_server(root: PathBuf, tls: Arc<rustls::ServerConfig>) -> SocketAddr {
    serve_https(tls, move |req| {
        let path = root.join(req.uri().path().trim_start_matches('/'));
        async move {
            match std::fs::read(&path) {
                Ok(bytes) => hyper::Response::new(axum::body::Body::from(bytes)),
                Err(_) => hyper::Response::builder()
                    .status(404)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            }
        }
    })
}

/// [`update_server`], sending each package at about `per_second` bytes a second (a tenth
/// of it every 100 ms), as a slow link would.
pub(crate) fn paced_update_server(
    root: PathBuf,
    tls: Arc<rustls::ServerConfig>,
    per_second: usize,
) -> SocketAddr {
    serve_https(tls, move |req| {
        let path = root.join(req.uri().path().trim_start_matches('/'));
        let piece = (per_second / 10).max(1);
        async move {
            let Ok(bytes) = std::fs::read(&path) else {
                return hyper::Response::builder()
                    .status(404)
                    .body(axum::body::Body::empty())
                    .unwrap();
            };
            if path.extension().is_none_or(|e| e != "pkg") {
                return hyper::Response::new(axum::body::Body::from(bytes));
            }
            let len = bytes.len();
            let stream = futures::stream::unfold((bytes, 0usize), move |(bytes, at)| async move {
                if at >= bytes.len() {
                    return None;
                }
                if at > 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let end = (at + piece).min(bytes.len());
                let chunk = axum::body::Bytes::copy_from_slice(&bytes[at..end]);
                Some((Ok::<_, std::io::Error>(chunk), (bytes, end)))
            });
            hyper::Response::builder()
                .header("content-length", len)
                .body(axum::body::Body::from_stream(stream))
                .unwrap()
        }
    })
}

/// An HTTPS server on a loopback port, in a thread of its own: `handle` answers each
/// request (one connection at a time per client, HTTP/1.1).
pub(crate) fn serve_https<F, Fut>(tls: Arc<rustls::ServerConfig>, handle: F) -> SocketAddr
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<axum::body::Body>> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let handle = handle.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let answer = handle(req);
                        async move { Ok::<_, std::convert::Infallible>(answer.await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

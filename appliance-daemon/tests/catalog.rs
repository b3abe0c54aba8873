//! "Check for updates" and "Install this update" against the daemon in dev mode and a real
//! update server in this process (HTTPS, its certificate issued by a test CA that the
//! daemon is given): the signed catalog is fetched and verified, each package is listed as
//! installable or blocked with its reason, a package is installed by id through the
//! upload's installer, and a tampered catalog, an expired one and a package whose bytes do
//! not match the catalog are refused with their codes, changing nothing. The download key
//! the appliance issues is read the way the vendor's `image download-key verify` reads it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https::Response;
use package::availability;
use package::catalog::{self, Catalog};
use package::{Metadata, Requirement, Signer, Version};
use serde_json::{json, Value};

const DAY: u64 = 86_400;

fn body(r: &Response) -> Value {
    r.json()
        .unwrap_or_else(|e| panic!("status {}: {e:#}", r.status))
}

fn now() -> u64 {
    package::clock::now()
}

fn dev_key() -> Signer {
    Signer::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../keys/dev/dev.key")).unwrap()
}

fn slot_image(dir: &Path, version: &str) -> PathBuf {
    let path = dir.join(format!("slot-{version}.sqfs"));
    let seed = version.bytes().map(u32::from).sum::<u32>();
    let data: Vec<u8> = (0..(1u32 << 20))
        .map(|i| ((i + seed) % 251) as u8)
        .collect();
    std::fs::write(&path, data).unwrap();
    path
}

fn base_package(work: &Path, out_dir: &Path, version: &str, requires: Vec<Requirement>) {
    let slot = slot_image(work, version);
    package::build_base(
        &slot,
        &Metadata {
            version: version.parse::<Version>().unwrap(),
            profiles: vec!["vm".into()],
            requires,
            floor: None,
            created: 1_700_000_000,
        },
        &out_dir.join(format!("base-{version}-vm.pkg")),
        &[dev_key()],
    )
    .unwrap();
}

/// A test CA and a certificate for 127.0.0.1 it issued: (CA PEM, server TLS config).
fn certificates() -> (String, Arc<rustls::ServerConfig>) {
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
fn update_server(root: PathBuf, tls: Arc<rustls::ServerConfig>) -> SocketAddr {
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
                let root = root.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let path = root.join(req.uri().path().trim_start_matches('/'));
                            async move {
                                let answer = match std::fs::read(&path) {
                                    Ok(bytes) => {
                                        hyper::Response::new(axum::body::Body::from(bytes))
                                    }
                                    Err(_) => hyper::Response::builder()
                                        .status(404)
                                        .body(axum::body::Body::empty())
                                        .unwrap(),
                                };
                                Ok::<_, std::convert::Infallible>(answer)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

fn login(d: &DevDaemon) -> String {
    let r = d.call(
        "POST",
        "/api/v1/session",
        None,
        Some(r#"{"username":"admin","password":"password"}"#),
    );
    let t = body(&r)["token"].as_str().unwrap().to_string();
    let r = d.call(
        "PUT",
        "/api/v1/account/password",
        Some(&t),
        Some(r#"{"current":"password","new":"catalog-secret"}"#),
    );
    assert_eq!(r.status, 204);
    t
}

/// (id, installable, blocked_code) of each listed package, in the order listed.
fn verdicts(v: &Value) -> Vec<(String, bool, Option<String>)> {
    v["available"]
        .as_array()
        .unwrap_or_else(|| panic!("no available list in {v}"))
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["installable"].as_bool().unwrap(),
                p["blocked_code"].as_str().map(String::from),
            )
        })
        .collect()
}

fn refused(r: &Response, status: u16, code: &str) -> Value {
    let v = body(r);
    assert_eq!(r.status, status, "{code}: {v}");
    assert_eq!(v["error"], code, "{v}");
    v
}

#[test]
fn check_lists_installs_by_id_and_refuses_what_does_not_verify() {
    let state = state_dir("catalog");
    std::fs::create_dir_all(state.join("keys")).unwrap();
    std::fs::write(state.join("keys/dev.pub"), dev_key().public().to_text()).unwrap();
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    );
    let token = login(&d);
    let t = Some(token.as_str());

    // The vendor's side: three packages and their signed catalog.
    let work = state.join("work");
    let site = state.join("server");
    let stable = site.join("stable");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&stable).unwrap();
    base_package(&work, &stable, "1.0.1", vec![]);
    let needs_101 = vec![Requirement {
        name: "base".into(),
        min_version: "1.0.1".parse().unwrap(),
    }];
    base_package(&work, &stable, "1.0.2", needs_101);
    base_package(&work, &stable, "1.0.3", vec![]);
    let built = catalog::build_dir(&stable, &[dev_key()], now(), now() + 7 * DAY).unwrap();
    let good_json = std::fs::read(&built.json).unwrap();
    let good_sig = std::fs::read(&built.sig).unwrap();
    // 1.0.3 is altered on the server after the catalog was signed.
    let altered = stable.join("base-1.0.3-vm.pkg");
    let mut bytes = std::fs::read(&altered).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&altered, bytes).unwrap();

    let (ca_pem, tls) = certificates();
    let server = update_server(site.clone(), tls);

    // Nothing to check before a server is configured.
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    refused(&r, 409, "no_update_server");
    let setting = json!({"url": format!("https://{server}/stable"), "ca_certificate": ca_pem});
    let r = d.call(
        "PUT",
        "/api/v1/updates/server",
        t,
        Some(&setting.to_string()),
    );
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(body(&r)["url"], format!("https://{server}/stable/"));
    let r = d.call(
        "PUT",
        "/api/v1/updates/server",
        t,
        Some(r#"{"url":"http://example.com/"}"#),
    );
    refused(&r, 422, "invalid_update_server");

    // Check: one installable, one blocked by its requirement, with the reason.
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let listed = verdicts(&body(&r));
    let expected = vec![
        ("base-1.0.1-vm".to_string(), true, None),
        (
            "base-1.0.2-vm".to_string(),
            false,
            Some("missing_requirement".to_string()),
        ),
        ("base-1.0.3-vm".to_string(), true, None),
    ];
    assert_eq!(listed, expected);
    let updates = body(&d.call("GET", "/api/v1/updates", t, None));
    assert_eq!(verdicts(&updates), expected);
    assert_eq!(
        updates["available"][1]["blocked"],
        "base 1.0.2 needs base 1.0.1 or later first; this appliance has 1.0.0"
    );
    assert!(updates["catalog"]["expires"].as_u64().unwrap() > now());

    // The download key, read as the vendor's tool reads it.
    let r = d.call("GET", "/api/v1/updates/download-key", t, None);
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(
        text.starts_with("-----BEGIN APPLIANCE DOWNLOAD KEY-----\n"),
        "{text}"
    );
    let key = package::download_key::verify(&text, now()).unwrap();
    let status = body(&d.call("GET", "/api/v1/status", t, None));
    assert_eq!(
        key.body.appliance_id,
        status["appliance_id"].as_str().unwrap()
    );
    assert_eq!(key.body.installed.base.to_string(), "1.0.0");
    assert_eq!(key.body.installed.profile, "vm");
    assert_eq!(key.body.expires - key.body.issued, 2400 * 60);
    let vendor = Catalog::from_json(&good_json).unwrap();
    let installable: Vec<&str> = availability::assess_all(&vendor, &key.body.installed)
        .iter()
        .filter(|a| a.blocked.is_none())
        .map(|a| a.entry.id.as_str())
        .collect();
    assert_eq!(installable, ["base-1.0.1-vm", "base-1.0.3-vm"]);
    // The same key pair each time: the appliance's identity.
    let again = d.call("GET", "/api/v1/updates/download-key", t, None);
    let again = package::download_key::verify(std::str::from_utf8(&again.body).unwrap(), now());
    assert_eq!(again.unwrap().key_id, key.key_id);

    // A tampered catalog: a later expiry written in, the old signature kept.
    let tampered = String::from_utf8(good_json.clone()).unwrap().replace(
        &format!("\"expires\": {}", vendor.expires),
        &format!("\"expires\": {}", vendor.expires + 365 * DAY),
    );
    assert_ne!(tampered.as_bytes(), good_json.as_slice());
    std::fs::write(&built.json, &tampered).unwrap();
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    refused(&r, 502, "bad_signature");
    let updates = body(&d.call("GET", "/api/v1/updates", t, None));
    assert_eq!(verdicts(&updates), expected, "the last good catalog stays");
    assert_eq!(updates["last_check_failure"]["code"], "bad_signature");

    // An expired catalog, properly signed.
    let expired = Catalog {
        issued: now() - 10 * DAY,
        expires: now() - DAY,
        ..vendor.clone()
    };
    let (json, sig) = catalog::sign(&expired, &[dev_key()]).unwrap();
    std::fs::write(&built.json, json).unwrap();
    std::fs::write(&built.sig, sig).unwrap();
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    let v = refused(&r, 502, "catalog_expired");
    assert!(v["message"].as_str().unwrap().contains("NTP"), "{v}");
    assert_eq!(
        verdicts(&body(&d.call("GET", "/api/v1/updates", t, None))),
        expected
    );

    std::fs::write(&built.json, &good_json).unwrap();
    std::fs::write(&built.sig, &good_sig).unwrap();
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    assert_eq!(r.status, 200);
    assert!(body(&r)["last_check_failure"].is_null());

    // Install by id: refusals first, each changing nothing.
    let grubenv = || std::fs::read(state.join("grubenv")).ok();
    let before = grubenv();
    let install = |id: &str| {
        d.call(
            "POST",
            "/api/v1/updates/install",
            t,
            Some(&json!({ "id": id }).to_string()),
        )
    };
    refused(&install("base-9.9.9-vm"), 404, "unknown_package");
    refused(&install("base-1.0.2-vm"), 422, "missing_requirement");
    let v = refused(&install("base-1.0.3-vm"), 502, "catalog_mismatch");
    assert!(v["message"].as_str().unwrap().contains("sha256"), "{v}");
    assert_eq!(grubenv(), before, "boot order untouched");
    assert!(!state.join("slot-b.img").exists(), "slot B never written");
    let cache = state.join("update-cache");
    let leftovers = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "nothing left in the download cache");
    let updates = body(&d.call("GET", "/api/v1/updates", t, None));
    assert!(updates["pending"].is_null());
    assert_eq!(updates["history"][0]["kind"], "failed");

    let r = install("base-1.0.1-vm");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(body(&r)["slot"], "B");
    assert_eq!(
        std::fs::read(state.join("slot-b.img")).unwrap(),
        std::fs::read(work.join("slot-1.0.1.sqfs")).unwrap()
    );
    let env = String::from_utf8(grubenv().unwrap()).unwrap();
    assert!(env.contains("ORDER=B A") && env.contains("B_OK=1"), "{env}");
    let updates = body(&d.call("GET", "/api/v1/updates", t, None));
    assert_eq!(updates["pending"]["version"], "1.0.1");
    assert_eq!(updates["history"][0]["kind"], "installed");
    let after = verdicts(&updates);
    assert_eq!(
        after[0].2.as_deref(),
        Some("already_installed"),
        "{after:?}"
    );
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        0,
        "the download is removed once installed"
    );
}

//! The daemon binary in dev mode on a random loopback port: real TLS (trusting exactly the
//! certificate it wrote), the health JSON, 404 JSON, the HTTP redirect, and the certificate
//! reused by a second start.

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https::{self, Trust};
use std::path::Path;
use std::time::Duration;

fn start(state: &Path, with_http: bool) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        with_http,
        &[("APPLIANCE_SLOT", "B"), ("APPLIANCE_PROFILE", "box")],
    )
}

const T: Duration = Duration::from_secs(10);

#[test]
fn health_and_not_found_over_pinned_tls() {
    let state = state_dir("health");
    let d = start(&state, true);
    let trust = Trust::pinned_pem(&state.join("tls/cert.pem")).unwrap();

    let r = https::get(d.https, "/api/v1/health", &trust, T).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.protocol, "TLSv1_3");
    let v = r.json().unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["slot"], "B");
    assert_eq!(v["profile"], "box");

    let r = https::get(d.https, "/api/v1/nope", &trust, T).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json().unwrap();
    assert_eq!(v["error"], "not_found");
    assert!(v["message"].as_str().unwrap().contains("/api/v1/nope"));

    // Another certificate is refused: the pin is real.
    let other_state = state_dir("other");
    let other = start(&other_state, false);
    assert!(https::get(other.https, "/api/v1/health", &trust, T).is_err());

    // Plain HTTP redirects to the same path over HTTPS.
    let http = d.http.unwrap();
    let mut s = std::net::TcpStream::connect(http).unwrap();
    use std::io::{Read, Write};
    s.write_all(
        b"GET /appliance?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let r = https::parse_response(&raw).unwrap();
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("https://127.0.0.1:{}/appliance?x=1", d.https.port()).as_str())
    );
    drop((d, other));
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&other_state);
}

#[test]
fn second_start_serves_the_same_certificate() {
    let state = state_dir("restart");
    let first = start(&state, false);
    let r1 = https::get(first.https, "/api/v1/health", &Trust::Any, T).unwrap();
    drop(first);
    let pem = std::fs::read(state.join("tls/cert.pem")).unwrap();
    let second = start(&state, false);
    let r2 = https::get(second.https, "/api/v1/health", &Trust::Any, T).unwrap();
    assert_eq!(r1.peer_cert, r2.peer_cert);
    assert!(r1.peer_cert.is_some());
    assert_eq!(std::fs::read(state.join("tls/cert.pem")).unwrap(), pem);
    drop(second);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn page_assets_are_served_and_an_unknown_one_is_not_found() {
    let state = state_dir("assets");
    let d = start(&state, false);
    let trust = Trust::pinned_pem(&state.join("tls/cert.pem")).unwrap();
    for (file, kind) in [
        ("app.css", "text/css; charset=utf-8"),
        ("progress.js", "text/javascript; charset=utf-8"),
        ("upload.js", "text/javascript; charset=utf-8"),
        ("network.js", "text/javascript; charset=utf-8"),
    ] {
        let r = https::get(d.https, &format!("/appliance/static/{file}"), &trust, T).unwrap();
        assert_eq!(r.status, 200, "{file}");
        assert_eq!(r.header("content-type"), Some(kind), "{file}");
        assert_eq!(r.header("cache-control"), Some("max-age=3600"), "{file}");
        assert!(!r.body.is_empty(), "{file}");
    }
    let r = https::get(d.https, "/appliance/static/nope.js", &trust, T).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json().unwrap()["error"], "not_found");
}

//! The certificate store against the daemon binary in dev mode, over real TLS on loopback:
//! certificates made by a test CA (the openssl command) imported as PEM and as PKCS#12,
//! assigned to 127.0.0.2 and 127.0.0.3 and each served on its own address (read by a
//! rustls client); a PKCS#12 export opened by `openssl pkcs12` and imported back; a CSR
//! made on the appliance verified by `openssl req -verify`, signed by the test CA, imported
//! alone (its key is the request's) and served; refusals that change nothing; and the
//! assignments still served after a restart.

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https::{self, Response, Trust};
use appliance_tests::openssl::{der_of, openssl};
use appliance_tests::Api;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);

fn start(state: &Path) -> DevDaemon {
    // Every loopback address (127.0.0.0/8 is all on lo): the daemon tells them apart by the
    // local address a connection arrived on.
    DevDaemon::start_with(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "box")],
        &["--listen", "0.0.0.0:0"],
    )
}

fn at(d: &DevDaemon, ip: [u8; 4]) -> SocketAddr {
    SocketAddr::from((ip, d.https.port()))
}

/// The leaf certificate served on `ip` (no server name sent).
fn served(d: &DevDaemon, ip: [u8; 4]) -> Vec<u8> {
    https::get(at(d, ip), "/api/v1/health", &Trust::Any, TIMEOUT)
        .expect("health over TLS")
        .peer_cert
        .expect("a certificate")
        .to_vec()
}

/// The leaf served on `ip` to a client asking for `name` (SNI), read with `openssl s_client`.
fn served_for_name(d: &DevDaemon, ip: [u8; 4], name: &str) -> Vec<u8> {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &at(d, ip).to_string(),
            "-servername",
            name,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    der_of(&out.stdout)
}

/// The admin password of these tests, given again with every call (`X-Current-Password`:
/// import, assign and delete ask for it, the others ignore it).
const PASSWORD: &str = "certificates-secret-1";

fn send(
    d: &DevDaemon,
    token: &str,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut headers = vec![("X-Current-Password", PASSWORD)];
    headers.extend_from_slice(extra);
    send_as_is(d, token, method, path, &headers, body)
}

/// [`send`] without the password.
fn send_as_is(
    d: &DevDaemon,
    token: &str,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    https::request(
        at(d, [127, 0, 0, 1]),
        method,
        path,
        &headers,
        body,
        &Trust::Any,
        TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"))
}

fn json(
    d: &DevDaemon,
    token: &str,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> Response {
    send(
        d,
        token,
        method,
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

/// A key and a certificate for `ip`, signed by the test CA in `dir`.
fn issue(dir: &Path, name: &str, ip: &str) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &format!("{name}.key"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={name}.example.test"),
            "-addext",
            &format!("subjectAltName=DNS:{name}.example.test,IP:{ip}"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    sign(dir, name);
}

fn sign(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "90",
            "-copy_extensions",
            "copy",
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

#[test]
fn certificates_are_imported_assigned_served_exported_and_requested() {
    let state = state_dir("certificates");
    let work = state_dir("certificates-work");
    let w = work.as_path();
    let mut d = start(&state);
    let token = d.first_login(PASSWORD);
    let self_signed = served(&d, [127, 0, 0, 1]);

    // The test CA and two certificates.
    openssl(
        w,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    );
    openssl(
        w,
        &[
            "req",
            "-x509",
            "-key",
            "ca.key",
            "-subj",
            "/CN=Test CA",
            "-days",
            "30",
            "-out",
            "ca.crt",
        ],
    );
    issue(w, "alpha", "127.0.0.2");
    issue(w, "beta", "127.0.0.3");
    let read = |n: &str| std::fs::read(w.join(n)).unwrap();

    // Refusals first: nothing stored, nothing served differently. Without the password
    // given again, or with a wrong one, nothing is read.
    let alpha_pem = [read("alpha.crt"), read("ca.crt"), read("alpha.key")].concat();
    let path = "/api/v1/certificates/import";
    let r = send_as_is(&d, &token, "POST", path, &[], &alpha_pem);
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (403, "password_required".into())
    );
    let wrong = [("X-Current-Password", "certificates-secret-2")];
    let r = send_as_is(&d, &token, "POST", path, &wrong, &alpha_pem);
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (403, "wrong_password".into())
    );
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[],
        b"certainly not a certificate",
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "invalid_certificate");
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[],
        &vec![b'A'; 10 << 20],
    );
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["error"], "too_large");
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[],
        &[read("alpha.crt"), read("beta.key")].concat(),
    );
    assert_eq!(r.value()["error"], "certificate_key_mismatch");
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[],
        &read("alpha.crt"),
    );
    assert_eq!(r.value()["error"], "certificate_without_key");
    let r = send(&d, &token, "GET", "/api/v1/certificates", &[], b"");
    assert_eq!(
        r.value().as_array().unwrap().len(),
        1,
        "only the self-signed one"
    );

    // alpha as PEM (certificate, chain, key), beta as PKCS#12.
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import?name=Alpha",
        &[],
        &alpha_pem,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let alpha = r.value()["certificate"].clone();
    assert_eq!(alpha["name"], "Alpha");
    assert_eq!(alpha["chain_length"], 1);
    let alpha_id = alpha["id"].as_str().unwrap().to_string();
    openssl(
        w,
        &[
            "pkcs12",
            "-export",
            "-in",
            "beta.crt",
            "-inkey",
            "beta.key",
            "-certfile",
            "ca.crt",
            "-name",
            "Beta",
            "-passout",
            "pass:beta-p12-pass",
            "-out",
            "beta.p12",
        ],
    );
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[("X-Password", "wrong-password")],
        &read("beta.p12"),
    );
    assert_eq!(r.value()["error"], "wrong_password");
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[("X-Password", "beta-p12-pass")],
        &read("beta.p12"),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let beta = r.value()["certificate"].clone();
    assert_eq!(beta["name"], "Beta");
    let beta_id = beta["id"].as_str().unwrap().to_string();
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[],
        &alpha_pem,
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        served(&d, [127, 0, 0, 2]),
        self_signed,
        "imported, not yet assigned"
    );

    // Assigning asks for the password again: without it, nothing is served differently.
    let assign_path = format!("/api/v1/certificates/{alpha_id}/assign");
    let to_alpha = br#"{"addresses": ["127.0.0.2"]}"#;
    let ct = ("Content-Type", "application/json");
    let r = send_as_is(&d, &token, "PUT", &assign_path, &[ct], to_alpha);
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (403, "password_required".into())
    );
    let r = send_as_is(&d, &token, "PUT", &assign_path, &[ct, wrong[0]], to_alpha);
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (403, "wrong_password".into())
    );
    assert_eq!(served(&d, [127, 0, 0, 2]), self_signed);

    // Assigned: each served on its own address at once; the rest keep the self-signed one.
    let started = Instant::now();
    let r = json(
        &d,
        &token,
        "PUT",
        &format!("/api/v1/certificates/{alpha_id}/assign"),
        &serde_json::json!({"addresses": ["127.0.0.2"]}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(served(&d, [127, 0, 0, 2]), der_of(&read("alpha.crt")));
    println!(
        "assign to first connection served with it: {:?}",
        started.elapsed()
    );
    let r = json(
        &d,
        &token,
        "PUT",
        &format!("/api/v1/certificates/{beta_id}/assign"),
        &serde_json::json!({"addresses": ["127.0.0.3"]}),
    );
    assert_eq!(r.value()["assigned"], serde_json::json!(["127.0.0.3"]));
    assert_eq!(served(&d, [127, 0, 0, 2]), der_of(&read("alpha.crt")));
    assert_eq!(served(&d, [127, 0, 0, 3]), der_of(&read("beta.crt")));
    assert_eq!(served(&d, [127, 0, 0, 1]), self_signed);
    // The server name is the second key: on an address with no assignment, an assigned
    // certificate naming the host asked for; the address always wins.
    assert_eq!(
        served_for_name(&d, [127, 0, 0, 1], "alpha.example.test"),
        der_of(&read("alpha.crt"))
    );
    assert_eq!(
        served_for_name(&d, [127, 0, 0, 1], "other.example.test"),
        self_signed
    );
    assert_eq!(
        served_for_name(&d, [127, 0, 0, 3], "alpha.example.test"),
        der_of(&read("beta.crt"))
    );
    let r = json(
        &d,
        &token,
        "PUT",
        &format!("/api/v1/certificates/{beta_id}/assign"),
        &serde_json::json!({"addresses": ["not-an-ip"]}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        served(&d, [127, 0, 0, 3]),
        der_of(&read("beta.crt")),
        "a refused assignment changes nothing"
    );

    // Export: PEM and DER without the key; PKCS#12 only with a password, opened by openssl.
    let export = |id: &str, body: serde_json::Value| {
        json(
            &d,
            &token,
            "POST",
            &format!("/api/v1/certificates/{id}/export"),
            &body,
        )
    };
    let r = export(&beta_id, serde_json::json!({"format": "der"}));
    assert_eq!(r.body, der_of(&read("beta.crt")));
    let r = export(&beta_id, serde_json::json!({"format": "pem"}));
    assert!(!String::from_utf8_lossy(&r.body).contains("PRIVATE KEY"));
    assert_eq!(der_of(&r.body), der_of(&read("beta.crt")));
    for body in [
        serde_json::json!({"format": "pkcs12"}),
        serde_json::json!({"format": "pkcs12", "password": "short"}),
    ] {
        let r = export(&beta_id, body);
        assert_eq!(r.status, 422);
        assert_eq!(r.value()["error"], "weak_password");
    }
    let r = export(
        &beta_id,
        serde_json::json!({"format": "pkcs12", "password": "export-pass-1"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-pkcs12"));
    std::fs::write(w.join("export.p12"), &r.body).unwrap();
    let opened = openssl(
        w,
        &[
            "pkcs12",
            "-in",
            "export.p12",
            "-passin",
            "pass:export-pass-1",
            "-nodes",
        ],
    );
    assert!(opened.contains("PRIVATE KEY"), "{opened}");
    assert_eq!(der_of(opened.as_bytes()), der_of(&read("beta.crt")));
    assert_eq!(
        opened.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf and chain"
    );
    let key_pub = openssl(w, &["pkey", "-in", "beta.key", "-pubout"]);
    std::fs::write(w.join("opened.pem"), &opened).unwrap();
    assert_eq!(
        openssl(w, &["pkey", "-in", "opened.pem", "-pubout"]),
        key_pub,
        "the key is beta's"
    );
    let audit = send(&d, &token, "GET", "/api/v1/audit", &[], b"");
    assert!(String::from_utf8_lossy(&audit.body).contains("certificates.export"));

    // Deleting: not while assigned; then the export imports back as the same certificate.
    let r = send(
        &d,
        &token,
        "DELETE",
        &format!("/api/v1/certificates/{beta_id}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.value()["error"], "certificate_in_use");
    json(
        &d,
        &token,
        "PUT",
        &format!("/api/v1/certificates/{beta_id}/assign"),
        &serde_json::json!({"addresses": []}),
    );
    assert_eq!(served(&d, [127, 0, 0, 3]), self_signed);
    let beta_path = format!("/api/v1/certificates/{beta_id}");
    let r = send_as_is(&d, &token, "DELETE", &beta_path, &[], b"");
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (403, "password_required".into())
    );
    let r = send(&d, &token, "GET", "/api/v1/certificates", &[], b"");
    assert!(
        String::from_utf8_lossy(&r.body).contains(beta_id.as_str()),
        "still there"
    );
    let r = send(
        &d,
        &token,
        "DELETE",
        &format!("/api/v1/certificates/{beta_id}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 204);
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[("X-Password", "export-pass-1")],
        &read("export.p12"),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["certificate"]["id"], beta_id.as_str());
    json(
        &d,
        &token,
        "PUT",
        &format!("/api/v1/certificates/{beta_id}/assign"),
        &serde_json::json!({"addresses": ["127.0.0.3"]}),
    );
    assert_eq!(served(&d, [127, 0, 0, 3]), der_of(&read("beta.crt")));

    // A request: key made here, CSR verified and signed by the CA, imported alone, served.
    let r = json(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/request",
        &serde_json::json!({"names": ["gamma.example.test", "127.0.0.4"]}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let csr = r.value()["csr"].as_str().unwrap().to_string();
    std::fs::write(w.join("gamma.csr"), &csr).unwrap();
    openssl(w, &["req", "-verify", "-in", "gamma.csr", "-noout"]);
    let text = openssl(w, &["req", "-in", "gamma.csr", "-noout", "-text"]);
    assert!(
        text.contains("DNS:gamma.example.test") && text.contains("IP Address:127.0.0.4"),
        "{text}"
    );
    sign(w, "gamma");
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[],
        &read("gamma.crt"),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["from_request"], true);
    let gamma_id = r.value()["certificate"]["id"].as_str().unwrap().to_string();
    json(
        &d,
        &token,
        "PUT",
        &format!("/api/v1/certificates/{gamma_id}/assign"),
        &serde_json::json!({"addresses": ["127.0.0.4"]}),
    );
    assert_eq!(served(&d, [127, 0, 0, 4]), der_of(&read("gamma.crt")));

    // After a restart, each address still serves its certificate.
    drop(d);
    d = start(&state);
    assert_eq!(served(&d, [127, 0, 0, 2]), der_of(&read("alpha.crt")));
    assert_eq!(served(&d, [127, 0, 0, 3]), der_of(&read("beta.crt")));
    assert_eq!(served(&d, [127, 0, 0, 4]), der_of(&read("gamma.crt")));
    assert_eq!(served(&d, [127, 0, 0, 1]), self_signed);
    drop(d);
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&work);
}

/// The test CA in `dir` (`ca.key`, `ca.crt`).
fn make_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-key",
            "ca.key",
            "-subj",
            "/CN=Test CA",
            "-days",
            "30",
            "-out",
            "ca.crt",
        ],
    );
}

/// Whether a TLS handshake with only `version` (`-tls1_2`, `-tls1_3`) succeeds on `ip`.
fn handshake_with(d: &DevDaemon, ip: [u8; 4], version: &str) -> bool {
    Command::new("openssl")
        .args(["s_client", "-connect", &at(d, ip).to_string(), version])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client")
        .status
        .success()
}

/// The `Strict-Transport-Security` header of an answer served on `ip`.
fn hsts_on(d: &DevDaemon, ip: [u8; 4]) -> Option<String> {
    https::get(at(d, ip), "/api/v1/health", &Trust::Any, TIMEOUT)
        .expect("health over TLS")
        .header("strict-transport-security")
        .map(str::to_string)
}

fn audit_actions(d: &DevDaemon, token: &str, action: &str) -> Vec<String> {
    let r = send(d, token, "GET", "/api/v1/audit?limit=500", &[], b"");
    assert_eq!(r.status, 200);
    r.value()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn tls_settings_minimum_version_and_hsts() {
    let state = state_dir("certificates-tls");
    let work = state_dir("certificates-tls-work");
    let w = work.as_path();
    let mut d = start(&state);
    let token = d.first_login(PASSWORD);

    // Defaults: TLS 1.2 and 1.3, HSTS on but not sent with the self-signed certificate.
    let r = send(&d, &token, "GET", "/api/v1/certificates/settings", &[], b"");
    assert_eq!(
        r.value(),
        serde_json::json!({"min_tls_version": "1.2", "hsts": true})
    );
    assert!(handshake_with(&d, [127, 0, 0, 1], "-tls1_2"));
    assert_eq!(hsts_on(&d, [127, 0, 0, 1]), None, "self-signed: no HSTS");

    // A CA-signed certificate on 127.0.0.2: HSTS there, not on the self-signed addresses.
    make_ca(w);
    issue(w, "delta", "127.0.0.2");
    let read = |n: &str| std::fs::read(w.join(n)).unwrap();
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[],
        &[read("delta.crt"), read("ca.crt"), read("delta.key")].concat(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.value()["certificate"]["id"].as_str().unwrap().to_string();
    assert_eq!(hsts_on(&d, [127, 0, 0, 2]), None, "not assigned yet");
    json(
        &d,
        &token,
        "PUT",
        &format!("/api/v1/certificates/{id}/assign"),
        &serde_json::json!({"addresses": ["127.0.0.2"]}),
    );
    assert_eq!(served(&d, [127, 0, 0, 2]), der_of(&read("delta.crt")));
    assert_eq!(
        hsts_on(&d, [127, 0, 0, 2]).as_deref(),
        Some("max-age=31536000")
    );
    assert_eq!(hsts_on(&d, [127, 0, 0, 1]), None);

    // Refusals change nothing.
    for body in [
        serde_json::json!({"min_tls_version": "1.1", "hsts": true}),
        serde_json::json!({"min_tls_version": "1.3"}),
    ] {
        let r = json(&d, &token, "PUT", "/api/v1/certificates/settings", &body);
        assert!(r.status == 422 || r.status == 400, "{}", r.status);
    }
    assert!(handshake_with(&d, [127, 0, 0, 2], "-tls1_2"));

    // TLS 1.3 only: a TLS 1.2 handshake fails on every address, TLS 1.3 succeeds.
    let r = json(
        &d,
        &token,
        "PUT",
        "/api/v1/certificates/settings",
        &serde_json::json!({"min_tls_version": "1.3", "hsts": true}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["min_tls_version"], "1.3");
    for ip in [[127, 0, 0, 1], [127, 0, 0, 2]] {
        assert!(
            !handshake_with(&d, ip, "-tls1_2"),
            "TLS 1.2 refused on {ip:?}"
        );
        assert!(
            handshake_with(&d, ip, "-tls1_3"),
            "TLS 1.3 served on {ip:?}"
        );
    }
    assert!(hsts_on(&d, [127, 0, 0, 2]).is_some());

    // HSTS off: absent everywhere.
    let r = json(
        &d,
        &token,
        "PUT",
        "/api/v1/certificates/settings",
        &serde_json::json!({"min_tls_version": "1.3", "hsts": false}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(hsts_on(&d, [127, 0, 0, 2]), None);
    let audited = audit_actions(&d, &token, "certificates.settings");
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(
        audited.iter().any(|a| a.contains("HSTS off")),
        "{audited:?}"
    );

    // Kept across a restart (they live in the store's index).
    drop(d);
    d = start(&state);
    assert!(!handshake_with(&d, [127, 0, 0, 2], "-tls1_2"));
    assert!(handshake_with(&d, [127, 0, 0, 2], "-tls1_3"));
    assert_eq!(hsts_on(&d, [127, 0, 0, 2]), None);
    let token = d.token(PASSWORD);
    let r = send(&d, &token, "GET", "/api/v1/certificates/settings", &[], b"");
    assert_eq!(
        r.value(),
        serde_json::json!({"min_tls_version": "1.3", "hsts": false})
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn expiry_warnings_are_logged_once_and_shown_on_status() {
    let state = state_dir("certificates-expiry");
    let work = state_dir("certificates-expiry-work");
    let w = work.as_path();
    let mut d = start(&state);
    let token = d.first_login(PASSWORD);
    let r = send(&d, &token, "GET", "/api/v1/status", &[], b"");
    assert_eq!(r.value()["certificates_expiring"], serde_json::json!([]));
    // The status answer is made at most once a second: the next one is made anew.
    std::thread::sleep(Duration::from_millis(1100));

    // A certificate valid for 5 more days: the 30- and 7-day warnings, not the 1-day one.
    make_ca(w);
    openssl(
        w,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "short.key",
            "-subj",
            "/CN=short.example.test",
            "-addext",
            "subjectAltName=DNS:short.example.test",
            "-out",
            "short.csr",
        ],
    );
    openssl(
        w,
        &[
            "x509",
            "-req",
            "-in",
            "short.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "5",
            "-copy_extensions",
            "copy",
            "-out",
            "short.crt",
        ],
    );
    let read = |n: &str| std::fs::read(w.join(n)).unwrap();
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import?name=Short-lived",
        &[],
        &[read("short.crt"), read("short.key")].concat(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.value()["certificate"]["id"].as_str().unwrap().to_string();
    let warnings = r.value()["warnings"].to_string();
    assert!(warnings.contains("expires_soon"), "{warnings}");

    let check = |d: &DevDaemon, token: &str| {
        let logged = audit_actions(d, token, "certificates.expiry");
        assert_eq!(logged.len(), 2, "{logged:?}");
        assert!(logged.iter().any(|l| l.contains("the 30-day warning")));
        assert!(logged.iter().any(|l| l.contains("the 7-day warning")));
        // 5 days from openssl's now: 5 whole days left within the same second, then 4.
        assert!(
            logged.iter().all(|l| l.contains(&id)
                && l.contains("Short-lived")
                && (l.contains("expires in 4 days") || l.contains("expires in 5 days"))),
            "{logged:?}"
        );
        let r = send(d, token, "GET", "/api/v1/status", &[], b"");
        let expiring = r.value()["certificates_expiring"].clone();
        assert_eq!(expiring.as_array().map(Vec::len), Some(1), "{expiring}");
        assert_eq!(expiring[0]["id"], id.as_str());
        assert_eq!(expiring[0]["name"], "Short-lived");
        let left = expiring[0]["days_left"].as_i64().unwrap();
        assert!(left == 4 || left == 5, "{expiring}");
    };
    check(&d, &token);
    let page = d.web_page(PASSWORD, "/appliance/status");
    assert!(
        page.contains("Certificates expiring within 30 days"),
        "{page}"
    );
    assert!(
        page.contains("Short-lived") && (page.contains("4 days") || page.contains("5 days")),
        "{page}"
    );

    // A restart checks again at start, and does not repeat what was logged.
    drop(d);
    d = start(&state);
    let token = d.token(PASSWORD);
    // The start-up check runs beside the listener: give it a moment.
    std::thread::sleep(Duration::from_secs(2));
    check(&d, &token);
    drop(d);
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn rsa_requests_are_signed_imported_and_served() {
    let state = state_dir("certificates-rsa");
    let work = state_dir("certificates-rsa-work");
    let w = work.as_path();
    let d = start(&state);
    let token = d.first_login(PASSWORD);
    make_ca(w);

    let started = Instant::now();
    let r = json(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/request",
        &serde_json::json!({"names": ["rsa.example.test", "127.0.0.5"], "key": "rsa-2048"}),
    );
    println!("RSA 2048 request made in {:?}", started.elapsed());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["key_type"], "rsa-2048");
    std::fs::write(w.join("rsa.csr"), r.value()["csr"].as_str().unwrap()).unwrap();
    openssl(w, &["req", "-verify", "-in", "rsa.csr", "-noout"]);
    let text = openssl(w, &["req", "-in", "rsa.csr", "-noout", "-text"]);
    assert!(
        text.contains("rsaEncryption") && text.contains("(2048 bit)"),
        "{text}"
    );
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
    let r = json(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/request",
        &serde_json::json!({"names": ["rsa.example.test"], "key": "rsa-1024"}),
    );
    assert_eq!(r.status, 422);

    sign(w, "rsa");
    let r = send(
        &d,
        &token,
        "POST",
        "/api/v1/certificates/import",
        &[],
        &std::fs::read(w.join("rsa.crt")).unwrap(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["from_request"], true);
    assert_eq!(r.value()["certificate"]["key_type"], "rsa-2048");
    let id = r.value()["certificate"]["id"].as_str().unwrap().to_string();
    json(
        &d,
        &token,
        "PUT",
        &format!("/api/v1/certificates/{id}/assign"),
        &serde_json::json!({"addresses": ["127.0.0.5"]}),
    );
    assert_eq!(
        served(&d, [127, 0, 0, 5]),
        der_of(&std::fs::read(w.join("rsa.crt")).unwrap())
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&work);
}

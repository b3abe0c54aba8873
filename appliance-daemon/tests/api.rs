//! The API against the real daemon binary in dev mode (real TLS, real store on disk):
//! first login and the forced password change, lockout, bad input, audit, reboot request,
//! and the web UI's login form and CSRF refusal.

use appliance_tests::api::token_of;
use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::Api;
use std::path::Path;
use std::time::Duration;

fn start(tag: &str) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state_dir(tag),
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    )
}

#[test]
fn first_login_forces_a_password_change() {
    let d = start("first-login");

    let r = d.call("GET", "/api/v1/status", None, None);
    assert_eq!(r.status, 401);
    assert_eq!(r.value()["error"], "unauthorized");

    let r = d.login("password");
    assert_eq!(r.value()["must_change_password"], true);
    let token = token_of(&r);
    let other = d.token("password");

    let r = d.call("GET", "/api/v1/status", Some(&token), None);
    assert_eq!(r.status, 403);
    assert_eq!(r.value()["error"], "must_change_password");

    let change = |current: &str, new: &str| {
        d.call(
            "PUT",
            "/api/v1/account/password",
            Some(&token),
            Some(&format!(r#"{{"current":"{current}","new":"{new}"}}"#)),
        )
    };
    let r = change("not-it", "a-new-secret");
    assert_eq!(r.status, 403);
    assert_eq!(r.value()["error"], "wrong_password");
    let r = change("password", "short");
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "weak_password");
    let r = change("password", "password");
    assert_eq!(r.status, 422);
    // Refused changes changed nothing: the factory password still logs in.
    assert_eq!(d.login("password").status, 200);

    assert_eq!(change("password", "a-new-secret").status, 204);
    let r = d.call("GET", "/api/v1/status", Some(&token), None);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let status = r.value();
    assert_eq!(status["slot"], "A");
    assert_eq!(status["profile"], "vm");
    assert_eq!(status["model"], "Virtual Appliance");
    assert_eq!(status["appliance_id"].as_str().map(str::len), Some(32));
    assert!(status["specs"]["cpu"]["logical_cores"].as_u64().unwrap() >= 1);
    assert!(status["specs"]["memory"]["total_bytes"].as_u64().unwrap() > 0);
    assert!(status["time"].as_str().unwrap().ends_with('Z'));

    // Sessions opened with the old password are gone; the old password is refused.
    assert_eq!(
        d.call("GET", "/api/v1/status", Some(&other), None).status,
        401
    );
    let r = d.login("password");
    assert_eq!(r.status, 401);
    assert_eq!(r.value()["error"], "invalid_credentials");
    let r = d.login("a-new-secret");
    assert_eq!(r.value()["must_change_password"], false);

    // Logging out ends the token.
    let t = token_of(&r);
    assert_eq!(
        d.call("DELETE", "/api/v1/session", Some(&t), None).status,
        204
    );
    assert_eq!(d.call("GET", "/api/v1/status", Some(&t), None).status, 401);
}

#[test]
fn lockout_refuses_even_the_right_password() {
    let d = start("lockout");
    for i in 1..=5 {
        let r = d.login("wrong");
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = d.login("password");
    assert_eq!(r.status, 429);
    assert_eq!(r.value()["error"], "locked");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((800..=900).contains(&retry), "{retry}");
    // Unknown users are refused the same way as wrong passwords.
    let r = d.call(
        "POST",
        "/api/v1/session",
        None,
        Some(r#"{"username":"nobody","password":"password"}"#),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.value()["error"], "invalid_credentials");
}

#[test]
fn bad_input_gets_the_right_error_and_changes_nothing() {
    let d = start("bad-input");
    let session = |body: &str| d.call("POST", "/api/v1/session", None, Some(body));

    let r = session("{not json");
    assert_eq!(r.status, 400);
    assert_eq!(r.value()["error"], "malformed_json");
    let r = session(r#"{"username":1,"password":"x"}"#);
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "invalid_body");
    let r = session(r#"{"username":"admin"}"#);
    assert_eq!(r.status, 422);
    let r = session(r#"{"username":"admin","password":"password","extra":1}"#);
    assert_eq!(r.status, 422, "unknown fields are refused");

    let big = format!(
        r#"{{"username":"admin","password":"{}"}}"#,
        "x".repeat(100_000)
    );
    let r = session(&big);
    assert_eq!(r.status, 413);
    assert_eq!(r.value()["error"], "body_too_large");

    let r = appliance_tests::https::request(
        d.https,
        "POST",
        "/api/v1/session",
        &[("Content-Type", "text/plain")],
        br#"{"username":"admin","password":"password"}"#,
        &d.trust(),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(r.status, 415);
    assert_eq!(r.value()["error"], "unsupported_media_type");

    let r = d.call("GET", "/api/v1/nothing-here", None, None);
    assert_eq!(r.status, 404);
    assert_eq!(r.value()["error"], "not_found");
    let r = d.call("DELETE", "/api/v1/health", None, None);
    assert_eq!(r.status, 405);
    assert_eq!(r.value()["error"], "method_not_allowed");
    let r = d.call("GET", "/api/v1/status", Some("forged"), None);
    assert_eq!(r.status, 401);

    // None of that counted as a failed login or changed the account.
    let r = d.login("password");
    assert_eq!(r.value()["must_change_password"], true);
}

#[test]
fn audit_policy_reboot_and_openapi() {
    let d = start("audit");
    let token = d.first_login("audited-secret");

    let r = d.call("GET", "/api/v1/audit?limit=10", Some(&token), None);
    assert_eq!(r.status, 200);
    let entries = r.value()["entries"].as_array().unwrap().clone();
    let change = entries
        .iter()
        .find(|e| e["action"] == "account.password")
        .expect("the password change is audited");
    assert_eq!(change["actor"], "admin");
    assert_eq!(change["address"], "127.0.0.1");
    let body = serde_json::to_string(&entries).unwrap();
    assert!(
        !body.contains("audited-secret"),
        "no secret in the audit log"
    );

    let r = d.call("GET", "/api/v1/security/policy", Some(&token), None);
    assert_eq!(r.value()["max_failed_logins"], 5);
    assert_eq!(r.value()["lockout_seconds"], 900);
    let r = d.call(
        "PUT",
        "/api/v1/security/policy",
        Some(&token),
        Some(r#"{"max_failed_logins":3,"lockout_seconds":5,"session_idle_seconds":600,"session_max_seconds":3600}"#),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "invalid_policy");
    let r = d.call(
        "PUT",
        "/api/v1/security/policy",
        Some(&token),
        Some(r#"{"max_failed_logins":3,"lockout_seconds":600,"session_idle_seconds":600,"session_max_seconds":3600}"#),
    );
    assert_eq!(r.status, 200);
    let r = d.call("GET", "/api/v1/security/policy", Some(&token), None);
    assert_eq!(r.value()["max_failed_logins"], 3);

    let r = d.call("POST", "/api/v1/system/reboot", Some(&token), None);
    assert_eq!(r.status, 202);
    assert_eq!(r.value()["status"], "rebooting");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let line = d
            .log
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("the daemon logs the dev-mode reboot");
        if line.contains("dev mode: init is not asked") {
            break;
        }
    }

    let r = d.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(r.status, 200);
    assert!(r.value()["paths"]["/status"]["get"].is_object());
}

#[test]
fn web_login_page_and_csrf() {
    let d = start("web");
    let r = d.call("GET", "/appliance", None, None);
    assert_eq!(r.status, 303);
    let r = d.call("GET", "/appliance/status", None, None);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/appliance/login"));
    let r = d.call("GET", "/appliance/login", None, None);
    assert_eq!(r.status, 200);
    let html = String::from_utf8_lossy(&r.body);
    assert!(html.contains(r#"type="password""#), "{html}");
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("Secure")
            && cookie.contains("SameSite=Strict")
    );

    // A login form without its CSRF token is refused and opens no session.
    let r = appliance_tests::https::request(
        d.https,
        "POST",
        "/appliance/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=admin&password=password",
        &d.trust(),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(r.status, 403);
    assert!(r.header("set-cookie").is_none());

    // French by Accept-Language.
    let r = appliance_tests::https::request(
        d.https,
        "GET",
        "/appliance/login",
        &[("Accept-Language", "fr-FR,fr;q=0.9")],
        b"",
        &d.trust(),
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(String::from_utf8_lossy(&r.body).contains("Mot de passe"));
}

#[test]
fn an_administrator_certificate_replaces_the_self_signed_one() {
    let d = start("tls");
    const PASSWORD: &str = "tls-secret-1";
    let token = d.first_login(PASSWORD);
    let make = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    };
    let (cert, key, der) = make("support.example.com");
    let (_, other_key, _) = make("other.example.com");
    let body = |c: &str, k: &str| serde_json::json!({"certificate": c, "key": k}).to_string();
    let any = appliance_tests::https::Trust::Any;
    let served = || {
        appliance_tests::https::get(d.https, "/api/v1/health", &any, Duration::from_secs(10))
            .unwrap()
            .peer_cert
            .unwrap()
            .to_vec()
    };
    let before = served();

    // The password again: missing or wrong, nothing changes.
    let r = d.call(
        "PUT",
        "/api/v1/tls/certificate",
        Some(&token),
        Some(&body(&cert, &key)),
    );
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (403, "password_required".into())
    );
    let r = d.confirmed(
        "PUT",
        "/api/v1/tls/certificate",
        &token,
        "tls-secret-2",
        Some(&body(&cert, &key)),
    );
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (403, "wrong_password".into())
    );
    let r = d.call("DELETE", "/api/v1/tls/certificate", Some(&token), None);
    assert_eq!(
        (r.status, r.value()["error"].clone()),
        (403, "password_required".into())
    );
    assert_eq!(served(), before, "nothing changed without the password");

    let r = d.confirmed(
        "PUT",
        "/api/v1/tls/certificate",
        &token,
        PASSWORD,
        Some(&body(&cert, &other_key)),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "certificate_key_mismatch");
    let r = d.confirmed(
        "PUT",
        "/api/v1/tls/certificate",
        &token,
        PASSWORD,
        Some(&body("nonsense", &key)),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "invalid_certificate");
    assert_eq!(served(), before, "refusals change nothing");

    let confirm = [(appliancectl::CURRENT_PASSWORD_HEADER, PASSWORD)];
    let r = appliance_tests::dev::api_call_with(
        d.https,
        &any,
        "PUT",
        "/api/v1/tls/certificate",
        Some(&token),
        &confirm,
        Some(&body(&cert, &key)),
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["installed"], true);
    assert_eq!(served(), der, "the installed certificate is served at once");

    let r = appliance_tests::dev::api_call_with(
        d.https,
        &any,
        "DELETE",
        "/api/v1/tls/certificate",
        Some(&token),
        &confirm,
        None,
    );
    assert_eq!(r.value()["installed"], false);
    let now = served();
    assert_ne!(now, der);
    assert_ne!(now, before, "a new self-signed certificate, with a new key");
}

#[test]
fn ntp_servers_are_validated_stored_and_configured() {
    let d = start("time");
    let token = d.first_login("time-secret-1");
    let r = d.call("GET", "/api/v1/time", Some(&token), None);
    assert_eq!(r.status, 200);
    let before = r.value();
    assert_eq!(before["servers"], serde_json::json!(["pool.ntp.org"]));
    assert_eq!(before["synchronized"], false);

    let r = d.call(
        "PUT",
        "/api/v1/time",
        Some(&token),
        Some(r#"{"servers":["10.0.2.2","not a host!","10.0.2.2"]}"#),
    );
    assert_eq!(r.status, 422);
    let v = r.value();
    assert_eq!(v["error"], "invalid_time");
    assert_eq!(v["problems"].as_array().unwrap().len(), 2);
    let after = d.call("GET", "/api/v1/time", Some(&token), None).value();
    assert_eq!(
        after["servers"], before["servers"],
        "a refused change changes nothing"
    );

    let r = d.call(
        "PUT",
        "/api/v1/time",
        Some(&token),
        Some(r#"{"servers":["10.0.2.2"]}"#),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.value()["servers"], serde_json::json!(["10.0.2.2"]));
    let toml = std::fs::read_to_string(d.state.join("ntp.toml")).unwrap();
    assert!(toml.contains("address = \"10.0.2.2\""), "{toml}");
    assert!(!toml.contains("pool.ntp.org"));
}

/// Status names the keys update packages must be signed with; an appliance that trusts
/// the published development key says it is a development build (API, Basics page; the console line is checked
/// on the booted image, tests/tests/admin.rs).
#[test]
fn status_names_the_update_keys_and_flags_the_development_key() {
    let state = state_dir("update-keys");
    let vendor = package::Signer::from_seed(&[7; 32]);
    std::fs::create_dir_all(state.join("keys")).unwrap();
    std::fs::write(state.join("keys/vendor.pub"), vendor.public().to_text()).unwrap();
    let start = || {
        DevDaemon::start(
            Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
            &state,
            false,
            &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
        )
    };
    let d = start();
    let token = d.first_login("update-keys-secret");
    let keys = d.call("GET", "/api/v1/status", Some(&token), None).value()["update_keys"].clone();
    assert_eq!(
        keys,
        serde_json::json!({"trusted": [vendor.id().to_string()], "development": false})
    );
    let basics = d.web_page("update-keys-secret", "/appliance/status");
    assert!(basics.contains(&vendor.id().to_string()), "{basics}");
    assert!(!basics.contains("Development build"));
    drop(d);

    std::fs::write(state.join("keys/dev.pub"), package::DEVELOPMENT_PUBLIC_KEY).unwrap();
    let d = start();
    let token = d.token("update-keys-secret");
    let keys = d.call("GET", "/api/v1/status", Some(&token), None).value()["update_keys"].clone();
    assert_eq!(keys["development"], true, "{keys}");
    assert_eq!(
        keys["trusted"],
        serde_json::json!([
            package::development_key_id().to_string(),
            vendor.id().to_string()
        ])
    );
    let basics = d.web_page("update-keys-secret", "/appliance/status");
    assert!(
        basics.contains("Development build: this appliance accepts update packages signed"),
        "{basics}"
    );
}

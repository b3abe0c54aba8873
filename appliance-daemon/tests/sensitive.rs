//! Sensitive acts against the daemon binary in dev mode (docs/security.md "Password
//! again"): a wrong password given again counts toward the lockout as a failed login does,
//! the update progress stream ends with the session that opened it, and a login under an
//! unknown user name costs the time a wrong password for a known one does. Clients from
//! 127.0.0.2 and up stand for other hosts.

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::flood;
use appliance_tests::Api;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

const PASSWORD: &str = "sensitive-test-password";

/// One test of this file at a time: the timing test measures argon2, which the others'
/// logins would slow down at random on a machine of two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn start(tag: &str) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state_dir(tag),
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "box")],
    )
}

fn host(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, 2 + n])
}

fn login_from(d: &DevDaemon, source: IpAddr, user: &str, password: &str) -> (u16, String) {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    let r = flood::request_from(
        source,
        d.https,
        &d.trust(),
        "POST",
        "/api/v1/session",
        &body,
    )
    .unwrap();
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[test]
fn wrong_passwords_given_again_count_toward_the_lockout() {
    let _alone = alone();
    let d = start("reauth-lockout");
    let token = d.first_login(PASSWORD);
    let server = r#"{"url":"https://updates.example.test/stable"}"#;
    let put = |password: &str| {
        d.confirmed(
            "PUT",
            "/api/v1/updates/server",
            &token,
            password,
            Some(server),
        )
    };
    // The policy allows 5 failed logins: 5 wrong passwords given again lock this source.
    for i in 0..5 {
        let r = put("not-the-password");
        assert_eq!(
            (r.status, r.value()["error"].clone()),
            (403, "wrong_password".into()),
            "{i}"
        );
    }
    let r = put(PASSWORD);
    assert_eq!(r.status, 429, "{}", r.value());
    assert_eq!(r.value()["error"], "locked");
    assert_eq!(d.login(PASSWORD).status, 429, "logins from this source too");
    let r = d.call("GET", "/api/v1/updates/server", Some(&token), None);
    assert_eq!(
        r.value()["url"],
        serde_json::Value::Null,
        "nothing was stored"
    );

    // Another host signs in and unlocks; then the right password goes through.
    let (status, body) = login_from(&d, host(0), "admin", PASSWORD);
    assert_eq!(status, 200, "{body}");
    let other: serde_json::Value = serde_json::from_str(&body).unwrap();
    let other = other["token"].as_str().unwrap();
    let r = d.call("POST", "/api/v1/accounts/admin/unlock", Some(other), None);
    assert_eq!(r.value()["was_locked"], true);
    let r = put(PASSWORD);
    assert_eq!(r.status, 200, "{}", r.value());
    assert_eq!(r.value()["url"], "https://updates.example.test/stable/");
    let audit = d
        .call("GET", "/api/v1/audit?limit=30", Some(&token), None)
        .value();
    let failed = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "account.confirm_failed"
                && e["detail"] == "wrong password given to confirm an update server change"
        })
        .count();
    assert_eq!(failed, 5, "{audit}");
}

/// An open `GET /api/v1/updates/progress` with `token`, its first event read.
fn open_progress(d: &DevDaemon, token: &str) -> flood::TlsStream {
    let mut tls = flood::tls_from(
        IpAddr::from([127, 0, 0, 1]),
        d.https,
        &d.trust(),
        Duration::from_secs(10),
    )
    .unwrap();
    write!(
        tls,
        "GET /api/v1/updates/progress HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    tls.flush().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("event: progress") {
        let n = tls.read(&mut buf).expect("the stream's first event");
        assert!(n > 0, "closed before the first event");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    tls
}

/// Read until the stream ends (end of the chunked body, or the connection closed).
fn ended(tls: &mut flood::TlsStream) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                seen.extend_from_slice(&buf[..n]);
                if seen.ends_with(b"0\r\n\r\n") {
                    return true;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            // A close without TLS close_notify also ends it.
            Err(_) => return true,
        }
    }
}

#[test]
fn the_progress_stream_ends_at_logout() {
    let _alone = alone();
    let d = start("progress-logout");
    let first = d.first_login(PASSWORD);
    let second = d.token(PASSWORD);
    let mut a = open_progress(&d, &first);
    let mut b = open_progress(&d, &second);

    let r = d.call("DELETE", "/api/v1/session", Some(&first), None);
    assert_eq!(r.status, 204);
    let out = Instant::now();
    a.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(ended(&mut a), "the stream of the logged-out session ends");
    let took = out.elapsed();
    println!("progress stream closed {took:?} after its logout");
    assert!(took < Duration::from_secs(3), "{took:?}");

    // The other session's stream goes on.
    b.sock
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    assert!(!ended(&mut b), "another session's stream stays open");
    // Until its session ends too: a password change ends the other sessions.
    let body =
        serde_json::json!({"current": PASSWORD, "new": "sensitive-test-password-2"}).to_string();
    let third = d.token(PASSWORD);
    let r = d.call("PUT", "/api/v1/account/password", Some(&third), Some(&body));
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    b.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(ended(&mut b), "ended with its session");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fastest(v: &[Duration]) -> Duration {
    v.iter().copied().min().unwrap_or_default()
}

#[test]
fn an_unknown_user_name_costs_what_a_wrong_password_does() {
    let _alone = alone();
    let d = start("unknown-user-timing");
    d.first_login(PASSWORD);
    // One source per try: the lockout (5 failures per source) stays out of the way.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..8u8 {
        let started = Instant::now();
        let (status, body_known) = login_from(&d, host(i), "admin", "not-the-password");
        known.push(started.elapsed());
        assert_eq!(status, 401);
        let started = Instant::now();
        let (status, body_unknown) =
            login_from(&d, host(20 + i), "nobody-here", "not-the-password");
        unknown.push(started.elapsed());
        assert_eq!(status, 401);
        assert_eq!(body_known, body_unknown, "the same answer");
    }
    let (k, u) = (fastest(&known), fastest(&unknown));
    println!(
        "login refused: known user {k:?}, unknown user {u:?} (fastest of 8; medians {:?}, {:?})",
        median(known.clone()),
        median(unknown.clone())
    );
    // Both run one argon2 verification and one audited store write: the same time within
    // a generous factor of 3 (the TLS handshake and the request are in both). The fastest
    // of each is compared: what other work on the machine adds only ever slows a try down.
    let ratio = u.as_secs_f64() / k.as_secs_f64();
    assert!(
        (1.0 / 3.0..3.0).contains(&ratio),
        "known {known:?}, unknown {unknown:?}"
    );
    let token = d.token(PASSWORD);
    let audit = d
        .call("GET", "/api/v1/audit?limit=40", Some(&token), None)
        .value();
    let unknown_audited = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "nobody-here" && e["detail"] == "unknown user name")
        .count();
    assert_eq!(unknown_audited, 8, "{audit}");
}

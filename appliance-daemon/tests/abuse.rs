//! Resource limits against the daemon binary in dev mode, as an attacker on the network
//! would push them (docs/security.md "Resource limits"): clients from 127.0.0.2 and up
//! stand for other hosts; the administrator and the health probe come from 127.0.0.1.

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::flood;
use appliance_tests::Api;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "abuse-test-password";

fn start(tag: &str) -> DevDaemon {
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state_dir(tag),
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "box")],
    )
}

fn attacker(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, 2 + n])
}

/// The daemon's memory peak during the login flood may grow by at most this much over its
/// peak before it (the first login's checks already used argon2's one 19 MiB buffer;
/// without the limits the same flood took the daemon to 685 MiB).
const LOGIN_FLOOD_GROWTH_KIB: u64 = 16 * 1024;

#[test]
fn a_login_flood_that_hangs_up_neither_grows_memory_nor_locks_the_admin_out() {
    let d = start("login-flood");
    d.first_login(PASSWORD);
    let pid = d.pid();
    let before = flood::peak_rss_kib(pid);
    assert!(before > 0, "the daemon's VmHWM is readable");

    // 20 clients (from two addresses) that send a wrong password and hang up after 15 ms:
    // half of them for admin (their sources are soon locked out), half for unknown names
    // (never locked: each costs a full check).
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..20u8)
        .map(|i| {
            let (stop, sent, trust, to) = (stop.clone(), sent.clone(), d.trust(), d.https);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let from = attacker(i % 2);
                    let user = if i < 10 { "admin" } else { "intruder" };
                    if flood::login_and_hang_up(from, to, &trust, user, Duration::from_millis(15))
                        .is_ok()
                    {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    // The administrator logs in with the right password during the flood, every second.
    let flood_for = Duration::from_secs(12);
    let start = Instant::now();
    let mut logins = Vec::new();
    std::thread::sleep(Duration::from_secs(1));
    while start.elapsed() < flood_for {
        let t = Instant::now();
        let r = d.login(PASSWORD);
        logins.push((r.status, t.elapsed()));
        std::thread::sleep(Duration::from_millis(500));
    }
    // Eight logins at once from a flooding source: its share of the queue is full, so
    // some are told at once to come back later.
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let (trust, to) = (d.trust(), d.https);
            std::thread::spawn(move || {
                let body = r#"{"username":"intruder","password":"x"}"#;
                flood::request_from(attacker(0), to, &trust, "POST", "/api/v1/session", body)
                    .unwrap()
            })
        })
        .collect();
    let mut busy = 0;
    for r in burst {
        let r = r.join().unwrap();
        if r.status == 503 {
            assert_eq!(r.header("retry-after"), Some("1"));
            assert_eq!(r.value()["error"], "busy");
            busy += 1;
        } else {
            assert_eq!(r.status, 401);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let peak = flood::peak_rss_kib(pid);
    let threads = flood::threads(pid);
    eprintln!(
        "login flood: {} logins sent in {:?}; peak RSS {} KiB before, {} KiB during; {} threads; \
         admin logins {:?}; {busy}/8 logins at once from a flooding address answered busy",
        sent.load(Ordering::Relaxed),
        flood_for,
        before,
        peak,
        threads,
        logins
    );
    assert!(sent.load(Ordering::Relaxed) > 200, "the flood really ran");
    assert!(
        peak <= before + LOGIN_FLOOD_GROWTH_KIB,
        "peak RSS grew from {before} KiB to {peak} KiB"
    );
    assert!(busy > 0, "a flooding address is answered busy");
    assert!(logins.len() >= 10);
    for (status, took) in &logins {
        assert_eq!(*status, 200, "the right password logs in during the flood");
        assert!(*took < Duration::from_secs(5), "a login took {took:?}");
    }

    // Unknown user names are audited like known ones.
    let token = d.token(PASSWORD);
    let r = d.call(
        "POST",
        "/api/v1/session",
        None,
        Some(r#"{"username":"nobody-here","password":"whatever1"}"#),
    );
    assert_eq!(r.status, 401);
    let audit = d
        .call("GET", "/api/v1/audit?limit=50", Some(&token), None)
        .value();
    let text = audit.to_string();
    assert!(text.contains("nobody-here"), "{text}");
}

/// GET /api/v1/health from `source` every 100 ms until `stop`: the latencies, and the
/// failures (as text).
fn probe_health(
    d: &DevDaemon,
    source: IpAddr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<Duration>, Vec<String>)> {
    let (trust, to) = (d.trust(), d.https);
    std::thread::spawn(move || {
        let (mut took, mut failed) = (Vec::new(), Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            match flood::request_from(source, to, &trust, "GET", "/api/v1/health", "") {
                Ok(r) if r.status == 200 => took.push(t.elapsed()),
                Ok(r) => failed.push(format!("status {}", r.status)),
                Err(e) => failed.push(format!("{e:#}")),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        (took, failed)
    })
}

/// Health answers within this (p99) during each flood.
const HEALTH_P99: Duration = Duration::from_secs(1);

fn assert_health(what: &str, probe: std::thread::JoinHandle<(Vec<Duration>, Vec<String>)>) {
    let (mut took, failed) = probe.join().unwrap();
    let p99 = flood::quantile(&mut took, 0.99);
    eprintln!(
        "{what}: health answered {} times, p99 {p99:?}, max {:?}; failures {failed:?}",
        took.len(),
        took.last()
    );
    assert!(failed.is_empty(), "{what}: health failed: {failed:?}");
    assert!(took.len() >= 20, "{what}: health was probed");
    assert!(p99 < HEALTH_P99, "{what}: health p99 {p99:?}");
}

/// Connections that never send anything: one source gets 32 at most (the rest are closed
/// at once) and another host's health check answers; a flood from many sources fills the
/// 512 places, and the appliance's own health check (the self-check's path) still answers.
/// Idle connections are closed after the handshake timeout.
#[test]
fn an_idle_connection_flood_leaves_health_answering() {
    let d = start("idle-flood");
    let pid = d.pid();
    let before = flood::peak_rss_kib(pid);

    // One source, 100 connections: 32 stay open, the others are closed at once.
    let stop = Arc::new(AtomicBool::new(false));
    let remote = probe_health(&d, IpAddr::from([127, 0, 0, 250]), stop.clone());
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(flood::connect_from(attacker(0), d.https, Duration::from_secs(5)).unwrap());
    }
    std::thread::sleep(Duration::from_millis(500));
    let open = held.iter().filter(|c| still_open(c)).count();
    assert_eq!(open, 32, "one source keeps 32 connections");
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    assert_health("idle flood from one source (another host probes)", remote);
    drop(held);

    // 20 sources of 30 connections: more than the 512 places.
    let stop = Arc::new(AtomicBool::new(false));
    let local = probe_health(&d, IpAddr::from([127, 0, 0, 1]), stop.clone());
    let mut held = Vec::new();
    for s in 0..20 {
        for _ in 0..30 {
            if let Ok(c) = flood::connect_from(attacker(s), d.https, Duration::from_secs(5)) {
                held.push(c);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let open = held.iter().filter(|c| still_open(c)).count();
    assert_eq!(open, 512, "512 connections from the network at most");
    // Past the handshake timeout (10 s) every idle connection is closed.
    let t = Instant::now();
    while held.iter().any(still_open) && t.elapsed() < Duration::from_secs(14) {
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::Relaxed);
    let open = held.iter().filter(|c| still_open(c)).count();
    assert_eq!(
        open, 0,
        "idle connections are closed after the handshake timeout"
    );
    assert_health(
        "idle flood from 20 sources (the appliance probes itself)",
        local,
    );
    eprintln!(
        "idle flood: peak RSS {before} KiB before, {} KiB after",
        flood::peak_rss_kib(pid)
    );
}

/// Whether the daemon still holds this connection open (it has not closed its side).
fn still_open(c: &std::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    c.set_nonblocking(true).unwrap();
    let open = matches!(c.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    c.set_nonblocking(false).unwrap();
    open
}

/// Requests whose body comes 1 byte every 20 s are cut after the body timeout (10 s) while
/// health answers; a request head that never ends on port 80 is cut after 15 s.
#[test]
fn a_slow_body_flood_is_cut_and_health_answers() {
    use std::io::{Read, Write};
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state_dir("slow-body"),
        true,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "box")],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let local = probe_health(&d, IpAddr::from([127, 0, 0, 1]), stop.clone());
    let remote = probe_health(&d, IpAddr::from([127, 0, 0, 250]), stop.clone());
    let slow: Vec<_> = (0..40u8)
        .map(|i| {
            let (trust, to) = (d.trust(), d.https);
            std::thread::spawn(move || {
                let mut tls =
                    flood::tls_from(attacker(i % 10), to, &trust, Duration::from_secs(30)).unwrap();
                tls.write_all(flood::head("POST", "/api/v1/session", 100).as_bytes())
                    .unwrap();
                tls.write_all(b"{").unwrap();
                tls.flush().unwrap();
                let sent = Instant::now();
                // The next byte would come after 20 s: the daemon answers and closes first.
                let mut answer = Vec::new();
                let _ = tls.read_to_end(&mut answer);
                sent.elapsed()
            })
        })
        .collect();
    let http = d.http.unwrap();
    let slow_head = std::thread::spawn(move || {
        let mut tcp = flood::connect_from(attacker(11), http, Duration::from_secs(30)).unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
        let sent = Instant::now();
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer);
        sent.elapsed()
    });
    for s in slow {
        let took = s.join().unwrap();
        assert!(
            took >= Duration::from_secs(9) && took < Duration::from_secs(14),
            "a stalled body is cut after 10 s, here after {took:?}"
        );
    }
    let took = slow_head.join().unwrap();
    assert!(
        took >= Duration::from_secs(14) && took < Duration::from_secs(19),
        "a request head that never ends on port 80 is cut after 15 s, here after {took:?}"
    );
    stop.store(true, Ordering::Relaxed);
    assert_health("slow-body flood (the appliance probes itself)", local);
    assert_health("slow-body flood (another host probes)", remote);
}

/// Wrong passwords from one source lock sign-in from that source only; the administrator
/// at another address signs in and unlocks it (audited); an unknown account is a 404.
#[test]
fn a_lockout_holds_for_its_source_and_another_session_unlocks_it() {
    let d = start("lockout");
    let token = d.first_login(PASSWORD);
    let login = |password: &str| {
        let body = serde_json::json!({"username": "admin", "password": password}).to_string();
        flood::request_from(
            attacker(0),
            d.https,
            &d.trust(),
            "POST",
            "/api/v1/session",
            &body,
        )
        .unwrap()
    };
    for _ in 0..5 {
        assert_eq!(login("wrong-password").status, 401);
    }
    let r = login(PASSWORD);
    assert_eq!(r.status, 429, "locked from that source, right password too");
    assert_eq!(r.value()["error"], "locked");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((890..=900).contains(&retry), "{retry}");
    assert_eq!(d.login(PASSWORD).status, 200, "another source signs in");

    let r = d.call("POST", "/api/v1/accounts/admin/unlock", None, None);
    assert_eq!(r.status, 401, "unlocking needs a session");
    // API answers, errors too, are neither cached nor sniffed.
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let r = d.call("POST", "/api/v1/accounts/nobody/unlock", Some(&token), None);
    assert_eq!(r.status, 404);
    assert_eq!(r.value()["error"], "no_such_user");
    let r = d.call("POST", "/api/v1/accounts/admin/unlock", Some(&token), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.value()["was_locked"], true);
    let r = login(PASSWORD);
    assert_eq!(r.status, 200, "unlocked");
    assert_eq!(
        r.header("cache-control"),
        Some("no-store"),
        "the token is not cached"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let audit = d
        .call("GET", "/api/v1/audit?limit=20", Some(&token), None)
        .value();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "account.unlock" && e["actor"] == "admin"),
        "{audit}"
    );
}

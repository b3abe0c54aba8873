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

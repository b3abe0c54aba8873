//! The pair's sync against the daemon binary in dev mode, two appliances on loopback:
//! the initial sync after establish (delay shortened), changes on the primary visible on
//! the backup within a second (p50/p99 printed), the backup refusing synced settings with
//! `409 managed_by_primary` while its network settings stay editable, Sync now; and with
//! large site data: the initial sync's time and the backup's peak memory, only changed
//! files sent, a sync cut by the primary's death, then by the backup's, leaving the
//! backup on its previous generation, the next sync completing; Become primary pulling a final sync from the old
//! primary (a change made just before is on the new primary), or saying none could be
//! pulled when the primary is gone.

use appliance_tests::api::token_of;
use appliance_tests::dev::{api_call, state_dir, DevDaemon};
use appliance_tests::Api;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const KEY: &str = "7KQ2-M9XD-4HJW-PZ3T-A8VN-C6RE-YB5G-1F0S";

struct Appliance {
    daemon: DevDaemon,
    token: String,
    password: String,
}

impl Appliance {
    fn start(tag: &str, delay_ms: u64, full_ms: u64) -> Appliance {
        let state = state_dir(tag);
        let daemon = start_on(&state, delay_ms, full_ms);
        let password = format!("password of {tag} 1");
        let token = daemon.first_login(&password);
        Appliance {
            daemon,
            token,
            password,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let r = call(
            &self.daemon,
            method,
            path,
            Some(&self.token),
            body.as_deref(),
        );
        (r.status, r.json().unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> Value {
        let (status, value) = self.call("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {value}");
        value
    }

    fn failover(&self) -> Value {
        self.get("/api/v1/failover")
    }

    fn address(&self) -> Value {
        json!({"host": "127.0.0.1", "port": self.daemon.https.port()})
    }

    fn sync_now(&self) -> (u16, Value) {
        self.call("POST", "/api/v1/failover/sync", None)
    }

    /// A site package's tree (`site/<name>/<version>`, `current` pointing at it): what
    /// the site data of an appliance is.
    fn site(&self) -> PathBuf {
        self.daemon.state.join("site/portal/1.0.0")
    }
}

/// One call. The backup serves the primary's certificate once synced (the served
/// certificate is part of the service): the test does not pin it.
fn call(
    daemon: &DevDaemon,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> appliance_tests::https::Response {
    api_call(
        daemon.https,
        &appliance_tests::https::Trust::Any,
        method,
        path,
        token,
        body,
    )
}

fn start_on(state: &Path, delay_ms: u64, full_ms: u64) -> DevDaemon {
    let delay = delay_ms.to_string();
    let full = full_ms.to_string();
    DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        false,
        &[
            ("APPLIANCE_SLOT", "A"),
            ("APPLIANCE_PROFILE", "box"),
            ("APPLIANCE_FAILOVER_SYNC_DELAY_MS", &delay),
            ("APPLIANCE_FAILOVER_SYNC_FULL_MS", &full),
        ],
    )
}

/// A keyed, established pair: `a` primary, `b` backup.
fn establish(a: &Appliance, b: &Appliance) {
    for side in [a, b] {
        let (status, v) = side.call("PUT", "/api/v1/failover/key", Some(json!({"key": KEY})));
        assert_eq!(status, 200, "{v}");
    }
    let (status, v) = a.call(
        "POST",
        "/api/v1/failover/establish",
        Some(json!({"backup": b.address(), "reverse": a.address()})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["role"], "primary");
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[test]
fn the_backup_follows_the_primary_and_refuses_synced_settings() {
    let a = Appliance::start("sync-a", 2_000, 60_000);
    let mut b = Appliance::start("sync-b", 2_000, 60_000);
    // Something of A's service part that B does not have.
    let (status, v) = a.call(
        "PUT",
        "/api/v1/time",
        Some(json!({"servers": ["ntp.primary.example"]})),
    );
    assert_eq!(status, 200, "{v}");
    // The TLS settings live with the certificates: synced too.
    let tls_settings = json!({"min_tls_version": "1.3", "hsts": false});
    let (status, v) = a.call(
        "PUT",
        "/api/v1/certificates/settings",
        Some(tls_settings.clone()),
    );
    assert_eq!(status, 200, "{v}");

    let established = Instant::now();
    establish(&a, &b);
    let b0 = b.failover();
    assert_eq!(b0["role"], "backup");
    assert_eq!(
        b0["generation"], 0,
        "no sync before the initial delay: {b0}"
    );
    let a0 = a.failover();
    assert_eq!(a0["sync"]["initial_done"], false, "{a0}");
    assert!(a0["sync"]["initial_due"].as_u64().is_some(), "{a0}");

    // The initial sync, after the (shortened) delay.
    wait_for("the initial sync", Duration::from_secs(20), || {
        b.failover()["generation"].as_u64() >= Some(1)
    });
    println!(
        "initial sync applied on the backup {:.1} s after establish (delay 2 s)",
        established.elapsed().as_secs_f64()
    );
    assert!(established.elapsed() >= Duration::from_millis(1_000));
    assert_eq!(
        b.get("/api/v1/time")["servers"],
        json!(["ntp.primary.example"])
    );
    // B serves A's certificate.
    let served = |d: &DevDaemon| {
        runtime()
            .block_on(appliancectl::fetch_fingerprint(
                &appliancectl::Endpoint::new("127.0.0.1", d.https.port()),
            ))
            .unwrap()
    };
    wait_for(
        "the backup serving the primary's certificate",
        Duration::from_secs(5),
        || served(&b.daemon) == served(&a.daemon),
    );
    // B's accounts are A's now: A's password logs in on B.
    b.token = token_of(&login(&b.daemon, &a.password));
    // And it serves with A's TLS settings: TLS 1.2 refused, 1.3 served.
    assert_eq!(b.get("/api/v1/certificates/settings"), tls_settings);
    let handshake = |version: &str| {
        std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", b.daemon.https.port()),
                version,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl s_client")
            .status
            .success()
    };
    assert!(!handshake("-tls1_2"), "the backup refuses TLS 1.2 as A");
    assert!(handshake("-tls1_3"));
    let bf = b.failover();
    assert_eq!(bf["sync"]["initial_done"], true, "{bf}");
    assert!(bf["last_sync"].as_u64().is_some(), "{bf}");
    wait_for("the primary records it", Duration::from_secs(5), || {
        a.failover()["sync"]["initial_done"] == true
    });

    // On the backup, synced settings are the primary's.
    let policy = b.get("/api/v1/security/policy");
    let (status, refused) = b.call("PUT", "/api/v1/security/policy", Some(policy.clone()));
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("managed_by_primary")),
        "{refused}"
    );
    let message = refused["message"].as_str().unwrap();
    let primary_url = format!("https://127.0.0.1:{}/appliance", a.daemon.https.port());
    assert!(
        message.contains("This appliance is the backup of 127.0.0.1")
            && message.contains(&primary_url),
        "{message}"
    );
    for (method, path, body) in [
        (
            "PUT",
            "/api/v1/time",
            Some(json!({"servers": ["x.example"]})),
        ),
        ("DELETE", "/api/v1/tls/certificate", None),
        (
            "PUT",
            "/api/v1/certificates/settings",
            Some(json!({"min_tls_version": "1.2", "hsts": true})),
        ),
        (
            "PUT",
            "/api/v1/updates/server",
            Some(json!({"url": "https://updates.example"})),
        ),
        ("POST", "/api/v1/updates/site/portal/rollback", None),
        (
            "PUT",
            "/api/v1/account/password",
            Some(json!({"current": a.password, "new": "another password 12"})),
        ),
    ] {
        let (status, v) = b.call(method, path, body);
        assert_eq!(
            (status, v["error"].as_str()),
            (409, Some("managed_by_primary")),
            "{method} {path}: {v}"
        );
    }
    // Its own network settings stay editable.
    let network = json!({
        "hostname": "backup.example.com",
        "interfaces": [
            {"mac": "52:54:00:12:34:56", "up": true, "dhcp": false, "addresses": ["192.168.1.11/24"]},
            {"mac": "52:54:00:12:34:57", "up": true, "dhcp": true, "addresses": []}
        ],
        "gateways": ["192.168.1.1"]
    });
    let (status, v) = b.call("PUT", "/api/v1/network", Some(network));
    assert_eq!(status, 200, "{v}");
    let (status, v) = b.call("POST", "/api/v1/network/confirm", None);
    assert_eq!(status, 200, "{v}");
    // The pages show the synced settings' forms disabled, with the same sentence.
    let time_page = b.daemon.web_page(&a.password, "/appliance/time");
    assert!(
        time_page.contains("id=\"managed-by-primary\"") && time_page.contains(&primary_url),
        "{time_page}"
    );
    assert!(
        time_page.contains("<fieldset class=\"plain\" disabled>"),
        "{time_page}"
    );
    let network_page = b.daemon.web_page(&a.password, "/appliance/network");
    assert!(!network_page.contains("managed-by-primary"));
    let primary_time = a.daemon.web_page(&a.password, "/appliance/time");
    assert!(!primary_time.contains("managed-by-primary"));
    assert!(primary_time.contains("<fieldset class=\"plain\">"));
    // Sync now is the primary's.
    let (status, v) = b.sync_now();
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("not_primary")),
        "{v}"
    );

    // Each change on the primary is visible on the backup within a second.
    let mut delays = Vec::new();
    for i in 0..20u64 {
        let started = Instant::now();
        if i % 2 == 0 {
            let mut policy = a.get("/api/v1/security/policy");
            let wanted = 3 + i;
            policy["max_failed_logins"] = json!(wanted);
            let (status, v) = a.call("PUT", "/api/v1/security/policy", Some(policy));
            assert_eq!(status, 200, "{v}");
            wait_for("the policy on the backup", Duration::from_secs(5), || {
                b.get("/api/v1/security/policy")["max_failed_logins"] == json!(wanted)
            });
        } else {
            let server = format!("ntp{i}.primary.example");
            let (status, v) = a.call("PUT", "/api/v1/time", Some(json!({"servers": [server]})));
            assert_eq!(status, 200, "{v}");
            wait_for(
                "the time servers on the backup",
                Duration::from_secs(5),
                || b.get("/api/v1/time")["servers"] == json!([server]),
            );
        }
        // From before the primary's PUT to the backup's first answer showing it.
        delays.push(started.elapsed());
    }
    delays.sort();
    let (p50, p99) = (percentile(&delays, 0.5), percentile(&delays, 0.99));
    println!(
        "change on the primary -> visible on the backup, {} changes: p50 {} ms, p99 {} ms",
        delays.len(),
        p50.as_millis(),
        p99.as_millis()
    );
    assert!(p50 < Duration::from_secs(1), "p50 {p50:?}");

    // A new admin password set on the primary logs in on the backup.
    let new_password = "the pair's new password 7";
    let (status, v) = a.call(
        "PUT",
        "/api/v1/account/password",
        Some(json!({"current": a.password, "new": new_password})),
    );
    assert_eq!(status, 204, "{v}");
    let waited = wait_for(
        "the new password on the backup",
        Duration::from_secs(10),
        || login(&b.daemon, new_password).status == 200,
    );
    println!(
        "new admin password usable on the backup after {} ms",
        waited.as_millis()
    );
    let a_token = token_of(&a.daemon.login(new_password));

    // Sync now: the generation in force on the backup; again: nothing sent, same number.
    let r = a
        .daemon
        .call("POST", "/api/v1/failover/sync", Some(&a_token), None);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let now: Value = r.json().unwrap();
    let generation = now["generation"].as_u64().unwrap();
    assert!(generation >= 2, "{now}");
    assert_eq!(b.failover()["generation"].as_u64(), Some(generation));
    let r = a
        .daemon
        .call("POST", "/api/v1/failover/sync", Some(&a_token), None);
    let again: Value = r.json().unwrap();
    assert_eq!(again["generation"].as_u64(), Some(generation), "{again}");
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["failover"]["sync"]["lag_seconds"], 0, "{again}");
    assert_eq!(
        again["failover"]["sync"]["last_error"],
        Value::Null,
        "{again}"
    );
    assert_eq!(again["failover"]["generation"].as_u64(), Some(generation));
    // Audited on both sides.
    let audit = |d: &DevDaemon, token: &str| {
        let r = call(d, "GET", "/api/v1/audit?limit=200", Some(token), None);
        r.json().unwrap().to_string()
    };
    assert!(audit(&a.daemon, &a_token).contains("failover.sync"));
    let b_token = token_of(&login(&b.daemon, new_password));
    assert!(audit(&b.daemon, &b_token).contains("failover.sync"));

    // Become primary with a final sync pulled: a change made on the primary just before
    // (within the 200 ms its own sync waits) is on the new primary when it answers.
    let body = json!({"servers": ["ntp.last-change.example"]}).to_string();
    let r = a
        .daemon
        .call("PUT", "/api/v1/time", Some(&a_token), Some(&body));
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let body = json!({"pull": true}).to_string();
    let r = call(
        &b.daemon,
        "POST",
        "/api/v1/failover/become-primary",
        Some(&b_token),
        Some(&body),
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let took: Value = r.json().unwrap();
    let pulled = took["pull"].as_str().unwrap();
    assert!(
        pulled.contains("pulled from the old primary and applied")
            || pulled.contains("already held its service part"),
        "{took}"
    );
    assert_eq!(took["peer_answered"], true, "{took}");
    assert_eq!(took["failover"]["role"], "primary", "{took}");
    let r = call(&b.daemon, "GET", "/api/v1/time", Some(&b_token), None);
    let time: Value = r.json().unwrap();
    assert_eq!(
        time["servers"],
        json!(["ntp.last-change.example"]),
        "{time}"
    );
    let r = call(&a.daemon, "GET", "/api/v1/failover", Some(&a_token), None);
    let fa: Value = r.json().unwrap();
    assert_eq!(fa["role"], "backup", "{fa}");
    assert!(audit(&b.daemon, &b_token).contains("pull asked: "));
}

fn login(d: &DevDaemon, password: &str) -> appliance_tests::https::Response {
    let body = json!({"username": "admin", "password": password}).to_string();
    call(d, "POST", "/api/v1/session", None, Some(&body))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Random bytes, quickly (xorshift): site data that does not compress.
fn random_file(path: &Path, size: usize, seed: u64) {
    let mut x = seed | 1;
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(size);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

fn files_of(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|e| {
            e.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The peak resident memory (VmHWM, KiB) of the daemon serving `state`.
fn peak_rss_kib(state: &Path) -> Option<u64> {
    let wanted = state.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "--dev") && args.contains(&wanted) {
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            return status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
        }
    }
    None
}

#[test]
fn large_site_data_travels_by_difference_and_a_cut_sync_leaves_the_previous_generation() {
    // Only Sync now syncs here (initial delay and full comparison far away).
    let a = Appliance::start("sync-large-a", 3_600_000, 3_600_000);
    let b = Appliance::start("sync-large-b", 3_600_000, 3_600_000);
    const MIB: usize = 1 << 20;
    for i in 0..100u64 {
        random_file(&a.site().join(format!("data/f{i:03}.bin")), MIB, i + 1);
    }
    std::os::unix::fs::symlink("1.0.0", a.daemon.state.join("site/portal/current")).unwrap();
    establish(&a, &b);
    let rss_before = peak_rss_kib(&b.daemon.state);

    let started = Instant::now();
    let (status, first) = a.sync_now();
    let took = started.elapsed();
    assert_eq!(status, 200, "{first}");
    let rss_after = peak_rss_kib(&b.daemon.state);
    println!(
        "initial sync of 100 MiB of site data: {:.2} s, {} bytes sent; backup peak RSS (VmHWM) {:?} KiB before, {:?} KiB after",
        took.as_secs_f64(),
        first["bytes_sent"],
        rss_before,
        rss_after
    );
    let g1 = first["generation"].as_u64().unwrap();
    assert_eq!(tree_bytes(&b.site().join("data")), 100 * MIB as u64);
    assert_eq!(
        std::fs::read(b.site().join("data/f042.bin")).unwrap(),
        std::fs::read(a.site().join("data/f042.bin")).unwrap()
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        // Streamed: the backup never holds the site data in memory.
        assert!(
            after < before + 64 * 1024,
            "peak RSS grew from {before} to {after} KiB"
        );
    }

    // One file changed, one added, one removed: only those travel.
    random_file(&a.site().join("data/f007.bin"), MIB, 777);
    random_file(&a.site().join("data/new.bin"), MIB, 778);
    std::fs::remove_file(a.site().join("data/f008.bin")).unwrap();
    let (status, second) = a.sync_now();
    assert_eq!(status, 200, "{second}");
    let sent = second["bytes_sent"].as_u64().unwrap();
    println!("after 1 changed, 1 added, 1 removed file of 1 MiB: {sent} bytes sent");
    assert!(sent > 2 * MIB as u64 && sent < 3 * MIB as u64, "{second}");
    let g2 = second["generation"].as_u64().unwrap();
    assert_eq!(g2, g1 + 1);
    assert_eq!(
        files_of(&b.site().join("data")),
        files_of(&a.site().join("data"))
    );
    assert_eq!(
        std::fs::read(b.site().join("data/f007.bin")).unwrap(),
        std::fs::read(a.site().join("data/f007.bin")).unwrap()
    );

    // In step: a comparison reads no file again (sums remembered by inode).
    let started = Instant::now();
    let (status, same) = a.sync_now();
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["changed"], false, "{same}");
    assert_eq!(same["generation"].as_u64(), Some(g2), "{same}");
    println!(
        "Sync now in step (100 MiB of site data, nothing changed): {} ms",
        started.elapsed().as_millis()
    );

    // 50 MiB more; the primary dies in the middle of sending them.
    for i in 0..50u64 {
        random_file(&a.site().join(format!("more/m{i:02}.bin")), MIB, 1000 + i);
    }
    let before_cut = files_of(&b.site().join("data"));
    let (addr, trust, token) = (a.daemon.https, a.daemon.trust(), a.token.clone());
    let caller = std::thread::spawn(move || {
        api_call(
            addr,
            &trust,
            "POST",
            "/api/v1/failover/sync",
            Some(&token),
            None,
        )
        .status
    });
    let staging = b
        .daemon
        .state
        .join("snapshot-staging/files/site/portal/1.0.0/more");
    wait_for(
        "part of the transfer staged on the backup",
        Duration::from_secs(60),
        || tree_bytes(&staging) >= 5 * MIB as u64,
    );
    let a_state = a.daemon.state.clone();
    let a_password = a.password.clone();
    drop(a); // the primary's process is killed
    let _ = caller.join();
    wait_for(
        "the backup to drop the cut generation",
        Duration::from_secs(20),
        || !b.daemon.state.join("snapshot-staging").exists(),
    );
    let bf = b.failover();
    assert_eq!(bf["generation"].as_u64(), Some(g2), "{bf}");
    assert!(!b.site().join("more").exists());
    assert_eq!(files_of(&b.site().join("data")), before_cut);

    // The primary back: the next sync completes.
    let daemon = start_on(&a_state, 3_600_000, 3_600_000);
    let token = daemon.token(&a_password);

    // The backup's power cut in the middle of a sync (its process killed): back on the
    // same address, it is on its previous generation with the staging discarded; the
    // primary's Sync now failed with a clear error, and the next one completes.
    let (addr, trust, sync_token) = (daemon.https, daemon.trust(), token.clone());
    let caller = std::thread::spawn(move || {
        api_call(
            addr,
            &trust,
            "POST",
            "/api/v1/failover/sync",
            Some(&sync_token),
            None,
        )
    });
    wait_for(
        "part of the transfer staged on the backup",
        Duration::from_secs(60),
        || tree_bytes(&staging) >= 5 * MIB as u64,
    );
    let (b_state, b_port, b_password) = (
        b.daemon.state.clone(),
        b.daemon.https.port(),
        b.password.clone(),
    );
    drop(b); // the backup's process is killed
    let cut = caller.join().unwrap();
    assert_ne!(cut.status, 200, "a sync to a dead backup cannot succeed");
    let cut: Value = cut.json().unwrap_or(Value::Null);
    assert!(
        cut["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{cut}"
    );
    let b = {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_appliance-daemon"));
        cmd.args(["--dev", "--state-dir"])
            .arg(&b_state)
            .args(["--listen", &format!("127.0.0.1:{b_port}")])
            .envs([
                ("APPLIANCE_SLOT", "A"),
                ("APPLIANCE_PROFILE", "box"),
                ("APPLIANCE_FAILOVER_SYNC_DELAY_MS", "3600000"),
                ("APPLIANCE_FAILOVER_SYNC_FULL_MS", "3600000"),
            ]);
        let daemon = DevDaemon::start_command(cmd, &b_state, false);
        let token = daemon.token(&a_password);
        Appliance {
            daemon,
            token,
            password: b_password,
        }
    };
    assert!(!b.daemon.state.join("snapshot-staging").exists());
    let bf = b.failover();
    assert_eq!(bf["generation"].as_u64(), Some(g2), "{bf}");
    assert_eq!(bf["role"], "backup", "{bf}");
    assert!(!b.site().join("more").exists());
    assert_eq!(files_of(&b.site().join("data")), before_cut);
    let r = daemon.call("GET", "/api/v1/failover", Some(&token), None);
    let af: Value = r.json().unwrap();
    assert!(af["sync"]["last_error"].is_object(), "{af}");

    let r = daemon.call("POST", "/api/v1/failover/sync", Some(&token), None);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let third: Value = r.json().unwrap();
    assert_eq!(third["generation"].as_u64(), Some(g2 + 1), "{third}");
    assert_eq!(tree_bytes(&b.site().join("more")), 50 * MIB as u64);
    assert_eq!(b.failover()["generation"].as_u64(), Some(g2 + 1));

    // The primary gone for good: Become primary with pull takes over, saying that no final
    // sync could be pulled; the backup keeps the last generation it applied.
    drop(daemon);
    let (status, took) = b.call(
        "POST",
        "/api/v1/failover/become-primary",
        Some(json!({"pull": true})),
    );
    assert_eq!(status, 200, "{took}");
    assert_eq!(took["peer_answered"], false, "{took}");
    assert!(
        took["pull"]
            .as_str()
            .unwrap()
            .starts_with("no final sync could be pulled: the old primary did not answer"),
        "{took}"
    );
    assert_eq!(took["failover"]["role"], "primary", "{took}");
    assert_eq!(took["failover"]["generation"].as_u64(), Some(g2 + 1));
}

/// Scheduled backups on a pair: the schedule set on the primary is synced; at the time set
/// the primary makes its backup and the backup skips its own, saying whose backup it is
/// (Status); the backup refuses a change of the schedule with `409 managed_by_primary`.
#[test]
fn the_backup_skips_the_scheduled_backups_its_primary_makes() {
    let a = Appliance::start("sync-sched-a", 3_600_000, 3_600_000);
    let b = Appliance::start("sync-sched-b", 3_600_000, 3_600_000);
    establish(&a, &b);
    // The next minute, or the one after when it is too close to set up before it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let due = if (now / 60 + 1) * 60 - now < 10 {
        (now / 60 + 2) * 60
    } else {
        (now / 60 + 1) * 60
    };
    let minute = due % 86_400 / 60;
    let schedule = json!({"enabled": true, "frequency": "daily",
        "time": format!("{:02}:{:02}", minute / 60, minute % 60),
        "retention": 3, "password": "the schedule's backup password"});
    let (status, v) = a.call("PUT", "/api/v1/backup/schedule", Some(schedule.clone()));
    assert_eq!(status, 200, "{v}");
    let (status, v) = a.sync_now();
    assert_eq!(status, 200, "{v}");
    let (status, bv) = b.call("GET", "/api/v1/backup/schedule", None);
    assert_eq!(status, 200, "{bv}");
    assert_eq!(bv["enabled"], true, "the schedule is synced: {bv}");
    let (status, refused) = b.call("PUT", "/api/v1/backup/schedule", Some(schedule));
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"], "managed_by_primary", "{refused}");

    let last = |x: &Appliance| x.get("/api/v1/status")["scheduled_backup"]["last"].clone();
    wait_for(
        "both appliances' scheduled run",
        Duration::from_secs(150),
        || !last(&a).is_null() && !last(&b).is_null(),
    );
    let (la, lb) = (last(&a), last(&b));
    assert!(la["file"].as_str().is_some(), "the primary made it: {la}");
    assert_eq!(la["skipped"], Value::Null, "{la}");
    assert_eq!(lb["file"], Value::Null, "{lb}");
    assert_eq!(lb["error"], Value::Null, "{lb}");
    assert_eq!(
        lb["skipped"],
        "this appliance is the backup of 127.0.0.1; the primary makes the scheduled backups",
        "{lb}"
    );
    assert!(lb["at"].as_u64().unwrap() >= due, "{lb}");
    let (status, kept) = b.call("GET", "/api/v1/backup/stored", None);
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept, json!([]), "no backup kept on the backup appliance");
}

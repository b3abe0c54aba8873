//! A virtual appliance and a box on one L2 segment ([`appliance_tests::lab::Lab`]: a bridge in a
//! network namespace, each VM's second NIC on a tap there, each VM's API on a host
//! loopback port), booted once; then, on that pair, each step timed:
//! - each appliance's segment NIC gets a static address through its API (confirmed), and
//!   the client on the segment pings both;
//! - a shared IP enabled on A: the client's ARP request is answered with A's MAC; the same
//!   enabled on B is refused, naming A's MAC (B's probe saw A);
//! - disabled on A, enabled on B: the client sees B's MAC (the time from B's request to the
//!   first ARP reply with B's MAC, as the client sees it, printed);
//! - HTTPS to the shared IP from the client answers from B (its appliance id, B's session
//!   accepted and A's refused);
//! - B's power cut (QMP `quit`) while it holds the shared IP; A enables it: its probe finds
//!   no one, the client sees A's MAC (timed) and reaches A over HTTPS;
//! - B boots again on its disk, its settings still enabling the shared IP: its probe at
//!   start sees A, so it shows a conflict naming A and does not take it; only A answers;
//! - a failover pair: the same inter-appliance key on both, established on A, Sync now: A
//!   holds the shared IP by its role, B stands by;
//! - a new admin password set on A logs in on B (the sync's push, timed); B refuses to
//!   change it itself (`409 managed_by_primary`);
//! - automatic failover on B, A's power cut (QMP `quit`): B takes over (A's cut to the
//!   client's first ARP reply from B, timed) and answers HTTPS on the shared IP;
//! - A boots again, primary at epoch 1 for itself: it comes back as backup at epoch 2 and
//!   says why, only B answers for the shared IP, and B's next change reaches A.
//!
//! Needs root, `iproute2`, `iputils-arping`, `iputils-ping`, `tcpdump` and `curl`.

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::lab::{arp_reply, Lab};
use appliance_tests::workdir::WorkDir;
use appliance_tests::{disk, Api, Machine, MachineSpec};
use serde_json::{json, Value};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BOOT_TIMEOUT: Duration = Duration::from_secs(420);
const PASSWORD: &str = "pair-admin-secret";
const PASSWORD_2: &str = "pair-admin-secret-2";
const PASSWORD_3: &str = "pair-admin-secret-3";
const SHARED: &str = "10.77.0.50";
const CLIENT: &str = "10.77.0.2/24";

/// One appliance of the pair: the machine, a session, its segment NIC's MAC and address.
struct Node {
    m: Machine,
    token: String,
    mac: &'static str,
    own: &'static str,
}

impl Node {
    fn network(&self) -> Value {
        let r = self
            .m
            .call("GET", "/api/v1/network", Some(&self.token), None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.value()
    }

    fn put(&self, body: &Value) -> appliance_tests::https::Response {
        self.m.call(
            "PUT",
            "/api/v1/network",
            Some(&self.token),
            Some(&body.to_string()),
        )
    }

    /// The settings in force with the segment NIC static on its own address and the shared
    /// IP on it, `enabled` or not; every other NIC as it is.
    fn settings(&self, enabled: bool) -> Value {
        let mut config = self.network()["config"].clone();
        let nics = config["interfaces"].as_array_mut().expect("interfaces");
        let nic = nics
            .iter_mut()
            .find(|i| i["mac"] == self.mac)
            .unwrap_or_else(|| panic!("no interface {} in the settings", self.mac));
        nic["dhcp"] = json!(false);
        nic["addresses"] = json!([self.own]);
        config["shared_ips"] =
            json!([{"address": format!("{SHARED}/24"), "interface": self.mac, "enabled": enabled}]);
        config
    }

    fn appliance_id(&self) -> String {
        let r = self
            .m
            .call("GET", "/api/v1/status", Some(&self.token), None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.value()["appliance_id"].as_str().unwrap().to_string()
    }

    /// `method path` with `body` if any; its answer, which must be 200.
    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let r = self
            .m
            .call(method, path, Some(&self.token), body.as_deref());
        assert_eq!(
            r.status,
            200,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.value()
    }

    fn failover(&self) -> Value {
        let r = self
            .m
            .call("GET", "/api/v1/failover", Some(&self.token), None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.value()
    }

    /// Where the other appliance reaches this one on the segment: its own address, 443.
    fn endpoint(&self) -> Value {
        json!({"host": self.own.split('/').next().unwrap(), "port": 443})
    }

    fn change_password(&self, current: &str, new: &str) {
        let r = self.m.call(
            "PUT",
            "/api/v1/account/password",
            Some(&self.token),
            Some(&json!({"current": current, "new": new}).to_string()),
        );
        assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    }

    /// The audit log's (action, detail) pairs, newest first.
    fn audit(&self) -> Vec<(String, String)> {
        let r = self
            .m
            .call("GET", "/api/v1/audit?limit=200", Some(&self.token), None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.value()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap_or_default().to_string(),
                    e["detail"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Enable or disable the shared IP; it must be applied at once, with no confirmation.
    fn shared(&self, enabled: bool) -> Value {
        let r = self.put(&self.settings(enabled));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.value();
        assert_eq!(
            v["pending"],
            Value::Null,
            "a shared IP needs no confirmation"
        );
        assert_eq!(v["shared_ips"][0]["held"], enabled, "{}", v["shared_ips"]);
        v
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What the client on the segment saw of a holder taking the shared IP.
struct Takeover {
    /// Epoch times of the holder's probes (ARP requests from 0.0.0.0).
    probes: Vec<f64>,
    /// Its first gratuitous ARP (a request from the address for itself).
    announced: f64,
    /// Its first reply to the client's requests.
    replied: f64,
}

/// The ARP frames on `wire` where `mac` probes for, announces and answers for the shared
/// IP, until both an announcement and a reply were seen.
fn takeover(wire: &mpsc::Receiver<String>, mac: &str, within: Duration) -> Takeover {
    let until = Instant::now() + within;
    let (mut probes, mut announced, mut replied) = (Vec::new(), None, None);
    let mut seen = Vec::new();
    loop {
        if let (Some(announced), Some(replied)) = (announced, replied) {
            return Takeover {
                probes,
                announced,
                replied,
            };
        }
        let Ok(line) = wire.recv_timeout(until.saturating_duration_since(Instant::now())) else {
            panic!(
                "no announcement and reply for {SHARED} from {mac} within {within:?}; \
                 the last frames:\n{}",
                seen[seen.len().saturating_sub(20)..].join("\n")
            );
        };
        let line = line.to_lowercase();
        seen.push(line.clone());
        // "1765123456.123456 52:54:00:77:00:0b > ff:ff:ff:ff:ff:ff, ethertype ARP ..."
        let Some((at, rest)) = line.split_once(' ') else {
            continue;
        };
        let (Ok(at), true) = (at.parse::<f64>(), rest.starts_with(mac)) else {
            continue;
        };
        if line.contains(&format!("who-has {SHARED} tell 0.0.0.0")) {
            probes.push(at);
        } else if line.contains(&format!("who-has {SHARED} tell {SHARED}")) {
            announced.get_or_insert(at);
        } else if arp_reply(&line, SHARED).is_some_and(|(_, from)| from == mac) {
            replied.get_or_insert(at);
        }
    }
}

/// `curl -k` in the lab's namespace; (HTTP status, body).
fn curl(lab: &Lab, path: &str, token: Option<&str>) -> (u16, Value) {
    let url = format!("https://{SHARED}{path}");
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec![
        "curl",
        "-k",
        "-sS",
        "--max-time",
        "20",
        "-w",
        "\n%{http_code}",
    ];
    if let Some(auth) = &auth {
        args.extend(["-H", auth]);
    }
    args.push(&url);
    let out = lab.exec(&args).expect("run curl (image/deps installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl {url}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, status) = text.rsplit_once('\n').unwrap();
    (
        status.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[test]
fn a_pair_on_one_segment_hands_a_shared_ip_over_then_fails_over() {
    let mut lab = Lab::new().unwrap();
    lab.address(CLIENT).unwrap();
    // A is a virtual appliance, B a box: a pair may mix them. The disks outlive a
    // machine: each boots again on its own.
    let disks = WorkDir::new("pair").unwrap();
    let spec = |name: &str| {
        let profile = if name == "box-b" {
            Profile::Box
        } else {
            Profile::Vm
        };
        let overlay = disks.path().join(format!("{name}.qcow2"));
        if !overlay.exists() {
            let image = disk::built_image(profile.image_profile()).unwrap();
            disk::create_overlay(&image, &overlay).unwrap();
        }
        MachineSpec {
            name: Some(name.to_string()),
            overlay: Some(overlay),
            ..MachineSpec::image(profile, Firmware::Bios).unwrap()
        }
    };
    let started = Instant::now();
    let mut ma = lab.start(spec("vm-a"), "a", "52:54:00:77:00:0a").unwrap();
    let mut mb = lab.start(spec("box-b"), "b", "52:54:00:77:00:0b").unwrap();
    let (_, boot_a) = ma.wait_for_health(BOOT_TIMEOUT).unwrap();
    let (_, boot_b) = mb.wait_for_health(BOOT_TIMEOUT).unwrap();
    ma.report("boot to health", format!("{:.1}s", boot_a.as_secs_f64()));
    mb.report("boot to health", format!("{:.1}s", boot_b.as_secs_f64()));
    mb.report(
        "pair booted (both healthy)",
        format!("{:.1}s", started.elapsed().as_secs_f64()),
    );
    let node = |m: Machine, mac, own| {
        let token = m.first_login(PASSWORD);
        Node { m, token, mac, own }
    };
    let mut a = node(ma, "52:54:00:77:00:0a", "10.77.0.11/24");
    let mut b = node(mb, "52:54:00:77:00:0b", "10.77.0.12/24");

    // (a) Static addresses on the segment through each API, confirmed; the client pings both.
    let step = Instant::now();
    for n in [&a, &b] {
        let r = n.put(&n.settings(false));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert!(r.value()["pending"].is_object(), "{}", r.value());
        let r =
            n.m.call("POST", "/api/v1/network/confirm", Some(&n.token), None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.value();
        assert_eq!(v["pending"], Value::Null);
        let nic = v["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["mac"] == n.mac)
            .unwrap();
        assert!(
            nic["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["address"] == n.own && x["origin"] == "static"),
            "{nic}"
        );
        assert_eq!(v["shared_ips"][0]["held"], false);
    }
    for n in [&a, &b] {
        let own = n.own.split('/').next().unwrap();
        assert!(lab.ping(own).unwrap(), "the client pings {own}");
        assert_eq!(lab.arping(own).unwrap().as_deref(), Some(n.mac));
    }
    assert_eq!(lab.arping(SHARED).unwrap(), None, "nobody holds it yet");
    a.m.report(
        "static addresses confirmed on both, pinged",
        ms(step.elapsed()),
    );

    // (b) The shared IP on A: the client sees A's MAC; B may not take it.
    let step = Instant::now();
    a.shared(true);
    let took = step.elapsed();
    assert_eq!(lab.arping(SHARED).unwrap().as_deref(), Some(a.mac));
    assert!(lab.ping(SHARED).unwrap());
    a.m.report("shared IP enabled (API call)", ms(took));
    let step = Instant::now();
    let r = b.put(&b.settings(true));
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    let e = r.value();
    assert_eq!(e["error"], "address_in_use", "{e}");
    assert_eq!(e["mac"], a.mac, "{e}");
    assert_eq!(e["address"], format!("{SHARED}/24"));
    let v = b.network();
    assert_eq!(v["config"]["shared_ips"][0]["enabled"], false);
    assert_eq!(v["shared_ips"][0]["held"], false);
    assert_eq!(lab.arping(SHARED).unwrap().as_deref(), Some(a.mac));
    b.m.report("enabling it too refused, naming A", ms(step.elapsed()));

    // (c) Handed over: disabled on A, enabled on B; the client, asking all the while, sees
    // B's MAC.
    let step = Instant::now();
    a.shared(false);
    a.m.report("shared IP disabled (API call)", ms(step.elapsed()));
    let wire = lab.watch(&["arp"]).unwrap();
    let asking = lab.keep_asking(SHARED, Duration::from_millis(50)).unwrap();
    let requested = unix_now();
    let step = Instant::now();
    b.shared(true);
    let answered = step.elapsed();
    let seen = takeover(&wire, b.mac, Duration::from_secs(20));
    drop(asking);
    b.m.report("shared IP enabled (API call)", ms(answered));
    b.m.report(
        "FIGURE shared IP move: B's request to the client's first ARP reply from B",
        format!("{:.0} ms", (seen.replied - requested) * 1000.0),
    );
    b.m.report(
        "B's request to its first gratuitous ARP",
        format!("{:.0} ms", (seen.announced - requested) * 1000.0),
    );
    assert_eq!(seen.probes.len(), 3, "RFC 5227 probes before taking it");
    assert!(seen.probes.iter().all(|&p| p < seen.announced));
    assert_eq!(lab.arping(SHARED).unwrap().as_deref(), Some(b.mac));
    assert!(
        lab.ping(SHARED).unwrap(),
        "the client reaches the new holder"
    );
    let history: Vec<_> = a.network()["shared_ip_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        history,
        vec!["network.shared_ip.disable", "network.shared_ip.enable"]
    );

    // (d) HTTPS on the shared IP, from the client: B answers.
    let step = Instant::now();
    let (status, health) = curl(&lab, "/api/v1/health", None);
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    let (status, st) = curl(&lab, "/api/v1/status", Some(&b.token));
    assert_eq!(status, 200, "B's session on the shared IP: {st}");
    let id_b = b.appliance_id();
    assert_eq!(st["appliance_id"], id_b.as_str());
    assert_ne!(a.appliance_id(), id_b);
    let (status, _) = curl(&lab, "/api/v1/status", Some(&a.token));
    assert_eq!(status, 401, "A's session is not B's");
    b.m.report("HTTPS on the shared IP answered by B", ms(step.elapsed()));

    // (e) B's power cut while it holds the shared IP; A enables it: its probe finds no one,
    // and the client sees A's MAC.
    b.m.cut_power().unwrap();
    assert!(!lab.ping(b.own.split('/').next().unwrap()).unwrap());
    while wire.try_recv().is_ok() {}
    let asking = lab.keep_asking(SHARED, Duration::from_millis(50)).unwrap();
    let requested = unix_now();
    let step = Instant::now();
    a.shared(true);
    let answered = step.elapsed();
    let seen = takeover(&wire, a.mac, Duration::from_secs(20));
    drop(asking);
    a.m.report(
        "shared IP enabled after B's power cut (API call)",
        ms(answered),
    );
    a.m.report(
        "FIGURE shared IP taken over from a dead holder: A's request to the client's first \
         ARP reply from A",
        format!("{:.0} ms", (seen.replied - requested) * 1000.0),
    );
    assert_eq!(seen.probes.len(), 3, "RFC 5227 probes before taking it");
    let (status, st) = curl(&lab, "/api/v1/status", Some(&a.token));
    assert_eq!(status, 200, "A's session on the shared IP: {st}");
    assert_eq!(st["appliance_id"], a.appliance_id().as_str());

    // (f) B boots again, its settings still enabling the shared IP: its probe at start sees
    // A, so it does not take it; the client only ever hears A.
    let step = Instant::now();
    b.m = lab.start(spec("box-b"), "b", b.mac).unwrap();
    let (_, boot) = b.m.wait_for_health(BOOT_TIMEOUT).unwrap();
    b.m.report(
        "second boot to health",
        format!("{:.1}s", boot.as_secs_f64()),
    );
    b.token = b.m.token(PASSWORD);
    let until = Instant::now() + Duration::from_secs(60);
    let shared = loop {
        let v = b.network();
        if v["shared_ips"][0]["state"] == "conflict" {
            break v;
        }
        assert!(
            Instant::now() < until,
            "B at start: no conflict within 60 s: {}",
            v["shared_ips"]
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    let shared = &shared["shared_ips"][0];
    assert_eq!(shared["enabled"], true, "{shared}");
    assert_eq!(shared["held"], false, "{shared}");
    assert_eq!(shared["conflict"]["mac"], a.mac, "{shared}");
    assert!(lab.ping(b.own.split('/').next().unwrap()).unwrap());
    let repliers = lab.arping_all(SHARED, 3).unwrap();
    assert!(
        !repliers.is_empty() && repliers.iter().all(|m| m == a.mac),
        "only A answers for the shared IP: {repliers:?}"
    );
    b.m.report(
        "booted again, found A holding the shared IP, left it",
        ms(step.elapsed()),
    );

    // (g) A failover pair: the same inter-appliance key on both, established on A (the
    // primary), B synced at once (Sync now). A holds the shared IP by its role, B stands by.
    let step = Instant::now();
    let key = a.ok(
        "PUT",
        "/api/v1/failover/key",
        Some(json!({"generate": true})),
    )["key"]
        .as_str()
        .unwrap()
        .to_string();
    b.ok("PUT", "/api/v1/failover/key", Some(json!({"key": key})));
    assert_eq!(
        a.failover()["key_fingerprint"],
        b.failover()["key_fingerprint"]
    );
    let v = a.ok(
        "POST",
        "/api/v1/failover/establish",
        Some(json!({"backup": b.endpoint(), "reverse": a.endpoint()})),
    );
    assert_eq!(
        (v["role"].as_str(), v["epoch"].as_u64()),
        (Some("primary"), Some(1)),
        "{v}"
    );
    let synced = a.ok("POST", "/api/v1/failover/sync", None);
    assert_eq!(synced["generation"], 1, "{synced}");
    let fb = b.failover();
    assert_eq!(fb["role"], "backup", "{fb}");
    assert_eq!(fb["generation"], 1, "{fb}");
    let nb = b.network();
    assert_eq!(nb["shared_ips"][0]["state"], "standby", "{nb}");
    assert_eq!(nb["shared_ips"][0]["held"], false, "{nb}");
    let repliers = lab.arping_all(SHARED, 2).unwrap();
    assert!(
        !repliers.is_empty() && repliers.iter().all(|m| m == a.mac),
        "only A answers: {repliers:?}"
    );
    a.m.report("pair established and first sync done", ms(step.elapsed()));

    // (h) A new admin password set on A logs in on B (pushed by the sync, no Sync now); the
    // backup refuses to change a synced setting itself.
    let step = Instant::now();
    a.change_password(PASSWORD, PASSWORD_2);
    let until = Instant::now() + Duration::from_secs(30);
    while b.m.login(PASSWORD_2).status != 200 {
        assert!(
            Instant::now() < until,
            "A's new password not accepted by B within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    a.m.report(
        "FIGURE new password on A to its first login on B (TCG)",
        ms(step.elapsed()),
    );
    assert_eq!(b.m.login(PASSWORD).status, 401, "the old password is gone");
    b.token = b.m.token(PASSWORD_2);
    a.token = a.m.token(PASSWORD_2);
    let r = b.m.call(
        "PUT",
        "/api/v1/account/password",
        Some(&b.token),
        Some(&json!({"current": PASSWORD_2, "new": "backup-own-secret"}).to_string()),
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["error"], "managed_by_primary");
    let fb = b.failover();
    assert!(fb["generation"].as_u64().unwrap() >= 2, "{fb}");

    // (i) Automatic failover on B; A's power cut (QMP quit) while it holds the shared IP:
    // B takes over, the client on the segment sees B's MAC (timed) and reaches B over
    // HTTPS on the shared IP.
    let v = b.ok(
        "PUT",
        "/api/v1/failover/auto",
        Some(json!({"enabled": true, "missed_checks": 5})),
    );
    assert_eq!(
        v["auto"],
        json!({"enabled": true, "missed_checks": 5}),
        "{v}"
    );
    let until = Instant::now() + Duration::from_secs(20);
    while b.failover()["peer"]["reachable"] != true {
        assert!(
            Instant::now() < until,
            "B does not reach A: {}",
            b.failover()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    while wire.try_recv().is_ok() {}
    let asking = lab.keep_asking(SHARED, Duration::from_millis(50)).unwrap();
    let cut = unix_now();
    a.m.cut_power().unwrap();
    let seen = takeover(&wire, b.mac, Duration::from_secs(30));
    drop(asking);
    b.m.report(
        "FIGURE automatic failover (5 missed checks): A's power cut to the client's first \
         ARP reply from B (TCG)",
        format!("{:.0} ms", (seen.replied - cut) * 1000.0),
    );
    let fb = b.failover();
    assert_eq!(
        (fb["role"].as_str(), fb["epoch"].as_u64()),
        (Some("primary"), Some(2)),
        "{fb}"
    );
    let (status, st) = curl(&lab, "/api/v1/status", Some(&b.token));
    assert_eq!(status, 200, "B's session on the shared IP: {st}");
    assert_eq!(st["appliance_id"], id_b.as_str());
    assert!(
        b.audit()
            .iter()
            .any(|(action, _)| action == "failover.auto_takeover"),
        "the takeover audited"
    );

    // (j) A boots again, primary at epoch 1 for itself: it asks B first, finds epoch 2,
    // and comes back as backup without taking the shared IP; then B's changes reach it.
    let step = Instant::now();
    a.m = lab.start(spec("vm-a"), "a", a.mac).unwrap();
    let (_, boot) = a.m.wait_for_health(BOOT_TIMEOUT).unwrap();
    a.m.report(
        "second boot to health",
        format!("{:.1}s", boot.as_secs_f64()),
    );
    a.token = a.m.token(PASSWORD_2);
    let until = Instant::now() + Duration::from_secs(60);
    let fa = loop {
        let fa = a.failover();
        if fa["role"] == "backup" {
            break fa;
        }
        assert!(Instant::now() < until, "A not backup within 60 s: {fa}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(fa["epoch"], 2, "{fa}");
    assert!(
        fa["last_event"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("epoch 2"),
        "A says why it is backup: {fa}"
    );
    let repliers = lab.arping_all(SHARED, 3).unwrap();
    assert!(
        !repliers.is_empty() && repliers.iter().all(|m| m == b.mac),
        "only B answers for the shared IP: {repliers:?}"
    );
    a.m.report("booted again and came back as backup", ms(step.elapsed()));
    let step = Instant::now();
    b.change_password(PASSWORD_2, PASSWORD_3);
    let until = Instant::now() + Duration::from_secs(90);
    while a.m.login(PASSWORD_3).status != 200 {
        assert!(
            Instant::now() < until,
            "B's new password not accepted by A within 90 s: {}",
            a.failover()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    b.m.report(
        "new password on B (new primary) to its first login on A",
        ms(step.elapsed()),
    );
}

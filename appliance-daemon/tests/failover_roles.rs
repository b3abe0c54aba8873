//! The failover pair's roles on a real L2 segment: two dev-mode daemons, each run whole
//! inside its own network namespace (`ip netns exec`, with `--net-namespace` so that its
//! network manager applies its settings there), each namespace on a bridge that a third
//! namespace, the client, shares (`appliance_tests::lab::Lab`: it asks `arping` who holds
//! the shared IP, and watches the replies with `tcpdump`).
//!
//! The pair channel goes over that segment (each daemon listens on 0.0.0.0 in its
//! namespace and the establish names the other's segment address), so cutting an
//! appliance's link cuts its pair channel too, as on real machines. The test reaches each
//! API on the namespace's own loopback, from a thread that entered the namespace.
//!
//! One scenario, in order: establish (the primary holds the shared IP, the backup shows
//! `standby`); Become primary on the backup with the old primary up (it releases first: no
//! reply from its MAC after the new one's first); Become primary with the old primary's
//! daemon gone but its address still answering (refused: the split-brain guard), then with
//! its link down (taken over); the old primary restarting finds a higher epoch and comes
//! back as backup without taking the address; automatic failover refused while the
//! primary's address still answers ARP (its daemon killed, the address held by its
//! namespace), then taken when the primary's link goes down, and the old primary, back on
//! the link, steps down; a break leaves each appliance to its Enabled flags.
//!
//! Needs root, `iproute2`, `iputils-arping` and `tcpdump`; without root it says why and
//! passes. The first sync is Sync now on the primary right after establish (a backup never
//! takes over before a first complete sync); from then on the backup serves the primary's
//! certificate, so the test does not pin the daemons' certificates.

mod netlab;

use appliance_tests::dev::{api_call, api_call_with, state_dir, DevDaemon};
use appliance_tests::https::{Response, Trust};
use appliance_tests::lab::{arp_reply, arping_macs, Lab as Segment};
use appliance_tests::Api;
use netlab::{ip, ip_json, is_root, mac_of, Lab};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SHARED: &str = "10.51.0.100";
const SHARED_NET: &str = "10.51.0.100/24";
const PASSWORD: &str = "roles-admin-secret";

/// Run `f` on a thread inside network namespace `ns` (its sockets are made there).
fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path).expect("the namespace exists");
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("the call in the namespace")
    })
}

/// The API of a daemon inside `ns`, on the namespace's loopback.
struct NsApi {
    ns: String,
    addr: SocketAddr,
    trust: Trust,
}

impl Api for NsApi {
    fn api(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Response {
        in_ns(&self.ns, || {
            api_call(self.addr, &self.trust, method, path, token, body)
        })
    }

    fn api_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        in_ns(&self.ns, || {
            api_call_with(self.addr, &self.trust, method, path, token, headers, body)
        })
    }
}

/// One appliance: its namespace, NIC, daemon and session.
struct Node {
    name: &'static str,
    ns: String,
    dev: String,
    mac: String,
    own: &'static str,
    state: PathBuf,
    daemon: Option<DevDaemon>,
    api: Option<NsApi>,
    token: String,
}

/// The daemon in `ns`, the whole process there, on port 8443 of the namespace (each has
/// its own: a restarted daemon is found where its peer knows it).
fn start(ns: &str, dev: &str, state: &Path) -> DevDaemon {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .arg(env!("CARGO_BIN_EXE_appliance-daemon"))
        .args(["--dev", "--state-dir"])
        .arg(state)
        .args(["--listen", "0.0.0.0:8443", "--net-namespace", ns])
        .args(["--net-interfaces", dev, "--net-confirm-seconds", "60"])
        .envs([("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")]);
    DevDaemon::start_command(cmd, state, false)
}

impl Node {
    fn new(name: &'static str, ns: String, dev: String, own: &'static str) -> Node {
        let mac = mac_of(&ns, &dev);
        let state = state_dir(&format!("roles-{name}"));
        let mut node = Node {
            name,
            ns,
            dev,
            mac,
            own,
            state,
            daemon: None,
            api: None,
            token: String::new(),
        };
        node.up(true);
        node
    }

    /// Start the daemon (again) on its state.
    fn up(&mut self, first: bool) {
        let daemon = start(&self.ns, &self.dev, &self.state);
        let api = NsApi {
            ns: self.ns.clone(),
            addr: SocketAddr::from(([127, 0, 0, 1], daemon.https.port())),
            trust: Trust::Any,
        };
        self.token = if first {
            api.first_login(PASSWORD)
        } else {
            api.token(PASSWORD)
        };
        self.daemon = Some(daemon);
        self.api = Some(api);
    }

    /// Kill the daemon (SIGKILL): the kernel keeps what it had, the address included.
    fn kill(&mut self) {
        self.api = None;
        self.daemon = None;
    }

    fn port(&self) -> u16 {
        self.api.as_ref().expect("running").addr.port()
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let r = self.api.as_ref().expect("the daemon runs").api(
            method,
            path,
            Some(&self.token),
            body.as_deref(),
        );
        (r.status, r.json().unwrap_or(Value::Null))
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body);
        assert_eq!(status, 200, "{} {method} {path}: {value}", self.name);
        value
    }

    fn failover(&self) -> Value {
        self.ok("GET", "/api/v1/failover", None)
    }

    fn network(&self) -> Value {
        self.ok("GET", "/api/v1/network", None)
    }

    /// The audit log, newest first: (action, detail).
    fn audit(&self) -> Vec<(String, String)> {
        self.ok("GET", "/api/v1/audit?limit=200", None)["entries"]
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

    fn settings(&self, enabled: bool) -> Value {
        json!({
            "interfaces": [{"mac": self.mac, "dhcp": false, "addresses": [format!("{}/24", self.own)]}],
            "shared_ips": [{"address": SHARED_NET, "interface": self.mac, "enabled": enabled}]
        })
    }

    /// The network settings with the shared IP's Enabled flag, applied and confirmed.
    fn set_network(&self, enabled: bool) {
        self.ok("PUT", "/api/v1/network", Some(self.settings(enabled)));
        let (status, _) = self.call("POST", "/api/v1/network/confirm", None);
        assert!(status == 200 || status == 409, "confirm: {status}");
    }

    fn address(&self) -> Value {
        json!({"host": self.own, "port": self.port()})
    }

    /// Whether the kernel of its namespace has the shared IP.
    fn has_shared(&self) -> bool {
        ip_json(&self.ns, &["addr", "show", "dev", &self.dev])[0]["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["local"] == SHARED)
    }

    fn link(&self, up: bool) {
        ip(&[
            "-n",
            &self.ns,
            "link",
            "set",
            &self.dev,
            if up { "up" } else { "down" },
        ]);
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < until, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The MACs that answer for the shared IP, each once (two: two holders).
fn repliers(seg: &Segment) -> Vec<String> {
    let mut macs = seg.arping_all(SHARED, 3).unwrap();
    macs.sort();
    macs.dedup();
    macs
}

/// From `wire` (tcpdump of ARP on the segment), the time of the first reply for
/// `address` from `mac`; panics after `within`. The replies from other MACs seen on the
/// way are returned too (time, MAC).
fn first_reply(
    wire: &mpsc::Receiver<String>,
    address: &str,
    mac: &str,
    within: Duration,
) -> (f64, Vec<(f64, String)>) {
    let until = Instant::now() + within;
    let mut others = Vec::new();
    loop {
        let line = wire
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("a reply from {mac} within {within:?}"));
        let Some((at, from)) = arp_reply(&line, address) else {
            continue;
        };
        if from == mac {
            return (at, others);
        }
        others.push((at, from));
    }
}

/// The replies `wire` shows within `window`, by MAC.
fn replies_within(wire: &mpsc::Receiver<String>, window: Duration) -> Vec<String> {
    let until = Instant::now() + window;
    let mut macs = Vec::new();
    while let Ok(line) = wire.recv_timeout(until.saturating_duration_since(Instant::now())) {
        if let Some((_, mac)) = arp_reply(&line, SHARED) {
            macs.push(mac);
        }
    }
    macs
}

/// The same key on both (generated on `a`), then `a` establishes as primary and syncs
/// `b` at once (Sync now, not after the initial delay). The establish's answer.
fn establish(a: &Node, b: &Node) -> Value {
    let key = a.ok(
        "PUT",
        "/api/v1/failover/key",
        Some(json!({"generate": true})),
    )["key"]
        .as_str()
        .unwrap()
        .to_string();
    b.ok("PUT", "/api/v1/failover/key", Some(json!({"key": key})));
    let established = a.ok(
        "POST",
        "/api/v1/failover/establish",
        Some(json!({"backup": b.address(), "reverse": a.address()})),
    );
    let synced = a.ok("POST", "/api/v1/failover/sync", None);
    assert_eq!(synced["generation"], 1, "{synced}");
    established
}

fn message(v: &Value) -> String {
    v["last_event"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_roles_move_the_shared_ip_by_hand_and_automatically_and_never_twice() {
    if !is_root() {
        return;
    }
    let mut seg = Segment::new().unwrap();
    seg.address("10.51.0.3/24").unwrap();
    let mut lab = Lab::new("r");
    let (ns_a, dev_a) = lab.side(seg.ns(), "a");
    let (ns_b, dev_b) = lab.side(seg.ns(), "b");
    let mut a = Node::new("a", ns_a, dev_a, "10.51.0.1");
    let mut b = Node::new("b", ns_b, dev_b, "10.51.0.2");
    a.set_network(false);
    b.set_network(false);
    assert!(repliers(&seg).is_empty(), "nobody holds it yet");

    // Establish: A primary holds the shared IP, whatever its Enabled flag; B does not.
    let v = establish(&a, &b);
    assert_eq!(v["role"], "primary");
    assert_eq!(b.failover()["sync"]["initial_done"], true);
    assert_eq!(repliers(&seg), vec![a.mac.clone()]);
    let na = a.network();
    assert_eq!(na["shared_ips"][0]["role"], "primary", "{na}");
    assert_eq!(na["shared_ips"][0]["held"], true);
    assert_eq!(
        na["shared_ips"][0]["enabled"], false,
        "the stored flag is kept"
    );
    assert!(
        na["shared_ips"][0]["message"]
            .as_str()
            .unwrap()
            .contains("this appliance is the failover primary"),
        "{na}"
    );
    let nb = b.network();
    assert_eq!(nb["shared_ips"][0]["role"], "backup");
    assert_eq!(nb["shared_ips"][0]["state"], "standby");
    assert!(!b.has_shared());

    // Become primary on B with A up: A releases first, then B probes and takes it.
    let wire = seg.watch(&["arp"]).unwrap();
    let asking = seg.keep_asking(SHARED, Duration::from_millis(50)).unwrap();
    let _ = first_reply(&wire, SHARED, &a.mac, Duration::from_secs(5));
    let requested = unix_now();
    let v = b.ok(
        "POST",
        "/api/v1/failover/become-primary",
        Some(json!({"pull": true})),
    );
    let (first_b, before) = first_reply(&wire, SHARED, &b.mac, Duration::from_secs(5));
    let after = replies_within(&wire, Duration::from_millis(1500));
    drop(asking);
    eprintln!(
        "FIGURE become primary (old primary up): request to the first ARP reply from the new \
         primary on the segment {:.0} ms",
        (first_b - requested) * 1000.0
    );
    assert!(
        before.iter().all(|(at, _)| *at < first_b),
        "replies before B's: {before:?}"
    );
    assert!(
        after.iter().all(|m| *m == b.mac),
        "after B's first reply only B answers: {after:?}"
    );
    assert!(first_b - requested < 3.0, "{} s", first_b - requested);
    assert_eq!(v["peer_answered"], true, "{v}");
    assert_eq!(v["held"], json!([SHARED_NET]));
    // The final sync pulled from A before it was told: A and B were in step.
    assert!(
        v["pull"]
            .as_str()
            .unwrap()
            .contains("already held its service part"),
        "{v}"
    );
    assert_eq!(v["failover"]["role"], "primary");
    assert_eq!(v["failover"]["epoch"], 2);
    let fa = a.failover();
    assert_eq!(
        (fa["role"].as_str(), fa["epoch"].as_u64()),
        (Some("backup"), Some(2))
    );
    assert!(
        message(&fa).contains("primary at epoch 2 and said so"),
        "{fa}"
    );
    assert!(!a.has_shared());
    assert_eq!(repliers(&seg), vec![b.mac.clone()]);
    assert!(b
        .audit()
        .iter()
        .any(|(action, detail)| action == "failover.become_primary"
            && detail.contains("released the shared IPs first")));
    // Twice: B is not the backup any more.
    let (status, e) = b.call("POST", "/api/v1/failover/become-primary", Some(json!({})));
    assert_eq!(
        (status, e["error"].as_str()),
        (409, Some("wrong_role")),
        "{e}"
    );

    // Become primary on A with B's daemon gone but its address still answering: refused,
    // naming B's MAC, nothing changed.
    let enables = |n: &Node| {
        n.audit()
            .iter()
            .filter(|(action, _)| action == "network.shared_ip.enable")
            .count()
    };
    let b_enables = enables(&b);
    b.kill();
    assert!(b.has_shared());
    let (status, e) = a.call("POST", "/api/v1/failover/become-primary", Some(json!({})));
    assert_eq!(
        (status, e["error"].as_str()),
        (409, Some("shared_ip_in_use")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains(&b.mac), "{e}");
    assert_eq!(a.failover()["role"], "backup");
    assert_eq!(repliers(&seg), vec![b.mac.clone()]);
    // B's link down (its machine gone): A takes over alone after the probe.
    b.link(false);
    let v = a.ok(
        "POST",
        "/api/v1/failover/become-primary",
        Some(json!({"pull": true})),
    );
    assert_eq!(v["peer_answered"], false, "{v}");
    assert!(
        v["pull"]
            .as_str()
            .unwrap()
            .starts_with("no final sync could be pulled: the old primary did not answer"),
        "{v}"
    );
    assert_eq!(v["failover"]["epoch"], 3);
    assert_eq!(v["held"], json!([SHARED_NET]));
    assert_eq!(repliers(&seg), vec![a.mac.clone()]);

    // B restarts (a reboot: its kernel lost the address) at epoch 2 as primary: it asks A
    // first, finds epoch 3, and comes back as backup without ever taking the address.
    ip(&["-n", &b.ns, "addr", "del", SHARED_NET, "dev", &b.dev]);
    b.link(true);
    b.up(false);
    let fb = b.failover();
    assert_eq!(
        (fb["role"].as_str(), fb["epoch"].as_u64()),
        (Some("backup"), Some(3)),
        "{fb}"
    );
    assert!(
        message(&fb).contains("became primary at epoch 3 while this appliance was unreachable"),
        "{fb}"
    );
    for _ in 0..10 {
        assert!(!b.has_shared(), "B never takes it");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(enables(&b), b_enables, "B took nothing since its restart");
    assert_eq!(repliers(&seg), vec![a.mac.clone()]);

    // Automatic failover: bad settings refused, nothing changed.
    for bad in [
        json!({"enabled": true, "missed_checks": 1}),
        json!({"enabled": true, "missed_checks": 51}),
    ] {
        let (status, e) = b.call("PUT", "/api/v1/failover/auto", Some(bad));
        assert_eq!(
            (status, e["error"].as_str()),
            (422, Some("invalid_setting")),
            "{e}"
        );
    }
    let (status, _) = b.call(
        "PUT",
        "/api/v1/failover/auto",
        Some(json!({"enabled": true, "checks": 5})),
    );
    assert!(status == 400 || status == 422, "{status}");
    assert_eq!(
        b.failover()["auto"],
        json!({"enabled": false, "missed_checks": 5})
    );
    let v = b.ok(
        "PUT",
        "/api/v1/failover/auto",
        Some(json!({"enabled": true, "missed_checks": 5})),
    );
    assert_eq!(v["auto"], json!({"enabled": true, "missed_checks": 5}));

    // A's daemon killed, its address still held by its namespace: B misses the checks,
    // but the address answers: no takeover, said once in the audit log.
    a.kill();
    std::thread::sleep(Duration::from_secs(3));
    let fb = b.failover();
    assert_eq!(fb["role"], "backup", "{fb}");
    assert_eq!(fb["peer"]["reachable"], false);
    let refrained: Vec<_> = b
        .audit()
        .into_iter()
        .filter(|(action, _)| action == "failover.auto_refrained")
        .collect();
    assert_eq!(refrained.len(), 1, "{refrained:?}");
    assert!(
        refrained[0]
            .1
            .contains(&format!("{SHARED} still answers from {}", a.mac)),
        "{refrained:?}"
    );
    assert_eq!(repliers(&seg), vec![a.mac.clone()]);
    // A back (automatic failover off meanwhile: A's restart releases the address until
    // it has asked B, a gap B would rightly take).
    b.ok(
        "PUT",
        "/api/v1/failover/auto",
        Some(json!({"enabled": false})),
    );
    a.up(false);
    wait_for(
        "A holds the shared IP again",
        Duration::from_secs(10),
        || a.has_shared(),
    );
    assert_eq!(a.failover()["role"], "primary");
    b.ok(
        "PUT",
        "/api/v1/failover/auto",
        Some(json!({"enabled": true})),
    );
    wait_for("B checks A again", Duration::from_secs(5), || {
        b.failover()["peer"]["reachable"] == true
    });

    // A's link goes down: B takes over, the client's first reply from B timed.
    let wire = seg.watch(&["arp"]).unwrap();
    let asking = seg.keep_asking(SHARED, Duration::from_millis(50)).unwrap();
    let _ = first_reply(&wire, SHARED, &a.mac, Duration::from_secs(5));
    let cut = unix_now();
    a.link(false);
    let (first_b, _) = first_reply(&wire, SHARED, &b.mac, Duration::from_secs(10));
    drop(asking);
    eprintln!(
        "FIGURE automatic failover (5 missed checks), primary's link cut to the first ARP \
         reply from the backup {:.0} ms",
        (first_b - cut) * 1000.0
    );
    assert!(first_b - cut < 5.0, "{} s", first_b - cut);
    let fb = b.failover();
    assert_eq!(
        (fb["role"].as_str(), fb["epoch"].as_u64()),
        (Some("primary"), Some(4)),
        "{fb}"
    );
    let takeover = b
        .audit()
        .into_iter()
        .find(|(action, _)| action == "failover.auto_takeover")
        .expect("the takeover audited");
    assert!(
        takeover
            .1
            .contains("primary missed 5 checks (1.0 s) and did not answer ARP for 10.51.0.100"),
        "{takeover:?}"
    );
    assert!(
        message(&fb).contains("Automatic failover at epoch 4"),
        "{fb}"
    );

    // A back on the link, still primary at epoch 3 for itself: the two meet, A steps
    // down and releases, and says why.
    a.link(true);
    wait_for("A steps down", Duration::from_secs(10), || {
        a.failover()["role"] == "backup"
    });
    let fa = a.failover();
    assert_eq!(fa["epoch"], 4);
    assert!(
        message(&fa).contains("became primary at epoch 4 while this appliance was unreachable"),
        "{fa}"
    );
    wait_for("A's address gone", Duration::from_secs(3), || {
        !a.has_shared()
    });
    assert_eq!(repliers(&seg), vec![b.mac.clone()]);

    // Break (on the backup): each appliance's Enabled flags decide again; B's was set
    // meanwhile (the role decided while the pair lasted), A's is not.
    b.set_network(true);
    assert_eq!(b.network()["shared_ips"][0]["role"], "primary");
    let v = a.ok("POST", "/api/v1/failover/break", None);
    assert_eq!(v["peer_told"], true, "{v}");
    wait_for("B out of the pair", Duration::from_secs(5), || {
        b.failover()["role"] == "none"
    });
    let nb = b.network();
    assert_eq!(nb["shared_ips"][0]["role"], Value::Null, "{nb}");
    assert_eq!(nb["shared_ips"][0]["state"], "held");
    let na = a.network();
    assert_eq!(na["shared_ips"][0]["state"], "disabled", "{na}");
    assert!(!a.has_shared());
    assert_eq!(repliers(&seg), vec![b.mac.clone()]);
}

#[test]
fn arping_output_is_read_as_the_lab_reads_it() {
    let text = "Unicast reply from 10.51.0.100 [52:54:00:AA:BB:CC]  0.6ms\n";
    assert_eq!(arping_macs(text), vec!["52:54:00:aa:bb:cc"]);
    let line = "1701970000.123456 52:54:00:aa:bb:cc > 1a:2b:3c:4d:5e:6f, ethertype ARP (0x0806), \
                length 42: Reply 10.51.0.100 is-at 52:54:00:aa:bb:cc, length 28";
    assert_eq!(
        arp_reply(line, SHARED),
        Some((1_701_970_000.123_456, "52:54:00:aa:bb:cc".to_string()))
    );
}

// The figures of `tests/bench/failover` (run with `--ignored`): printed, not asserted.

/// The daemon's CPU time so far (user and system, its exited threads' included), in
/// seconds, from the processes in the namespace (`/proc/PID/stat`, 10 ms ticks).
fn cpu_seconds(ns: &str) -> f64 {
    let out = Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .unwrap();
    let tick = 100.0; // USER_HZ
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // After the name: state is field 3, utime and stime fields 14 and 15.
            let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split(' ').collect();
            let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
            field(14).unwrap_or(0.0) + field(15).unwrap_or(0.0)
        })
        .sum::<f64>()
        / tick
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The time from `act` (run at the returned start) to the first ARP reply for `shared`
/// from `mac`, as the segment's client sees it, in seconds.
fn time_to_reply(seg: &mut Segment, shared: &str, from: &str, to: &str, act: impl FnOnce()) -> f64 {
    let wire = seg.watch(&["arp"]).unwrap();
    let asking = seg.keep_asking(shared, Duration::from_millis(50)).unwrap();
    let wanted = |mac: &str| first_reply(&wire, shared, mac, Duration::from_secs(15)).0;
    wanted(from);
    let start = unix_now();
    act();
    let at = wanted(to);
    drop(asking);
    at - start
}

/// keepalived (VRRP, default 1 s advertisements) on `dev` in `ns`: master or backup of
/// `vip`.
fn keepalived(lab: &mut Lab, dir: &Path, ns: &str, dev: &str, master: bool, vip: &str) {
    let name = if master { "master" } else { "backup" };
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n  router_id {name}\n}}\nvrrp_instance VI {{\n  state {}\n  \
             interface {dev}\n  virtual_router_id 51\n  priority {}\n  advert_int 1\n  \
             virtual_ipaddress {{\n    {vip}\n  }}\n}}\n",
            if master { "MASTER" } else { "BACKUP" },
            if master { 150 } else { 100 },
        ),
    )
    .unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "keepalived",
            "--dont-fork",
            "--log-console",
            "--vrrp",
        ])
        .arg(format!("--use-file={}", conf.display()))
        .arg(format!(
            "--pid={}",
            dir.join(format!("{name}.pid")).display()
        ))
        .arg(format!(
            "--vrrp_pid={}",
            dir.join(format!("{name}.vrrp.pid")).display()
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("keepalived (apt-get install keepalived)");
    lab.children.push(child);
}

#[test]
#[ignore = "figures for tests/bench/failover"]
fn bench_failover_figures() {
    if !is_root() {
        return;
    }
    let runs: usize = std::env::var("FAILOVER_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let mut seg = Segment::new().unwrap();
    seg.address("10.51.0.3/24").unwrap();
    seg.address("10.52.0.3/24").unwrap();
    let mut lab = Lab::new("f");
    let (ns_a, dev_a) = lab.side(seg.ns(), "a");
    let (ns_b, dev_b) = lab.side(seg.ns(), "b");
    let a = Node::new("a", ns_a, dev_a, "10.51.0.1");
    let b = Node::new("b", ns_b, dev_b, "10.51.0.2");
    a.set_network(false);
    b.set_network(false);
    establish(&a, &b);
    let nodes = [&a, &b];

    // Become primary, alternately on each, the old primary up.
    let mut moved = Vec::new();
    for i in 0..runs {
        let (old, new) = (nodes[i % 2], nodes[(i + 1) % 2]);
        moved.push(time_to_reply(&mut seg, SHARED, &old.mac, &new.mac, || {
            new.ok("POST", "/api/v1/failover/become-primary", Some(json!({})));
        }));
    }

    // The cost of a check: both daemons' CPU over 10 s with automatic failover off (a
    // check every 2 s, a new connection each) and on (every 200 ms, one kept connection).
    let cpu = |secs: u64| {
        let before = (cpu_seconds(&a.ns), cpu_seconds(&b.ns));
        std::thread::sleep(Duration::from_secs(secs));
        (cpu_seconds(&a.ns) - before.0, cpu_seconds(&b.ns) - before.1)
    };
    let idle = cpu(20);
    for n in nodes {
        n.ok(
            "PUT",
            "/api/v1/failover/auto",
            Some(json!({"enabled": true})),
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    let checking = cpu(20);
    let checks = 20.0 / 0.2 - 20.0 / 2.0;
    let role = |n: &Node| {
        n.failover()["role"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let per_check = |on: f64, off: f64| ((on - off) / checks * 1e6).max(0.0);
    eprintln!(
        "FIGURE cost of a check every 200 ms on one kept connection: A ({}) {:.0} µs CPU, B \
         ({}) {:.0} µs CPU per check (debug build; over 20 s: A {:.3} s and B {:.3} s, \
         against {:.3} s and {:.3} s with automatic failover off: a check every 2 s, a new \
         connection each, {:.0} µs and {:.0} µs per check)",
        role(&a),
        per_check(checking.0, idle.0),
        role(&b),
        per_check(checking.1, idle.1),
        checking.0,
        checking.1,
        idle.0,
        idle.1,
        idle.0 / 10.0 * 1e6,
        idle.1 / 10.0 * 1e6,
    );

    // Automatic failover with the default settings: the primary's link cut.
    let mut auto = Vec::new();
    for _ in 0..runs {
        let primary = *nodes
            .iter()
            .find(|n| n.failover()["role"] == "primary")
            .unwrap();
        let backup = *nodes.iter().find(|n| n.name != primary.name).unwrap();
        wait_for(
            "the backup checks the primary",
            Duration::from_secs(10),
            || backup.failover()["peer"]["reachable"] == true,
        );
        auto.push(time_to_reply(
            &mut seg,
            SHARED,
            &primary.mac,
            &backup.mac,
            || primary.link(false),
        ));
        primary.link(true);
        wait_for(
            "the old primary steps down",
            Duration::from_secs(15),
            || primary.failover()["role"] == "backup",
        );
    }

    // keepalived in the same kind of namespaces on the same segment, the same cut.
    let dir = state_dir("roles-keepalived");
    let (ns_m, dev_m) = lab.side(seg.ns(), "m");
    let (ns_n, dev_n) = lab.side(seg.ns(), "n");
    ip(&["-n", &ns_m, "addr", "add", "10.52.0.1/24", "dev", &dev_m]);
    ip(&["-n", &ns_n, "addr", "add", "10.52.0.2/24", "dev", &dev_n]);
    let (mac_m, mac_n) = (mac_of(&ns_m, &dev_m), mac_of(&ns_n, &dev_n));
    keepalived(&mut lab, &dir, &ns_m, &dev_m, true, "10.52.0.100/24");
    keepalived(&mut lab, &dir, &ns_n, &dev_n, false, "10.52.0.100/24");
    let vip = "10.52.0.100";
    let mut vrrp = Vec::new();
    for _ in 0..runs {
        wait_for(
            "keepalived's master holds the address",
            Duration::from_secs(20),
            || seg.arping(vip).ok().flatten().as_deref() == Some(mac_m.as_str()),
        );
        std::thread::sleep(Duration::from_secs(2));
        vrrp.push(time_to_reply(&mut seg, vip, &mac_m, &mac_n, || {
            ip(&["-n", &ns_m, "link", "set", &dev_m, "down"]);
        }));
        ip(&["-n", &ns_m, "link", "set", &dev_m, "up"]);
    }
    let (moved_p50, auto_p50, vrrp_p50) =
        (median(&mut moved), median(&mut auto), median(&mut vrrp));
    let ms = |v: &[f64]| {
        v.iter()
            .map(|s| format!("{:.0}", s * 1000.0))
            .collect::<Vec<_>>()
            .join(" ")
    };
    eprintln!(
        "FIGURE become primary (old primary up) to the first ARP reply from the new primary: \
         median {:.0} ms, max {:.0} ms over {runs} (ms: {}; target <= 1000)",
        moved_p50 * 1000.0,
        moved.iter().copied().fold(0.0, f64::max) * 1000.0,
        ms(&moved)
    );
    eprintln!(
        "FIGURE automatic failover (5 missed checks of 200 ms), primary's link cut to the \
         first ARP reply from the backup: median {:.0} ms over {runs} (ms: {})",
        auto_p50 * 1000.0,
        ms(&auto)
    );
    eprintln!(
        "FIGURE keepalived (VRRP, advert_int 1 s), master's link cut to the first ARP reply \
         from the backup: median {:.0} ms over {runs} (ms: {})",
        vrrp_p50 * 1000.0,
        ms(&vrrp)
    );
    eprintln!(
        "FIGURE automatic failover / keepalived: {:.2} (target <= 0.5)",
        auto_p50 / vrrp_p50
    );
}

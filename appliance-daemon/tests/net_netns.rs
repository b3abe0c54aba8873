//! The network settings applied for real, in network namespaces the tests build (veth
//! pairs, a bridge): the daemon runs in dev mode with `--net-namespace`, so its network
//! manager (and every socket it opens) lives in the namespace while the API is reached
//! on loopback. The kernel's state is read back with `ip -j` (the test may use `ip`; the
//! daemon never does); a third namespace watches the wire with `arping`, `ping` and
//! `tcpdump`.
//!
//! Scenarios: static addresses and routes applied and removed exactly, and an unconfirmed
//! change reverted; DHCP from dnsmasq seen through the API, then released for static
//! settings; a shared IP moved between two appliances, the conflict refused, and the time
//! from the request to the first gratuitous ARP on the wire; the same for an IPv6 shared
//! IP (duplicate address detection, unsolicited neighbor advertisements).
//!
//! Needs root and Debian's `iproute2`, `dnsmasq-base`, `iputils-arping`, `iputils-ping`
//! and `tcpdump` (image/deps installs them). Without root each test prints why and passes.

mod netlab;

use appliance_tests::dev::{api_call, state_dir, DevDaemon};
use netlab::{
    daemon_in as daemon, get, ip, ip_json, is_root, mac_of, put, put_confirmed, run,
    shared_history, token, Lab,
};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Global addresses of `dev`, as `address/prefix`, sorted.
fn addresses(ns: &str, dev: &str) -> Vec<String> {
    let v = ip_json(ns, &["addr", "show", "dev", dev]);
    let mut list: Vec<String> = v[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["scope"] == "global")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    list.sort();
    list
}

/// Routes out of `dev` of both families with their protocol, as `dst via gw proto`.
fn routes(ns: &str, dev: &str) -> Vec<String> {
    let mut list = Vec::new();
    for family in ["-4", "-6"] {
        let v = ip_json(ns, &[family, "route", "show", "dev", dev]);
        for r in v.as_array().unwrap() {
            let proto = r["protocol"].as_str().unwrap_or("boot");
            if proto == "kernel" {
                continue;
            }
            let via = r["gateway"]
                .as_str()
                .map(|g| format!(" via {g}"))
                .unwrap_or_default();
            list.push(format!("{}{via} {proto}", r["dst"].as_str().unwrap()));
        }
    }
    list.sort();
    list
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < until, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn static_settings_are_applied_and_removed_exactly_and_an_unconfirmed_change_reverts() {
    if !is_root() {
        return;
    }
    let mut lab = Lab::new("s");
    let ns = lab.ns("a");
    let peer = lab.ns("p");
    let dev = lab.name("a0");
    lab.veth(&ns, &dev, &peer, &lab.name("p0"));
    let d = daemon("net-static", &ns, &dev, "3");
    let t = token(&d);
    let mac = mac_of(&ns, &dev);

    // Factory defaults: DHCP, and no server on this link: a visible status.
    let v = get(&d, &t);
    assert_eq!(v["applied"], true);
    assert_eq!(v["interfaces"][0]["name"], dev.as_str());
    assert_eq!(v["interfaces"][0]["mac"], mac.as_str());
    let dhcp = &v["interfaces"][0]["dhcp"];
    assert_eq!(dhcp["state"], "waiting", "{dhcp}");
    assert!(
        dhcp["message"]
            .as_str()
            .unwrap()
            .starts_with("waiting for a DHCP offer since "),
        "{dhcp}"
    );

    // A route someone else put there stays whatever the daemon does.
    ip(&["-n", &ns, "route", "add", "10.80.0.0/16", "dev", &dev]);

    let first = json!({
        "interfaces": [{"mac": mac, "mtu": 1400, "dhcp": false,
                        "addresses": ["10.60.0.10/24", "2001:db8:60::10/64"]}],
        "gateways": ["10.60.0.1", "2001:db8:60::1"],
        "routes": [{"destination": "10.70.0.0/16", "gateway": "10.60.0.254"}],
        "dns": {"servers": ["10.60.0.53"], "search": ["lab.example"]}
    });
    let v = put_confirmed(&d, &t, &first);
    assert_eq!(v["pending"], Value::Null);
    assert_eq!(
        addresses(&ns, &dev),
        vec!["10.60.0.10/24", "2001:db8:60::10/64"]
    );
    assert_eq!(
        routes(&ns, &dev),
        vec![
            "10.70.0.0/16 via 10.60.0.254 static",
            "10.80.0.0/16 boot",
            "default via 10.60.0.1 static",
            "default via 2001:db8:60::1 static",
        ]
    );
    assert_eq!(ip_json(&ns, &["link", "show", "dev", &dev])[0]["mtu"], 1400);
    let resolv = std::fs::read_to_string(d.state.join("resolv.conf")).unwrap();
    assert!(
        resolv.contains("search lab.example\nnameserver 10.60.0.53\n"),
        "{resolv}"
    );
    // The API shows the kernel's state, each address with its origin.
    let eth = &v["interfaces"][0];
    let shown: Vec<(String, String)> = eth["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap().to_string(),
                a["origin"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        shown.contains(&("10.60.0.10/24".into(), "static".into())),
        "{shown:?}"
    );
    assert!(shown.iter().any(|(_, o)| o == "link-local"), "{shown:?}");
    assert_eq!(eth["dhcp"], Value::Null, "no DHCP client any more");

    // One address more, one less, a route moved, the IPv6 gateway gone: only that changes.
    let second = json!({
        "interfaces": [{"mac": mac, "dhcp": false,
                        "addresses": ["10.60.0.10/24", "10.60.0.11/24"]}],
        "gateways": ["10.60.0.1"],
        "routes": [{"destination": "10.71.0.0/16", "gateway": "10.60.0.254"}]
    });
    put_confirmed(&d, &t, &second);
    assert_eq!(addresses(&ns, &dev), vec!["10.60.0.10/24", "10.60.0.11/24"]);
    assert_eq!(
        routes(&ns, &dev),
        vec![
            "10.71.0.0/16 via 10.60.0.254 static",
            "10.80.0.0/16 boot",
            "default via 10.60.0.1 static",
        ]
    );
    let resolv = std::fs::read_to_string(d.state.join("resolv.conf")).unwrap();
    assert!(!resolv.contains("nameserver"), "{resolv}");

    // A wrong change is refused and the kernel keeps what it had.
    let mut wrong = second.clone();
    wrong["gateways"] = json!(["10.99.0.1"]);
    let r = put(&d, &t, &wrong);
    assert_eq!(r.status, 422);
    assert_eq!(addresses(&ns, &dev), vec!["10.60.0.10/24", "10.60.0.11/24"]);

    // Not confirmed: back to the second settings, exactly, within the 3 s window.
    let third = json!({
        "interfaces": [{"mac": mac, "dhcp": false, "addresses": ["10.61.0.10/24"]}],
        "gateways": ["10.61.0.1"]
    });
    let r = put(&d, &t, &third);
    assert_eq!(r.status, 200);
    assert_eq!(addresses(&ns, &dev), vec!["10.61.0.10/24"]);
    wait_for("the revert", Duration::from_secs(10), || {
        addresses(&ns, &dev) == vec!["10.60.0.10/24", "10.60.0.11/24"]
    });
    assert_eq!(
        routes(&ns, &dev),
        vec![
            "10.71.0.0/16 via 10.60.0.254 static",
            "10.80.0.0/16 boot",
            "default via 10.60.0.1 static",
        ]
    );
    assert_eq!(get(&d, &t)["pending"], Value::Null);
}

#[test]
fn a_dhcp_lease_is_shown_and_released_for_static_settings() {
    if !is_root() {
        return;
    }
    let mut lab = Lab::new("d");
    let ns = lab.ns("c");
    let server = lab.ns("s");
    let dev = lab.name("c0");
    let sdev = lab.name("s0");
    lab.veth(&ns, &dev, &server, &sdev);
    ip(&["-n", &server, "addr", "add", "10.62.0.1/24", "dev", &sdev]);
    let dir = state_dir("net-dhcp-leases");
    let (tx, rx) = mpsc::channel::<String>();
    let mut dnsmasq = Command::new("ip")
        .args(["netns", "exec", &server, "dnsmasq", "--no-daemon"])
        .args(["--conf-file=/dev/null", "--port=0", "--no-ping"])
        .args(["--bind-interfaces", "--log-facility=-", "--user=root"])
        .arg(format!("--interface={sdev}"))
        .arg("--dhcp-range=10.62.0.50,10.62.0.60,255.255.255.0,2m")
        .arg("--dhcp-option=option:dns-server,10.62.0.1")
        .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()))
        .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dnsmasq");
    let stderr = dnsmasq.stderr.take().unwrap();
    lab.children.push(dnsmasq);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let mut said = |text: &str, timeout: Duration| {
        let until = Instant::now() + timeout;
        while !seen.iter().any(|l: &String| l.contains(text)) {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("dnsmasq did not say {text:?} within {timeout:?}"),
            }
        }
    };
    said("DHCP, IP range", Duration::from_secs(10));

    let d = daemon("net-dhcp-view", &ns, &dev, "60");
    let t = token(&d);
    let mut lease = Value::Null;
    wait_for("a lease shown by the API", Duration::from_secs(30), || {
        lease = get(&d, &t)["interfaces"][0]["dhcp"].clone();
        lease["state"] == "bound"
    });
    let leased = lease["lease"]["address"].as_str().unwrap().to_string();
    assert!(
        leased.starts_with("10.62.0.5") || leased.starts_with("10.62.0.60"),
        "{lease}"
    );
    assert_eq!(lease["lease"]["gateway"], "10.62.0.1");
    assert_eq!(lease["lease"]["dns"][0], "10.62.0.1");
    assert_eq!(lease["lease"]["server"], "10.62.0.1");
    assert_eq!(lease["lease"]["lease_seconds"], 120);
    assert!(lease["lease"]["expires_in"].as_u64().unwrap() <= 120);
    assert_eq!(addresses(&ns, &dev), vec![leased.clone()]);
    let v = get(&d, &t);
    assert_eq!(v["interfaces"][0]["addresses"][0]["origin"], "dhcp");
    assert_eq!(v["dns"]["servers"][0], "10.62.0.1");

    // Static settings instead: the lease is released, its address gone, the new one there.
    let mac = mac_of(&ns, &dev);
    put_confirmed(
        &d,
        &t,
        &json!({"interfaces": [{"mac": mac, "dhcp": false, "addresses": ["10.62.0.9/24"]}]}),
    );
    said("DHCPRELEASE", Duration::from_secs(10));
    assert_eq!(addresses(&ns, &dev), vec!["10.62.0.9/24"]);
    let v = get(&d, &t);
    assert_eq!(v["dns"]["servers"], json!([]));
}

/// The third namespace's view of who holds `address`: the MAC that answers an ARP request.
fn arping(ns: &str, dev: &str, address: &str) -> Option<String> {
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "arping", "-c", "1", "-w", "2", "-I", dev, address,
        ])
        .output()
        .expect("run arping (apt-get install iputils-arping; image/deps installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    // "Unicast reply from 10.50.0.100 [52:54:00:AA:BB:CC]  0.6ms"
    text.split('[')
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .map(str::to_string)
}

fn ping(ns: &str, address: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-c", "1", "-W", "2", address])
        .stdout(Stdio::null())
        .status()
        .expect("run ping")
        .success()
}

/// `tcpdump` on `dev` in `ns` printing ARP frames with epoch timestamps, line by line.
fn watch_arp(lab: &mut Lab, ns: &str, dev: &str) -> mpsc::Receiver<String> {
    watch(lab, ns, dev, &["arp"])
}

/// `tcpdump` on `dev` in `ns` printing the frames `filter` selects with epoch timestamps
/// and Ethernet addresses, line by line.
fn watch(lab: &mut Lab, ns: &str, dev: &str, filter: &[&str]) -> mpsc::Receiver<String> {
    let mut child = Command::new("ip")
        .args([
            "netns", "exec", ns, "tcpdump", "-i", dev, "-n", "-l", "-tt", "-e",
        ])
        .args(filter)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tcpdump (image/deps installs it)");
    let (tx, rx) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    lab.children.push(child);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let line = rx
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .expect("tcpdump starts");
        if line.contains("listening on") {
            return rx;
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// More announcements `wire` shows within 3 s (`is_one` tells one), up to three in all
/// with the first, already seen.
fn announcements_within_3s(wire: &mpsc::Receiver<String>, is_one: impl Fn(&str) -> bool) -> u32 {
    let mut announcements = 1;
    let until = Instant::now() + Duration::from_secs(3);
    while announcements < 3 && Instant::now() < until {
        if let Ok(line) = wire.recv_timeout(Duration::from_millis(200)) {
            if is_one(&line) {
                announcements += 1;
            }
        }
    }
    announcements
}

/// `enable` (the shared IP `address` enabled on `d`) refused while `holder` holds it:
/// naming the holder, nothing changed, the conflict in the history.
fn refused_while_held(d: &DevDaemon, token: &str, enable: &Value, holder: &str, address: &str) {
    let r = put(d, token, enable);
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    let e = r.value();
    assert_eq!(e["error"], "address_in_use");
    assert_eq!(e["mac"], holder);
    assert_eq!(e["address"], address);
    let v = get(d, token);
    assert_eq!(v["config"]["shared_ips"][0]["enabled"], false);
    assert_eq!(v["shared_ips"][0]["held"], false);
    assert_eq!(
        v["shared_ip_history"][0]["action"],
        "network.shared_ip.conflict"
    );
}

/// Both appliances enable the shared IP at the same moment, from a clean start: never
/// both hold it, and the one whose request succeeded holds it.
fn never_both(a: (&DevDaemon, &str, Value), b: (&DevDaemon, &str, Value)) {
    // DevDaemon holds its log receiver, which threads cannot share: call by address.
    let enable = |addr: std::net::SocketAddr, trust, token: &str, body: Value| {
        api_call(
            addr,
            &trust,
            "PUT",
            "/api/v1/network",
            Some(token),
            Some(&body.to_string()),
        )
        .status
    };
    let ((da, ta, body_a), (db, tb, body_b)) = (a, b);
    let (trust_a, trust_b) = (da.trust(), db.trust());
    let (addr_a, addr_b) = (da.https, db.https);
    let (sa, sb) = std::thread::scope(|s| {
        let ha = s.spawn(|| enable(addr_a, trust_a, ta, body_a));
        let hb = s.spawn(|| enable(addr_b, trust_b, tb, body_b));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let held_a = get(da, ta)["shared_ips"][0]["held"] == true;
    let held_b = get(db, tb)["shared_ips"][0]["held"] == true;
    eprintln!("both at once: A {sa} held {held_a}, B {sb} held {held_b}");
    assert!(!(held_a && held_b), "both hold the shared IP");
    assert_eq!(held_a, sa == 200);
    assert_eq!(held_b, sb == 200);
}

#[test]
fn the_shared_ip_moves_between_two_appliances_and_a_second_holder_is_refused() {
    if !is_root() {
        return;
    }
    let mut lab = Lab::new("h");
    let bridge_ns = lab.bridge("br");
    let (ns_a, dev_a) = lab.side(&bridge_ns, "a");
    let (ns_b, dev_b) = lab.side(&bridge_ns, "b");
    let (ns_o, dev_o) = lab.side(&bridge_ns, "o");
    ip(&["-n", &ns_o, "addr", "add", "10.50.0.3/24", "dev", &dev_o]);
    let (mac_a, mac_b) = (mac_of(&ns_a, &dev_a), mac_of(&ns_b, &dev_b));

    let a = daemon("net-shared-a", &ns_a, &dev_a, "60");
    let b = daemon("net-shared-b", &ns_b, &dev_b, "60");
    let (ta, tb) = (token(&a), token(&b));
    let settings = |mac: &str, own: &str, enabled: bool| {
        json!({
            "interfaces": [{"mac": mac, "dhcp": false, "addresses": [own]}],
            "shared_ips": [{"address": "10.50.0.100/24", "interface": mac, "enabled": enabled}]
        })
    };
    put_confirmed(&a, &ta, &settings(&mac_a, "10.50.0.1/24", false));
    put_confirmed(&b, &tb, &settings(&mac_b, "10.50.0.2/24", false));
    assert_eq!(
        arping(&ns_o, &dev_o, "10.50.0.100"),
        None,
        "nobody holds it yet"
    );

    // A takes it; the observer sees the probes then the announcement, and A answers.
    let wire = watch_arp(&mut lab, &ns_o, &dev_o);
    let requested = unix_now();
    let r = put(&a, &ta, &settings(&mac_a, "10.50.0.1/24", true));
    let answered = unix_now();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.value();
    assert_eq!(
        v["pending"],
        Value::Null,
        "the Enabled flag needs no confirmation"
    );
    assert_eq!(v["shared_ips"][0]["held"], true);
    assert_eq!(v["shared_ips"][0]["state"], "held");
    let mut first_garp = None;
    let mut probes = 0;
    let until = Instant::now() + Duration::from_secs(5);
    while first_garp.is_none() {
        let line = wire
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .expect("a gratuitous ARP on the wire within 5 s");
        if line.contains("who-has 10.50.0.100 tell 0.0.0.0") {
            probes += 1;
        } else if line.contains("who-has 10.50.0.100 tell 10.50.0.100") {
            assert!(line.to_lowercase().contains(&mac_a), "{line}");
            let at: f64 = line.split(' ').next().unwrap().parse().unwrap();
            first_garp = Some(at);
        }
    }
    let delay_ms = (first_garp.unwrap() - requested) * 1000.0;
    eprintln!(
        "FIGURE shared IP: request to first gratuitous ARP on the wire {delay_ms:.1} ms \
         (whole API call {:.1} ms, {probes} probes seen before)",
        (answered - requested) * 1000.0
    );
    assert_eq!(probes, 3, "RFC 5227 probes before taking it");
    // The target is 100 ms (docs/network.md); only a gross regression fails here, since two
    // shared cores under load can delay any single run.
    assert!(delay_ms < 1000.0, "{delay_ms} ms to the first announcement");
    assert_eq!(
        arping(&ns_o, &dev_o, "10.50.0.100").as_deref(),
        Some(mac_a.as_str())
    );
    assert!(ping(&ns_o, "10.50.0.100"));
    assert!(addresses(&ns_a, &dev_a).contains(&"10.50.0.100/24".to_string()));
    // Announced again a second later.
    let announcements = announcements_within_3s(&wire, |line| {
        line.contains("who-has 10.50.0.100 tell 10.50.0.100")
    });
    assert_eq!(announcements, 3, "three announcements one second apart");

    // B may not take it while A holds it: refused, naming A, nothing changed on B.
    let enable_b = settings(&mac_b, "10.50.0.2/24", true);
    refused_while_held(&b, &tb, &enable_b, &mac_a, "10.50.0.100/24");
    assert!(!addresses(&ns_b, &dev_b).contains(&"10.50.0.100/24".to_string()));

    // The failover procedure: disable on A (gone at once), enable on B.
    let r = put(&a, &ta, &settings(&mac_a, "10.50.0.1/24", false));
    assert_eq!(r.status, 200);
    assert!(!addresses(&ns_a, &dev_a).contains(&"10.50.0.100/24".to_string()));
    let r = put(&b, &tb, &settings(&mac_b, "10.50.0.2/24", true));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        arping(&ns_o, &dev_o, "10.50.0.100").as_deref(),
        Some(mac_b.as_str())
    );
    assert!(
        ping(&ns_o, "10.50.0.100"),
        "the observer reaches the new holder"
    );
    assert_eq!(
        shared_history(&a, &ta),
        vec!["network.shared_ip.disable", "network.shared_ip.enable"]
    );

    // Both at once, from a clean start: never both hold it.
    put(&b, &tb, &settings(&mac_b, "10.50.0.2/24", false));
    never_both(
        (&a, &ta, settings(&mac_a, "10.50.0.1/24", true)),
        (&b, &tb, settings(&mac_b, "10.50.0.2/24", true)),
    );
}

/// The MAC the neighbor cache of `ns` has for `address`, if any.
fn neighbour(ns: &str, dev: &str, address: &str) -> Option<String> {
    let v = ip_json(ns, &["-6", "neigh", "show", address, "dev", dev]);
    v.as_array()?
        .iter()
        .find_map(|n| n["lladdr"].as_str())
        .map(str::to_string)
}

fn ping6(ns: &str, address: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-6", "-c", "1", "-W", "2", address,
        ])
        .stdout(Stdio::null())
        .status()
        .expect("run ping")
        .success()
}

#[test]
fn an_ipv6_shared_ip_moves_between_two_appliances_and_a_second_holder_is_refused() {
    if !is_root() {
        return;
    }
    const SHARED: &str = "2001:db8:50::100";
    let mut lab = Lab::new("v");
    let bridge_ns = lab.bridge("br");
    let (ns_a, dev_a) = lab.side(&bridge_ns, "a");
    let (ns_b, dev_b) = lab.side(&bridge_ns, "b");
    let (ns_o, dev_o) = lab.side(&bridge_ns, "o");
    ip(&[
        "-n",
        &ns_o,
        "addr",
        "add",
        "2001:db8:50::3/64",
        "dev",
        &dev_o,
        "nodad",
    ]);
    let (mac_a, mac_b) = (mac_of(&ns_a, &dev_a), mac_of(&ns_b, &dev_b));

    let a = daemon("net-shared6-a", &ns_a, &dev_a, "60");
    let b = daemon("net-shared6-b", &ns_b, &dev_b, "60");
    let (ta, tb) = (token(&a), token(&b));
    let settings = |mac: &str, own: &str, enabled: bool| {
        json!({
            "interfaces": [{"mac": mac, "dhcp": false, "addresses": [own]}],
            "shared_ips": [{"address": format!("{SHARED}/64"), "interface": mac, "enabled": enabled}]
        })
    };
    put_confirmed(&a, &ta, &settings(&mac_a, "2001:db8:50::1/64", false));
    put_confirmed(&b, &tb, &settings(&mac_b, "2001:db8:50::2/64", false));
    assert!(!ping6(&ns_o, SHARED), "nobody holds it yet");

    // A takes it: the observer sees the duplicate address detection probes, then the
    // unsolicited advertisement, and A answers.
    let wire = watch(
        &mut lab,
        &ns_o,
        &dev_o,
        &["-v", "icmp6 and (ip6[40] == 135 or ip6[40] == 136)"],
    );
    let requested = unix_now();
    let r = put(&a, &ta, &settings(&mac_a, "2001:db8:50::1/64", true));
    let answered = unix_now();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.value();
    assert_eq!(v["pending"], Value::Null);
    assert_eq!(v["shared_ips"][0]["held"], true);
    assert_eq!(v["shared_ips"][0]["state"], "held");
    let is_announcement = |line: &str| {
        line.contains("neighbor advertisement") && line.contains(&format!("tgt is {SHARED},"))
    };
    let mut first_na = None;
    let mut probes = 0;
    let until = Instant::now() + Duration::from_secs(5);
    while first_na.is_none() {
        let line = wire
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .expect("an unsolicited neighbor advertisement on the wire within 5 s");
        if line.contains(":: > ff02::1:ff00:100:")
            && line.contains(&format!(
                "neighbor solicitation, length 24, who has {SHARED}"
            ))
        {
            assert!(line.contains("[icmp6 sum ok]"), "{line}");
            assert!(line.contains("hlim 255"), "{line}");
            probes += 1;
        } else if is_announcement(&line) {
            assert!(
                line.to_lowercase()
                    .contains(&format!("{mac_a} > 33:33:00:00:00:01")),
                "{line}"
            );
            assert!(line.contains(&format!("{SHARED} > ff02::1:")), "{line}");
            assert!(line.contains("[icmp6 sum ok]"), "{line}");
            assert!(line.contains("Flags [override]"), "Override only: {line}");
            let at: f64 = line.split(' ').next().unwrap().parse().unwrap();
            first_na = Some(at);
        }
    }
    let delay_ms = (first_na.unwrap() - requested) * 1000.0;
    eprintln!(
        "FIGURE IPv6 shared IP: request to first unsolicited neighbor advertisement on the \
         wire {delay_ms:.1} ms (whole API call {:.1} ms, {probes} probes seen before)",
        (answered - requested) * 1000.0
    );
    assert_eq!(
        probes, 3,
        "duplicate address detection probes before taking it"
    );
    assert!(delay_ms < 1000.0, "{delay_ms} ms to the first announcement");
    let on_a = addresses(&ns_a, &dev_a);
    assert!(on_a.contains(&format!("{SHARED}/64")), "{on_a:?}");
    let flags = ip_json(&ns_a, &["-6", "addr", "show", "dev", &dev_a, "to", SHARED]);
    let info = &flags[0]["addr_info"][0];
    assert_eq!(info["nodad"], true, "added with IFA_F_NODAD: {info}");
    assert_eq!(info["tentative"], Value::Null, "usable at once: {info}");
    assert!(ping6(&ns_o, SHARED), "the observer reaches A");
    assert_eq!(
        neighbour(&ns_o, &dev_o, SHARED).as_deref(),
        Some(mac_a.as_str())
    );
    let announcements = announcements_within_3s(&wire, |line| {
        is_announcement(line) && line.contains("Flags [override]")
    });
    assert_eq!(announcements, 3, "three announcements one second apart");

    // B may not take it while A holds it: refused, naming A, nothing changed on B.
    let enable_b = settings(&mac_b, "2001:db8:50::2/64", true);
    refused_while_held(&b, &tb, &enable_b, &mac_a, &format!("{SHARED}/64"));
    assert!(!addresses(&ns_b, &dev_b).contains(&format!("{SHARED}/64")));

    // The failover procedure: disable on A (gone at once), enable on B; the observer's
    // neighbor entry moves to B by B's advertisement alone, the observer sending nothing.
    let r = put(&a, &ta, &settings(&mac_a, "2001:db8:50::1/64", false));
    assert_eq!(r.status, 200);
    assert!(!addresses(&ns_a, &dev_a).contains(&format!("{SHARED}/64")));
    assert_eq!(
        neighbour(&ns_o, &dev_o, SHARED).as_deref(),
        Some(mac_a.as_str())
    );
    let r = put(&b, &tb, &settings(&mac_b, "2001:db8:50::2/64", true));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_for(
        "the observer's neighbor entry on B's MAC",
        Duration::from_secs(3),
        || neighbour(&ns_o, &dev_o, SHARED).as_deref() == Some(mac_b.as_str()),
    );
    assert!(ping6(&ns_o, SHARED), "the observer reaches the new holder");

    // Another host claims it while B holds it (A's kernel, outside its daemon, with
    // `ndisc_notify` so that it advertises the address it is given): B logs and shows the
    // conflict and answers with an announcement at once, not at its next refresh, which
    // takes the observer back.
    wait_for(
        "B's first three announcements",
        Duration::from_secs(5),
        || get(&b, &tb)["shared_ips"][0]["announcements"] == 3,
    );
    // No duplicate address detection either (it would find B): the kernel advertises a
    // new address at once only when it completes one, and skips it without `accept_dad`.
    for setting in ["ndisc_notify=1", "accept_dad=0"] {
        for conf in ["all", dev_a.as_str()] {
            run(Command::new("ip").args([
                "netns",
                "exec",
                &ns_a,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{conf}.{setting}"),
            ]));
        }
    }
    while wire.try_recv().is_ok() {}
    let claimed = Instant::now();
    ip(&[
        "-n",
        &ns_a,
        "addr",
        "add",
        &format!("{SHARED}/64"),
        "dev",
        &dev_a,
    ]);
    let mut claim_seen = false;
    let mut defended = false;
    while !(claim_seen && defended) {
        let line = wire
            .recv_timeout(Duration::from_secs(2).saturating_sub(claimed.elapsed()))
            .expect("A's claim, then B's defence, within 2 s");
        if is_announcement(&line) && line.to_lowercase().contains(&format!("{mac_a} >")) {
            claim_seen = true;
        } else if claim_seen
            && is_announcement(&line)
            && line.to_lowercase().contains(&format!("{mac_b} >"))
        {
            defended = true;
        }
    }
    let vb = get(&b, &tb);
    assert_eq!(
        vb["shared_ips"][0]["conflict"]["mac"],
        mac_a.as_str(),
        "{vb}"
    );
    assert_eq!(vb["shared_ips"][0]["announcements"], 4);
    assert_eq!(vb["shared_ips"][0]["held"], true);
    wait_for(
        "the observer back on B's MAC",
        Duration::from_secs(2),
        || neighbour(&ns_o, &dev_o, SHARED).as_deref() == Some(mac_b.as_str()),
    );
    ip(&[
        "-n",
        &ns_a,
        "addr",
        "del",
        &format!("{SHARED}/64"),
        "dev",
        &dev_a,
    ]);

    assert_eq!(
        shared_history(&a, &ta),
        vec!["network.shared_ip.disable", "network.shared_ip.enable"]
    );

    // Both at once, from a clean start: never both hold it.
    put(&b, &tb, &settings(&mac_b, "2001:db8:50::2/64", false));
    never_both(
        (&a, &ta, settings(&mac_a, "2001:db8:50::1/64", true)),
        (&b, &tb, settings(&mac_b, "2001:db8:50::2/64", true)),
    );
}

//! The network bring-up against a real DHCP server: two network namespaces joined by a
//! veth pair, dnsmasq serving one end, `appliance-daemon --net-only` bringing up the other.
//! The kernel's state is then read back with `ip -j` (read-only; the daemon itself uses
//! rtnetlink only).
//!
//! Needs root (namespaces, raw sockets) and Debian's `dnsmasq-base` and `iproute2`
//! (image/deps installs them). Without root each test prints why and passes.

mod netlab;

use netlab::{ip, ip_json, is_root};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The first veth pair's subnet; pair N uses 192.168.(77+N).
const SUBNET: &str = "192.168.77";

fn subnet(pair: usize) -> String {
    format!("192.168.{}", 77 + pair)
}

/// A server namespace running dnsmasq and a client namespace, joined by veth pairs (one
/// per client NIC). Dropping it stops dnsmasq and deletes both namespaces (and so the
/// veths).
struct Lab {
    server_ns: String,
    client_ns: String,
    /// The first pair's ends.
    client_if: String,
    server_if: String,
    /// Every pair's (client, server) ends, first pair first.
    pairs: Vec<(String, String)>,
    dir: PathBuf,
    dnsmasq: Option<Child>,
    dnsmasq_log: Arc<Mutex<Vec<String>>>,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        Lab::with_pairs(tag, 1)
    }

    /// `tag` keeps concurrent tests apart; a short one, interface names have 15 bytes.
    fn with_pairs(tag: &str, n: usize) -> Lab {
        let id = format!("{tag}{}", std::process::id() % 100_000);
        let pairs: Vec<(String, String)> = (0..n)
            .map(|i| (format!("{id}c{i}"), format!("{id}s{i}")))
            .collect();
        let lab = Lab {
            server_ns: format!("hnet-{id}-s"),
            client_ns: format!("hnet-{id}-c"),
            client_if: pairs[0].0.clone(),
            server_if: pairs[0].1.clone(),
            pairs,
            dir: std::env::temp_dir().join(format!("net-dhcp-{id}")),
            dnsmasq: None,
            dnsmasq_log: Arc::new(Mutex::new(Vec::new())),
        };
        let _ = std::fs::remove_dir_all(&lab.dir);
        std::fs::create_dir_all(&lab.dir).unwrap();
        ip(&["netns", "add", &lab.server_ns]);
        ip(&["netns", "add", &lab.client_ns]);
        let (sns, cns) = (&lab.server_ns, &lab.client_ns);
        for (i, (client_if, server_if)) in lab.pairs.iter().enumerate() {
            ip(&["link", "add", server_if, "netns", sns, "type", "veth"]
                .into_iter()
                .chain(["peer", "name", client_if, "netns", cns])
                .collect::<Vec<_>>());
            let server_addr = format!("{}.1/24", subnet(i));
            ip(&["-n", sns, "addr", "add", &server_addr, "dev", server_if]);
            ip(&["-n", sns, "link", "set", server_if, "up"]);
        }
        lab
    }

    /// Start dnsmasq handing out `lease` (its syntax: `2m`, `1h`) on every pair and wait
    /// until it listens. Router and first DNS server of each subnet are the server's
    /// address there (`0.0.0.0` in dnsmasq's syntax); the second DNS is `192.168.77.2`.
    fn serve_dhcp(&mut self, lease: &str) {
        self.serve_dhcp_with(lease, &[]);
    }

    /// [`Lab::serve_dhcp`] with more dnsmasq options.
    fn serve_dhcp_with(&mut self, lease: &str, extra: &[String]) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.server_ns, "dnsmasq", "--no-daemon"])
            .args(["--conf-file=/dev/null", "--port=0", "--no-ping"])
            .args(["--bind-interfaces", "--log-facility=-", "--user=root"])
            .arg(format!(
                "--dhcp-option=option:dns-server,0.0.0.0,{SUBNET}.2"
            ))
            .arg("--dhcp-option=option:domain-search,lab.example")
            .arg(format!(
                "--dhcp-leasefile={}",
                self.dir.join("leases").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("dnsmasq.pid").display()
            ));
        for (i, (_, server_if)) in self.pairs.iter().enumerate() {
            let net = subnet(i);
            cmd.arg(format!("--interface={server_if}")).arg(format!(
                "--dhcp-range={net}.50,{net}.60,255.255.255.0,{lease}"
            ));
        }
        cmd.args(extra);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run dnsmasq (apt-get install dnsmasq-base; image/deps installs it)");
        let stderr = child.stderr.take().expect("piped stderr");
        self.dnsmasq = Some(child);
        let log = self.dnsmasq_log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                log.lock().unwrap().push(line);
            }
        });
        let ready = Instant::now() + Duration::from_secs(10);
        // dnsmasq binds its sockets before it logs its ranges.
        while self.dnsmasq_count("DHCP, IP range") < self.pairs.len() {
            assert!(Instant::now() < ready, "dnsmasq did not start within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn dnsmasq_said(&self, text: &str) -> bool {
        self.dnsmasq_log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(text))
    }

    fn dnsmasq_count(&self, text: &str) -> usize {
        self.dnsmasq_log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }

    /// `appliance-daemon --net-only` inside the client namespace; its stderr and status.
    fn bring_up(&self, extra: &[&str]) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.client_ns])
            .arg(env!("CARGO_BIN_EXE_appliance-daemon"))
            .arg("--net-only")
            .arg("--resolv-conf")
            .arg(self.resolv_conf())
            .args(extra)
            .args(self.pairs.iter().map(|(c, _)| c))
            .output()
            .expect("run appliance-daemon --net-only");
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("daemon:\n{log}");
        (out.status.success(), log)
    }

    /// `ip -j` inside the client namespace, parsed.
    fn client_json(&self, args: &[&str]) -> Value {
        ip_json(&self.client_ns, args)
    }

    /// (flags, IPv4 addresses as (address/prefix, scope, valid lifetime)) of `dev`.
    fn link(&self, dev: &str) -> (Vec<String>, Vec<(String, String, u64)>) {
        let v = self.client_json(&["addr", "show", "dev", dev]);
        let link = &v[0];
        let flags = link["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        let addrs = link["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["family"] == "inet")
            .map(|a| {
                (
                    format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]),
                    a["scope"].as_str().unwrap().to_string(),
                    a["valid_life_time"].as_u64().unwrap(),
                )
            })
            .collect();
        (flags, addrs)
    }

    /// Routes out of the first client interface as (dst, gateway, protocol).
    fn routes(&self) -> Vec<(String, String, String)> {
        self.routes_of(&self.client_if)
            .into_iter()
            .map(|(dst, gw, proto, _)| (dst, gw, proto))
            .collect()
    }

    /// Routes out of `dev` as (dst, gateway, protocol, metric).
    fn routes_of(&self, dev: &str) -> Vec<(String, String, String, u64)> {
        let v = self.client_json(&["route", "show", "dev", dev]);
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                let metric = r["metric"].as_u64().unwrap_or(0);
                (s("dst"), s("gateway"), s("protocol"), metric)
            })
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.dnsmasq.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.client_ns, &self.server_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn leased_address(addrs: &[(String, String, u64)]) -> Option<&(String, String, u64)> {
    leased_in(addrs, SUBNET)
}

fn leased_in<'a>(
    addrs: &'a [(String, String, u64)],
    subnet: &str,
) -> Option<&'a (String, String, u64)> {
    addrs
        .iter()
        .find(|(a, scope, _)| a.starts_with(&format!("{subnet}.")) && scope == "global")
}

#[test]
fn first_boot_brings_up_loopback_and_applies_the_lease() {
    if !is_root() {
        return;
    }
    let mut lab = Lab::new("a");
    // A fresh namespace starts like a fresh boot: lo down, NIC down, no address.
    let (lo_flags, _) = lab.link("lo");
    assert!(!lo_flags.contains(&"UP".to_string()), "lo starts down");
    lab.serve_dhcp("1h");

    let started = Instant::now();
    let (ok, log) = lab.bring_up(&["--timeout", "30"]);
    let took = started.elapsed();
    assert!(ok, "bring-up failed:\n{log}");
    eprintln!("bring-up to applied lease: {took:?}");

    let (lo_flags, lo_addrs) = lab.link("lo");
    assert!(
        lo_flags.contains(&"UP".to_string()),
        "lo is up: {lo_flags:?}"
    );
    assert!(
        lo_addrs.iter().any(|(a, _, _)| a == "127.0.0.1/8"),
        "the kernel gave lo 127.0.0.1/8: {lo_addrs:?}"
    );

    let (flags, addrs) = lab.link(&lab.client_if);
    assert!(flags.contains(&"UP".to_string()), "NIC is up: {flags:?}");
    let (address, _, valid) = leased_address(&addrs)
        .unwrap_or_else(|| panic!("no leased address on the NIC: {addrs:?}"))
        .clone();
    assert!(address.ends_with("/24"), "{address}");
    assert!(
        valid > 3000 && valid <= 3600,
        "the address carries the lease's lifetime: {valid}"
    );
    assert!(
        lab.dnsmasq_said(&format!("DHCPACK({}", lab.server_if)),
        "dnsmasq acknowledged a lease"
    );

    let routes = lab.routes();
    assert!(
        routes.contains(&("default".into(), format!("{SUBNET}.1"), "dhcp".into())),
        "default route via the router, marked proto dhcp: {routes:?}"
    );

    let resolv = std::fs::read_to_string(lab.resolv_conf()).unwrap();
    assert!(
        resolv.contains(&format!("nameserver {SUBNET}.1\nnameserver {SUBNET}.2\n")),
        "{resolv}"
    );
    assert!(resolv.contains("search lab.example\n"), "{resolv}");

    let ip_only = address.split('/').next().unwrap();
    let line = format!(
        "dhcp: {} leased {ip_only}/24 via {SUBNET}.1 (dns {SUBNET}.1,{SUBNET}.2) for ",
        lab.client_if
    );
    assert!(
        log.contains(&line),
        "the operator's lease line {line:?} is logged"
    );
}

#[test]
fn stale_addresses_and_routes_give_way_to_the_lease() {
    if !is_root() {
        return;
    }
    let mut lab = Lab::new("b");
    let ns = lab.client_ns.clone();
    let dev = lab.client_if.clone();
    // What an earlier lease on another network might have left behind.
    ip(&["-n", &ns, "addr", "add", "10.9.9.9/24", "dev", &dev]);
    ip(&["-n", &ns, "link", "set", &dev, "up"]);
    ip(&[
        "-n", &ns, "route", "add", "default", "via", "10.9.9.1", "dev", &dev, "proto", "dhcp",
    ]);
    // On-link routes do not depend on any address: only the bring-up can remove them.
    let on_link = |dst: &str, proto: &str| {
        ip(&["-n", &ns, "route", "add", dst, "dev", &dev, "proto", proto]);
    };
    on_link("10.6.0.0/16", "dhcp");
    // Someone else's route (not proto dhcp) must stay.
    on_link("10.5.0.0/16", "boot");
    lab.serve_dhcp("1h");

    let (ok, log) = lab.bring_up(&["--timeout", "30"]);
    assert!(ok, "bring-up failed:\n{log}");

    let (_, addrs) = lab.link(&dev);
    assert!(leased_address(&addrs).is_some(), "{addrs:?}");
    assert!(
        !addrs.iter().any(|(a, _, _)| a == "10.9.9.9/24"),
        "the stale address is gone: {addrs:?}"
    );
    let routes = lab.routes();
    assert!(
        routes.contains(&("default".into(), format!("{SUBNET}.1"), "dhcp".into())),
        "{routes:?}"
    );
    assert!(
        !routes.iter().any(|(_, gw, _)| gw == "10.9.9.1"),
        "the stale default route is gone: {routes:?}"
    );
    assert!(
        !routes.iter().any(|(dst, _, _)| dst == "10.6.0.0/16"),
        "the stale on-link dhcp route is gone: {routes:?}"
    );
    assert!(
        // `ip -j` leaves out the protocol when it is `boot`, the default.
        routes
            .iter()
            .any(|(dst, _, proto)| dst == "10.5.0.0/16" && proto != "dhcp"),
        "a route the daemon does not own stays: {routes:?}"
    );
}

#[test]
fn a_new_address_in_the_same_subnet_takes_over_without_losing_the_route() {
    if !is_root() {
        return;
    }
    let mut lab = Lab::new("g");
    let ns = lab.client_ns.clone();
    let dev = lab.client_if.clone();
    let link = lab.client_json(&["link", "show", "dev", &dev]);
    let mac = link[0]["address"].as_str().unwrap().to_string();
    // An earlier lease's address in the same subnet, primary on the interface.
    ip(&[
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{SUBNET}.59/24"),
        "dev",
        &dev,
    ]);
    lab.serve_dhcp_with("1h", &[format!("--dhcp-host={mac},{SUBNET}.55")]);

    let (ok, log) = lab.bring_up(&["--timeout", "30"]);
    assert!(ok, "bring-up failed:\n{log}");
    let (_, addrs) = lab.link(&dev);
    let inet: Vec<&str> = addrs.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(inet, vec![format!("{SUBNET}.55/24")], "{addrs:?}");
    let routes = lab.routes();
    assert!(
        routes.contains(&("default".into(), format!("{SUBNET}.1"), "dhcp".into())),
        "{routes:?}"
    );
}

#[test]
fn no_server_means_a_clear_failure_and_loopback_still_up() {
    if !is_root() {
        return;
    }
    let lab = Lab::new("c");
    let (ok, log) = lab.bring_up(&["--timeout", "3"]);
    assert!(!ok, "no DHCP server, yet success:\n{log}");
    assert!(
        log.contains(&format!("no DHCP lease on {} within 3s", lab.client_if)),
        "{log}"
    );
    let (lo_flags, _) = lab.link("lo");
    assert!(lo_flags.contains(&"UP".to_string()));
    let (_, addrs) = lab.link(&lab.client_if);
    assert!(leased_address(&addrs).is_none(), "{addrs:?}");
}

#[test]
fn every_nic_gets_its_lease_and_its_own_default_route() {
    if !is_root() {
        return;
    }
    let mut lab = Lab::with_pairs("e", 2);
    lab.serve_dhcp("1h");
    let (ok, log) = lab.bring_up(&["--timeout", "30"]);
    assert!(ok, "bring-up failed:\n{log}");

    let mut metrics = Vec::new();
    for (i, (dev, _)) in lab.pairs.iter().enumerate() {
        let net = subnet(i);
        let (_, addrs) = lab.link(dev);
        assert!(leased_in(&addrs, &net).is_some(), "{dev}: {addrs:?}");
        let defaults: Vec<_> = lab
            .routes_of(dev)
            .into_iter()
            .filter(|(dst, _, proto, _)| dst == "default" && proto == "dhcp")
            .collect();
        assert_eq!(defaults.len(), 1, "{dev}: {defaults:?}");
        assert_eq!(defaults[0].1, format!("{net}.1"));
        metrics.push(defaults[0].3);
    }
    assert!(
        metrics[0] < metrics[1],
        "distinct metrics, first NIC preferred: {metrics:?}"
    );
    let resolv = std::fs::read_to_string(lab.resolv_conf()).unwrap();
    assert!(
        resolv.contains(
            "nameserver 192.168.77.1\nnameserver 192.168.77.2\nnameserver 192.168.78.1\n"
        ),
        "both leases' servers, first NIC first, no duplicate: {resolv}"
    );
}

/// The server goes away after the first lease; at the end of the (2 minute) lease the
/// address, the route and the name servers must go. This test waits for that.
#[test]
fn an_expired_lease_is_taken_off_the_interface() {
    if !is_root() {
        return;
    }
    let mut lab = Lab::new("f");
    lab.serve_dhcp("2m");
    let mut daemon = Command::new("ip")
        .args(["netns", "exec", &lab.client_ns])
        .arg(env!("CARGO_BIN_EXE_appliance-daemon"))
        .arg("--net-only")
        .arg("--resolv-conf")
        .arg(lab.resolv_conf())
        .args(["--timeout", "30", "--hold", "135", &lab.client_if])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run appliance-daemon --net-only");
    let stderr = daemon.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("daemon: {line}");
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.contains(" leased ")) {
        log.push(
            rx.recv_timeout(Duration::from_secs(30))
                .expect("a lease within 30 s"),
        );
    }
    if let Some(mut child) = lab.dnsmasq.take() {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let resolv = std::fs::read_to_string(lab.resolv_conf()).unwrap();
    assert!(resolv.contains("nameserver"), "{resolv}");

    let status = daemon.wait().unwrap();
    log.extend(rx.try_iter());
    assert!(status.success(), "{log:?}");
    assert!(
        log.iter().any(
            |l| l.contains(&format!("dhcp: {} lease on {SUBNET}.", lab.client_if))
                && l.contains("expired; address removed")
        ),
        "the expiry is logged: {log:?}"
    );
    let (_, addrs) = lab.link(&lab.client_if);
    assert!(leased_address(&addrs).is_none(), "{addrs:?}");
    let routes = lab.routes();
    assert!(
        !routes.iter().any(|(dst, _, _)| dst == "default"),
        "{routes:?}"
    );
    let resolv = std::fs::read_to_string(lab.resolv_conf()).unwrap();
    assert!(!resolv.contains("nameserver"), "{resolv}");
}

/// dnsmasq's shortest lease is two minutes, so T1 comes after a minute: this test waits
/// that long.
#[test]
fn the_lease_is_renewed_at_t1_and_its_lifetime_refreshed() {
    if !is_root() {
        return;
    }
    let mut lab = Lab::new("d");
    lab.serve_dhcp("2m");
    let (ok, log) = lab.bring_up(&["--timeout", "30", "--hold", "75"]);
    assert!(ok, "bring-up failed:\n{log}");
    assert!(
        log.contains(&format!("dhcp: {} renewed {SUBNET}.", lab.client_if)),
        "a renewal is logged:\n{log}"
    );
    assert!(
        lab.dnsmasq_count("DHCPACK(") >= 2,
        "dnsmasq acknowledged the first request and the renewal"
    );
    let (_, addrs) = lab.link(&lab.client_if);
    let (_, _, valid) = leased_address(&addrs)
        .unwrap_or_else(|| panic!("the address survived the renewal: {addrs:?}"))
        .clone();
    // 75 s after a 120 s lease began, without renewal 45 s would be left.
    assert!(valid > 90, "renewal refreshed the lifetime: {valid} s left");
}

//! What the network tests share: the daemon started for them, the network API calls they
//! make, and network namespaces joined by veth pairs and bridges, read back with `ip -j`
//! (the tests may use `ip`; the daemon never does).
//!
//! Each test file uses part of it.
#![allow(dead_code)]

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https::Response;
use appliance_tests::Api;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output};

/// True as root; otherwise says why the test is skipped.
pub(crate) fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("SKIPPED: needs root for network namespaces and raw sockets");
    false
}

/// Run `cmd`, which must succeed.
pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub(crate) fn ip(args: &[&str]) -> Output {
    run(Command::new("ip").args(args))
}

/// `ip -j -n NS ARGS`, parsed.
pub(crate) fn ip_json(ns: &str, args: &[&str]) -> Value {
    let out = ip(&[&["-j", "-n", ns], args].concat());
    serde_json::from_slice(&out.stdout).expect("ip -j prints JSON")
}

pub(crate) fn mac_of(ns: &str, dev: &str) -> String {
    ip_json(ns, &["link", "show", "dev", dev])[0]["address"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Network namespaces (with their interfaces) deleted, and processes started in them
/// killed, on drop.
pub(crate) struct Lab {
    id: String,
    namespaces: Vec<String>,
    pub children: Vec<Child>,
}

impl Lab {
    /// `tag` keeps concurrent tests apart; short, since interface names have 15 bytes.
    pub(crate) fn new(tag: &str) -> Lab {
        Lab {
            id: format!("{tag}{}", std::process::id() % 100_000),
            namespaces: Vec::new(),
            children: Vec::new(),
        }
    }

    /// A new namespace, loopback up.
    pub(crate) fn ns(&mut self, name: &str) -> String {
        let ns = format!("hn-{}-{name}", self.id);
        ip(&["netns", "add", &ns]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        self.namespaces.push(ns.clone());
        ns
    }

    /// A veth pair `left` in `ns_l`, `right` in `ns_r`, both up.
    pub(crate) fn veth(&self, ns_l: &str, left: &str, ns_r: &str, right: &str) {
        ip(&[
            "link", "add", left, "netns", ns_l, "type", "veth", "peer", "name", right, "netns",
            ns_r,
        ]);
        ip(&["-n", ns_l, "link", "set", left, "up"]);
        ip(&["-n", ns_r, "link", "set", right, "up"]);
    }

    /// An interface name unique to this lab.
    pub(crate) fn name(&self, short: &str) -> String {
        format!("{}{short}", self.id)
    }

    /// A namespace holding bridge `br0`, up: the link the [`Lab::side`]s share.
    pub(crate) fn bridge(&mut self, name: &str) -> String {
        let ns = self.ns(name);
        ip(&["-n", &ns, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &ns, "link", "set", "br0", "up"]);
        ns
    }

    /// A namespace `name` with an interface on `bridge`'s `br0`: (namespace, interface).
    pub(crate) fn side(&mut self, bridge: &str, name: &str) -> (String, String) {
        let ns = self.ns(name);
        let dev = self.name(&format!("{name}0"));
        let port = self.name(&format!("{name}p"));
        self.veth(&ns, &dev, bridge, &port);
        ip(&["-n", bridge, "link", "set", &port, "master", "br0"]);
        (ns, dev)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// The daemon in dev mode on `state`, with more arguments.
pub(crate) fn start_in(state: &Path, args: &[&str]) -> DevDaemon {
    DevDaemon::start_with(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
        args,
    )
}

/// The daemon with its network manager in `ns`, managing `iface`, a change reverting after
/// `confirm_secs` unless confirmed.
pub(crate) fn daemon_in(tag: &str, ns: &str, iface: &str, confirm_secs: &str) -> DevDaemon {
    start_in(
        &state_dir(tag),
        &[
            "--net-namespace",
            ns,
            "--net-interfaces",
            iface,
            "--net-confirm-seconds",
            confirm_secs,
        ],
    )
}

/// A token for admin, the factory password changed (or already changed).
pub(crate) fn token(d: &DevDaemon) -> String {
    const PASSWORD: &str = "net-admin-secret";
    if d.login("password").status == 200 {
        d.first_login(PASSWORD)
    } else {
        d.token(PASSWORD)
    }
}

/// `GET /api/v1/network`, which must answer.
pub(crate) fn get(d: &DevDaemon, token: &str) -> Value {
    let r = d.call("GET", "/api/v1/network", Some(token), None);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    r.value()
}

/// `PUT /api/v1/network`.
pub(crate) fn put(d: &DevDaemon, token: &str, body: &Value) -> Response {
    d.call(
        "PUT",
        "/api/v1/network",
        Some(token),
        Some(&body.to_string()),
    )
}

/// PUT, expect it applied, confirm it; the confirmation's answer.
pub(crate) fn put_confirmed(d: &DevDaemon, token: &str, body: &Value) -> Value {
    let r = put(d, token, body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = d.call("POST", "/api/v1/network/confirm", Some(token), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.value()
}

/// The actions of the shared IP history, newest first.
pub(crate) fn shared_history(d: &DevDaemon, token: &str) -> Vec<String> {
    get(d, token)["shared_ip_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

//! The network API against the daemon binary in dev mode, where nothing is applied to the
//! machine: what an administrator sees, a wrong change refused with every problem named
//! and nothing changed, a change confirmed, a change left unconfirmed reverting by itself,
//! and the shared IP's Enabled flag with its history.

mod netlab;

use appliance_tests::dev::{state_dir, DevDaemon};
use netlab::{get, put, start_in, token};
use serde_json::{json, Value};
use std::time::Duration;

const ETH0: &str = "52:54:00:12:34:56";
const ETH1: &str = "52:54:00:12:34:57";

fn start(tag: &str, args: &[&str]) -> DevDaemon {
    start_in(&state_dir(tag), args)
}

fn static_config() -> Value {
    json!({
        "hostname": "support.example.com",
        "interfaces": [
            {"mac": ETH0, "up": true, "dhcp": false, "addresses": ["192.168.1.10/24"]},
            {"mac": ETH1, "up": true, "dhcp": true, "addresses": []}
        ],
        "gateways": ["192.168.1.1"],
        "routes": [{"destination": "10.20.0.0/16", "gateway": "192.168.1.254"}],
        "dns": {"servers": ["192.168.1.53"], "search": ["example.com"]},
        "shared_ips": []
    })
}

#[test]
fn dev_mode_shows_example_nics_and_their_factory_defaults() {
    let d = start("net-view", &[]);
    let t = token(&d);
    let v = get(&d, &t);
    assert_eq!(v["applied"], false);
    assert!(v["notes"][0]
        .as_str()
        .unwrap()
        .starts_with("dev mode: not applied"));
    assert_eq!(v["factory_default"], true);
    assert_eq!(v["pending"], Value::Null);
    let names: Vec<&str> = v["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["eth0", "eth1"]);
    // The virtual appliance's factory defaults: DHCP on every NIC.
    for i in v["config"]["interfaces"].as_array().unwrap() {
        assert_eq!(i["dhcp"], true);
        assert_eq!(i["up"], true);
    }
    assert_eq!(v["interfaces"][0]["dhcp"]["state"], "off");
    assert_eq!(v["config"]["hostname"], "appliance");

    let r = d.call("GET", "/api/v1/network", None, None);
    assert_eq!(r.status, 401);
}

#[test]
fn a_wrong_change_is_refused_with_every_problem_and_changes_nothing() {
    let d = start("net-bad", &[]);
    let t = token(&d);
    let before = get(&d, &t);

    let mut bad = static_config();
    bad["interfaces"][0]["addresses"][0] = json!("192.168.1.300/24");
    bad["dns"]["servers"][0] = json!("dns.example");
    let r = put(&d, &t, &bad);
    assert_eq!(r.status, 422);
    let e = r.value();
    assert_eq!(e["error"], "invalid_network");
    let fields: Vec<&str> = e["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"interfaces[0].addresses[0]"), "{e}");
    assert!(fields.contains(&"dns.servers[0]"), "{e}");
    // The gateway was on the subnet of the wrong address: reported too.
    assert!(fields.contains(&"gateways[0]"), "{e}");

    let mut cut_off = static_config();
    cut_off["interfaces"][0]["up"] = json!(false);
    cut_off["interfaces"][1]["up"] = json!(false);
    cut_off["gateways"] = json!([]);
    cut_off["routes"] = json!([]);
    let r = put(&d, &t, &cut_off);
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "would_disconnect");

    let mut typo = static_config();
    typo["gatway"] = json!("192.168.1.1");
    let r = put(&d, &t, &typo);
    assert_eq!(r.status, 422);
    let e = r.value();
    assert_eq!(e["problems"][0]["field"], "gatway", "{e}");

    let r = put(&d, &t, &json!({"interfaces": "eth0"}));
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "invalid_body");

    let r = put(
        &d,
        &t,
        &json!({"interfaces": [{"mac": "52:54:00:00:00:99", "dhcp": true}]}),
    );
    assert_eq!(r.status, 422);
    let e = r.value();
    assert!(
        e["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("present: 52:54:00:12:34:56 (eth0)"),
        "{e}"
    );

    assert_eq!(get(&d, &t), before, "GET answers exactly as before");
}

#[test]
fn a_change_is_kept_when_confirmed_and_reverts_when_not() {
    let state = state_dir("net-confirm");
    let d = start_in(&state, &["--net-confirm-seconds", "3"]);
    let t = token(&d);

    let r = put(&d, &t, &static_config());
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let v = r.value();
    assert_eq!(
        v["config"]["interfaces"][0]["addresses"][0],
        "192.168.1.10/24"
    );
    assert_eq!(v["factory_default"], false);
    let pending = &v["pending"];
    assert!(pending["seconds_left"].as_u64().unwrap() <= 3, "{pending}");
    assert_eq!(pending["by"], "admin");
    assert_eq!(pending["previous"]["interfaces"][0]["dhcp"], true);
    // Dev mode shows what would be applied.
    let eth0 = &v["interfaces"][0];
    assert_eq!(eth0["addresses"][0]["address"], "192.168.1.10/24");
    assert_eq!(eth0["addresses"][0]["origin"], "static");
    assert_eq!(eth0["routes"][0]["destination"], "default");
    assert_eq!(eth0["routes"][0]["gateway"], "192.168.1.1");

    let r = d.call("POST", "/api/v1/network/confirm", Some(&t), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.value()["pending"], Value::Null);
    let r = d.call("POST", "/api/v1/network/confirm", Some(&t), None);
    assert_eq!(r.status, 409);
    assert_eq!(r.value()["error"], "no_pending_change");
    let confirmed = get(&d, &t)["config"].clone();

    let mut next = static_config();
    next["interfaces"][0]["addresses"][0] = json!("192.168.1.20/24");
    let r = put(&d, &t, &next);
    assert_eq!(r.status, 200);
    assert_ne!(r.value()["pending"], Value::Null);
    std::thread::sleep(Duration::from_secs(4));
    let v = get(&d, &t);
    assert_eq!(v["pending"], Value::Null, "reverted by itself");
    assert_eq!(v["config"], confirmed);
    let r = d.call("GET", "/api/v1/audit?limit=20", Some(&t), None);
    let audit = r.value();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"network.revert"), "{actions:?}");
    assert!(actions.contains(&"network.confirm"), "{actions:?}");

    // The confirmed settings are the stored ones.
    drop(d);
    let d = start_in(&state, &[]);
    let t = token(&d);
    let v = get(&d, &t);
    assert_eq!(v["config"], confirmed);
    assert_eq!(v["factory_default"], false);
}

#[test]
fn the_shared_ip_flag_applies_at_once_with_its_history() {
    let d = start("net-shared", &[]);
    let t = token(&d);
    let mut config = get(&d, &t)["config"].clone();
    config["shared_ips"] = json!([
        {"address": "192.168.1.50/24", "interface": ETH0, "enabled": true}
    ]);
    let r = put(&d, &t, &config);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let v = r.value();
    assert_eq!(v["pending"], Value::Null, "no confirmation for a shared IP");
    assert_eq!(v["shared_ips"][0]["held"], true);
    assert_eq!(v["shared_ips"][0]["state"], "simulated");
    assert_eq!(v["shared_ips"][0]["interface_name"], "eth0");
    assert_eq!(
        v["shared_ip_history"][0]["action"],
        "network.shared_ip.enable"
    );

    config["shared_ips"][0]["enabled"] = json!(false);
    let v = put(&d, &t, &config).value();
    assert_eq!(v["shared_ips"][0]["held"], false);
    assert_eq!(v["shared_ips"][0]["state"], "disabled");
    assert_eq!(
        v["shared_ip_history"][0]["action"],
        "network.shared_ip.disable"
    );
    assert!(v["shared_ip_history"][0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("shared IP 192.168.1.50/24 disabled on eth0"));
}

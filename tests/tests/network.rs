//! Network settings on the booted images: the virtual appliance comes up by DHCP (QEMU's
//! user network leases 10.0.2.15) and shows it; a wrong change is refused and changes
//! nothing; a static change made through the API keeps the admin interface reachable and
//! is kept once confirmed. The box comes up by its documented factory default: DHCP plus
//! 169.254.1.1/16 on its first NIC (docs/network.md).

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::Api;
use appliance_tests::{Machine, MachineSpec};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

fn network(m: &Machine, token: &str) -> Value {
    let r = m.call("GET", "/api/v1/network", Some(token), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.value()
}

/// The view without what changes by itself as time passes (lifetimes, lease clock).
fn steady(mut v: Value) -> Value {
    for i in v["interfaces"].as_array_mut().unwrap() {
        for a in i["addresses"].as_array_mut().unwrap() {
            a["valid_seconds"] = Value::Null;
        }
        if i["dhcp"]["lease"].is_object() {
            i["dhcp"]["lease"]["expires_in"] = Value::Null;
        }
    }
    v
}

/// (address, origin) of every address of the first interface.
fn addresses(v: &Value) -> Vec<(String, String)> {
    v["interfaces"][0]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap().to_string(),
                a["origin"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Wait until the first interface holds its DHCP lease.
fn leased(m: &Machine, token: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let v = network(m, token);
        if v["interfaces"][0]["dhcp"]["state"] == "bound" {
            return v;
        }
        assert!(Instant::now() < until, "no lease within 60 s: {v}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn the_vm_comes_up_by_dhcp_and_a_static_change_keeps_it_reachable() {
    let mut m = Machine::start(&MachineSpec::image(Profile::Vm, Firmware::Bios).unwrap()).unwrap();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();
    let token = m.first_login("guest-secret-1");

    let v = leased(&m, &token);
    assert_eq!(v["factory_default"], true);
    assert_eq!(v["applied"], true);
    assert!(
        addresses(&v).contains(&("10.0.2.15/24".into(), "dhcp".into())),
        "{}",
        v["interfaces"]
    );
    assert_eq!(v["interfaces"][0]["dhcp"]["lease"]["gateway"], "10.0.2.2");
    let mac = v["interfaces"][0]["mac"].as_str().unwrap().to_string();

    // A wrong address: refused, and GET answers as before.
    let before = steady(network(&m, &token));
    let wrong = json!({"interfaces": [{"mac": mac, "addresses": ["10.0.2.300/24"]}]});
    let r = m.call(
        "PUT",
        "/api/v1/network",
        Some(&token),
        Some(&wrong.to_string()),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["error"], "invalid_network");
    assert_eq!(steady(network(&m, &token)), before);

    // The same address, static now, with QEMU's router and name server.
    let fixed = json!({
        "interfaces": [{"mac": mac, "dhcp": false, "addresses": ["10.0.2.15/24"]}],
        "gateways": ["10.0.2.2"],
        "dns": {"servers": ["10.0.2.3"]}
    });
    let r = m.call(
        "PUT",
        "/api/v1/network",
        Some(&token),
        Some(&fixed.to_string()),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.value();
    assert!(
        v["pending"]["seconds_left"].as_u64().unwrap() <= 120,
        "{}",
        v["pending"]
    );
    // Still reachable over a new connection: confirm from there.
    let r = m.call("POST", "/api/v1/network/confirm", Some(&token), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.value();
    assert_eq!(v["pending"], Value::Null);
    assert_eq!(v["factory_default"], false);
    assert!(
        addresses(&v).contains(&("10.0.2.15/24".into(), "static".into())),
        "{}",
        v["interfaces"]
    );
    assert_eq!(v["interfaces"][0]["dhcp"], Value::Null);
    assert_eq!(v["interfaces"][0]["routes"][0]["gateway"], "10.0.2.2");
    assert_eq!(v["dns"]["servers"][0], "10.0.2.3");
}

#[test]
fn the_box_comes_up_by_dhcp_and_its_fixed_address() {
    let mut m = Machine::start(&MachineSpec::image(Profile::Box, Firmware::Uefi).unwrap()).unwrap();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();
    m.wait_for_console(
        "Admin interface: https://169.254.1.1/appliance",
        Duration::from_secs(60),
    )
    .unwrap();
    let token = m.first_login("guest-secret-1");
    let v = leased(&m, &token);
    assert_eq!(v["factory_default"], true);
    assert_eq!(
        v["config"]["interfaces"][0]["addresses"],
        json!(["169.254.1.1/16"])
    );
    assert_eq!(v["config"]["interfaces"][0]["dhcp"], true);
    let shown = addresses(&v);
    assert!(
        shown.contains(&("169.254.1.1/16".into(), "static".into())),
        "{shown:?}"
    );
    assert!(
        shown.contains(&("10.0.2.15/24".into(), "dhcp".into())),
        "{shown:?}"
    );
}

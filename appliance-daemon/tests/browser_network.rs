//! Networking > IP configuration in a real headless Chromium against the dev-mode daemon,
//! read back through `GET /api/v1/network`: the interfaces shown, a wrong address refused
//! next to its field with nothing changed, a change applied then kept with the button, the
//! shared IP's Enabled checkbox, and a change left alone reverting by itself.
//!
//! `shared_ip_handover_between_two_appliances` does the upgrade guide's shared IP move for
//! real: two daemons whose network managers live in network namespaces joined by a bridge
//! (needs root and `iproute2`; without root it prints why and passes).

mod netlab;

use appliance_tests::browser::Browser;
use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::Api;
use netlab::{daemon_in, get, ip, ip_json, is_root, mac_of, put_confirmed, start_in, Lab};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const PASSWORD: &str = "network-page-secret";

/// Wait until `check` holds for the element's text.
fn wait_text(b: &Browser, css: &str, check: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + T;
    loop {
        if let Ok(text) = b.text(css) {
            if check(&text) {
                return text;
            }
        }
        assert!(
            Instant::now() < until,
            "{css}: {:?} after {T:?}",
            b.text(css)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn interfaces_shown_wrong_address_refused_change_kept_shared_ip_and_revert() {
    let d = start_in(
        &state_dir("browser-network"),
        &["--net-confirm-seconds", "10"],
    );
    let b = Browser::start("en-US,en").expect("headless Chromium");
    let base = format!("https://{}", d.https);
    b.first_login(&base, PASSWORD, T).unwrap();
    let t = d.token(PASSWORD);

    // Networking > IP configuration: both example NICs, their factory DHCP.
    b.click("a[href='/appliance/network']").unwrap();
    b.wait_for_url("/appliance/network", T).unwrap();
    assert!(b.text("h1").unwrap().contains("IP configuration"));
    let eth0 = b.text("#nic-eth0-state").unwrap();
    assert!(eth0.contains("52:54:00:12:34:56"), "{eth0}");
    assert!(eth0.contains("no client runs"), "{eth0}");
    assert!(b
        .text("#nic-eth1-state")
        .unwrap()
        .contains("52:54:00:12:34:57"));
    assert!(b.source().unwrap().contains("factory defaults"));
    let before = get(&d, &t);

    // A wrong address: refused, marked at its NIC, typed text kept, nothing changed.
    b.click("#nic-eth0-dhcp").unwrap();
    b.type_into("#nic-eth0-addresses", "192.168.1.300/24")
        .unwrap();
    b.type_into("#gateways", "192.168.1.1").unwrap();
    b.click("#save-interfaces").unwrap();
    let error = b.wait_for_text("#error", T).unwrap();
    assert!(error.contains("nothing was changed"), "{error}");
    let at_nic = b.text("#nic-eth0-errors").unwrap();
    assert!(at_nic.contains("192.168.1.300/24"), "{at_nic}");
    assert!(
        b.exists("#gateways-errors"),
        "the gateway is on no subnet now"
    );
    assert_eq!(b.text("#nic-eth0-addresses").unwrap(), "192.168.1.300/24");
    assert!(!b.exists("#pending"));
    assert_eq!(get(&d, &t), before, "GET answers exactly as before");

    // A valid change: applied, waiting to be kept, with the count down and the button.
    b.type_into("#nic-eth0-addresses", "192.168.1.10/24")
        .unwrap();
    b.type_into("#routes", "10.20.0.0/16 via 192.168.1.254")
        .unwrap();
    b.click("#save-interfaces").unwrap();
    let pending = b.wait_for_text("#pending", T).unwrap();
    assert!(pending.contains("Keep these settings"), "{pending}");
    let left: u64 = b.text("#countdown").unwrap().parse().unwrap();
    assert!((1..=10).contains(&left), "{left} s left");
    assert!(b
        .text("#nic-eth0-state")
        .unwrap()
        .contains("192.168.1.10/24 (static)"));
    let v = get(&d, &t);
    assert_ne!(v["pending"], Value::Null);
    assert_eq!(
        v["config"]["interfaces"][0],
        json!({"mac": "52:54:00:12:34:56", "up": true, "mtu": null, "dhcp": false,
               "addresses": ["192.168.1.10/24"]})
    );
    assert_eq!(v["config"]["gateways"], json!(["192.168.1.1"]));
    assert_eq!(v["config"]["routes"][0]["gateway"], "192.168.1.254");

    b.click("#keep").unwrap();
    let notice = b.wait_for_text("p.notice[role=status]", T).unwrap();
    assert!(notice.contains("kept"), "{notice}");
    assert!(!b.exists("#pending"));
    let kept = get(&d, &t);
    assert_eq!(kept["pending"], Value::Null, "confirmed");
    assert_eq!(kept["config"], v["config"]);

    // Name servers: a wrong one refused at its field, a right one applied at once.
    b.type_into("#dns-servers", "dns.example").unwrap();
    b.click("#save-dns").unwrap();
    let at_dns = b.wait_for_text("#dns-servers-errors", T).unwrap();
    assert!(at_dns.contains("dns.example"), "{at_dns}");
    b.type_into("#dns-servers", "192.168.1.53").unwrap();
    b.click("#save-dns").unwrap();
    wait_text(&b, "p.notice[role=status]", |s| s.contains("Saved"));
    assert!(!b.exists("#pending"), "name servers need no confirmation");
    assert_eq!(
        get(&d, &t)["config"]["dns"]["servers"],
        json!(["192.168.1.53"])
    );

    // The shared IP: added and enabled with one Save, disabled with one checkbox and Save.
    b.type_into("#shared0-address", "192.168.1.50/24").unwrap();
    b.click("#shared0-enabled").unwrap();
    b.click("#save-shared").unwrap();
    wait_text(&b, "#shared0-state", |s| s.contains("would be held"));
    assert!(
        !b.exists("#pending"),
        "the Enabled flag needs no confirmation"
    );
    assert!(b
        .text("#shared-history")
        .unwrap()
        .contains("shared IP 192.168.1.50/24 enabled on eth0"));
    let v = get(&d, &t);
    assert_eq!(v["shared_ips"][0]["held"], true);
    assert_eq!(
        v["config"]["shared_ips"][0]["interface"],
        "52:54:00:12:34:56"
    );
    b.click("#shared0-enabled").unwrap();
    b.click("#save-shared").unwrap();
    wait_text(&b, "#shared0-state", |s| s.contains("not held"));
    let v = get(&d, &t);
    assert_eq!(v["config"]["shared_ips"][0]["enabled"], false);
    assert_eq!(v["shared_ips"][0]["held"], false);
    assert_eq!(
        v["shared_ip_history"][0]["action"],
        "network.shared_ip.disable"
    );

    // A change left alone: the count down ends, the page reloads and says it reverted.
    b.type_into("#nic-eth0-addresses", "192.168.1.20/24")
        .unwrap();
    b.click("#save-interfaces").unwrap();
    b.wait_for_text("#pending", T).unwrap();
    let reverted = b.wait_for_text("#reverted", T).unwrap();
    assert!(reverted.contains("was not kept in time"), "{reverted}");
    let v = get(&d, &t);
    assert_eq!(v["pending"], Value::Null);
    assert_eq!(
        v["config"]["interfaces"][0]["addresses"],
        json!(["192.168.1.10/24"])
    );
    assert_eq!(
        b.text("#nic-eth0-addresses").unwrap(),
        "192.168.1.10/24",
        "the form shows the settings in force again"
    );

    // In French.
    b.goto(&format!("{base}/appliance/network?lang=fr"))
        .unwrap();
    assert!(b.text("h1").unwrap().contains("Configuration IP"));
    assert!(b.text("#save-shared").unwrap().contains("IP partagée"));
    assert!(b
        .text("#reverted")
        .unwrap()
        .contains("n'a pas été conservée"));
}

// ---------------------------------------------------------------------------------------
// Two appliances in network namespaces.

/// Global IPv4 addresses of `dev` in `ns`, as `address/prefix`.
fn addresses(ns: &str, dev: &str) -> Vec<String> {
    ip_json(ns, &["-4", "addr", "show", "dev", dev])[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

/// An appliance: its daemon managing `dev` in `ns`, a browser logged in to it, an API token.
struct Appliance {
    d: DevDaemon,
    b: Browser,
    token: String,
    base: String,
}

fn appliance(tag: &str, ns: &str, dev: &str, mac: &str, own: &str) -> Appliance {
    let d = daemon_in(tag, ns, dev, "60");
    let b = Browser::start("en-US,en").expect("headless Chromium");
    let base = format!("https://{}", d.https);
    b.first_login(&base, PASSWORD, T).unwrap();
    let token = d.token(PASSWORD);
    let settings = json!({
        "interfaces": [{"mac": mac, "dhcp": false, "addresses": [own]}],
        "shared_ips": [{"address": "10.60.0.100/24", "interface": mac, "enabled": false}]
    });
    put_confirmed(&d, &token, &settings);
    b.goto(&format!("{base}/appliance/network")).unwrap();
    Appliance { d, b, token, base }
}

impl Appliance {
    /// Click the shared IP's Enabled checkbox and Save.
    fn toggle_shared(&self) {
        self.b.click("#shared0-enabled").unwrap();
        self.b.click("#save-shared").unwrap();
    }
}

#[test]
fn shared_ip_handover_between_two_appliances() {
    if !is_root() {
        return;
    }
    let mut lab = Lab::new("w");
    let bridge = lab.bridge("br");
    let (ns_a, dev_a) = lab.side(&bridge, "a");
    let (ns_b, dev_b) = lab.side(&bridge, "b");
    let (mac_a, mac_b) = (mac_of(&ns_a, &dev_a), mac_of(&ns_b, &dev_b));
    let a = appliance("browser-net-a", &ns_a, &dev_a, &mac_a, "10.60.0.1/24");
    let b = appliance("browser-net-b", &ns_b, &dev_b, &mac_b, "10.60.0.2/24");
    let held = |x: &Appliance| get(&x.d, &x.token)["shared_ips"][0]["held"] == true;

    // A takes the shared IP: one checkbox, one Save, on the wire at once.
    a.toggle_shared();
    wait_text(&a.b, "#shared0-state", |s| s.contains("held and announced"));
    assert!(addresses(&ns_a, &dev_a).contains(&"10.60.0.100/24".to_string()));
    assert!(held(&a));

    // B may not take it while A holds it: a clear error naming A, nothing changed.
    b.toggle_shared();
    let error = b.b.wait_for_text("#error", T).unwrap();
    assert!(error.contains("in use by another host"), "{error}");
    assert!(error.contains(&mac_a), "{error}");
    assert!(b.b.text("#shared0-errors").unwrap().contains(&mac_a));
    let vb = get(&b.d, &b.token);
    assert_eq!(vb["config"]["shared_ips"][0]["enabled"], false);
    assert!(!held(&b));
    assert!(!addresses(&ns_b, &dev_b).contains(&"10.60.0.100/24".to_string()));
    let history = b.b.text("#shared-history").unwrap();
    assert!(history.contains(&format!("in use by {mac_a}")), "{history}");

    // The guide's procedure: uncheck Enabled on A and save, check it on B and save.
    a.b.goto(&format!("{}/appliance/network", a.base)).unwrap();
    a.toggle_shared();
    wait_text(&a.b, "#shared0-state", |s| s.contains("not held"));
    assert!(!addresses(&ns_a, &dev_a).contains(&"10.60.0.100/24".to_string()));
    b.b.goto(&format!("{}/appliance/network", b.base)).unwrap();
    b.toggle_shared();
    wait_text(&b.b, "#shared0-state", |s| s.contains("held and announced"));
    assert!(addresses(&ns_b, &dev_b).contains(&"10.60.0.100/24".to_string()));
    assert!(held(&b) && !held(&a));

    // A real address change on A through the page, kept with the button.
    let field = format!("#nic-{dev_a}-addresses");
    a.b.type_into(&field, "10.60.0.11/24").unwrap();
    a.b.click("#save-interfaces").unwrap();
    a.b.wait_for_text("#pending", T).unwrap();
    assert_eq!(addresses(&ns_a, &dev_a), vec!["10.60.0.11/24"], "applied");
    a.b.click("#keep").unwrap();
    wait_text(&a.b, "p.notice[role=status]", |s| s.contains("kept"));
    let va = get(&a.d, &a.token);
    assert_eq!(va["pending"], Value::Null);
    assert_eq!(va["applied"], true);
    assert_eq!(
        va["config"]["interfaces"][0]["addresses"],
        json!(["10.60.0.11/24"])
    );

    // An IPv6 shared IP, typed into the empty row, taken the same way; on B, typed
    // otherwise, refused with the error on its row.
    for x in [&a, &b] {
        x.b.goto(&format!("{}/appliance/network", x.base)).unwrap();
    }
    a.b.type_into("#shared1-address", "2001:db8:60::100/64")
        .unwrap();
    a.b.click("#shared1-enabled").unwrap();
    a.b.click("#save-shared").unwrap();
    wait_text(&a.b, "#shared1-state", |s| s.contains("held and announced"));
    let on_a = ip(&["-n", &ns_a, "-6", "addr", "show", "dev", &dev_a]).stdout;
    assert!(String::from_utf8_lossy(&on_a).contains("inet6 2001:db8:60::100/64"));
    b.b.type_into("#shared1-address", "2001:DB8:60:0::0100/64")
        .unwrap();
    b.b.click("#shared1-enabled").unwrap();
    b.b.click("#save-shared").unwrap();
    let error = b.b.wait_for_text("#error", T).unwrap();
    assert!(error.contains("2001:db8:60::100/64"), "{error}");
    assert!(error.contains(&mac_a), "{error}");
    assert!(b.b.text("#shared1-errors").unwrap().contains(&mac_a));
}

use super::*;
use crate::config::{DnsConfig, InterfaceConfig, RouteConfig, SharedIpConfig};

const MAC0: &str = "52:54:00:00:00:01";
const MAC1: &str = "52:54:00:00:00:02";

fn present() -> Vec<PresentNic> {
    vec![
        PresentNic {
            name: "eth0".into(),
            mac: MAC0.into(),
        },
        PresentNic {
            name: "eth1".into(),
            mac: MAC1.into(),
        },
    ]
}

fn iface(mac: &str, dhcp: bool, addresses: &[&str]) -> InterfaceConfig {
    InterfaceConfig {
        mac: mac.into(),
        up: true,
        mtu: None,
        dhcp,
        addresses: addresses
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
    }
}

/// A typical static setup: eth0 on the LAN with a gateway, eth1 on a management network.
fn good() -> NetworkConfig {
    NetworkConfig {
        hostname: "support.example.com".into(),
        interfaces: vec![
            iface(MAC0, false, &["192.168.1.10/24", "2001:db8::10/64"]),
            iface(MAC1, true, &["10.1.0.10/16"]),
        ],
        gateways: vec!["192.168.1.1".into(), "2001:db8::1".into()],
        routes: vec![RouteConfig {
            destination: "10.20.0.0/16".into(),
            gateway: "10.1.0.1".into(),
        }],
        dns: DnsConfig {
            servers: vec!["192.168.1.53".into()],
            search: vec!["Example.COM.".into()],
        },
        shared_ips: vec![SharedIpConfig {
            address: "192.168.1.50/24".into(),
            interface: MAC0.into(),
            enabled: true,
        }],
    }
}

/// The problems of `config`, as (field, start of message).
fn problems(config: &NetworkConfig) -> Vec<(String, String)> {
    match validate(config, &present()) {
        Err(Refusal::Invalid(p)) => p.into_iter().map(|p| (p.field, p.message)).collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

fn assert_problem(config: &NetworkConfig, field: &str, message_part: &str) {
    let found = problems(config);
    assert!(
        found
            .iter()
            .any(|(f, m)| f == field && m.contains(message_part)),
        "expected {field}: …{message_part}… in {found:#?}"
    );
}

#[test]
fn a_good_configuration_is_typed_and_written_canonically() {
    let v = validate(&good(), &present()).unwrap();
    assert_eq!(v.hostname.as_deref(), Some("support.example.com"));
    assert_eq!(v.interfaces[0].addresses.len(), 2);
    let routes0: Vec<String> = v.interfaces[0]
        .routes
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    assert_eq!(
        routes0,
        vec!["default via 192.168.1.1", "default via 2001:db8::1"]
    );
    let routes1: Vec<String> = v.interfaces[1]
        .routes
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    assert_eq!(routes1, vec!["10.20.0.0/16 via 10.1.0.1"]);
    assert_eq!(v.dns_search, vec!["example.com"]);
    assert_eq!(v.config.dns.search, vec!["example.com"]);
    assert_eq!(v.shared_ips[0].address.to_string(), "192.168.1.50/24");

    let mut shouting = good();
    shouting.interfaces[0].mac = MAC0.to_uppercase();
    shouting.interfaces[0].addresses[1] = "2001:DB8:0::10/64".into();
    let v2 = validate(&shouting, &present()).unwrap();
    assert_eq!(v2.config, v.config, "one canonical form");
}

#[test]
fn address_syntax_and_prefixes() {
    let cases = [
        ("192.168.1.300/24", "is not an IPv4 or IPv6 address"),
        ("192.168.1.10", "needs a prefix length"),
        ("192.168.1.10/33", "prefix length above 32"),
        ("2001:db8::1/129", "prefix length above 128"),
        ("192.168.1.10/x", "not a number"),
        ("192.168.1.10/0", "prefix length of 0"),
        ("192.168.1.0/24", "network address of its subnet"),
        ("192.168.1.255/24", "broadcast address of its subnet"),
        ("127.0.0.2/8", "loopback"),
        ("224.0.0.5/24", "multicast"),
        ("0.0.0.0/24", "unspecified"),
        ("ff02::1/64", "multicast"),
        ("250.1.1.1/8", "reserved"),
    ];
    for (text, message) in cases {
        let mut c = good();
        c.interfaces[1].addresses = vec![text.into()];
        assert_problem(&c, "interfaces[1].addresses[0]", message);
    }
    // A /31 has no network or broadcast address (RFC 3021); a /32 is a host.
    let mut c = good();
    c.interfaces[1].addresses = vec!["10.1.0.0/31".into(), "10.2.0.7/32".into()];
    assert!(validate(&c, &present()).is_ok());
}

#[test]
fn duplicates_and_overlaps() {
    let mut c = good();
    c.interfaces[1].addresses = vec!["192.168.1.10/24".into()];
    assert_problem(
        &c,
        "interfaces[1].addresses[0]",
        "192.168.1.10 is already used at interfaces[0].addresses[0]",
    );

    let mut c = good();
    c.interfaces[1].addresses = vec!["192.168.1.11/24".into()];
    assert_problem(
        &c,
        "interfaces[1].addresses[0]",
        "overlaps subnet 192.168.1.0/24",
    );

    // Two addresses of one subnet on one interface are fine (a secondary address).
    let mut c = good();
    c.interfaces[0].addresses.push("192.168.1.11/24".into());
    assert!(validate(&c, &present()).is_ok());

    let mut c = good();
    c.shared_ips[0].address = "192.168.1.10/24".into();
    assert_problem(&c, "shared_ips[0].address", "already used at interfaces[0]");

    let mut c = good();
    c.shared_ips.push(c.shared_ips[0].clone());
    assert_problem(&c, "shared_ips[1].address", "already used at shared_ips[0]");

    let mut c = good();
    c.interfaces[1].mac = MAC0.into();
    assert_problem(
        &c,
        "interfaces[1].mac",
        "already configured at interfaces[0]",
    );

    let mut c = good();
    c.dns.servers.push("192.168.1.53".into());
    assert_problem(&c, "dns.servers[1]", "listed twice");
}

#[test]
fn gateways_must_be_on_a_configured_subnet() {
    let mut c = good();
    c.gateways[0] = "10.99.0.1".into();
    assert_problem(&c, "gateways[0]", "not on any configured subnet");

    let mut c = good();
    c.gateways[0] = "192.168.1.10".into();
    assert_problem(&c, "gateways[0]", "own addresses");

    let mut c = good();
    c.gateways.push("192.168.1.2".into());
    assert_problem(
        &c,
        "gateways[2]",
        "already has an IPv4 default gateway at gateways[0]",
    );

    let mut c = good();
    c.gateways[1] = "fe80::1".into();
    assert_problem(&c, "gateways[1]", "link-local");

    let mut c = good();
    c.gateways[0] = "gateway.example".into();
    assert_problem(&c, "gateways[0]", "is not an IP address");

    // A DHCP-only interface has no configured subnet to hold a static gateway.
    let mut c = good();
    c.interfaces[1].addresses.clear();
    c.routes.clear();
    c.gateways = vec!["10.1.0.1".into()];
    assert_problem(&c, "gateways[0]", "not on any configured subnet");
}

#[test]
fn routes_are_networks_with_a_reachable_gateway() {
    let mut c = good();
    c.routes[0].destination = "10.20.1.0/16".into();
    assert_problem(
        &c,
        "routes[0].destination",
        "host bits set; the network is 10.20.0.0/16",
    );

    let mut c = good();
    c.routes[0].destination = "0.0.0.0/0".into();
    assert_problem(&c, "routes[0].destination", "`gateways`");

    let mut c = good();
    c.routes[0].gateway = "172.16.0.1".into();
    assert_problem(&c, "routes[0].gateway", "not on any configured subnet");

    let mut c = good();
    c.routes[0].gateway = "2001:db8::1".into();
    assert_problem(&c, "routes[0].gateway", "same IP version");

    let mut c = good();
    c.routes.push(c.routes[0].clone());
    assert_problem(
        &c,
        "routes[1].destination",
        "already has a route at routes[0]",
    );
}

#[test]
fn interfaces_are_named_by_a_present_mac() {
    let mut c = good();
    c.interfaces[1].mac = "52:54:00:00:00".into();
    assert_problem(&c, "interfaces[1].mac", "is not a MAC address");

    let mut c = good();
    c.interfaces[1].mac = "52:54:00:00:00:99".into();
    c.routes.clear();
    assert_problem(
        &c,
        "interfaces[1].mac",
        "no network interface of this appliance has MAC 52:54:00:00:00:99; present: \
         52:54:00:00:00:01 (eth0), 52:54:00:00:00:02 (eth1)",
    );

    let mut c = good();
    c.shared_ips[0].interface = "52:54:00:00:00:99".into();
    assert_problem(
        &c,
        "shared_ips[0].interface",
        "not one of the configured interfaces",
    );

    let mut c = good();
    c.interfaces.clear();
    c.gateways.clear();
    c.routes.clear();
    c.shared_ips.clear();
    assert_problem(&c, "interfaces", "At least one interface");
}

#[test]
fn mtu_hostname_dns_and_shared_ips() {
    let mut c = good();
    c.interfaces[0].mtu = Some(1000);
    assert_problem(&c, "interfaces[0].mtu", "1280 to 9216");
    c.interfaces[1].mtu = Some(100_000);
    assert_problem(&c, "interfaces[1].mtu", "576 to 9216");

    for bad in ["-box", "a b", "box_1", &"a".repeat(64), "box..example"] {
        let mut c = good();
        c.hostname = bad.to_string();
        assert_problem(&c, "hostname", "is not a valid hostname");
    }

    let mut c = good();
    c.dns.servers = vec![
        "1.1.1.1".into(),
        "1.0.0.1".into(),
        "9.9.9.9".into(),
        "8.8.8.8".into(),
    ];
    assert_problem(&c, "dns.servers", "at most 3");
    let mut c = good();
    c.dns.servers = vec!["dns.example".into()];
    assert_problem(&c, "dns.servers[0]", "not an IP address");
    let mut c = good();
    c.dns.search = vec!["exa mple.com".into()];
    assert_problem(&c, "dns.search[0]", "not a domain name");

    for (address, why) in [
        ("fe80::50/64", "fe80::50 is a link-local address"),
        ("ff02::50/64", "ff02::50 is a multicast address"),
        ("fec0::50/64", "fec0::50 is a site-local address"),
        (
            "::ffff:192.168.1.50/120",
            "::ffff:192.168.1.50 is an IPv4-mapped address",
        ),
    ] {
        let mut c = good();
        c.shared_ips[0].address = address.into();
        assert_problem(&c, "shared_ips[0].address", why);
    }
    let mut c = good();
    c.shared_ips[0].address = "2001:db8::50/64".into();
    c.interfaces[0].mtu = Some(1000);
    assert_problem(
        &c,
        "shared_ips[0].address",
        "an IPv6 shared IP needs an MTU of at least 1280",
    );
    let mut c = good();
    c.shared_ips[0].address = "2001:db8::10/64".into();
    assert_problem(&c, "shared_ips[0].address", "already used at interfaces[0]");
    let mut c = good();
    c.interfaces[0].up = false;
    c.gateways.clear();
    assert_problem(&c, "shared_ips[0].enabled", "that interface is set down");
}

#[test]
fn ipv6_shared_ips_global_or_unique_local() {
    let mut c = good();
    c.shared_ips[0].address = "2001:DB8::50/64".into();
    c.shared_ips.push(SharedIpConfig {
        address: "fd00:1::50/64".into(),
        interface: MAC1.into(),
        enabled: false,
    });
    let v = validate(&c, &present()).expect("valid");
    assert_eq!(v.shared_ips[0].address.to_string(), "2001:db8::50/64");
    assert_eq!(v.config.shared_ips[0].address, "2001:db8::50/64");
    assert_eq!(v.shared_ips[1].address.to_string(), "fd00:1::50/64");
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut c = good();
    c.hostname = "-".into();
    c.interfaces[0].addresses[0] = "nope".into();
    c.dns.servers[0] = "nope".into();
    let fields: Vec<String> = problems(&c).into_iter().map(|(f, _)| f).collect();
    assert!(fields.contains(&"hostname".to_string()), "{fields:?}");
    assert!(fields.contains(&"interfaces[0].addresses[0]".to_string()));
    assert!(fields.contains(&"dns.servers[0]".to_string()));
    // The gateway that was on the dropped subnet is reported too.
    assert!(fields.contains(&"gateways[0]".to_string()));
}

#[test]
fn a_configuration_that_would_cut_the_appliance_off_is_refused() {
    let mut c = good();
    for i in &mut c.interfaces {
        i.up = false;
    }
    c.gateways.clear();
    c.routes.clear();
    c.shared_ips.clear();
    assert!(matches!(
        validate(&c, &present()),
        Err(Refusal::WouldDisconnect(_))
    ));

    // Up, but with neither DHCP nor an address: unreachable too.
    let c = NetworkConfig {
        interfaces: vec![iface(MAC0, false, &[]), iface(MAC1, false, &[])],
        ..NetworkConfig::default()
    };
    assert!(matches!(
        validate(&c, &present()),
        Err(Refusal::WouldDisconnect(_))
    ));

    // One interface with DHCP is enough; a shared IP alone is not.
    let c = NetworkConfig {
        interfaces: vec![iface(MAC0, true, &[]), iface(MAC1, false, &[])],
        ..NetworkConfig::default()
    };
    assert!(validate(&c, &present()).is_ok());
    let c = NetworkConfig {
        interfaces: vec![iface(MAC0, false, &[])],
        shared_ips: vec![SharedIpConfig {
            address: "192.168.1.50/24".into(),
            interface: MAC0.into(),
            enabled: true,
        }],
        ..NetworkConfig::default()
    };
    assert!(matches!(
        validate(&c, &present()),
        Err(Refusal::WouldDisconnect(_))
    ));
}

#[test]
fn the_factory_defaults_are_valid() {
    for profile in ["vm", "box"] {
        let c = NetworkConfig::factory(profile, &present());
        assert!(validate(&c, &present()).is_ok(), "{profile}");
    }
}

#[test]
fn settings_of_another_machine_name_its_nics_and_this_ones() {
    let moved = NetworkConfig {
        interfaces: vec![
            iface("52:54:00:12:34:56", true, &[]),
            iface(MAC1, true, &[]),
        ],
        ..NetworkConfig::default()
    };
    let text = absent_nics(&moved, &present()).unwrap();
    assert!(text.contains("the NIC 52:54:00:12:34:56,"), "{text}");
    assert!(
        text.contains("eth0 52:54:00:00:00:01, eth1 52:54:00:00:00:02"),
        "{text}"
    );
    let here = NetworkConfig {
        interfaces: vec![iface(MAC0, true, &[])],
        ..NetworkConfig::default()
    };
    assert_eq!(absent_nics(&here, &present()), None);
    assert!(absent_nics(&moved, &[])
        .unwrap()
        .contains("this one has none"));
}

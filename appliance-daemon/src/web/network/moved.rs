//! After a change: is the address the administrator's browser used still the appliance's?
//! If not, the page names the new ones, since "Keep these settings" can only be pressed
//! there. No I/O: the `Host` header and the views before and after the change are given.

use std::net::IpAddr;

use crate::net::NetworkView;

/// Where to open the admin interface after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Moved {
    /// The address the browser used, which the appliance no longer has.
    pub old: String,
    /// `https://192.168.1.20/appliance/network`, the browser's port kept.
    pub urls: Vec<String>,
    /// That NIC runs DHCP and has no lease yet: its address is the server's choice.
    pub dhcp: bool,
}

/// The IP address and port of a `Host` header (`10.0.0.1:8443`, `[2001:db8::1]`); `None`
/// for a name.
pub(super) fn host_ip(host: &str) -> Option<(IpAddr, Option<&str>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (ip, tail) = rest.split_once(']')?;
        return Some((ip.parse().ok()?, tail.strip_prefix(':')));
    }
    match host.rsplit_once(':') {
        Some((ip, port)) => Some((ip.parse().ok()?, Some(port))),
        None => Some((host.parse().ok()?, None)),
    }
}

fn ip_of(address: &str) -> Option<IpAddr> {
    address.split('/').next()?.parse().ok()
}

fn holds(view: &NetworkView, ip: IpAddr) -> bool {
    view.interfaces
        .iter()
        .flat_map(|i| &i.addresses)
        .any(|a| ip_of(&a.address) == Some(ip))
}

/// `None` unless `host` is an address the appliance had before the change and has no more.
pub(super) fn moved(host: &str, before: &NetworkView, after: &NetworkView) -> Option<Moved> {
    let (ip, port) = host_ip(host)?;
    let ip = ip.to_canonical();
    if ip.is_loopback() || !holds(before, ip) || holds(after, ip) {
        return None;
    }
    let mac = before
        .interfaces
        .iter()
        .find(|i| i.addresses.iter().any(|a| ip_of(&a.address) == Some(ip)))
        .map(|i| i.mac.clone());
    let usable = |only: Option<&str>| -> Vec<IpAddr> {
        after
            .interfaces
            .iter()
            .filter(|i| only.is_none_or(|m| i.mac == m))
            .flat_map(|i| &i.addresses)
            .filter(|a| a.origin == "static" || a.origin == "dhcp")
            .filter_map(|a| ip_of(&a.address))
            .collect()
    };
    let mut ips = usable(mac.as_deref());
    if ips.is_empty() {
        ips = usable(None);
    }
    // The browser's family first: an IPv4 user most likely has no IPv6 route.
    ips.sort_by_key(|a| a.is_ipv4() != ip.is_ipv4());
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    let urls = ips
        .iter()
        .map(|a| match a {
            IpAddr::V4(v4) => format!("https://{v4}{port}/appliance/network"),
            IpAddr::V6(v6) => format!("https://[{v6}]{port}/appliance/network"),
        })
        .collect();
    let dhcp = mac.as_deref().is_some_and(|m| {
        after
            .config
            .interfaces
            .iter()
            .any(|i| i.mac == m && i.up && i.dhcp)
            && !after
                .interfaces
                .iter()
                .any(|i| i.mac == m && i.addresses.iter().any(|a| a.origin == "dhcp"))
    });
    Some(Moved {
        old: ip.to_string(),
        urls,
        dhcp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::view::{AddressView, InterfaceView};
    use crate::net::NetworkConfig;

    fn view(nics: &[(&str, &[(&str, &'static str)])], dhcp_on: &[&str]) -> NetworkView {
        let mut config = NetworkConfig::default();
        for (mac, _) in nics {
            config.interfaces.push(crate::net::config::InterfaceConfig {
                mac: mac.to_string(),
                dhcp: dhcp_on.contains(mac),
                ..Default::default()
            });
        }
        NetworkView {
            config,
            factory_default: false,
            applied: true,
            notes: Vec::new(),
            pending: None,
            interfaces: nics
                .iter()
                .enumerate()
                .map(|(n, (mac, addresses))| InterfaceView {
                    name: format!("eth{n}"),
                    mac: mac.to_string(),
                    configured: true,
                    up: true,
                    carrier: true,
                    mtu: 1500,
                    addresses: addresses
                        .iter()
                        .map(|(a, origin)| AddressView {
                            address: a.to_string(),
                            origin,
                            valid_seconds: None,
                        })
                        .collect(),
                    routes: Vec::new(),
                    dhcp: None,
                })
                .collect(),
            shared_ips: Vec::new(),
            dns: Default::default(),
            hostname: String::new(),
            shared_ip_history: Vec::new(),
        }
    }

    const A: &str = "52:54:00:00:00:01";
    const B: &str = "52:54:00:00:00:02";

    #[test]
    fn host_headers() {
        assert_eq!(
            host_ip("10.0.0.1:8443"),
            Some(("10.0.0.1".parse().unwrap(), Some("8443")))
        );
        assert_eq!(
            host_ip("10.0.0.1"),
            Some(("10.0.0.1".parse().unwrap(), None))
        );
        assert_eq!(
            host_ip("[2001:db8::1]:443"),
            Some(("2001:db8::1".parse().unwrap(), Some("443")))
        );
        assert_eq!(
            host_ip("[2001:db8::1]"),
            Some(("2001:db8::1".parse().unwrap(), None))
        );
        assert_eq!(host_ip("support.example.com:443"), None);
    }

    #[test]
    fn a_static_address_replaced_names_the_new_one_on_the_same_nic() {
        let before = view(
            &[
                (
                    A,
                    &[("192.168.1.10/24", "static"), ("fe80::1/64", "link-local")],
                ),
                (B, &[("10.9.0.2/24", "dhcp")]),
            ],
            &[B],
        );
        let after = view(
            &[
                (
                    A,
                    &[
                        ("2001:db8::20/64", "static"),
                        ("192.168.1.20/24", "static"),
                        ("192.168.1.50/24", "shared"),
                    ],
                ),
                (B, &[("10.9.0.2/24", "dhcp")]),
            ],
            &[B],
        );
        let m = moved("192.168.1.10:8443", &before, &after).unwrap();
        assert_eq!(m.old, "192.168.1.10");
        assert_eq!(
            m.urls,
            vec![
                "https://192.168.1.20:8443/appliance/network",
                "https://[2001:db8::20]:8443/appliance/network"
            ]
        );
        assert!(!m.dhcp);
        assert_eq!(moved("10.9.0.2", &before, &after), None, "still there");
        assert_eq!(moved("127.0.0.1:8443", &before, &after), None);
        assert_eq!(moved("support.example.com", &before, &after), None);
        assert_eq!(
            moved("172.16.0.1", &before, &after),
            None,
            "an address never the appliance's (NAT): nothing to say"
        );
    }

    #[test]
    fn a_nic_switched_to_dhcp_says_the_server_chooses() {
        let before = view(&[(A, &[("192.168.1.10/24", "static")])], &[]);
        let after = view(&[(A, &[])], &[A]);
        let m = moved("192.168.1.10", &before, &after).unwrap();
        assert!(m.urls.is_empty());
        assert!(m.dhcp);
    }

    #[test]
    fn addresses_elsewhere_are_offered_when_the_nic_has_none() {
        let before = view(&[(A, &[("192.168.1.10/24", "static")]), (B, &[])], &[]);
        let after = view(&[(A, &[]), (B, &[("10.0.0.5/24", "static")])], &[]);
        let m = moved("192.168.1.10", &before, &after).unwrap();
        assert_eq!(m.urls, vec!["https://10.0.0.5/appliance/network"]);
    }
}

//! A DHCPv4 lease in the appliance's terms, independent of the client library, and what
//! it asks of an interface: one address, routes, maybe an MTU. No I/O.

use std::net::{IpAddr, Ipv4Addr};

use crate::ipnet::{IpNet, Ipv4Net};
use crate::route::{Origin, Route};

/// A classless static route of option 121: `gateway: None` means on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRoute {
    pub destination: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
}

/// The parts of a DHCPv4 lease the appliance uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Net,
    /// Option 3, in the server's order of preference.
    pub routers: Vec<Ipv4Addr>,
    /// Option 121. When present, RFC 3442 says to ignore option 3.
    pub classless_routes: Vec<LeaseRoute>,
    pub dns: Vec<Ipv4Addr>,
    pub search: Vec<String>,
    pub mtu: Option<u16>,
    /// Seconds; `u32::MAX` is infinite (RFC 2131).
    pub lease_secs: u32,
    /// The server that granted it (option 54).
    pub server: Option<Ipv4Addr>,
}

/// The smallest MTU an IPv4 host must accept (RFC 791); a lease asking for less is wrong.
const MIN_MTU: u16 = 576;

impl Lease {
    /// True when `other` asks for the same interface configuration: a renewal. Lifetimes
    /// differ between renewals (servers and clients add jitter), so they do not count.
    pub fn configures_like(&self, other: &Lease) -> bool {
        Lease {
            lease_secs: other.lease_secs,
            ..self.clone()
        } == *other
    }

    /// The routes the lease asks for, marked as DHCP's.
    pub fn routes(&self) -> Vec<Route> {
        if self.classless_routes.is_empty() {
            // Only the first router: several default routes with one metric would make
            // the kernel pick one anyway, and the server lists its preference first.
            self.routers
                .iter()
                .find(|gw| !gw.is_unspecified())
                .map(|gw| vec![Route::default_via(IpAddr::V4(*gw), Origin::Dhcp)])
                .unwrap_or_default()
        } else {
            self.classless_routes
                .iter()
                .map(|r| Route {
                    destination: IpNet::from(r.destination.network()),
                    gateway: r.gateway.filter(|gw| !gw.is_unspecified()).map(IpAddr::V4),
                    origin: Origin::Dhcp,
                })
                .collect()
        }
    }

    /// The MTU the lease asks for, if sensible.
    pub fn mtu(&self) -> Option<u32> {
        self.mtu.filter(|m| *m >= MIN_MTU).map(u32::from)
    }

    /// The default gateway the lease gives, if any.
    pub fn gateway(&self) -> Option<IpAddr> {
        self.routes()
            .into_iter()
            .find(|r| r.destination.prefix_len == 0)
            .and_then(|r| r.gateway)
    }
}

/// The operator's log line for a lease:
/// `dhcp: eth0 leased 10.0.2.15/24 via 10.0.2.2 (dns 10.0.2.3) for 86400 s`.
pub fn lease_line(iface: &str, lease: &Lease) -> String {
    let mut line = format!("dhcp: {iface} leased {}", lease.address);
    let gateways: Vec<String> = lease
        .routes()
        .iter()
        .filter(|r| r.destination.prefix_len == 0)
        .filter_map(|r| r.gateway)
        .map(|gw| gw.to_string())
        .collect();
    if gateways.is_empty() {
        line.push_str(" (no gateway)");
    } else {
        line.push_str(&format!(" via {}", gateways.join(",")));
    }
    if !lease.dns.is_empty() {
        let dns: Vec<String> = lease
            .dns
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        line.push_str(&format!(" (dns {})", dns.join(",")));
    }
    if lease.lease_secs == u32::MAX {
        line.push_str(" forever");
    } else {
        line.push_str(&format!(" for {} s", lease.lease_secs));
    }
    line
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    pub(crate) use crate::ipnet::tests::net4;

    pub(crate) fn qemu_lease() -> Lease {
        Lease {
            address: net4("10.0.2.15/24"),
            routers: vec![ip("10.0.2.2")],
            classless_routes: vec![],
            dns: vec![ip("10.0.2.3")],
            search: vec![],
            mtu: None,
            lease_secs: 86400,
            server: Some(ip("10.0.2.2")),
        }
    }

    fn default_via(gw: &str) -> Route {
        Route::default_via(IpAddr::V4(ip(gw)), Origin::Dhcp)
    }

    #[test]
    fn a_plain_lease_gives_a_default_route() {
        assert_eq!(qemu_lease().routes(), vec![default_via("10.0.2.2")]);
        assert_eq!(qemu_lease().mtu(), None);
        assert_eq!(qemu_lease().gateway(), Some(IpAddr::V4(ip("10.0.2.2"))));
    }

    #[test]
    fn classless_routes_replace_the_router_option() {
        let mut lease = qemu_lease();
        lease.classless_routes = vec![
            LeaseRoute {
                destination: net4("192.168.7.9/16"),
                gateway: Some(ip("10.0.2.5")),
            },
            LeaseRoute {
                destination: net4("0.0.0.0/0"),
                gateway: Some(ip("10.0.2.1")),
            },
            LeaseRoute {
                destination: net4("172.16.0.0/12"),
                gateway: Some(ip("0.0.0.0")),
            },
        ];
        assert_eq!(
            lease.routes(),
            vec![
                Route {
                    destination: "192.168.0.0/16".parse().unwrap(),
                    gateway: Some(IpAddr::V4(ip("10.0.2.5"))),
                    origin: Origin::Dhcp,
                },
                default_via("10.0.2.1"),
                Route {
                    destination: "172.16.0.0/12".parse().unwrap(),
                    gateway: None,
                    origin: Origin::Dhcp,
                },
            ]
        );
        assert_eq!(
            lease_line("eth0", &lease),
            "dhcp: eth0 leased 10.0.2.15/24 via 10.0.2.1 (dns 10.0.2.3) for 86400 s"
        );
    }

    #[test]
    fn only_the_first_usable_router_becomes_the_default_route() {
        let mut lease = qemu_lease();
        lease.routers = vec![ip("0.0.0.0"), ip("10.0.2.9"), ip("10.0.2.2")];
        assert_eq!(lease.routes(), vec![default_via("10.0.2.9")]);
        lease.routers.clear();
        assert!(lease.routes().is_empty());
        assert_eq!(
            lease_line("eth1", &lease),
            "dhcp: eth1 leased 10.0.2.15/24 (no gateway) (dns 10.0.2.3) for 86400 s"
        );
    }

    #[test]
    fn a_renewal_differs_only_in_lifetime() {
        let mut renewed = qemu_lease();
        renewed.lease_secs = 86398;
        assert!(qemu_lease().configures_like(&renewed));
        renewed.dns.push(ip("10.0.2.4"));
        assert!(!qemu_lease().configures_like(&renewed));
    }

    #[test]
    fn an_absurd_mtu_is_ignored() {
        let mut lease = qemu_lease();
        lease.mtu = Some(68);
        assert_eq!(lease.mtu(), None);
        lease.mtu = Some(1400);
        assert_eq!(lease.mtu(), Some(1400));
    }

    #[test]
    fn the_log_line_matches_the_documented_form() {
        assert_eq!(
            lease_line("eth0", &qemu_lease()),
            "dhcp: eth0 leased 10.0.2.15/24 via 10.0.2.2 (dns 10.0.2.3) for 86400 s"
        );
        let mut lease = qemu_lease();
        lease.dns = vec![ip("1.1.1.1"), ip("9.9.9.9")];
        lease.lease_secs = u32::MAX;
        assert_eq!(
            lease_line("eth0", &lease),
            "dhcp: eth0 leased 10.0.2.15/24 via 10.0.2.2 (dns 1.1.1.1,9.9.9.9) forever"
        );
    }
}

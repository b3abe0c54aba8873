//! What an interface should look like, and what to change to get there. No I/O: the
//! netlink shell reads the kernel's state into [`Current`], asks [`diff`] for the
//! [`Changes`], and carries them out in the order they are listed.
//!
//! Today the only source of wanted state is a DHCPv4 lease ([`Desired::from_lease`]); the
//! static configuration of a later release produces the same [`Desired`].

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 address with its prefix length: `10.0.2.15/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl Ipv4Net {
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Self {
        Ipv4Net { addr, prefix_len }
    }

    /// The network this address belongs to (host bits cleared).
    pub fn network(&self) -> Ipv4Net {
        let mask = match self.prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n.min(32))),
        };
        Ipv4Net::new(Ipv4Addr::from(u32::from(self.addr) & mask), self.prefix_len)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        Ipv4Net::new(ip, self.prefix_len).network() == self.network()
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// A route out of one interface. `gateway: None` means the destination is on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub destination: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
}

impl Route {
    pub fn default_via(gateway: Ipv4Addr) -> Self {
        Route {
            destination: Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0),
            gateway: Some(gateway),
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.destination.prefix_len == 0 {
            f.write_str("default")?;
        } else {
            write!(f, "{}", self.destination)?;
        }
        match self.gateway {
            Some(gw) => write!(f, " via {gw}"),
            None => f.write_str(" on-link"),
        }
    }
}

/// The parts of a DHCPv4 lease the appliance uses, independent of the client library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Net,
    /// Option 3, in the server's order of preference.
    pub routers: Vec<Ipv4Addr>,
    /// Option 121. When present, RFC 3442 says to ignore option 3.
    pub classless_routes: Vec<Route>,
    pub dns: Vec<Ipv4Addr>,
    pub search: Vec<String>,
    pub mtu: Option<u16>,
    /// Seconds; `u32::MAX` is infinite (RFC 2131).
    pub lease_secs: u32,
}

impl Lease {
    /// True when `other` asks for the same interface configuration: a renewal. Lifetimes
    /// differ between renewals (servers and clients add jitter), so they do not count.
    pub fn configures_like(&self, other: &Lease) -> bool {
        Lease {
            lease_secs: other.lease_secs,
            ..self.clone()
        } == *other
    }
}

/// The smallest MTU an IPv4 host must accept (RFC 791); a lease asking for less is wrong.
const MIN_MTU: u16 = 576;

/// What the interface should carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub addresses: Vec<Ipv4Net>,
    pub routes: Vec<Route>,
    pub mtu: Option<u32>,
}

impl Desired {
    /// Nothing: the state after a lease expired.
    pub fn none() -> Self {
        Desired::default()
    }

    pub fn from_lease(lease: &Lease) -> Self {
        let routes = if lease.classless_routes.is_empty() {
            // Only the first router: several default routes with one metric would make
            // the kernel pick one anyway, and the server lists its preference first.
            lease
                .routers
                .iter()
                .find(|gw| !gw.is_unspecified())
                .map(|gw| vec![Route::default_via(*gw)])
                .unwrap_or_default()
        } else {
            lease
                .classless_routes
                .iter()
                .map(|r| Route {
                    destination: r.destination.network(),
                    gateway: r.gateway.filter(|gw| !gw.is_unspecified()),
                })
                .collect()
        };
        Desired {
            addresses: vec![lease.address],
            routes,
            mtu: lease.mtu.filter(|m| *m >= MIN_MTU).map(u32::from),
        }
    }
}

/// What the kernel has on the interface, as far as this daemon manages it: its IPv4
/// addresses of global scope and the routes marked as ours (protocol `dhcp`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    pub addresses: Vec<Ipv4Net>,
    pub routes: Vec<Route>,
    pub mtu: u32,
}

/// The steps from [`Current`] to [`Desired`], in the order to carry them out: stale routes
/// go first; new addresses come before stale ones leave, because the kernel flushes every
/// route of an interface that loses its last IPv4 address (other owners' routes too), and
/// a new address in the same subnet survives its primary's removal only as a promoted
/// secondary (`promote_secondaries`, which the bring-up sets); routes come back last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub remove_routes: Vec<Route>,
    pub set_mtu: Option<u32>,
    /// Addresses to add, or to replace so that their lifetime follows the new lease.
    pub put_addresses: Vec<Ipv4Net>,
    pub remove_addresses: Vec<Ipv4Net>,
    pub add_routes: Vec<Route>,
}

impl Changes {
    /// True when only lifetimes are refreshed: the interface looks the same afterwards.
    pub fn only_refresh(&self, current: &Current) -> bool {
        self.remove_routes.is_empty()
            && self.remove_addresses.is_empty()
            && self.set_mtu.is_none()
            && self.add_routes.is_empty()
            && self
                .put_addresses
                .iter()
                .all(|a| current.addresses.contains(a))
    }
}

pub fn diff(current: &Current, desired: &Desired) -> Changes {
    Changes {
        remove_routes: current
            .routes
            .iter()
            .filter(|r| !desired.routes.contains(r))
            .copied()
            .collect(),
        remove_addresses: current
            .addresses
            .iter()
            .filter(|a| !desired.addresses.contains(a))
            .copied()
            .collect(),
        set_mtu: desired.mtu.filter(|m| *m != current.mtu),
        put_addresses: desired.addresses.clone(),
        add_routes: desired
            .routes
            .iter()
            .filter(|r| !current.routes.contains(r))
            .copied()
            .collect(),
    }
}

/// The operator's log line for a lease:
/// `dhcp: eth0 leased 10.0.2.15/24 via 10.0.2.2 (dns 10.0.2.3) for 86400 s`.
pub fn lease_line(iface: &str, lease: &Lease) -> String {
    let mut line = format!("dhcp: {iface} leased {}", lease.address);
    let desired = Desired::from_lease(lease);
    let gateways: Vec<String> = desired
        .routes
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
        let dns: Vec<String> = lease.dns.iter().map(|d| d.to_string()).collect();
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
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Ipv4Net {
        let (a, p) = s.split_once('/').unwrap();
        Ipv4Net::new(ip(a), p.parse().unwrap())
    }

    fn qemu_lease() -> Lease {
        Lease {
            address: net("10.0.2.15/24"),
            routers: vec![ip("10.0.2.2")],
            classless_routes: vec![],
            dns: vec![ip("10.0.2.3")],
            search: vec![],
            mtu: None,
            lease_secs: 86400,
        }
    }

    #[test]
    fn a_plain_lease_gives_one_address_and_a_default_route() {
        let d = Desired::from_lease(&qemu_lease());
        assert_eq!(d.addresses, vec![net("10.0.2.15/24")]);
        assert_eq!(d.routes, vec![Route::default_via(ip("10.0.2.2"))]);
        assert_eq!(d.mtu, None);
    }

    #[test]
    fn classless_routes_replace_the_router_option() {
        let mut lease = qemu_lease();
        lease.classless_routes = vec![
            Route {
                destination: net("192.168.7.9/16"),
                gateway: Some(ip("10.0.2.5")),
            },
            Route {
                destination: net("0.0.0.0/0"),
                gateway: Some(ip("10.0.2.1")),
            },
            Route {
                destination: net("172.16.0.0/12"),
                gateway: Some(ip("0.0.0.0")),
            },
        ];
        let d = Desired::from_lease(&lease);
        assert_eq!(
            d.routes,
            vec![
                Route {
                    destination: net("192.168.0.0/16"),
                    gateway: Some(ip("10.0.2.5"))
                },
                Route::default_via(ip("10.0.2.1")),
                Route {
                    destination: net("172.16.0.0/12"),
                    gateway: None
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
        let d = Desired::from_lease(&lease);
        assert_eq!(d.routes, vec![Route::default_via(ip("10.0.2.9"))]);
        lease.routers.clear();
        assert!(Desired::from_lease(&lease).routes.is_empty());
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
        assert_eq!(Desired::from_lease(&lease).mtu, None);
        lease.mtu = Some(1400);
        assert_eq!(Desired::from_lease(&lease).mtu, Some(1400));
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

    #[test]
    fn first_lease_on_a_bare_interface_adds_everything() {
        let current = Current {
            mtu: 1500,
            ..Current::default()
        };
        let changes = diff(&current, &Desired::from_lease(&qemu_lease()));
        assert_eq!(
            changes,
            Changes {
                put_addresses: vec![net("10.0.2.15/24")],
                add_routes: vec![Route::default_via(ip("10.0.2.2"))],
                ..Changes::default()
            }
        );
        assert!(!changes.only_refresh(&current));
    }

    #[test]
    fn a_renewed_identical_lease_only_refreshes_the_lifetime() {
        let desired = Desired::from_lease(&qemu_lease());
        let current = Current {
            addresses: desired.addresses.clone(),
            routes: desired.routes.clone(),
            mtu: 1500,
        };
        let changes = diff(&current, &desired);
        assert!(changes.remove_routes.is_empty() && changes.remove_addresses.is_empty());
        assert!(changes.add_routes.is_empty() && changes.set_mtu.is_none());
        assert_eq!(changes.put_addresses, vec![net("10.0.2.15/24")]);
        assert!(changes.only_refresh(&current));
    }

    #[test]
    fn a_new_address_replaces_the_old_one_and_its_route() {
        let current = Current {
            addresses: vec![net("10.0.2.15/24")],
            routes: vec![Route::default_via(ip("10.0.2.2"))],
            mtu: 1500,
        };
        let mut lease = qemu_lease();
        lease.address = net("10.0.3.20/24");
        lease.routers = vec![ip("10.0.3.1")];
        lease.mtu = Some(1400);
        let changes = diff(&current, &Desired::from_lease(&lease));
        assert_eq!(
            changes,
            Changes {
                remove_routes: vec![Route::default_via(ip("10.0.2.2"))],
                remove_addresses: vec![net("10.0.2.15/24")],
                set_mtu: Some(1400),
                put_addresses: vec![net("10.0.3.20/24")],
                add_routes: vec![Route::default_via(ip("10.0.3.1"))],
            }
        );
    }

    #[test]
    fn expiry_removes_what_the_lease_put_there() {
        let current = Current {
            addresses: vec![net("10.0.2.15/24")],
            routes: vec![Route::default_via(ip("10.0.2.2"))],
            mtu: 1500,
        };
        let changes = diff(&current, &Desired::none());
        assert_eq!(changes.remove_routes, current.routes);
        assert_eq!(changes.remove_addresses, current.addresses);
        assert!(changes.put_addresses.is_empty() && changes.add_routes.is_empty());
        assert_eq!(changes.set_mtu, None);
    }

    #[test]
    fn networks_and_membership() {
        assert_eq!(net("10.0.2.15/24").network(), net("10.0.2.0/24"));
        assert_eq!(net("10.0.2.15/0").network(), net("0.0.0.0/0"));
        assert_eq!(net("10.0.2.15/32").network(), net("10.0.2.15/32"));
        assert!(net("10.0.2.0/24").contains(ip("10.0.2.200")));
        assert!(!net("10.0.2.0/24").contains(ip("10.0.3.1")));
        assert_eq!(
            Route::default_via(ip("10.0.2.2")).to_string(),
            "default via 10.0.2.2"
        );
    }
}

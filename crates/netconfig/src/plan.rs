//! What an interface should look like, and what to change to get there. No I/O: the
//! netlink shell reads the kernel's state into [`Current`], [`wanted`] merges the
//! operator's settings, the DHCP lease and the held shared IPs into [`Desired`], [`diff`]
//! gives the [`Changes`], which the shell carries out in the order they are listed.

use crate::ipnet::IpNet;
use crate::lease::Lease;
use crate::route::Route;
use crate::validate::IfaceSpec;

/// An address to put on an interface; `lifetime_secs: None` is forever (static and shared
/// addresses), a number is what is left of a DHCP lease, so that the kernel itself drops
/// the address at the lease's end should the daemon not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    pub net: IpNet,
    pub lifetime_secs: Option<u32>,
    /// Added without the kernel's duplicate address detection (IFA_F_NODAD): an IPv6
    /// shared IP, probed by the daemon itself before it is taken, must be usable at once,
    /// not tentative for a second.
    pub nodad: bool,
}

/// What the interface should carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub up: bool,
    pub mtu: Option<u32>,
    pub addresses: Vec<Address>,
    pub routes: Vec<Route>,
    /// Addresses to leave as they are, neither put nor removed (see the manager's start:
    /// a DHCP interface keeps its addresses until its first lease).
    pub keep: Vec<IpNet>,
}

/// An address the kernel has, and whether it is there forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentAddress {
    pub net: IpNet,
    pub forever: bool,
}

/// What the kernel has on the interface, as far as this daemon manages it: IPv4 addresses
/// of global scope, permanent global IPv6 addresses (not the link-local one nor those the
/// kernel made from router advertisements), and the main table's routes out of it marked
/// `proto dhcp` or `proto static`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    pub up: bool,
    pub mtu: u32,
    pub addresses: Vec<CurrentAddress>,
    pub routes: Vec<Route>,
}

/// The steps from [`Current`] to [`Desired`], in the order to carry them out: the link
/// comes up first (a route via a down link is refused); stale routes go; new addresses
/// come before stale ones leave, because the kernel flushes every route of an interface
/// that loses its last IPv4 address (other owners' routes too), and a new address in the
/// same subnet survives its primary's removal only as a promoted secondary
/// (`promote_secondaries`, which the bring-up sets); routes come back; a link to be down
/// goes down last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub set_up: bool,
    pub remove_routes: Vec<Route>,
    pub set_mtu: Option<u32>,
    /// Addresses to add, or to replace so that their lifetime follows the lease.
    pub put_addresses: Vec<Address>,
    pub remove_addresses: Vec<IpNet>,
    pub add_routes: Vec<Route>,
    pub set_down: bool,
}

impl Changes {
    /// True when only lifetimes are refreshed: the interface looks the same afterwards.
    pub fn only_refresh(&self, current: &Current) -> bool {
        !self.set_up
            && !self.set_down
            && self.remove_routes.is_empty()
            && self.remove_addresses.is_empty()
            && self.set_mtu.is_none()
            && self.add_routes.is_empty()
            && self
                .put_addresses
                .iter()
                .all(|a| current.addresses.iter().any(|c| c.net == a.net))
    }
}

pub fn diff(current: &Current, desired: &Desired) -> Changes {
    let put_addresses = desired
        .addresses
        .iter()
        .filter(
            |a| match current.addresses.iter().find(|c| c.net == a.net) {
                None => true,
                // A lease's address is put again to carry the lease's remaining lifetime.
                Some(_) if a.lifetime_secs.is_some() => true,
                // An address that was a lease's and is now static must lose its lifetime.
                Some(c) => !c.forever,
            },
        )
        .copied()
        .collect();
    Changes {
        set_up: desired.up && !current.up,
        remove_routes: current
            .routes
            .iter()
            .filter(|r| !desired.routes.contains(r))
            .copied()
            .collect(),
        set_mtu: desired.mtu.filter(|m| *m != current.mtu),
        put_addresses,
        remove_addresses: current
            .addresses
            .iter()
            .filter(|c| !desired.addresses.iter().any(|a| a.net == c.net))
            .filter(|c| !desired.keep.contains(&c.net))
            .map(|c| c.net)
            .collect(),
        add_routes: desired
            .routes
            .iter()
            .filter(|r| !current.routes.contains(r))
            .copied()
            .collect(),
        set_down: !desired.up && current.up,
    }
}

/// The lease an interface holds, with the seconds left of it.
#[derive(Debug, Clone, Copy)]
pub struct HeldLease<'a> {
    pub lease: &'a Lease,
    pub remaining_secs: u32,
}

/// What an interface should carry: nothing and down when the settings do not name it or
/// set it down; else its static addresses and routes, the lease's address and routes
/// (a static route to the same destination, a static gateway of the family, win over the
/// lease's), the shared IPs it holds, and the MTU of the settings, else of the lease.
pub fn wanted(spec: Option<&IfaceSpec>, lease: Option<HeldLease<'_>>, shared: &[IpNet]) -> Desired {
    let Some(spec) = spec.filter(|s| s.up) else {
        return Desired::default();
    };
    let statics = spec.addresses.iter().map(|net| Address {
        net: *net,
        lifetime_secs: None,
        nodad: false,
    });
    let shared = shared.iter().map(|net| Address {
        net: *net,
        lifetime_secs: None,
        nodad: !net.is_ipv4(),
    });
    let mut addresses: Vec<Address> = statics.chain(shared).collect();
    let mut routes = spec.routes.clone();
    let lease = lease.filter(|_| spec.dhcp);
    if let Some(held) = lease {
        let net = IpNet::from(held.lease.address);
        if !addresses.iter().any(|a| a.net == net) {
            addresses.push(Address {
                net,
                lifetime_secs: (held.lease.lease_secs != u32::MAX).then_some(held.remaining_secs),
                nodad: false,
            });
        }
        for route in held.lease.routes() {
            let taken = routes
                .iter()
                .any(|r: &Route| r.destination == route.destination || r.same_path(&route));
            if !taken {
                routes.push(route);
            }
        }
    }
    let mut unique: Vec<Address> = Vec::new();
    for a in addresses {
        if !unique.iter().any(|u| u.net == a.net) {
            unique.push(a);
        }
    }
    Desired {
        up: true,
        mtu: spec.mtu.or_else(|| lease.and_then(|l| l.lease.mtu())),
        addresses: unique,
        routes,
        keep: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipnet::tests::{ip, net, net4};
    use crate::lease::tests::qemu_lease;
    use crate::route::Origin;

    fn forever(s: &str) -> Address {
        Address {
            net: net(s),
            lifetime_secs: None,
            nodad: false,
        }
    }

    fn has(s: &str, forever: bool) -> CurrentAddress {
        CurrentAddress {
            net: net(s),
            forever,
        }
    }

    fn spec(addresses: &[&str], routes: Vec<Route>, dhcp: bool) -> IfaceSpec {
        IfaceSpec {
            mac: "52:54:00:00:00:01".into(),
            up: true,
            mtu: None,
            dhcp,
            addresses: addresses.iter().map(|a| net(a)).collect(),
            routes,
        }
    }

    fn static_default(gw: &str) -> Route {
        Route::default_via(ip(gw), Origin::Static)
    }

    fn dhcp_default(gw: &str) -> Route {
        Route::default_via(ip(gw), Origin::Dhcp)
    }

    fn leased(remaining_secs: u32) -> Option<HeldLease<'static>> {
        let lease: &'static Lease = Box::leak(Box::new(qemu_lease()));
        Some(HeldLease {
            lease,
            remaining_secs,
        })
    }

    #[test]
    fn first_lease_on_a_bare_interface_adds_everything() {
        let current = Current {
            up: true,
            mtu: 1500,
            ..Current::default()
        };
        let desired = wanted(Some(&spec(&[], vec![], true)), leased(86400), &[]);
        let changes = diff(&current, &desired);
        assert_eq!(
            changes,
            Changes {
                put_addresses: vec![Address {
                    net: net("10.0.2.15/24"),
                    lifetime_secs: Some(86400),
                    nodad: false,
                }],
                add_routes: vec![dhcp_default("10.0.2.2")],
                ..Changes::default()
            }
        );
        assert!(!changes.only_refresh(&current));
    }

    #[test]
    fn a_renewed_identical_lease_only_refreshes_the_lifetime() {
        let current = Current {
            up: true,
            mtu: 1500,
            addresses: vec![has("10.0.2.15/24", false)],
            routes: vec![dhcp_default("10.0.2.2")],
        };
        let changes = diff(
            &current,
            &wanted(Some(&spec(&[], vec![], true)), leased(86000), &[]),
        );
        assert_eq!(
            changes.put_addresses,
            vec![Address {
                net: net("10.0.2.15/24"),
                lifetime_secs: Some(86000),
                nodad: false,
            }]
        );
        assert!(changes.only_refresh(&current));
    }

    #[test]
    fn a_new_lease_replaces_the_old_address_and_its_route() {
        let current = Current {
            up: true,
            mtu: 1500,
            addresses: vec![has("10.0.2.15/24", false)],
            routes: vec![dhcp_default("10.0.2.2")],
        };
        let mut lease = qemu_lease();
        lease.address = net4("10.0.3.20/24");
        lease.routers = vec!["10.0.3.1".parse().unwrap()];
        lease.mtu = Some(1400);
        let held = HeldLease {
            lease: &lease,
            remaining_secs: 60,
        };
        let changes = diff(
            &current,
            &wanted(Some(&spec(&[], vec![], true)), Some(held), &[]),
        );
        assert_eq!(
            changes,
            Changes {
                remove_routes: vec![dhcp_default("10.0.2.2")],
                remove_addresses: vec![net("10.0.2.15/24")],
                set_mtu: Some(1400),
                put_addresses: vec![Address {
                    net: net("10.0.3.20/24"),
                    lifetime_secs: Some(60),
                    nodad: false,
                }],
                add_routes: vec![dhcp_default("10.0.3.1")],
                ..Changes::default()
            }
        );
    }

    #[test]
    fn expiry_removes_what_the_lease_put_there_and_keeps_static_addresses() {
        let s = spec(&["169.254.1.1/16"], vec![], true);
        let current = Current {
            up: true,
            mtu: 1500,
            addresses: vec![has("169.254.1.1/16", true), has("10.0.2.15/24", false)],
            routes: vec![dhcp_default("10.0.2.2")],
        };
        let changes = diff(&current, &wanted(Some(&s), None, &[]));
        assert_eq!(
            changes,
            Changes {
                remove_routes: vec![dhcp_default("10.0.2.2")],
                remove_addresses: vec![net("10.0.2.15/24")],
                ..Changes::default()
            }
        );
    }

    #[test]
    fn static_settings_are_added_and_removed_exactly() {
        let before = spec(
            &["192.168.1.10/24", "2001:db8::10/64"],
            vec![static_default("192.168.1.1")],
            false,
        );
        let current = Current {
            up: false,
            mtu: 1500,
            addresses: vec![has("10.9.9.9/24", true)],
            routes: vec![Route {
                destination: net("10.6.0.0/16"),
                gateway: None,
                origin: Origin::Dhcp,
            }],
        };
        let changes = diff(&current, &wanted(Some(&before), None, &[]));
        assert_eq!(
            changes,
            Changes {
                set_up: true,
                remove_routes: current.routes.clone(),
                put_addresses: vec![forever("192.168.1.10/24"), forever("2001:db8::10/64")],
                remove_addresses: vec![net("10.9.9.9/24")],
                add_routes: vec![static_default("192.168.1.1")],
                ..Changes::default()
            }
        );
        // Applied, the same settings change nothing at all.
        let applied = Current {
            up: true,
            mtu: 1500,
            addresses: vec![has("192.168.1.10/24", true), has("2001:db8::10/64", true)],
            routes: vec![static_default("192.168.1.1")],
        };
        let none = diff(&applied, &wanted(Some(&before), None, &[]));
        assert_eq!(none, Changes::default());
        // One address less, one route more: only that.
        let mut after = before.clone();
        after.addresses.pop();
        after.routes.push(Route {
            destination: net("10.20.0.0/16"),
            gateway: Some(ip("192.168.1.254")),
            origin: Origin::Static,
        });
        after.mtu = Some(9000);
        let changes = diff(&applied, &wanted(Some(&after), None, &[]));
        assert_eq!(
            changes,
            Changes {
                set_mtu: Some(9000),
                remove_addresses: vec![net("2001:db8::10/64")],
                add_routes: vec![after.routes[1]],
                ..Changes::default()
            }
        );
    }

    #[test]
    fn a_nic_set_down_or_not_named_carries_nothing() {
        let current = Current {
            up: true,
            mtu: 1500,
            addresses: vec![has("192.168.1.10/24", true)],
            routes: vec![static_default("192.168.1.1")],
        };
        let mut s = spec(
            &["192.168.1.10/24"],
            vec![static_default("192.168.1.1")],
            true,
        );
        s.up = false;
        for desired in [wanted(Some(&s), leased(100), &[]), wanted(None, None, &[])] {
            assert_eq!(
                diff(&current, &desired),
                Changes {
                    remove_routes: current.routes.clone(),
                    remove_addresses: vec![net("192.168.1.10/24")],
                    set_down: true,
                    ..Changes::default()
                }
            );
        }
    }

    #[test]
    fn a_static_gateway_wins_over_the_lease_and_a_held_shared_ip_is_kept() {
        let s = spec(&["10.0.2.100/24"], vec![static_default("10.0.2.1")], true);
        let desired = wanted(Some(&s), leased(500), &[net("10.0.2.50/24")]);
        assert_eq!(
            desired.addresses,
            vec![
                forever("10.0.2.100/24"),
                forever("10.0.2.50/24"),
                Address {
                    net: net("10.0.2.15/24"),
                    lifetime_secs: Some(500),
                    nodad: false,
                }
            ]
        );
        assert_eq!(desired.routes, vec![static_default("10.0.2.1")]);
    }

    #[test]
    fn a_held_ipv6_shared_ip_skips_the_kernels_duplicate_address_detection() {
        let s = spec(&["2001:db8::10/64"], Vec::new(), false);
        let desired = wanted(Some(&s), None, &[net("2001:db8::50/64")]);
        assert_eq!(
            desired.addresses,
            vec![
                forever("2001:db8::10/64"),
                Address {
                    nodad: true,
                    ..forever("2001:db8::50/64")
                }
            ]
        );
    }

    #[test]
    fn a_leased_address_that_becomes_static_loses_its_lifetime() {
        let current = Current {
            up: true,
            mtu: 1500,
            addresses: vec![has("10.0.2.15/24", false)],
            routes: vec![],
        };
        let changes = diff(
            &current,
            &wanted(Some(&spec(&["10.0.2.15/24"], vec![], false)), None, &[]),
        );
        assert_eq!(changes.put_addresses, vec![forever("10.0.2.15/24")]);
        assert!(changes.remove_addresses.is_empty());
    }

    #[test]
    fn kept_addresses_stay_untouched() {
        let current = Current {
            up: true,
            mtu: 1500,
            addresses: vec![has("10.9.9.9/24", true), has("10.8.8.8/24", true)],
            routes: vec![],
        };
        let mut desired = wanted(Some(&spec(&[], vec![], true)), None, &[]);
        desired.keep = vec![net("10.9.9.9/24")];
        let changes = diff(&current, &desired);
        assert_eq!(changes.remove_addresses, vec![net("10.8.8.8/24")]);
        assert!(changes.put_addresses.is_empty());
    }
}

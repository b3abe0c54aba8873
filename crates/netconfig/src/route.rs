//! A route out of one interface and who put it there: what the operator's settings, a
//! DHCP lease and the kernel's table all speak of. Its own module so that the lease, the
//! checks and the plan can all use it without needing one another.

use std::fmt;
use std::net::IpAddr;

use crate::ipnet::IpNet;

/// Who put a route there, recorded as its kernel protocol (`proto dhcp`, `proto static`)
/// so that routes of other origins (the kernel's own, router advertisements) are left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    Dhcp,
    Static,
}

/// A route out of one interface. `gateway: None` means the destination is on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub destination: IpNet,
    pub gateway: Option<IpAddr>,
    pub origin: Origin,
}

impl Route {
    pub(crate) fn default_via(gateway: IpAddr, origin: Origin) -> Self {
        Route {
            destination: IpNet::default_for(gateway),
            gateway: Some(gateway),
            origin,
        }
    }

    /// True when both go to the same destination the same way, whoever put them there.
    pub(crate) fn same_path(&self, other: &Route) -> bool {
        self.destination == other.destination && self.gateway == other.gateway
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn routes_read_as_an_operator_writes_them() {
        let default = Route::default_via(ip("10.0.2.2"), Origin::Static);
        assert_eq!(default.to_string(), "default via 10.0.2.2");
        assert_eq!(default.destination.to_string(), "0.0.0.0/0");
        let r = Route {
            destination: "172.16.0.0/12".parse().unwrap(),
            gateway: None,
            origin: Origin::Dhcp,
        };
        assert_eq!(r.to_string(), "172.16.0.0/12 on-link");
        assert!(!r.same_path(&default));
        assert!(default.same_path(&Route::default_via(ip("10.0.2.2"), Origin::Dhcp)));
    }
}

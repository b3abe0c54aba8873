//! An address with its prefix length, written `192.168.1.10/24` or `2001:db8::10/64`: the
//! form of every address and route in the network settings ([`IpNet`]), and its IPv4-only
//! form, the one a DHCPv4 lease gives ([`Ipv4Net`]). Both live here, below every other
//! module, so that nothing this low needs the lease or the plan.

use serde::{Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl IpNet {
    pub fn new(addr: IpAddr, prefix_len: u8) -> Self {
        IpNet { addr, prefix_len }
    }

    /// The default route's destination of `addr`'s family: `0.0.0.0/0` or `::/0`.
    pub(crate) fn default_for(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => IpNet::new(Ipv4Addr::UNSPECIFIED.into(), 0),
            IpAddr::V6(_) => IpNet::new(Ipv6Addr::UNSPECIFIED.into(), 0),
        }
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// 32 or 128.
    pub(crate) fn max_prefix_len(&self) -> u8 {
        if self.is_ipv4() {
            32
        } else {
            128
        }
    }

    fn mask(&self) -> u128 {
        let bits = u32::from(self.max_prefix_len());
        let len = u32::from(self.prefix_len.min(self.max_prefix_len()));
        if len == 0 {
            0
        } else {
            (u128::MAX << (128 - len)) >> (128 - bits)
        }
    }

    fn bits(addr: IpAddr) -> u128 {
        match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn with_bits(&self, bits: u128) -> IpAddr {
        match self.addr {
            // Only the low 32 bits are ever set for an IPv4 address.
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(bits as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
        }
    }

    /// The network this address belongs to (host bits cleared).
    pub fn network(&self) -> IpNet {
        IpNet::new(
            self.with_bits(Self::bits(self.addr) & self.mask()),
            self.prefix_len,
        )
    }

    /// True when the host bits are all zero (`10.1.0.0/16`, not `10.1.2.3/16`).
    pub(crate) fn is_network(&self) -> bool {
        self.network() == *self
    }

    /// The IPv4 broadcast address of the subnet; `None` for IPv6 and for /31 and /32,
    /// which have none (RFC 3021).
    pub(crate) fn broadcast(&self) -> Option<IpAddr> {
        if !self.is_ipv4() || self.prefix_len >= 31 {
            return None;
        }
        let host = !self.mask() & u128::from(u32::MAX);
        Some(self.with_bits(Self::bits(self.addr) | host))
    }

    /// True when `ip` is of the same family and in this subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.is_ipv4()
            && Self::bits(ip) & self.mask() == Self::bits(self.addr) & self.mask()
    }

    /// True when the two subnets share an address.
    pub(crate) fn overlaps(&self, other: &IpNet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    pub fn as_ipv4(&self) -> Option<Ipv4Net> {
        match self.addr {
            IpAddr::V4(a) => Some(Ipv4Net::new(a, self.prefix_len)),
            IpAddr::V6(_) => None,
        }
    }
}

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
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl From<Ipv4Net> for IpNet {
    fn from(n: Ipv4Net) -> Self {
        IpNet::new(IpAddr::V4(n.addr), n.prefix_len)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl Serialize for IpNet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a text is not an `address/prefix`; a phrase that follows the text in a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("needs a prefix length, e.g. /24")]
    NoPrefix,
    #[error("is not an IPv4 or IPv6 address")]
    Address,
    #[error("has a prefix length that is not a number")]
    PrefixSyntax,
    #[error("has a prefix length above {0}")]
    PrefixRange(u8),
}

impl FromStr for IpNet {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.trim().split_once('/').ok_or(ParseError::NoPrefix)?;
        let addr: IpAddr = addr.parse().map_err(|_| ParseError::Address)?;
        // Digits only: `u8::from_str` would also take `+24`.
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
            return Err(ParseError::PrefixSyntax);
        }
        let prefix_len: u8 = prefix.parse().map_err(|_| ParseError::PrefixSyntax)?;
        let net = IpNet::new(addr, prefix_len);
        if prefix_len > net.max_prefix_len() {
            return Err(ParseError::PrefixRange(net.max_prefix_len()));
        }
        Ok(net)
    }
}

/// Addresses written as text in the crate's tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    pub(crate) fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_both_families_and_says_what_is_wrong() {
        assert_eq!(net("10.0.2.15/24").to_string(), "10.0.2.15/24");
        assert_eq!(net(" 2001:db8::1/64 ").to_string(), "2001:db8::1/64");
        assert_eq!("10.0.2.15".parse::<IpNet>(), Err(ParseError::NoPrefix));
        assert_eq!("10.0.2.256/24".parse::<IpNet>(), Err(ParseError::Address));
        assert_eq!(
            "10.0.2.1/+4".parse::<IpNet>(),
            Err(ParseError::PrefixSyntax)
        );
        assert_eq!("10.0.2.1/".parse::<IpNet>(), Err(ParseError::PrefixSyntax));
        assert_eq!(
            "10.0.2.1/33".parse::<IpNet>(),
            Err(ParseError::PrefixRange(32))
        );
        assert_eq!(
            "::1/129".parse::<IpNet>(),
            Err(ParseError::PrefixRange(128))
        );
        assert_eq!(net("fe80::1/128").prefix_len, 128);
    }

    #[test]
    fn networks_broadcasts_and_membership() {
        assert_eq!(net("10.0.2.15/24").network(), net("10.0.2.0/24"));
        assert_eq!(net("10.0.2.15/0").network(), net("0.0.0.0/0"));
        assert_eq!(net("2001:db8::1:2/112").network(), net("2001:db8::1:0/112"));
        assert_eq!(net("::1/0").network(), net("::/0"));
        assert!(net("10.1.0.0/16").is_network());
        assert!(!net("10.1.0.1/16").is_network());
        assert_eq!(net("10.0.2.15/24").broadcast(), Some(ip("10.0.2.255")));
        assert_eq!(net("10.0.2.15/31").broadcast(), None);
        assert_eq!(net("2001:db8::1/64").broadcast(), None);
        assert!(net("10.0.2.0/24").contains(ip("10.0.2.200")));
        assert!(!net("10.0.2.0/24").contains(ip("10.0.3.1")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(net("10.0.0.0/8").overlaps(&net("10.9.0.0/16")));
        assert!(net("10.9.0.0/16").overlaps(&net("10.0.0.0/8")));
        assert!(!net("10.9.0.0/16").overlaps(&net("10.10.0.0/16")));
        assert_eq!(IpNet::default_for(ip("2001:db8::1")).to_string(), "::/0");
    }

    pub(crate) fn net4(s: &str) -> Ipv4Net {
        net(s).as_ipv4().unwrap()
    }

    #[test]
    fn ipv4_networks() {
        assert_eq!(net4("10.0.2.15/24").network(), net4("10.0.2.0/24"));
        assert_eq!(net4("10.0.2.15/0").network(), net4("0.0.0.0/0"));
        assert_eq!(net4("10.0.2.15/32").network(), net4("10.0.2.15/32"));
        assert_eq!(net4("10.0.2.15/24").to_string(), "10.0.2.15/24");
        assert_eq!(IpNet::from(net4("10.0.2.15/24")), net("10.0.2.15/24"));
    }
}

//! Neighbor Discovery frames for an IPv6 shared IP (RFC 4861, RFC 4862): the Duplicate
//! Address Detection probe (a Neighbor Solicitation from `::`), the unsolicited Neighbor
//! Advertisement that tells the link who holds the address now, and what a received frame
//! says about an address. Whole Ethernet frames, as a packet socket sends and receives
//! them. No I/O.

use std::net::Ipv6Addr;

/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;

const ETH_LEN: usize = 14;
const IPV6_LEN: usize = 40;
/// Where the ICMPv6 message starts in a frame.
const ICMP_AT: usize = ETH_LEN + IPV6_LEN;
const NEXT_HEADER_ICMPV6: u8 = 58;
/// RFC 4861 7.1: a neighbor discovery packet is only valid with hop limit 255, proof that
/// it was not routed.
const HOP_LIMIT: u8 = 255;

pub const TYPE_NS: u8 = 135;
pub const TYPE_NA: u8 = 136;
const OPT_SOURCE_LLA: u8 = 1;
const OPT_TARGET_LLA: u8 = 2;

/// Neighbor Advertisement flags (first byte after the checksum).
const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// ff02::1, every node of the link.
pub(crate) const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// RFC 4291 2.7.1: the solicited-node multicast group of `address` (ff02::1:ffXX:XXXX),
/// which every holder of the address listens to.
pub fn solicited_node(address: Ipv6Addr) -> Ipv6Addr {
    let o = address.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// RFC 2464 7: the Ethernet address an IPv6 multicast group is sent to (33:33 and the
/// group's last 32 bits).
pub(crate) fn multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// A Neighbor Solicitation or Advertisement, with what of the frame around it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ndp {
    /// Ethernet source.
    pub from_mac: [u8; 6],
    pub source: Ipv6Addr,
    pub destination: Ipv6Addr,
    /// [`TYPE_NS`] or [`TYPE_NA`].
    pub kind: u8,
    /// NA flags: router, solicited, override (0 in a solicitation).
    pub flags: u8,
    pub target: Ipv6Addr,
    /// The source (NS) or target (NA) link-layer address option.
    pub link_addr: Option<[u8; 6]>,
}

impl Ndp {
    /// RFC 4862 5.4.2: the Duplicate Address Detection probe for `target`, from the
    /// unspecified address (the sender has no address yet) to the target's solicited-node
    /// group, without a source link-layer address option (forbidden from `::`).
    pub fn dad_probe(mac: [u8; 6], target: Ipv6Addr) -> Ndp {
        Ndp {
            from_mac: mac,
            source: Ipv6Addr::UNSPECIFIED,
            destination: solicited_node(target),
            kind: TYPE_NS,
            flags: 0,
            target,
            link_addr: None,
        }
    }

    /// RFC 4861 7.2.6: an unsolicited advertisement of `address` to every node, Override
    /// set and Solicited clear, with the target link-layer address option: it makes the
    /// link's neighbor caches that know the address take `mac` for it.
    pub fn announcement(mac: [u8; 6], address: Ipv6Addr) -> Ndp {
        Ndp {
            from_mac: mac,
            source: address,
            destination: ALL_NODES,
            kind: TYPE_NA,
            flags: FLAG_OVERRIDE,
            target: address,
            link_addr: Some(mac),
        }
    }

    /// The whole Ethernet frame, to the destination's multicast MAC.
    pub fn frame(&self) -> Vec<u8> {
        let mut icmp = vec![self.kind, 0, 0, 0, self.flags, 0, 0, 0];
        icmp.extend_from_slice(&self.target.octets());
        if let Some(mac) = self.link_addr {
            let option = if self.kind == TYPE_NA {
                OPT_TARGET_LLA
            } else {
                OPT_SOURCE_LLA
            };
            icmp.extend_from_slice(&[option, 1]);
            icmp.extend_from_slice(&mac);
        }
        let sum = checksum(self.source, self.destination, &icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());

        let mut f = Vec::with_capacity(ICMP_AT + icmp.len());
        f.extend_from_slice(&multicast_mac(self.destination));
        f.extend_from_slice(&self.from_mac);
        f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
        f.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, no traffic class nor flow label
        f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
        f.push(NEXT_HEADER_ICMPV6);
        f.push(HOP_LIMIT);
        f.extend_from_slice(&self.source.octets());
        f.extend_from_slice(&self.destination.octets());
        f.extend_from_slice(&icmp);
        f
    }

    /// A valid Neighbor Solicitation or Advertisement from a frame (Ethernet header
    /// included; hop limit 255, code 0, checksum right, options well formed, as RFC 4861
    /// 7.1 requires); `None` for anything else.
    pub fn parse(f: &[u8]) -> Option<Ndp> {
        if f.len() < ICMP_AT + 24
            || f[12..14] != ETH_P_IPV6.to_be_bytes()
            || f[ETH_LEN] >> 4 != 6
            || f[ETH_LEN + 6] != NEXT_HEADER_ICMPV6
            || f[ETH_LEN + 7] != HOP_LIMIT
        {
            return None;
        }
        let payload = usize::from(u16::from_be_bytes([f[ETH_LEN + 4], f[ETH_LEN + 5]]));
        let icmp = f.get(ICMP_AT..ICMP_AT + payload)?;
        let addr = |at: usize| -> Ipv6Addr {
            let mut o = [0u8; 16];
            o.copy_from_slice(&f[at..at + 16]);
            Ipv6Addr::from(o)
        };
        let (source, destination) = (addr(ETH_LEN + 8), addr(ETH_LEN + 24));
        if icmp.len() < 24
            || !(icmp[0] == TYPE_NS || icmp[0] == TYPE_NA)
            || icmp[1] != 0
            || checksum(source, destination, icmp) != 0
        {
            return None;
        }
        let mut target = [0u8; 16];
        target.copy_from_slice(&icmp[8..24]);
        let mut link_addr = None;
        let mut options = &icmp[24..];
        while !options.is_empty() {
            let len = usize::from(*options.get(1)?) * 8;
            if len == 0 || len > options.len() {
                return None;
            }
            let wanted = if icmp[0] == TYPE_NA {
                OPT_TARGET_LLA
            } else {
                OPT_SOURCE_LLA
            };
            if options[0] == wanted && len == 8 {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&options[2..8]);
                link_addr = Some(mac);
            }
            options = &options[len..];
        }
        let mut from_mac = [0u8; 6];
        from_mac.copy_from_slice(&f[6..12]);
        Some(Ndp {
            from_mac,
            source,
            destination,
            kind: icmp[0],
            flags: if icmp[0] == TYPE_NA { icmp[4] } else { 0 },
            target: Ipv6Addr::from(target),
            link_addr,
        })
    }

    /// The MAC this packet names for its sender: the link-layer address option, else the
    /// Ethernet source.
    fn sender_mac(&self) -> [u8; 6] {
        self.link_addr.unwrap_or(self.from_mac)
    }

    fn sent_by_other(&self, own_mac: [u8; 6]) -> bool {
        self.from_mac != own_mac && self.sender_mac() != own_mac
    }

    /// The MAC of another host this packet shows holding `address` (an advertisement for
    /// it) or probing for it at the same time (a solicitation for it from `::`): either
    /// is a conflict while probing (RFC 4862 5.4.3, 5.4.4); `None` if it does neither or
    /// comes from `own_mac`.
    pub fn conflict(&self, own_mac: [u8; 6], address: Ipv6Addr) -> Option<[u8; 6]> {
        if self.target != address || !self.sent_by_other(own_mac) {
            return None;
        }
        let holds = self.kind == TYPE_NA;
        let probes = self.kind == TYPE_NS && self.source.is_unspecified();
        (holds || probes).then_some(self.sender_mac())
    }

    /// The MAC of another host this packet shows *using* `address` (an advertisement for
    /// it): what an appliance holding the address watches for. A probe claims nothing
    /// (the kernel answers it for the address it holds).
    pub fn claims(&self, own_mac: [u8; 6], address: Ipv6Addr) -> Option<[u8; 6]> {
        (self.kind == TYPE_NA && self.target == address && self.sent_by_other(own_mac))
            .then_some(self.sender_mac())
    }

    pub fn is_override(&self) -> bool {
        self.flags & FLAG_OVERRIDE != 0
    }

    pub fn is_solicited(&self) -> bool {
        self.flags & FLAG_SOLICITED != 0
    }

    pub fn is_router(&self) -> bool {
        self.flags & FLAG_ROUTER != 0
    }
}

/// The ICMPv6 checksum (RFC 4443 2.3): the ones' complement sum over the IPv6
/// pseudo-header (RFC 8200 8.1: source, destination, upper-layer length, next header)
/// and the message. Over a message whose checksum field is filled in, 0 when it is right.
pub fn checksum(source: Ipv6Addr, destination: Ipv6Addr, icmp: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    };
    add(&source.octets());
    add(&destination.octets());
    add(&(icmp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(icmp);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
    const OTHER: [u8; 6] = [0x52, 0x54, 0, 0, 0, 2];

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn solicited_node_group_and_its_mac() {
        let g = solicited_node(ip("2001:db8::12:3456:789a"));
        assert_eq!(g, ip("ff02::1:ff56:789a"));
        assert_eq!(multicast_mac(g), [0x33, 0x33, 0xff, 0x56, 0x78, 0x9a]);
        assert_eq!(multicast_mac(ALL_NODES), [0x33, 0x33, 0, 0, 0, 1]);
    }

    #[test]
    fn a_dad_probe_is_a_solicitation_from_the_unspecified_address() {
        let x = ip("fd00:50::100");
        let f = Ndp::dad_probe(ME, x).frame();
        assert_eq!(f.len(), 14 + 40 + 24, "no option from ::");
        assert_eq!(&f[0..6], &[0x33, 0x33, 0xff, 0, 1, 0]);
        assert_eq!(&f[6..12], &ME);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(f[14], 0x60);
        assert_eq!(&f[18..20], &[0, 24], "payload length");
        assert_eq!(f[20], 58, "ICMPv6");
        assert_eq!(f[21], 255, "hop limit");
        assert_eq!(&f[22..38], &[0; 16], "source ::");
        assert_eq!(&f[38..54], &ip("ff02::1:ff00:100").octets());
        assert_eq!(f[54], 135);
        assert_eq!(&f[62..78], &x.octets());
        assert_eq!(Ndp::parse(&f), Some(Ndp::dad_probe(ME, x)));
    }

    #[test]
    fn an_announcement_is_an_unsolicited_override_advertisement_to_all_nodes() {
        let x = ip("2001:db8:50::100");
        let a = Ndp::announcement(ME, x);
        let f = a.frame();
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&f[38..54], &ALL_NODES.octets());
        assert_eq!(f[54], 136);
        assert_eq!(f[58], 0x20, "Override set, Solicited and Router clear");
        assert_eq!(&f[78..80], &[2, 1], "target link-layer address option");
        assert_eq!(&f[80..86], &ME);
        let back = Ndp::parse(&f).unwrap();
        assert_eq!(back, a);
        assert!(back.is_override() && !back.is_solicited() && !back.is_router());
    }

    #[test]
    fn the_checksum_covers_the_pseudo_header() {
        // fe80::1 advertises itself to all nodes with lladdr 02:00:00:00:00:01.
        let icmp: [u8; 32] = [
            0x88, 0x00, 0x00, 0x00, 0x20, 0, 0, 0, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 1, 2, 1, 2, 0, 0, 0, 0, 1,
        ];
        let sum = checksum(ip("fe80::1"), ALL_NODES, &icmp);
        // The 16-bit words of pseudo-header and message add up to 0x3_a861, 0xa864 once
        // the carries are folded in, whose complement is 0x579b.
        assert_eq!(sum, 0x579b);
        let mut filled = icmp;
        filled[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(checksum(ip("fe80::1"), ALL_NODES, &filled), 0);
        // The same message between other addresses does not check.
        assert_ne!(checksum(ip("fe80::2"), ALL_NODES, &filled), 0);
        // An odd length is padded with a zero byte.
        assert_eq!(
            checksum(ip("::"), ip("::"), &[0x12]),
            !(0x1200u16 + 1 + u16::from(NEXT_HEADER_ICMPV6))
        );
    }

    #[test]
    fn damaged_or_routed_packets_are_not_neighbor_discovery() {
        let good = Ndp::announcement(ME, ip("fd00::5")).frame();
        let mut f = good.clone();
        f[70] ^= 1; // the target
        assert_eq!(Ndp::parse(&f), None, "bad checksum");
        let mut f = good.clone();
        f[21] = 64;
        assert_eq!(Ndp::parse(&f), None, "hop limit below 255");
        let mut f = good.clone();
        f[79] = 0;
        assert_eq!(Ndp::parse(&f), None, "zero-length option");
        let mut f = good.clone();
        f[12] = 0x08;
        f[13] = 0x06;
        assert_eq!(Ndp::parse(&f), None, "ARP");
        assert_eq!(Ndp::parse(&good[..60]), None, "truncated");
    }

    #[test]
    fn any_cut_or_length_from_the_wire_is_refused_without_a_panic() {
        let good = Ndp::announcement(ME, ip("fd00::5")).frame();
        for len in 0..good.len() {
            assert_eq!(Ndp::parse(&good[..len]), None, "cut at {len}");
        }
        // The payload length and the option length are the sender's word, not the frame's.
        for payload in 0..=u16::MAX {
            let mut f = good.clone();
            f[18..20].copy_from_slice(&payload.to_be_bytes());
            let _ = Ndp::parse(&f);
        }
        for option_len in 0..=u8::MAX {
            let mut f = good.clone();
            f[79] = option_len;
            let _ = Ndp::parse(&f);
        }
    }

    #[test]
    fn conflicts_while_probing_and_claims_while_holding() {
        let x = ip("2001:db8:50::100");
        // The holder answers the probe (to all nodes, solicited clear, with its MAC).
        let answer = Ndp {
            from_mac: OTHER,
            source: x,
            destination: ALL_NODES,
            kind: TYPE_NA,
            flags: FLAG_OVERRIDE,
            target: x,
            link_addr: Some(OTHER),
        };
        assert_eq!(answer.conflict(ME, x), Some(OTHER));
        assert_eq!(answer.claims(ME, x), Some(OTHER));
        // Behind a proxy or bridge that rewrites the Ethernet source, the option tells.
        let relayed = Ndp {
            from_mac: [0x52, 0x54, 0, 0, 0, 9],
            ..answer
        };
        assert_eq!(relayed.conflict(ME, x), Some(OTHER));
        // Another host probing for it at the same moment: only its frame names it.
        assert_eq!(Ndp::dad_probe(OTHER, x).conflict(ME, x), Some(OTHER));
        assert_eq!(
            Ndp::dad_probe(OTHER, x).claims(ME, x),
            None,
            "a probe claims nothing"
        );
        // Ours, other addresses, and mere address resolution are no conflict.
        assert_eq!(Ndp::dad_probe(ME, x).conflict(ME, x), None);
        assert_eq!(Ndp::announcement(ME, x).claims(ME, x), None);
        assert_eq!(
            Ndp::dad_probe(OTHER, ip("2001:db8:50::101")).conflict(ME, x),
            None
        );
        let asking = Ndp {
            source: ip("2001:db8:50::7"),
            link_addr: Some(OTHER),
            ..Ndp::dad_probe(OTHER, x)
        };
        assert_eq!(asking.conflict(ME, x), None, "someone merely asks for it");
        // A solicitation's option is its source link-layer address, parsed as such.
        let f = asking.frame();
        assert_eq!(&f[78..80], &[1, 1]);
        assert_eq!(Ndp::parse(&f), Some(asking));
    }
}

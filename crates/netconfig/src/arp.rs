//! ARP frames for the shared IP (RFC 826, RFC 5227): the probe that asks whether anyone
//! holds an address, the announcement (gratuitous ARP) that tells the link who holds it
//! now, and what a received frame says about an address. No I/O.

use std::net::Ipv4Addr;

/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// Ethernet header (14) and an Ethernet/IPv4 ARP packet (28).
pub(crate) const FRAME_LEN: usize = 42;

const BROADCAST: [u8; 6] = [0xff; 6];
const OP_REQUEST: u16 = 1;
const OP_REPLY: u16 = 2;

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

impl Arp {
    /// RFC 5227 2.1.1: "who has `target`?" from an address-less sender.
    pub fn probe(mac: [u8; 6], target: Ipv4Addr) -> Arp {
        Arp {
            op: OP_REQUEST,
            sender_mac: mac,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_mac: [0; 6],
            target_ip: target,
        }
    }

    /// RFC 5227 2.3: an ARP request with sender and target both `ip`, which every host on
    /// the link takes to update its cache (a gratuitous ARP).
    pub fn announcement(mac: [u8; 6], ip: Ipv4Addr) -> Arp {
        Arp {
            op: OP_REQUEST,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: [0; 6],
            target_ip: ip,
        }
    }

    /// The whole frame, broadcast.
    pub fn frame(&self) -> [u8; FRAME_LEN] {
        let mut f = [0u8; FRAME_LEN];
        f[0..6].copy_from_slice(&BROADCAST);
        f[6..12].copy_from_slice(&self.sender_mac);
        f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
        f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
        f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
        f[18] = 6;
        f[19] = 4;
        f[20..22].copy_from_slice(&self.op.to_be_bytes());
        f[22..28].copy_from_slice(&self.sender_mac);
        f[28..32].copy_from_slice(&self.sender_ip.octets());
        f[32..38].copy_from_slice(&self.target_mac);
        f[38..42].copy_from_slice(&self.target_ip.octets());
        f
    }

    /// An Ethernet/IPv4 ARP request or reply from a frame (Ethernet header included);
    /// `None` for anything else.
    pub fn parse(f: &[u8]) -> Option<Arp> {
        if f.len() < FRAME_LEN
            || f[12..14] != ETH_P_ARP.to_be_bytes()
            || f[14..16] != 1u16.to_be_bytes()
            || f[16..18] != 0x0800u16.to_be_bytes()
            || f[18] != 6
            || f[19] != 4
        {
            return None;
        }
        let op = u16::from_be_bytes([f[20], f[21]]);
        if op != OP_REQUEST && op != OP_REPLY {
            return None;
        }
        let mac = |at: usize| -> [u8; 6] {
            let mut m = [0u8; 6];
            m.copy_from_slice(&f[at..at + 6]);
            m
        };
        let ip = |at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
        Some(Arp {
            op,
            sender_mac: mac(22),
            sender_ip: ip(28),
            target_mac: mac(32),
            target_ip: ip(38),
        })
    }

    /// The MAC of another host this packet shows holding `address`, or probing for it
    /// (RFC 5227 2.1.1: either is a conflict while probing); `None` if it does neither or
    /// comes from `own_mac`.
    pub fn conflict(&self, own_mac: [u8; 6], address: Ipv4Addr) -> Option<[u8; 6]> {
        if self.sender_mac == own_mac {
            return None;
        }
        let holds = self.sender_ip == address;
        let probes =
            self.op == OP_REQUEST && self.sender_ip.is_unspecified() && self.target_ip == address;
        (holds || probes).then_some(self.sender_mac)
    }

    /// The MAC of another host this packet shows *using* `address` (its sender): what an
    /// appliance holding the address watches for (RFC 5227 2.4).
    pub fn claims(&self, own_mac: [u8; 6], address: Ipv4Addr) -> Option<[u8; 6]> {
        (self.sender_mac != own_mac && self.sender_ip == address).then_some(self.sender_mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
    const OTHER: [u8; 6] = [0x52, 0x54, 0, 0, 0, 2];

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn a_probe_is_a_broadcast_request_from_no_address() {
        let f = Arp::probe(ME, ip("192.168.1.50")).frame();
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &ME);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1], "request");
        assert_eq!(&f[28..32], &[0, 0, 0, 0], "sender IP 0.0.0.0");
        assert_eq!(&f[32..38], &[0; 6], "target MAC zero");
        assert_eq!(&f[38..42], &[192, 168, 1, 50]);
        assert_eq!(Arp::parse(&f), Some(Arp::probe(ME, ip("192.168.1.50"))));
    }

    #[test]
    fn an_announcement_names_the_address_as_sender_and_target() {
        let a = Arp::announcement(ME, ip("192.168.1.50"));
        let f = a.frame();
        assert_eq!(&f[28..32], &[192, 168, 1, 50]);
        assert_eq!(&f[38..42], &[192, 168, 1, 50]);
        assert_eq!(Arp::parse(&f), Some(a));
    }

    #[test]
    fn conflicts_while_probing() {
        let x = ip("192.168.1.50");
        // The holder answers the probe.
        let reply = Arp {
            op: OP_REPLY,
            sender_mac: OTHER,
            sender_ip: x,
            target_mac: ME,
            target_ip: Ipv4Addr::UNSPECIFIED,
        };
        assert_eq!(reply.conflict(ME, x), Some(OTHER));
        // Another host probes for the same address at the same time.
        assert_eq!(Arp::probe(OTHER, x).conflict(ME, x), Some(OTHER));
        // A holder's own announcement.
        assert_eq!(Arp::announcement(OTHER, x).conflict(ME, x), Some(OTHER));
        // Our own frames, and talk about other addresses, are no conflict.
        assert_eq!(Arp::probe(ME, x).conflict(ME, x), None);
        assert_eq!(Arp::probe(OTHER, ip("192.168.1.51")).conflict(ME, x), None);
        let asking = Arp {
            op: OP_REQUEST,
            sender_mac: OTHER,
            sender_ip: ip("192.168.1.7"),
            target_mac: [0; 6],
            target_ip: x,
        };
        assert_eq!(asking.conflict(ME, x), None, "someone merely asks for it");
        assert_eq!(
            Arp::probe(OTHER, x).claims(ME, x),
            None,
            "a probe claims nothing"
        );
        assert_eq!(Arp::announcement(OTHER, x).claims(ME, x), Some(OTHER));
    }

    #[test]
    fn any_cut_from_the_wire_is_refused_without_a_panic() {
        let f = Arp::announcement(ME, ip("10.0.0.1")).frame();
        for len in 0..f.len() {
            assert_eq!(Arp::parse(&f[..len]), None, "cut at {len}");
        }
    }

    #[test]
    fn other_frames_are_not_arp() {
        let mut f = Arp::probe(ME, ip("10.0.0.1")).frame();
        f[12] = 0x08;
        f[13] = 0x00;
        assert_eq!(Arp::parse(&f), None);
        assert_eq!(Arp::parse(&f[..30]), None);
        let mut f = Arp::probe(ME, ip("10.0.0.1")).frame();
        f[21] = 9;
        assert_eq!(Arp::parse(&f), None);
    }
}

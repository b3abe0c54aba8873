//! The shared IP on the wire: the probe that finds out whether another host holds the
//! address before it is taken (IPv4: RFC 5227 2.1 ARP probes; IPv6: RFC 4862 5.4
//! duplicate address detection), and, once it is taken, the announcements (gratuitous
//! ARP; unsolicited neighbor advertisements, RFC 4861 7.2.6) that move the link's ARP and
//! neighbor caches over to this appliance, repeated and refreshed, while watching for
//! another host claiming it (RFC 5227 2.4).
//!
//! Timing differs from RFC 5227 and RFC 4862 on purpose (docs/network.md): RFC 5227 waits
//! 1 to 2 s between probes and up to 9 s in all, RFC 4862 one second per probe after a
//! random delay, to protect hosts that configure themselves at the same moment. Here an
//! administrator enables the address on one appliance, and a holder on the same link
//! answers a probe within a millisecond or two; three probes 15 ms apart and 35 ms of
//! listening after the last (65 ms for an answer to the first) keep the whole request
//! under 100 ms, announcement included.

use std::net::{IpAddr, Ipv6Addr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::arp::Arp;
use super::config::mac_text;
use super::ndp::{self, Ndp};
use super::packet::PacketSocket;

const PROBES: u32 = 3;
const PROBE_INTERVAL: Duration = Duration::from_millis(15);
const LISTEN_AFTER_LAST: Duration = Duration::from_millis(35);
/// Announcements right after taking the address, one second apart (RFC 5227 uses 2 s).
const ANNOUNCEMENTS: u64 = 3;
const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(1);
/// Then one a minute, so that a switch or a host that missed them (or was rebooted)
/// learns the holder again.
const REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// RFC 5227 DEFEND_INTERVAL: answer another host's claim with at most one announcement
/// per this much time.
const DEFEND_INTERVAL: Duration = Duration::from_secs(10);

/// What a probe found.
pub(crate) enum Probe {
    /// Nobody answered: the socket, ready to announce the address once it is added.
    Free(PacketSocket),
    /// This MAC holds the address, or probes for it at the same time.
    Taken([u8; 6]),
}

/// Probe for `address` on interface `ifindex` whose MAC is `mac`.
pub(crate) async fn probe(ifindex: u32, mac: [u8; 6], address: IpAddr) -> std::io::Result<Probe> {
    let socket = open(ifindex, address)?;
    // A holder answers an IPv6 probe to all nodes, but a host probing at the same moment
    // sends to the solicited-node group: join it for the probe's length (the kernel joins
    // it for good when the address is added), which also tells MLD-snooping switches.
    let _group = match address {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => Some(join(ifindex, ndp::solicited_node(v6))?),
    };
    let frame = match address {
        IpAddr::V4(v4) => Arp::probe(mac, v4).frame().to_vec(),
        IpAddr::V6(v6) => Ndp::dad_probe(mac, v6).frame(),
    };
    for n in 1..=PROBES {
        socket.send(&frame).await?;
        let wait = if n == PROBES {
            LISTEN_AFTER_LAST
        } else {
            PROBE_INTERVAL
        };
        if let Some(holder) = listen(&socket, Instant::now() + wait, |frame| {
            conflict(frame, mac, address)
        })
        .await?
        {
            return Ok(Probe::Taken(holder));
        }
    }
    Ok(Probe::Free(socket))
}

/// The packet socket for the frames of `address`'s family.
fn open(ifindex: u32, address: IpAddr) -> std::io::Result<PacketSocket> {
    match address {
        IpAddr::V4(_) => PacketSocket::open(ifindex),
        IpAddr::V6(_) => PacketSocket::open_ndp(ifindex),
    }
}

/// Join IPv6 multicast `group` on interface `ifindex` for as long as the socket lives.
fn join(ifindex: u32, group: Ipv6Addr) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))?;
    socket.join_multicast_v6(&group, ifindex)?;
    Ok(socket)
}

/// The MAC of another host `frame` shows holding `address`, or probing for it.
fn conflict(frame: &[u8], mac: [u8; 6], address: IpAddr) -> Option<[u8; 6]> {
    match address {
        IpAddr::V4(v4) => Arp::parse(frame)?.conflict(mac, v4),
        IpAddr::V6(v6) => Ndp::parse(frame)?.conflict(mac, v6),
    }
}

/// The MAC of another host `frame` shows using `address`.
fn claims(frame: &[u8], mac: [u8; 6], address: IpAddr) -> Option<[u8; 6]> {
    match address {
        IpAddr::V4(v4) => Arp::parse(frame)?.claims(mac, v4),
        IpAddr::V6(v6) => Ndp::parse(frame)?.claims(mac, v6),
    }
}

/// Read frames until `until`; the first MAC `check` finds in one.
async fn listen(
    socket: &PacketSocket,
    until: Instant,
    check: impl Fn(&[u8]) -> Option<[u8; 6]>,
) -> std::io::Result<Option<[u8; 6]>> {
    let mut buf = [0u8; 1600];
    loop {
        match tokio::time::timeout_at(until, socket.recv(&mut buf)).await {
            Err(_elapsed) => return Ok(None),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(n)) => {
                if let Some(mac) = check(&buf[..n]) {
                    return Ok(Some(mac));
                }
            }
        }
    }
}

/// What the UI shows about a held shared IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub since: SystemTime,
    pub announcements: u64,
    pub last_announced: Option<SystemTime>,
    /// The last other host seen claiming the address, and when.
    pub conflict: Option<([u8; 6], SystemTime)>,
}

pub(crate) type HeldStatus = Arc<Mutex<Held>>;

impl Held {
    /// Taken now, not announced yet.
    pub(crate) fn now() -> HeldStatus {
        Arc::new(Mutex::new(Held {
            since: SystemTime::now(),
            announcements: 0,
            last_announced: None,
            conflict: None,
        }))
    }
}

/// Send the first announcement now (the caller has just added the address), then keep
/// announcing and watching in a task; abort the task to stop (the caller removes the
/// address itself).
pub(crate) async fn take(
    socket: PacketSocket,
    iface: String,
    mac: [u8; 6],
    address: IpAddr,
) -> (HeldStatus, JoinHandle<()>) {
    let status = Held::now();
    announce(&socket, &iface, mac, address, &status).await;
    let task = tokio::spawn(keep(socket, iface, mac, address, status.clone()));
    (status, task)
}

async fn announce(
    socket: &PacketSocket,
    iface: &str,
    mac: [u8; 6],
    address: IpAddr,
    status: &HeldStatus,
) {
    let frame = match address {
        IpAddr::V4(v4) => Arp::announcement(mac, v4).frame().to_vec(),
        IpAddr::V6(v6) => Ndp::announcement(mac, v6).frame(),
    };
    match socket.send(&frame).await {
        Ok(()) => {
            let mut s = status
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.announcements += 1;
            s.last_announced = Some(SystemTime::now());
        }
        Err(err) => {
            tracing::warn!("shared IP: cannot announce {address} on {iface}: {err}");
        }
    }
}

async fn keep(
    socket: PacketSocket,
    iface: String,
    mac: [u8; 6],
    address: IpAddr,
    status: HeldStatus,
) {
    let mut sent = 1u64;
    let mut next = Instant::now() + ANNOUNCE_INTERVAL;
    let mut last_defence: Option<Instant> = None;
    loop {
        let claim = listen(&socket, next, |frame| claims(frame, mac, address)).await;
        match claim {
            Ok(Some(other)) => {
                tracing::warn!(
                    "shared IP: {} also claims {address} on {iface}; disable it on one of \
                     the two appliances",
                    mac_text(&other)
                );
                status
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .conflict = Some((other, SystemTime::now()));
                if last_defence.is_none_or(|at| at.elapsed() >= DEFEND_INTERVAL) {
                    last_defence = Some(Instant::now());
                    announce(&socket, &iface, mac, address, &status).await;
                }
                continue;
            }
            Ok(None) => {}
            Err(err) => {
                tracing::error!("shared IP: watching {address} on {iface} failed: {err}");
                // Keep announcing on schedule, without watching.
                tokio::time::sleep_until(next).await;
            }
        }
        announce(&socket, &iface, mac, address, &status).await;
        sent += 1;
        next = Instant::now()
            + if sent < ANNOUNCEMENTS {
                ANNOUNCE_INTERVAL
            } else {
                REFRESH_INTERVAL
            };
    }
}

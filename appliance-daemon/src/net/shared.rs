//! The shared IP on the wire: the probe that finds out whether another host holds the
//! address before it is taken (RFC 5227 2.1), and, once it is taken, the announcements
//! (gratuitous ARP) that move the link's ARP caches over to this appliance, repeated and
//! refreshed, while watching for another host claiming it (RFC 5227 2.4).
//!
//! Timing differs from RFC 5227 on purpose (docs/network.md): the RFC waits 1 to 2 s
//! between probes and up to 9 s in all, to protect hosts that configure themselves at the
//! same moment. Here an administrator enables the address on one appliance, and a holder
//! on the same link answers a probe within a millisecond or two; three probes 15 ms apart
//! and 35 ms of listening after the last (65 ms for an answer to the first) keep the whole
//! request under 100 ms, announcement included.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::arp::Arp;
use super::config::mac_text;
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
pub enum Probe {
    /// Nobody answered: the socket, ready to announce the address once it is added.
    Free(PacketSocket),
    /// This MAC holds the address, or probes for it at the same time.
    Taken([u8; 6]),
}

/// Probe for `address` on interface `ifindex` whose MAC is `mac`.
pub async fn probe(ifindex: u32, mac: [u8; 6], address: Ipv4Addr) -> std::io::Result<Probe> {
    let socket = PacketSocket::open(ifindex)?;
    let frame = Arp::probe(mac, address).frame();
    for n in 1..=PROBES {
        socket.send(&frame).await?;
        let wait = if n == PROBES {
            LISTEN_AFTER_LAST
        } else {
            PROBE_INTERVAL
        };
        if let Some(holder) = listen(&socket, Instant::now() + wait, |arp| {
            arp.conflict(mac, address)
        })
        .await?
        {
            return Ok(Probe::Taken(holder));
        }
    }
    Ok(Probe::Free(socket))
}

/// Read frames until `until`; the first MAC `check` finds in one.
async fn listen(
    socket: &PacketSocket,
    until: Instant,
    check: impl Fn(&Arp) -> Option<[u8; 6]>,
) -> std::io::Result<Option<[u8; 6]>> {
    let mut buf = [0u8; 1600];
    loop {
        match tokio::time::timeout_at(until, socket.recv(&mut buf)).await {
            Err(_elapsed) => return Ok(None),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(n)) => {
                if let Some(mac) = Arp::parse(&buf[..n]).and_then(|a| check(&a)) {
                    return Ok(Some(mac));
                }
            }
        }
    }
}

/// What the UI shows about a held shared IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub since: SystemTime,
    pub announcements: u64,
    pub last_announced: Option<SystemTime>,
    /// The last other host seen claiming the address, and when.
    pub conflict: Option<([u8; 6], SystemTime)>,
}

pub type HeldStatus = Arc<Mutex<Held>>;

/// Send the first announcement now (the caller has just added the address), then keep
/// announcing and watching in a task; abort the task to stop (the caller removes the
/// address itself).
pub async fn take(
    socket: PacketSocket,
    iface: String,
    mac: [u8; 6],
    address: Ipv4Addr,
) -> (HeldStatus, JoinHandle<()>) {
    let status = Arc::new(Mutex::new(Held {
        since: SystemTime::now(),
        announcements: 0,
        last_announced: None,
        conflict: None,
    }));
    announce(&socket, &iface, mac, address, &status).await;
    let task = tokio::spawn(keep(socket, iface, mac, address, status.clone()));
    (status, task)
}

async fn announce(
    socket: &PacketSocket,
    iface: &str,
    mac: [u8; 6],
    address: Ipv4Addr,
    status: &HeldStatus,
) {
    match socket.send(&Arp::announcement(mac, address).frame()).await {
        Ok(()) => {
            let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
            s.announcements += 1;
            s.last_announced = Some(SystemTime::now());
        }
        Err(err) => {
            tracing::warn!("shared IP: cannot announce {address} on {iface}: {err}")
        }
    }
}

async fn keep(
    socket: PacketSocket,
    iface: String,
    mac: [u8; 6],
    address: Ipv4Addr,
    status: HeldStatus,
) {
    let mut sent = 1u64;
    let mut next = Instant::now() + ANNOUNCE_INTERVAL;
    let mut last_defence: Option<Instant> = None;
    loop {
        let claim = listen(&socket, next, |arp| arp.claims(mac, address)).await;
        match claim {
            Ok(Some(other)) => {
                tracing::warn!(
                    "shared IP: {} also claims {address} on {iface}; disable it on one of \
                     the two appliances",
                    mac_text(&other)
                );
                status.lock().unwrap_or_else(|e| e.into_inner()).conflict =
                    Some((other, SystemTime::now()));
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

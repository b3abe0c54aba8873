//! A raw packet socket (AF_PACKET) bound to one interface that sends and receives ARP
//! frames, or IPv6 neighbor discovery frames, Ethernet header included: what the shared
//! IP's probe and announcements need, since the kernel neither probes nor announces IPv4
//! addresses by itself, and its IPv6 duplicate address detection neither names the other
//! holder nor keeps to the shared IP's timing. Needs CAP_NET_RAW. The socket belongs to
//! the network namespace of the thread that opens it.
// Unsafe code: AF_PACKET sockets (socket, bind, send, recv, a BPF filter): no safe wrapper.
#![allow(unsafe_code)]

use nix::libc;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

use super::arp::ETH_P_ARP;
use super::ndp::{ETH_P_IPV6, TYPE_NA, TYPE_NS};

/// A classic BPF program that keeps the ICMPv6 neighbor solicitations and advertisements
/// (IPv6 next header 58 at offset 20, ICMPv6 type at offset 54) and drops every other IPv6
/// frame in the kernel: a held IPv6 shared IP watches its link for as long as it is held,
/// and must not be handed the interface's whole IPv6 traffic for that.
const NDP_FILTER: [(u16, u8, u8, u32); 9] = [
    (0x28, 0, 0, 12),                // ldh [12]: EtherType
    (0x15, 0, 5, ETH_P_IPV6 as u32), // jeq IPv6, else drop
    (0x30, 0, 0, 20),                // ldb [20]: next header
    (0x15, 0, 3, 58),                // jeq ICMPv6, else drop
    (0x30, 0, 0, 54),                // ldb [54]: ICMPv6 type
    (0x15, 2, 0, TYPE_NS as u32),    // jeq NS: accept
    (0x15, 1, 0, TYPE_NA as u32),    // jeq NA: accept
    (0x06, 0, 0, 0),                 // drop
    (0x06, 0, 0, 0xffff),            // accept, whole frame
];

pub(crate) struct PacketSocket {
    fd: AsyncFd<OwnedFd>,
}

impl PacketSocket {
    /// Open a socket that sees the ARP frames of interface `ifindex` (incoming and, as
    /// packet sockets do, outgoing ones).
    pub(crate) fn open(ifindex: u32) -> io::Result<PacketSocket> {
        Self::open_with(ifindex, ETH_P_ARP, false)
    }

    /// Open a socket that sees the IPv6 neighbor solicitations and advertisements of
    /// interface `ifindex`, and nothing else of its IPv6 traffic.
    pub(crate) fn open_ndp(ifindex: u32) -> io::Result<PacketSocket> {
        Self::open_with(ifindex, ETH_P_IPV6, true)
    }

    fn open_with(ifindex: u32, protocol: u16, ndp_filter: bool) -> io::Result<PacketSocket> {
        // Protocol 0 first: the socket receives nothing until it is bound to the
        // interface, so no other interface's frame slips in between.
        // SAFETY: plain system call; the descriptor is owned right after.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if ndp_filter {
            attach_ndp_filter(&fd)?;
        }
        // SAFETY: sockaddr_ll is plain data; all-zero is valid before the fields are set.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = protocol.to_be();
        sll.sll_ifindex = i32::try_from(ifindex).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "interface index too large")
        })?;
        // SAFETY: the pointer and length describe `sll`, which outlives the call.
        let bound = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::addr_of!(sll).cast::<libc::sockaddr>(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the OwnedFd is moved in and stays open, the same descriptor, for as long
        // as the AsyncFd lives.
        let fd = unsafe { AsyncFd::register(fd) }?;
        Ok(PacketSocket { fd })
    }

    /// Send one whole frame out of the bound interface.
    pub(crate) async fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            let sent = guard.try_io(|fd| {
                // SAFETY: the pointer and length describe `frame`.
                let n =
                    unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match sent {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Receive one frame into `buf`; its length.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            let received = guard.try_io(|fd| {
                // SAFETY: the pointer and length describe `buf`.
                let n =
                    unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match received {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

/// Attach [`NDP_FILTER`] before the socket is bound, so no other frame gets in.
fn attach_ndp_filter(fd: &OwnedFd) -> io::Result<()> {
    let mut program: Vec<libc::sock_filter> = NDP_FILTER
        .iter()
        .map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
        .collect();
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: the pointer and length describe `fprog`, which (with the program it points
    // to) outlives the call; the kernel copies the program.
    let set = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            std::ptr::addr_of!(fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if set < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

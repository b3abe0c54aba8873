//! Ethernet links up early: link negotiation takes seconds on copper (1.5-3 s on the
//! box's e1000e), and it can run while stage 1 mounts the system and the daemon starts,
//! instead of after the daemon sets the NIC up. Stage 1 raises every Ethernet link as
//! soon as the drivers are loaded, with IPv6 off on it so the link carries no address
//! (no IPv4 address exists before the daemon; IPv6 would make a link-local one). Once
//! data is mounted it takes down the links the settings keep down (the daemon writes
//! their complement, `/data/etc/nics-up`) and gives IPv6 back. No file (first boot, data
//! lost): every link stays up, as the factory settings have them. docs/boot.md.
// Unsafe code: SIOCGIFFLAGS/SIOCSIFFLAGS: ioctls, unsafe by nature.
#![allow(unsafe_code)]

use crate::log;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use std::os::fd::AsRawFd;
use std::path::Path;

const SYS_NET: &str = "/sys/class/net";
/// Written by the daemon (`/data/etc/nics-up`): one MAC per line, lowercase.
pub const NICS_UP: &str = "etc/nics-up";

/// A link stage 1 raised, and what to give back.
#[derive(Debug)]
pub struct Raised {
    name: String,
    mac: String,
    /// `disable_ipv6` as it was, written back by [`settle`].
    ipv6_was: Option<String>,
}

fn ipv6_knob(name: &str) -> String {
    format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6")
}

/// Ethernet NICs with a device behind them (not lo, not virtual links): (name, MAC).
fn ethernet_nics() -> Vec<(String, String)> {
    let Ok(dir) = std::fs::read_dir(SYS_NET) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = dir
        .flatten()
        .filter(|e| e.path().join("device").exists())
        .filter(|e| std::fs::read_to_string(e.path().join("type")).is_ok_and(|t| t.trim() == "1"))
        .filter_map(|e| {
            let mac = std::fs::read_to_string(e.path().join("address")).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                mac.trim().to_ascii_lowercase(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// Set or clear IFF_UP on `name` (SIOCGIFFLAGS / SIOCSIFFLAGS).
fn set_up(name: &str, up: bool) -> std::io::Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= ifr.ifr_name.len() {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    for (dst, src) in ifr.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: both ioctls read and write the ifreq we own, which names the interface.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut ifr) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let flags = ifr.ifr_ifru.ifru_flags;
        let iff_up = libc::IFF_UP as libc::c_short;
        ifr.ifr_ifru.ifru_flags = if up { flags | iff_up } else { flags & !iff_up };
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &ifr) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Raise every Ethernet link that is down, IPv6 off on it first.
pub fn raise_all() -> Vec<Raised> {
    let mut raised = Vec::new();
    for (name, mac) in ethernet_nics() {
        let is_up = std::fs::read_to_string(format!("{SYS_NET}/{name}/flags"))
            .ok()
            .and_then(|f| i64::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
            .is_some_and(|f| f & i64::from(libc::IFF_UP) != 0);
        if is_up {
            continue;
        }
        let knob = ipv6_knob(&name);
        let ipv6_was = std::fs::read_to_string(&knob).ok();
        if ipv6_was.is_some() && std::fs::write(&knob, "1").is_err() {
            // A link that would get an address before the settings are known stays down.
            continue;
        }
        match set_up(&name, true) {
            Ok(()) => raised.push(Raised {
                name,
                mac,
                ipv6_was,
            }),
            Err(e) => {
                log!("stage1: cannot raise link {name} early: {e}; the daemon will");
                if let Some(was) = &ipv6_was {
                    let _ = std::fs::write(&knob, was);
                }
            }
        }
    }
    raised
}

/// How often [`raise_as_they_come`] looks for new NICs: a link raised this much later
/// still comes up long before the daemon's DHCP needs it (negotiation takes 0.4-3 s),
/// and each look reads sysfs on the CPU stage 1 loads modules with.
const POLL: std::time::Duration = std::time::Duration::from_millis(25);

/// Raise every Ethernet link as its NIC appears (its driver probes in the background),
/// until `probed` is set (every driver's probing has ended), then once more.
pub fn raise_as_they_come(probed: &std::sync::atomic::AtomicBool) -> Vec<Raised> {
    let mut raised = Vec::new();
    loop {
        let last = probed.load(std::sync::atomic::Ordering::Acquire);
        // Links raised before are up now, and skipped.
        raised.extend(raise_all());
        if last {
            return raised;
        }
        std::thread::sleep(POLL);
    }
}

/// The MACs `nics-up` lists.
pub fn parse_nics_up(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Whether a link raised early stays up: listed in `nics-up`, or no list at all.
pub fn keeps_up(mac: &str, nics_up: Option<&[String]>) -> bool {
    nics_up.is_none_or(|list| list.iter().any(|m| m == mac))
}

/// Take down the raised links the settings keep down (by `data/etc/nics-up`), give
/// IPv6 back to all of them.
pub fn settle(raised: Vec<Raised>, data: &Path) {
    if raised.is_empty() {
        return;
    }
    let nics_up = std::fs::read_to_string(data.join(NICS_UP))
        .ok()
        .map(|t| parse_nics_up(&t));
    let (mut kept, mut down) = (Vec::new(), Vec::new());
    for r in raised {
        if keeps_up(&r.mac, nics_up.as_deref()) {
            kept.push(r.name.clone());
        } else {
            match set_up(&r.name, false) {
                Ok(()) => down.push(r.name.clone()),
                Err(e) => log!("stage1: cannot take link {} down again: {e}", r.name),
            }
        }
        if let Some(was) = &r.ipv6_was {
            let _ = std::fs::write(ipv6_knob(&r.name), was);
        }
    }
    let names = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(" ")
        }
    };
    if down.is_empty() {
        log!("stage1: links up early: {}", names(&kept));
    } else {
        log!(
            "stage1: links up early: {}; taken down again, the settings keep them down: {}",
            names(&kept),
            names(&down)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_the_links_that_stay_up() {
        let list = parse_nics_up("52:54:00:12:34:56\n\n# note\n52:54:00:AB:CD:EF\n");
        assert_eq!(list, ["52:54:00:12:34:56", "52:54:00:ab:cd:ef"]);
        assert!(keeps_up("52:54:00:ab:cd:ef", Some(&list)));
        assert!(!keeps_up("52:54:00:00:00:01", Some(&list)));
        // An empty list: every NIC is down in the settings.
        assert!(!keeps_up("52:54:00:12:34:56", Some(&[])));
        // No list (first boot): the factory settings have every NIC up.
        assert!(keeps_up("52:54:00:12:34:56", None));
    }
}

//! The service becomes the `appliance` user with three capabilities.
//!
//! Unsafe: prctl(2) and capset(2), which nix does not wrap.
#![allow(unsafe_code)]

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

/// The capabilities the service keeps (linux/capability.h): addresses, routes, links and
/// the shared IPs (NET_ADMIN); DHCP, ARP and NDP probes on raw sockets (NET_RAW); ports
/// 80, 443 and 68 (NET_BIND_SERVICE).
pub(crate) const KEPT: &[(u32, &str)] = &[
    (10, "CAP_NET_BIND_SERVICE"),
    (12, "CAP_NET_ADMIN"),
    (13, "CAP_NET_RAW"),
];

/// The kept set as `/proc/<pid>/status` shows it in `CapEff` (0x3400).
pub(crate) const KEPT_MASK: u64 = (1 << 10) | (1 << 12) | (1 << 13);

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn os(what: &str) -> impl Fn(nix::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn prctl(option: libc::c_int, arg: libc::c_ulong, what: &str) -> Result<(), String> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("{what}: {}", std::io::Error::last_os_error()))
    }
}

/// The highest capability number the kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Drop to [`super::UID`]/[`super::GID`] keeping [`KEPT`] only, for good: the bounding
/// set loses every other capability, no new privileges through exec, and the service
/// dies with the privileged part.
pub(crate) fn drop_privileges() -> Result<(), String> {
    let keep = |cap: u32| KEPT.iter().any(|(c, _)| *c == cap);
    for cap in (0..=last_cap()).filter(|c| !keep(*c)) {
        prctl(
            libc::PR_CAPBSET_DROP,
            libc::c_ulong::from(cap),
            "dropping a capability from the bounding set",
        )?;
    }
    prctl(
        libc::PR_SET_KEEPCAPS,
        1,
        "keeping capabilities across the user change",
    )?;
    let gid = Gid::from_raw(super::GID);
    let uid = Uid::from_raw(super::UID);
    setgroups(&[gid]).map_err(os("setgroups"))?;
    setresgid(gid, gid, gid).map_err(os("setresgid"))?;
    setresuid(uid, uid, uid).map_err(os("setresuid"))?;
    let mask = KEPT_MASK as u32;
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: mask,
            permitted: mask,
            inheritable: 0,
        },
        CapData::default(),
    ];
    // SAFETY: capset(2) with a version-3 header and its two data structs.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if rc != 0 {
        return Err(format!("capset: {}", std::io::Error::last_os_error()));
    }
    prctl(libc::PR_SET_KEEPCAPS, 0, "clearing keep-capabilities")?;
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "no new privileges")?;
    // Set after the user change, which clears it.
    prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGTERM as libc::c_ulong,
        "the parent-death signal",
    )?;
    Ok(())
}

//! Stage-2 setup of the real system: API filesystems, hostname, Ctrl-Alt-Del, PATH.
//! Each step that fails is logged and skipped: none of them is worth not booting.

use crate::log;
use nix::mount::{mount, MsFlags};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const HOSTNAME_FILE: &str = "/data/etc/hostname";
const DEFAULT_HOSTNAME: &str = "appliance";

/// Is `path` a mount point (a different device than its parent)?
fn is_mountpoint(path: &str) -> bool {
    let (Ok(me), Ok(parent)) = (
        std::fs::metadata(path),
        std::fs::metadata(Path::new(path).join("..")),
    ) else {
        return false;
    };
    me.dev() != parent.dev()
}

fn ensure_mounted(fstype: &str, path: &str, flags: MsFlags, data: Option<&str>) {
    if is_mountpoint(path) {
        return;
    }
    let _ = std::fs::create_dir_all(path);
    if let Err(e) = mount(Some(fstype), path, Some(fstype), flags, data) {
        log!("cannot mount {fstype} on {path}: {e}");
    }
}

/// A hostname as the kernel and DNS accept it: 1-63 letters, digits, '-', '.'.
pub fn valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !s.starts_with('-')
}

pub fn setup() {
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // Stage 1 moved these here; mount them again only if stage 2 was started some other way.
    ensure_mounted("proc", "/proc", nosuid, None);
    ensure_mounted("sysfs", "/sys", nosuid, None);
    ensure_mounted("devtmpfs", "/dev", MsFlags::MS_NOSUID, Some("mode=0755"));
    ensure_mounted(
        "tmpfs",
        "/run",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    );
    ensure_mounted(
        "tmpfs",
        "/tmp",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    );

    let name = match std::fs::read_to_string(HOSTNAME_FILE) {
        Ok(s) if valid_hostname(s.trim()) => s.trim().to_string(),
        Ok(s) => {
            log!(
                "{HOSTNAME_FILE} holds an invalid hostname {:?}; using {DEFAULT_HOSTNAME}",
                s.trim()
            );
            DEFAULT_HOSTNAME.to_string()
        }
        Err(_) => DEFAULT_HOSTNAME.to_string(),
    };
    match nix::unistd::sethostname(&name) {
        Ok(()) => log!("hostname {name}"),
        Err(e) => log!("cannot set hostname {name}: {e}"),
    }

    // Ctrl-Alt-Del then sends SIGINT to PID 1 instead of rebooting at once.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        log!("cannot route Ctrl-Alt-Del to init: {e}");
    }
    std::env::set_var("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_checked() {
        assert!(valid_hostname("appliance"));
        assert!(valid_hostname("box-01.example"));
        assert!(!valid_hostname(""));
        assert!(!valid_hostname("-x"));
        assert!(!valid_hostname("a b"));
        assert!(!valid_hostname(&"a".repeat(64)));
    }
}

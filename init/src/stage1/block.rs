//! Finding partitions by GPT label in sysfs, waiting for them to appear.

use crate::kmod::load::Loader;
use crate::log;
use crate::uevent::{self, BlockUevent};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A partition found in /sys/class/block.
#[derive(Debug, Clone)]
pub struct Partition {
    pub ev: BlockUevent,
    /// Its sysfs directory (resolved), e.g. /sys/devices/.../block/vda/vda6.
    pub sys: PathBuf,
}

impl Partition {
    pub fn dev(&self) -> PathBuf {
        Path::new("/dev").join(&self.ev.devname)
    }

    /// Its size in bytes (sysfs `size`, in 512-byte sectors); `None` when unreadable or
    /// past `u64`.
    pub fn bytes(&self) -> Option<u64> {
        sysfs_u64(&self.sys.join("size"))?.checked_mul(512)
    }

    /// The whole disk's kernel name (the parent directory in sysfs).
    pub fn disk(&self) -> Option<String> {
        Some(
            self.sys
                .parent()?
                .file_name()?
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// Every partition whose GPT label is `label`, on the disk `disk` if given.
pub fn by_label(label: &str, disk: Option<&str>) -> Vec<Partition> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/sys/class/block") else {
        return out;
    };
    for ent in dir.flatten() {
        let Ok(sys) = std::fs::canonicalize(ent.path()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(sys.join("uevent")) else {
            continue;
        };
        let Some(ev) = uevent::parse_block(&text) else {
            continue;
        };
        if ev.devtype == "partition" && ev.partname.as_deref() == Some(label) {
            let p = Partition { ev, sys };
            if disk.is_none() || p.disk().as_deref() == disk {
                out.push(p);
            }
        }
    }
    out.sort_by(|a, b| a.ev.devname.cmp(&b.ev.devname));
    out
}

/// How long stage 1 looks for a partition on the disks of the controllers it gave a
/// driver before it gives the chipset controllers theirs (`Loader::release_next`), when
/// another disk controller (virtio, SCSI, NVMe) could still bring it. Disks are there
/// when their driver's load returns, or within moments (the SCSI disk driver probes
/// asynchronously). With no other disk controller, they get theirs at once.
pub const CHIPSET_AFTER: Duration = Duration::from_millis(1500);

/// Wait up to `timeout` for a partition labelled `label` with its /dev node, loading
/// drivers for devices that appear meanwhile, and for chipset disk controllers (AHCI,
/// then IDE) when it is not found without them.
pub fn wait_for(
    label: &str,
    disk: Option<&str>,
    timeout: Duration,
    loader: &mut Option<Loader>,
) -> Option<Partition> {
    let start = Instant::now();
    let mut said = false;
    let mut released = start;
    loop {
        let found = by_label(label, disk);
        if let Some(p) = found.first() {
            if p.dev().exists() {
                if found.len() > 1 {
                    let names: Vec<_> = found.iter().map(|p| p.ev.devname.as_str()).collect();
                    log!(
                        "stage1: several partitions are labelled {label} ({names:?}); using {}",
                        p.ev.devname
                    );
                }
                return Some(p.clone());
            }
        }
        if start.elapsed() >= timeout {
            return None;
        }
        // Disks usually appear within moments of their driver: only a longer wait is news.
        if !said && start.elapsed() >= Duration::from_secs(1) {
            crate::say!(
                "stage1: waiting up to {} s for partition {label}",
                timeout.as_secs()
            );
            said = true;
        }
        if let Some(l) = loader.as_mut() {
            if !l.disk_driver_loaded || released.elapsed() >= CHIPSET_AFTER {
                let waited = l.disk_driver_loaded;
                if let Some(kind) = l.release_next() {
                    if waited {
                        log!("stage1: no partition {label} on the disks found so far; loading the {kind} controller drivers");
                    }
                    released = Instant::now();
                }
            }
            l.coldplug_pass();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A number from a sysfs file (sizes and offsets are in 512-byte sectors).
pub fn sysfs_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

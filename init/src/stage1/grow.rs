//! Growing the data partition to the end of the disk: the GPT rewrite (planned by the
//! pure [`crate::gpt`]) and telling the kernel with BLKPG_RESIZE_PARTITION, since the
//! table cannot be re-read while the slot on the same disk is mounted.
// Unsafe code: BLKPG: an ioctl, unsafe by nature.
#![allow(unsafe_code)]

use super::block::{sysfs_u64, Partition};
use crate::gpt::{self, GptError, SECTOR};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum GrowError {
    #[error("cannot tell which disk {0} is on")]
    NoDisk(String),
    #[error("{0}: sysfs does not give its size or geometry")]
    Sysfs(String),
    #[error("disk {0} has {1}-byte sectors; only 512 is supported")]
    SectorSize(String, u64),
    #[error("disk {disk}: {source}")]
    Io {
        disk: String,
        source: std::io::Error,
    },
    #[error("disk {disk}: {source}")]
    Gpt { disk: String, source: GptError },
    #[error("kernel refused the new size of {part}: {source}")]
    Blkpg { part: String, source: nix::Error },
}

const BLKPG_RESIZE_PARTITION: libc::c_int = 3;

/// `struct blkpg_partition` from <linux/blkpg.h>.
#[repr(C)]
struct BlkpgPartition {
    start: libc::c_longlong,
    length: libc::c_longlong,
    pno: libc::c_int,
    devname: [u8; 64],
    volname: [u8; 64],
}

/// `struct blkpg_ioctl_arg` from <linux/blkpg.h>.
#[repr(C)]
struct BlkpgIoctlArg {
    op: libc::c_int,
    flags: libc::c_int,
    datalen: libc::c_int,
    data: *mut libc::c_void,
}

nix::ioctl_write_ptr_bad!(blkpg, nix::request_code_none!(0x12, 105), BlkpgIoctlArg);

/// Grow `part` to the end of its disk if it stops short. Returns (old, new) size in
/// sectors when it grew, `None` when there was nothing to do.
pub fn grow_to_disk_end(part: &Partition) -> Result<Option<(u64, u64)>, GrowError> {
    let name = part.ev.devname.clone();
    let disk = part.disk().ok_or_else(|| GrowError::NoDisk(name.clone()))?;
    let disk_sys = Path::new("/sys/class/block").join(&disk);
    let disk_sectors =
        sysfs_u64(&disk_sys.join("size")).ok_or_else(|| GrowError::Sysfs(disk.clone()))?;
    let lbs = sysfs_u64(&disk_sys.join("queue/logical_block_size")).unwrap_or(SECTOR);
    if lbs != SECTOR {
        return Err(GrowError::SectorSize(disk, lbs));
    }
    let partn = part
        .ev
        .partn
        .ok_or_else(|| GrowError::Sysfs(name.clone()))?;

    let io = |source| GrowError::Io {
        disk: disk.clone(),
        source,
    };
    let dev: File = OpenOptions::new()
        .read(true)
        .write(true)
        .open(Path::new("/dev").join(&disk))
        .map_err(io)?;
    let mut head = vec![0u8; 2 * SECTOR as usize];
    dev.read_exact_at(&mut head, 0).map_err(io)?;
    let (mbr, primary) = head.split_at(SECTOR as usize);
    let h = gpt::Header::parse(primary).map_err(|source| GrowError::Gpt {
        disk: disk.clone(),
        source,
    })?;
    let mut entries = vec![0u8; h.entries_len()];
    dev.read_exact_at(&mut entries, h.entries_lba * SECTOR)
        .map_err(io)?;

    let plan = gpt::plan_grow(mbr, primary, &entries, disk_sectors, partn).map_err(|source| {
        GrowError::Gpt {
            disk: disk.clone(),
            source,
        }
    })?;
    let Some(plan) = plan else {
        return Ok(None);
    };
    for (off, bytes) in &plan.writes {
        dev.write_all_at(bytes, *off).map_err(io)?;
    }
    dev.sync_all().map_err(io)?;

    let new_len = plan.new.last_lba - plan.new.first_lba + 1;
    let old_len = plan.old.last_lba - plan.old.first_lba + 1;
    if new_len != old_len {
        let mut bp = BlkpgPartition {
            start: (plan.new.first_lba * SECTOR) as libc::c_longlong,
            length: (new_len * SECTOR) as libc::c_longlong,
            pno: partn as libc::c_int,
            devname: [0; 64],
            volname: [0; 64],
        };
        let arg = BlkpgIoctlArg {
            op: BLKPG_RESIZE_PARTITION,
            flags: 0,
            datalen: std::mem::size_of::<BlkpgPartition>() as libc::c_int,
            data: (&mut bp as *mut BlkpgPartition).cast(),
        };
        // SAFETY: arg points at a live, correctly laid out blkpg_partition for the call.
        unsafe { blkpg(dev.as_raw_fd(), &arg) }
            .map_err(|source| GrowError::Blkpg { part: name, source })?;
    }
    Ok(Some((old_len, new_len)))
}

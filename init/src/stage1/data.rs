//! The data partition: make the filesystem on first boot, grow partition and
//! filesystem to the disk, check and repair it, mount it at /newroot/data.
//!
//! Customer data is never reformatted automatically: a filesystem e2fsck cannot repair
//! is left alone and the system runs with an empty tmpfs /data (the daemon reports it).
// Unsafe code: EXT4_IOC_RESIZE_FS: an ioctl, unsafe by nature.
#![allow(unsafe_code)]

use super::block::Partition;
use super::grow;
use crate::ext4;
use crate::{log, say};
use nix::mount::{mount, MsFlags};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};

const MKE2FS: &str = "/sbin/mke2fs";
const E2FSCK: &str = "/sbin/e2fsck";

nix::ioctl_write_ptr!(ext4_resize_fs, b'f', 16, u64);

/// Read the ext4 superblock of `dev`, `None` if there is no filesystem.
fn superblock(dev: &Path) -> Result<Option<ext4::Superblock>, std::io::Error> {
    let f = std::fs::File::open(dev)?;
    let mut sb = vec![0u8; ext4::SUPERBLOCK_LEN];
    f.read_exact_at(&mut sb, ext4::SUPERBLOCK_OFFSET)?;
    Ok(ext4::parse(&sb))
}

/// The backup superblocks that survive, as (block size, block number).
fn backup_superblocks(dev: &Path, part: &Partition) -> Vec<(u64, u64)> {
    let Ok(f) = std::fs::File::open(dev) else {
        return Vec::new();
    };
    ext4::backup_superblocks(part.bytes().unwrap_or(0))
        .into_iter()
        .filter(|(bs, block)| {
            let mut sb = vec![0u8; ext4::SUPERBLOCK_LEN];
            f.read_exact_at(&mut sb, bs * block).is_ok() && ext4::has_magic(&sb)
        })
        .collect()
}

/// Run a tool on the console; its exit code (None if it could not run or was killed).
fn run(prog: &str, args: &[&str]) -> Option<i32> {
    match Command::new(prog).args(args).stdin(Stdio::null()).status() {
        Ok(st) => st.code(),
        Err(e) => {
            log!("stage1: cannot run {prog}: {e}");
            None
        }
    }
}

/// Check and repair; true when the filesystem is fit to mount. Escalates: `-p`
/// (safe fixes), `-y` (every fix), then `-y` from each surviving backup superblock
/// (a destroyed primary superblock; e2fsck's own fallback to backups fails when the
/// journal needs replaying).
fn check(dev: &str, backups: &[(u64, u64)]) -> bool {
    let ok = |c: Option<i32>| matches!(c, Some(c) if c < 4);
    let first = run(E2FSCK, &["-p", dev]);
    if ok(first) {
        if first != Some(0) {
            say!("stage1: e2fsck repaired the data filesystem on {dev} (exit code {first:?})");
        }
        return true;
    }
    say!("stage1: e2fsck -p could not repair {dev} (exit code {first:?}); trying e2fsck -y");
    if ok(run(E2FSCK, &["-y", dev])) {
        return true;
    }
    for (bs, block) in backups {
        say!("stage1: trying e2fsck -y from the backup superblock at block {block}");
        let (bs, block) = (bs.to_string(), block.to_string());
        run(E2FSCK, &["-fy", "-B", &bs, "-b", &block, dev]);
        // The backup run leaves a rewritten primary; this check says if it is sound.
        if ok(run(E2FSCK, &["-fy", dev])) {
            return true;
        }
    }
    false
}

/// Make the data filesystem on `dev`; true on success. The partition is all zeroes (a new
/// disk, or wiped by a factory reset): no need to discard it or zero the journal and inode
/// tables now; the kernel finishes inode-table init in the background.
pub fn make_filesystem(dev: &str) -> bool {
    let opts = "lazy_itable_init=1,lazy_journal_init=1,nodiscard";
    let args = ["-t", "ext4", "-L", "data", "-q", "-F", "-E", opts, dev];
    run(MKE2FS, &args) == Some(0)
}

fn mount_tmpfs(target: &str, why: &str) {
    say!(
        "stage1: {why}; NOT reformatting it (customer data): running with an empty in-memory /data"
    );
    if let Err(e) = mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    ) {
        say!("stage1: cannot mount tmpfs on {target} either: {e}");
    }
}

/// Prepare `part` and mount it on `target`. Never fails the boot.
pub fn prepare(part: &Partition, target: &str) {
    let dev_path = part.dev();
    let dev = dev_path.to_string_lossy().into_owned();

    match grow::grow_to_disk_end(part) {
        // Sectors of 512 bytes; a grow into the last alignment gap is under a MiB.
        Ok(Some((old, new))) if new / 2048 == old / 2048 => log!(
            "stage1: data partition {dev} grown by {} sectors to the end of the disk",
            new - old
        ),
        Ok(Some((old, new))) => log!(
            "stage1: data partition {dev} grown from {} MiB to {} MiB",
            old / 2048,
            new / 2048
        ),
        Ok(None) => {}
        Err(e) => log!("stage1: data partition not grown: {e}; continuing at its current size"),
    }

    let sb = match superblock(&dev_path) {
        Ok(sb) => sb,
        Err(e) => {
            return mount_tmpfs(
                target,
                &format!("cannot read the data partition {dev}: {e}"),
            )
        }
    };
    let unrepaired =
        || format!("the data filesystem on {dev} is damaged and e2fsck could not repair it");
    match sb {
        // Clean: what `e2fsck -p` would only confirm. Not starting it saves its exec and
        // dynamic linking on every normal boot (0.1-0.2 s under emulation); the backup
        // superblocks are only read when e2fsck runs.
        Some(ext4::Superblock { check: None, .. }) => {}
        Some(ext4::Superblock {
            check: Some(why), ..
        }) => {
            say!("stage1: checking the data filesystem on {dev}: {why}");
            if !check(&dev, &backup_superblocks(&dev_path, part)) {
                return mount_tmpfs(target, &unrepaired());
            }
        }
        None => {
            let backups = backup_superblocks(&dev_path, part);
            if backups.is_empty() {
                say!("stage1: no filesystem on {dev}; making ext4 (first boot)");
                // mke2fs asks libuuid for random UUIDs (the filesystem's, its directory
                // hash seed, ...). Finding the kernel's generator not ready (no seed saved
                // yet, no RDRAND as under QEMU), libuuid sleeps 125 ms eight times for
                // each before falling back to /dev/urandom: 4 s of an idle first boot.
                // Blocking for the generator makes the kernel gather entropy at once.
                match crate::seed::wait_until_ready() {
                    Ok(None) => {}
                    Ok(Some(waited)) => log!(
                        "stage1: the kernel's random number generator is ready after {:.2} s",
                        waited.as_secs_f64()
                    ),
                    Err(e) => log!("stage1: waiting for the kernel's random number generator: {e}"),
                }
                if !make_filesystem(&dev) {
                    return mount_tmpfs(target, &format!("mke2fs failed on {dev}"));
                }
            } else {
                say!("stage1: the data superblock on {dev} is damaged but a backup exists; repairing");
                if !check(&dev, &backups) {
                    return mount_tmpfs(target, &unrepaired());
                }
            }
        }
    }

    let flags = MsFlags::MS_NOATIME | MsFlags::MS_NODEV | MsFlags::MS_NOSUID;
    if let Err(e) = mount(
        Some(dev.as_str()),
        target,
        Some("ext4"),
        flags,
        None::<&str>,
    ) {
        return mount_tmpfs(target, &format!("cannot mount {dev} as ext4: {e}"));
    }
    log!("stage1: data {dev} mounted on {target}");
    grow_fs(&dev_path, part, target);
}

/// Grow the mounted filesystem to fill the partition (online, EXT4_IOC_RESIZE_FS).
fn grow_fs(dev: &Path, part: &Partition, target: &str) {
    let Ok(Some(sb)) = superblock(dev) else {
        return;
    };
    let Some(bytes) = part.bytes() else {
        return;
    };
    let want = bytes / sb.block_size;
    // mke2fs may leave a last group too small to be worth having; growing by less than
    // 16 MiB is not worth a resize (and its log line) on every boot. The block count is
    // read from the disk: saturating, as a nonsensical count means no resize.
    if want <= sb.blocks.saturating_add((16 << 20) / sb.block_size) {
        return;
    }
    let dir = match std::fs::File::open(target) {
        Ok(d) => d,
        Err(e) => return log!("stage1: cannot open {target} to grow it: {e}"),
    };
    // SAFETY: the ioctl reads one u64 we own.
    match unsafe { ext4_resize_fs(dir.as_raw_fd(), &want) } {
        Ok(_) => log!(
            "stage1: data filesystem grown from {} MiB to {} MiB",
            sb.blocks.saturating_mul(sb.block_size) >> 20,
            (want * sb.block_size) >> 20
        ),
        Err(e) => log!("stage1: data filesystem not grown ({e}); it keeps its size"),
    }
}

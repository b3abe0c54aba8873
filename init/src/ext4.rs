//! The few ext4 superblock fields stage 1 needs (pure): is there a filesystem, how big
//! is it, and does it need e2fsck. The superblock starts at byte 1024 of the partition.

/// Byte offset of the superblock in the partition.
pub const SUPERBLOCK_OFFSET: u64 = 1024;
/// Bytes of the superblock we look at.
pub const SUPERBLOCK_LEN: usize = 1024;

const MAGIC: u16 = 0xEF53;
const INCOMPAT_RECOVER: u32 = 0x4;
const INCOMPAT_64BIT: u32 = 0x80;
const RO_COMPAT_ORPHAN_PRESENT: u32 = 0x10000;
const STATE_VALID: u16 = 0x1;
const STATE_ERROR: u16 = 0x2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    pub block_size: u64,
    pub blocks: u64,
    /// Why e2fsck must look at it before it is mounted, `None` for a filesystem e2fsck
    /// `-p` would only call clean (see [`check_reason`]).
    pub check: Option<CheckReason>,
}

/// Why a filesystem is checked at boot: the conditions under which `e2fsck -p` does more
/// than print "clean" (e2fsck's `check_if_skip`, and the journal it replays first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckReason {
    Errors,
    NotCleanlyUnmounted,
    JournalToReplay,
    Orphans,
    MountCount,
    CheckInterval,
}

impl std::fmt::Display for CheckReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckReason::Errors => "it has errors recorded",
            CheckReason::NotCleanlyUnmounted => "it was not cleanly unmounted",
            CheckReason::JournalToReplay => "its journal needs replaying",
            CheckReason::Orphans => "it has orphan inodes to clean up",
            CheckReason::MountCount => "its maximum mount count was reached",
            CheckReason::CheckInterval => "its check interval has passed",
        })
    }
}

/// The check `e2fsck -p` would make of the superblock `sb` at `now` (seconds since the
/// epoch), first reason first.
fn check_reason(sb: &[u8], now: u64) -> Option<CheckReason> {
    let state = le16(sb, 0x3a);
    let mount_count = le16(sb, 0x34);
    let max_mount_count = le16(sb, 0x36) as i16;
    let last_check = u64::from(le32(sb, 0x40));
    let interval = u64::from(le32(sb, 0x44));
    if state & STATE_ERROR != 0 || le32(sb, 0x194) != 0 {
        Some(CheckReason::Errors)
    } else if state & STATE_VALID == 0 {
        Some(CheckReason::NotCleanlyUnmounted)
    } else if le32(sb, 0x60) & INCOMPAT_RECOVER != 0 {
        Some(CheckReason::JournalToReplay)
    } else if le32(sb, 0xe8) != 0 || le32(sb, 0x64) & RO_COMPAT_ORPHAN_PRESENT != 0 {
        Some(CheckReason::Orphans)
    } else if max_mount_count > 0 && mount_count >= max_mount_count as u16 {
        Some(CheckReason::MountCount)
    } else if interval > 0 && (now < last_check || now - last_check >= interval) {
        Some(CheckReason::CheckInterval)
    } else {
        None
    }
}

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Parse the superblock bytes read at [`SUPERBLOCK_OFFSET`]; `None` if there is no
/// ext2/3/4 filesystem (magic 0xEF53 at byte 56 of the superblock, byte 1080 of the
/// partition) or the fields make no sense.
pub fn parse(sb: &[u8]) -> Option<Superblock> {
    parse_at(sb, units::now())
}

fn parse_at(sb: &[u8], now: u64) -> Option<Superblock> {
    if sb.len() < SUPERBLOCK_LEN || le16(sb, 0x38) != MAGIC {
        return None;
    }
    let log = le32(sb, 0x18);
    if log > 6 {
        return None;
    }
    let block_size = 1024u64 << log;
    let mut blocks = u64::from(le32(sb, 0x04));
    if le32(sb, 0x60) & INCOMPAT_64BIT != 0 {
        blocks |= u64::from(le32(sb, 0x150)) << 32;
    }
    Some(Superblock {
        block_size,
        blocks,
        check: check_reason(sb, now),
    })
}

/// Where the first backup superblock lies for each block size mke2fs may have chosen
/// (group 1 starts at block 8193 for 1 KiB blocks, else at blocks-per-group = 8 x block
/// size). Used to tell a damaged filesystem from a never-formatted partition.
/// Returns (block size, block number) pairs, as `e2fsck -B SIZE -b BLOCK` takes them.
pub fn backup_superblocks(partition_bytes: u64) -> Vec<(u64, u64)> {
    [(1024u64, 8193u64), (2048, 16384), (4096, 32768)]
        .into_iter()
        .filter(|(bs, block)| bs * block + SUPERBLOCK_LEN as u64 <= partition_bytes)
        .collect()
}

/// Is there a superblock magic at the start of `sb` (a backup superblock read at one of
/// [`backup_superblocks`])?
pub fn has_magic(sb: &[u8]) -> bool {
    sb.len() >= 0x3a && le16(sb, 0x38) == MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(log: u32, lo: u32, hi: u32, bit64: bool) -> Vec<u8> {
        let mut b = vec![0u8; SUPERBLOCK_LEN];
        b[0x38..0x3a].copy_from_slice(&MAGIC.to_le_bytes());
        b[0x3a..0x3c].copy_from_slice(&STATE_VALID.to_le_bytes());
        b[0x18..0x1c].copy_from_slice(&log.to_le_bytes());
        b[0x04..0x08].copy_from_slice(&lo.to_le_bytes());
        b[0x150..0x154].copy_from_slice(&hi.to_le_bytes());
        if bit64 {
            b[0x60..0x64].copy_from_slice(&INCOMPAT_64BIT.to_le_bytes());
        }
        b
    }

    #[test]
    fn reads_size_and_block_size() {
        let s = parse(&sb(2, 262_144, 0, true)).unwrap();
        assert_eq!(
            s,
            Superblock {
                block_size: 4096,
                blocks: 262_144,
                check: None,
            }
        );
        let big = parse(&sb(2, 5, 1, true)).unwrap();
        assert_eq!(big.blocks, (1 << 32) + 5);
        // Without the 64bit feature the high word is not part of the count.
        assert_eq!(parse(&sb(2, 5, 1, false)).unwrap().blocks, 5);
    }

    #[test]
    fn backup_locations_fit_the_partition() {
        assert_eq!(
            backup_superblocks(1 << 30),
            [(1024, 8193), (2048, 16384), (4096, 32768)]
        );
        // 64 MiB: group 1 of a 4 KiB-block filesystem would start at 128 MiB.
        assert_eq!(backup_superblocks(64 << 20), [(1024, 8193), (2048, 16384)]);
        assert!(has_magic(&sb(2, 1, 0, false)));
        assert!(!has_magic(&[0u8; 100]));
    }

    fn set16(b: &mut [u8], o: usize, v: u16) {
        b[o..o + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn set32(b: &mut [u8], o: usize, v: u32) {
        b[o..o + 4].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn only_a_clean_filesystem_skips_the_check() {
        let now = 1_800_000_000;
        let check = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut b = sb(2, 262_144, 0, true);
            edit(&mut b);
            parse_at(&b, now).unwrap().check
        };
        assert_eq!(check(&|_| {}), None);
        // mke2fs's defaults: no mount count limit (-1), no interval.
        assert_eq!(check(&|b| set16(b, 0x36, 0xffff)), None);
        assert_eq!(
            check(&|b| set16(b, 0x3a, STATE_VALID | STATE_ERROR)),
            Some(CheckReason::Errors)
        );
        assert_eq!(check(&|b| set32(b, 0x194, 3)), Some(CheckReason::Errors));
        assert_eq!(
            check(&|b| set16(b, 0x3a, 0)),
            Some(CheckReason::NotCleanlyUnmounted)
        );
        assert_eq!(
            check(&|b| set32(b, 0x60, INCOMPAT_64BIT | INCOMPAT_RECOVER)),
            Some(CheckReason::JournalToReplay)
        );
        assert_eq!(check(&|b| set32(b, 0xe8, 12)), Some(CheckReason::Orphans));
        assert_eq!(
            check(&|b| set32(b, 0x64, RO_COMPAT_ORPHAN_PRESENT)),
            Some(CheckReason::Orphans)
        );
        let mounts = |count: u16, max: u16| {
            move |b: &mut Vec<u8>| {
                set16(b, 0x34, count);
                set16(b, 0x36, max);
            }
        };
        assert_eq!(check(&mounts(19, 20)), None);
        assert_eq!(check(&mounts(20, 20)), Some(CheckReason::MountCount));
        let interval = |last: u32, every: u32| {
            move |b: &mut Vec<u8>| {
                set32(b, 0x40, last);
                set32(b, 0x44, every);
            }
        };
        assert_eq!(check(&interval(now as u32 - 100, 1000)), None);
        assert_eq!(
            check(&interval(now as u32 - 1000, 1000)),
            Some(CheckReason::CheckInterval)
        );
        // A last check in the future (a clock set back) is checked, as e2fsck does.
        assert_eq!(
            check(&interval(now as u32 + 10, 1000)),
            Some(CheckReason::CheckInterval)
        );
    }

    #[test]
    fn zeroes_and_nonsense_are_no_filesystem() {
        assert_eq!(parse(&vec![0u8; SUPERBLOCK_LEN]), None);
        assert_eq!(parse(&sb(30, 1, 0, false)), None);
        assert_eq!(parse(&[0u8; 10]), None);
    }
}

//! The few ext4 superblock fields stage 1 needs (pure): is there a filesystem, and how
//! big is it. The superblock starts at byte 1024 of the partition.

/// Byte offset of the superblock in the partition.
pub const SUPERBLOCK_OFFSET: u64 = 1024;
/// Bytes of the superblock we look at.
pub const SUPERBLOCK_LEN: usize = 1024;

const MAGIC: u16 = 0xEF53;
const INCOMPAT_64BIT: u32 = 0x80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    pub block_size: u64,
    pub blocks: u64,
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
    Some(Superblock { block_size, blocks })
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
                blocks: 262_144
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

    #[test]
    fn zeroes_and_nonsense_are_no_filesystem() {
        assert_eq!(parse(&vec![0u8; SUPERBLOCK_LEN]), None);
        assert_eq!(parse(&sb(30, 1, 0, false)), None);
        assert_eq!(parse(&[0u8; 10]), None);
    }
}

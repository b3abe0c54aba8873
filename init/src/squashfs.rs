//! The squashfs superblock fields the factory reset needs (pure): is this a squashfs, and
//! how many bytes does the image occupy, so that exactly the image is copied out of the
//! `factory` partition.

/// Bytes of the superblock read from the start of the partition.
pub const SUPERBLOCK_LEN: usize = 96;
/// Images are padded to this by mksquashfs, and copied in whole blocks of it.
pub const PAD: u64 = 4096;

const MAGIC: &[u8; 4] = b"hsqs";

/// The image length rounded up to [`PAD`], or `None` when `sb` is not a squashfs 4.x
/// superblock (magic, major version 4, bytes_used at offset 40, neither 0 nor so large
/// that it cannot be rounded).
pub fn image_len(sb: &[u8]) -> Option<u64> {
    if sb.len() < SUPERBLOCK_LEN || &sb[0..4] != MAGIC {
        return None;
    }
    let major = u16::from_le_bytes([sb[28], sb[29]]);
    if major != 4 {
        return None;
    }
    let mut used = [0u8; 8];
    used.copy_from_slice(&sb[40..48]);
    let used = u64::from_le_bytes(used);
    // bytes_used is read from the disk: a value with no rounded length is no image.
    used.div_ceil(PAD).checked_mul(PAD).filter(|&len| len > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn superblock(used: u64, major: u16) -> Vec<u8> {
        let mut sb = vec![0u8; SUPERBLOCK_LEN];
        sb[0..4].copy_from_slice(MAGIC);
        sb[28..30].copy_from_slice(&major.to_le_bytes());
        sb[40..48].copy_from_slice(&used.to_le_bytes());
        sb
    }

    #[test]
    fn length_is_rounded_to_the_padding() {
        assert_eq!(image_len(&superblock(16_384_001, 4)), Some(16_388_096));
        assert_eq!(image_len(&superblock(8192, 4)), Some(8192));
    }

    #[test]
    fn not_a_squashfs() {
        assert_eq!(image_len(&[0u8; SUPERBLOCK_LEN]), None);
        assert_eq!(image_len(&superblock(8192, 3)), None);
        assert_eq!(image_len(&superblock(0, 4)), None);
        assert_eq!(image_len(&superblock(u64::MAX, 4)), None);
        assert_eq!(image_len(&superblock(8192, 4)[..40]), None);
    }
}

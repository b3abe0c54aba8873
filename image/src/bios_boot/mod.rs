//! GRUB's legacy BIOS boot code on a GPT disk image: `boot.img` in the MBR and the i386-pc
//! core image in the `bios` partition, patched so each finds the next. This is what
//! `grub-bios-setup` does when it embeds into a BIOS boot partition, done here so that
//! neither builder needs GRUB's host tools, root, or a device map: Buildroot's host GRUB
//! does not install `grub-bios-setup`, and Debian's only works on an image file from a
//! tmpfs directory. The result is byte-identical to `grub-bios-setup`'s (with its default
//! Reed-Solomon codes), which `tests/assemble` and the builder's reproducibility check rely on.
//!
//! What is patched (GRUB's `include/grub/i386/pc/boot.h`, `util/setup.c`):
//! - `boot.img`: keeps the disk's own BPB area and partition table (the protective MBR's),
//!   the boot drive check becomes two NOPs (BIOSes that pass a wrong drive number), the
//!   boot drive byte is 0xff (use the drive the BIOS passed), and the 64-bit LBA at 0x5c
//!   names the core image's first sector.
//! - core image, first sector (`diskboot.img`): its blocklist at the sector's end names the
//!   remaining sectors (start LBA, count, load segment 0x820).
//! - core image, second sector (the decompressor's header): how many bytes of Reed-Solomon
//!   redundancy follow the image; the spare sectors of the embedding area hold them.

mod reed_solomon;

use std::fs::File;
use std::os::unix::fs::FileExt;

use thiserror::Error;

pub(crate) const SECTOR: usize = 512;

// boot.img offsets.
const BPB_START: usize = 0x03;
const BPB_END: usize = 0x5a;
const KERNEL_SECTOR: usize = 0x5c;
const BOOT_DRIVE: usize = 0x64;
const DRIVE_CHECK: usize = 0x66;
const PART_TABLE_START: usize = 0x1b8; // disk signature, then the four MBR entries
const PART_TABLE_END: usize = 0x1fe;

// Core image: blocklist entries (u64 start, u16 count, u16 segment) grow down from the
// end of the first sector; header fields of the second sector.
const BLOCKLIST_ENTRY: usize = 12;
const FIRST_BLOCKLIST: usize = SECTOR - BLOCKLIST_ENTRY;
const LOAD_SEGMENT: u16 = 0x800 + (SECTOR as u16 >> 4);
const RS_REDUNDANCY: usize = SECTOR + 0x10;
const NO_RS_LENGTH: usize = SECTOR + 0x14;
/// The core is loaded at 0x9000 and must stay below 0x78000 (`grub-bios-setup`'s limit).
const MAX_SECTORS: usize = (0x78000 - 0x9000) / SECTOR;

#[derive(Debug, Error)]
pub(crate) enum Error {
    #[error("boot.img must be exactly 512 bytes, this one has {0}")]
    BootSize(usize),
    #[error("the core image ({0} bytes) is not a GRUB i386-pc core image of a usable size")]
    CoreSize(usize),
    #[error("the core image has no blocklist terminator: not made by grub-mkimage -O i386-pc?")]
    NoTerminator,
    #[error("the core image's header says its version does not match this setup")]
    VersionMismatch,
    #[error("the core image needs {need} sectors, the bios partition has {have}")]
    PartitionTooSmall { need: usize, have: usize },
    #[error("cannot read or write the disk image: {0}")]
    Io(#[from] std::io::Error),
}

/// The MBR and the sectors for the `bios` partition, computed from GRUB's two images, the
/// disk's current first sector and the partition's place (`start` LBA, `sectors` long).
pub(crate) struct Embedded {
    pub mbr: [u8; SECTOR],
    pub core: Vec<u8>,
}

pub(crate) fn embed(
    boot_img: &[u8],
    core_img: &[u8],
    disk_mbr: &[u8; SECTOR],
    start: u64,
    sectors: usize,
) -> Result<Embedded, Error> {
    if boot_img.len() != SECTOR {
        return Err(Error::BootSize(boot_img.len()));
    }
    let core_sectors = core_img.len().div_ceil(SECTOR);
    if core_img.len() < 2 * SECTOR || core_sectors > 0xffff {
        return Err(Error::CoreSize(core_img.len()));
    }

    let mut mbr = [0u8; SECTOR];
    mbr.copy_from_slice(boot_img);
    mbr[BPB_START..BPB_END].copy_from_slice(&disk_mbr[BPB_START..BPB_END]);
    mbr[DRIVE_CHECK..DRIVE_CHECK + 2].copy_from_slice(&[0x90, 0x90]);
    mbr[PART_TABLE_START..PART_TABLE_END]
        .copy_from_slice(&disk_mbr[PART_TABLE_START..PART_TABLE_END]);
    mbr[BOOT_DRIVE] = 0xff;
    mbr[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&start.to_le_bytes());

    // As much room as twice the core (the other half for parity), within the partition.
    let nsec = (2 * core_sectors).min(MAX_SECTORS).min(sectors);
    if nsec < core_sectors {
        return Err(Error::PartitionTooSmall {
            need: core_sectors,
            have: sectors,
        });
    }
    let mut core = core_img.to_vec();
    core.resize(nsec * SECTOR, 0);

    // Clear the blocklist grub-mkimage left (it assumes the core right after the MBR),
    // then describe the embedding area: one contiguous run after the first sector.
    let mut at = FIRST_BLOCKLIST;
    loop {
        let len = u16::from_le_bytes([core[at + 8], core[at + 9]]);
        core[at..at + BLOCKLIST_ENTRY].fill(0);
        if len == 0 {
            break;
        }
        at = at.checked_sub(BLOCKLIST_ENTRY).ok_or(Error::NoTerminator)?;
    }
    let b = &mut core[FIRST_BLOCKLIST..SECTOR];
    b[..8].copy_from_slice(&(start + 1).to_le_bytes());
    b[8..10].copy_from_slice(&(nsec as u16 - 1).to_le_bytes());
    b[10..12].copy_from_slice(&LOAD_SEGMENT.to_le_bytes());

    let no_rs = u16::from_le_bytes([core[NO_RS_LENGTH], core[NO_RS_LENGTH + 1]]) as usize;
    if no_rs == 0xffff {
        return Err(Error::VersionMismatch);
    }
    let protected = SECTOR + no_rs;
    if protected > core_img.len() {
        return Err(Error::CoreSize(core_img.len()));
    }
    let redundancy = (nsec * SECTOR - core_img.len()) as u32;
    core[RS_REDUNDANCY..RS_REDUNDANCY + 4].copy_from_slice(&redundancy.to_le_bytes());
    reed_solomon::add_redundancy(&mut core[protected..], core_img.len() - protected);
    Ok(Embedded { mbr, core })
}

/// Installs GRUB's BIOS boot code on `disk`, whose partition table is already written;
/// the `bios` partition starts at LBA `start` and is `sectors` long.
pub(crate) fn install(
    disk: &File,
    boot_img: &[u8],
    core_img: &[u8],
    start: u64,
    sectors: usize,
) -> Result<(), Error> {
    let mut current = [0u8; SECTOR];
    disk.read_exact_at(&mut current, 0)?;
    let e = embed(boot_img, core_img, &current, start, sectors)?;
    disk.write_all_at(&e.core, start * SECTOR as u64)?;
    disk.write_all_at(&e.mbr, 0)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_core(sectors: usize) -> Vec<u8> {
        let mut core = vec![0x5a; sectors * SECTOR - 100];
        // grub-mkimage's blocklist: start 2, the rest of the core, segment 0x820; then
        // the terminator.
        core[FIRST_BLOCKLIST..SECTOR].fill(0);
        core[FIRST_BLOCKLIST..FIRST_BLOCKLIST + 8].copy_from_slice(&2u64.to_le_bytes());
        core[FIRST_BLOCKLIST + 8..FIRST_BLOCKLIST + 10]
            .copy_from_slice(&(sectors as u16 - 1).to_le_bytes());
        core[FIRST_BLOCKLIST - BLOCKLIST_ENTRY..FIRST_BLOCKLIST].fill(0);
        core[NO_RS_LENGTH..NO_RS_LENGTH + 2].copy_from_slice(&300u16.to_le_bytes());
        core[RS_REDUNDANCY..RS_REDUNDANCY + 4].fill(0);
        core
    }

    #[test]
    fn mbr_points_at_the_core_and_keeps_the_partition_table() {
        let boot = vec![0xeb; SECTOR];
        let mut disk_mbr = [0u8; SECTOR];
        disk_mbr[0x1c2] = 0xee; // protective MBR entry type
        disk_mbr[0x1fe] = 0x55;
        let e = embed(&boot, &fake_core(10), &disk_mbr, 2048, 2048).unwrap();
        assert_eq!(
            &e.mbr[KERNEL_SECTOR..KERNEL_SECTOR + 8],
            &2048u64.to_le_bytes()
        );
        assert_eq!(e.mbr[0x1c2], 0xee);
        assert_eq!(&e.mbr[DRIVE_CHECK..DRIVE_CHECK + 2], &[0x90, 0x90]);
        assert_eq!(e.mbr[BOOT_DRIVE], 0xff);
        assert_eq!(e.mbr[BPB_START], 0, "the BPB comes from the disk");
        assert_eq!(e.mbr[0x1fe], 0xeb, "the signature stays boot.img's");
    }

    #[test]
    fn core_blocklist_names_the_rest_of_the_embedding_area() {
        let e = embed(&[0; SECTOR], &fake_core(10), &[0; SECTOR], 2048, 2048).unwrap();
        assert_eq!(
            e.core.len(),
            20 * SECTOR,
            "twice the core: half of it parity"
        );
        let b = &e.core[FIRST_BLOCKLIST..SECTOR];
        assert_eq!(&b[..8], &2049u64.to_le_bytes());
        assert_eq!(&b[8..10], &19u16.to_le_bytes());
        assert_eq!(&b[10..12], &0x820u16.to_le_bytes());
        assert!(e.core[FIRST_BLOCKLIST - BLOCKLIST_ENTRY..FIRST_BLOCKLIST]
            .iter()
            .all(|x| *x == 0));
        let rs = u32::from_le_bytes(e.core[RS_REDUNDANCY..RS_REDUNDANCY + 4].try_into().unwrap());
        assert_eq!(rs as usize, 20 * SECTOR - (10 * SECTOR - 100));
        assert!(
            e.core[10 * SECTOR..].iter().any(|x| *x != 0),
            "parity written"
        );
    }

    #[test]
    fn a_small_partition_limits_the_parity_and_a_tiny_one_is_refused() {
        let e = embed(&[0; SECTOR], &fake_core(10), &[0; SECTOR], 34, 12).unwrap();
        assert_eq!(e.core.len(), 12 * SECTOR);
        assert!(matches!(
            embed(&[0; SECTOR], &fake_core(10), &[0; SECTOR], 34, 9),
            Err(Error::PartitionTooSmall { need: 10, have: 9 })
        ));
        assert!(matches!(
            embed(&[0; 100], &fake_core(10), &[0; SECTOR], 34, 20),
            Err(Error::BootSize(100))
        ));
    }
}

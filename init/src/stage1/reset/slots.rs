//! The slots after a reset: slot B empty, slot A a byte-for-byte copy of the factory image.
//!
//! Slot A is rewritten so that it is never a readable squashfs until the copy is complete
//! and verified: its first 4 KiB (the superblock) are zeroed first and written last. GRUB
//! (which also sees A_OK=0 meanwhile) and the kernel both refuse a slot without a
//! superblock, so a power cut in the middle leaves nothing half-bootable.

use super::device::{Aligned, Device, DeviceError};
use crate::squashfs;
use std::path::Path;

const COPY_CHUNK: usize = 4 << 20;
const HEAD: usize = squashfs::PAD as usize;

#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(
        "the factory partition {0} holds no squashfs image; the factory system cannot be restored"
    )]
    NoFactoryImage(String),
    #[error("the factory image ({image} bytes) is larger than slot A {slot} ({capacity} bytes)")]
    TooLarge {
        image: u64,
        slot: String,
        capacity: u64,
    },
    #[error("slot A {slot} differs from the factory image at byte {offset} after the copy")]
    Mismatch { slot: String, offset: u64 },
}

/// The length of the factory image (rounded to 4 KiB), checked before anything is touched.
pub(super) fn factory_image_len(factory: &Device) -> Result<u64, SlotError> {
    let mut buf = Aligned::new(HEAD);
    let head = buf.get(HEAD);
    factory.read_direct(head, 0)?;
    let len = squashfs::image_len(head).ok_or_else(|| SlotError::NoFactoryImage(factory.name()))?;
    if len > factory.len {
        return Err(SlotError::NoFactoryImage(factory.name()));
    }
    Ok(len)
}

/// Copy the factory image into slot A and verify it; returns the bytes copied. The rest
/// of slot A is left to the caller to zero.
pub(super) fn restore_factory(factory: &Device, slot_a: &Device) -> Result<u64, SlotError> {
    let len = factory_image_len(factory)?;
    if len > slot_a.len {
        return Err(SlotError::TooLarge {
            image: len,
            slot: slot_a.name(),
            capacity: slot_a.len,
        });
    }
    // No superblock while the rest is written.
    slot_a.write_at(&[0u8; HEAD], 0)?;
    slot_a.flush()?;
    let mut buf = Aligned::new(COPY_CHUNK);
    let mut offset = HEAD as u64;
    while offset < len {
        let n = (len - offset).min(COPY_CHUNK as u64) as usize;
        let chunk = buf.get(n);
        factory.read_direct(chunk, offset)?;
        slot_a.write_at(chunk, offset)?;
        offset += n as u64;
    }
    slot_a.flush()?;
    verify(factory, slot_a, HEAD as u64, len)?;
    // The superblock last: from now on slot A is a complete squashfs.
    let head = buf.get(HEAD);
    factory.read_direct(head, 0)?;
    slot_a.write_at(head, 0)?;
    slot_a.flush()?;
    verify(factory, slot_a, 0, HEAD as u64)?;
    Ok(len)
}

/// Compare `[from, to)` of both devices as read from the devices themselves.
fn verify(factory: &Device, slot_a: &Device, from: u64, to: u64) -> Result<(), SlotError> {
    let mut a = Aligned::new(COPY_CHUNK);
    let mut b = Aligned::new(COPY_CHUNK);
    let mut offset = from;
    while offset < to {
        let n = (to - offset).min(COPY_CHUNK as u64) as usize;
        let (fa, sb) = (a.get(n), b.get(n));
        factory.read_direct(fa, offset)?;
        slot_a.read_direct(sb, offset)?;
        if let Some(i) = fa.iter().zip(sb.iter()).position(|(x, y)| x != y) {
            return Err(SlotError::Mismatch {
                slot: slot_a.name(),
                offset: offset + i as u64,
            });
        }
        offset += n as u64;
    }
    Ok(())
}

/// `VERSION=` of the release file inside a mounted slot.
pub(super) fn release_version(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("etc/appliance/release")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

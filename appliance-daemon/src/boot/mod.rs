//! Marking the booted slot good in grubenv once the daemon serves HTTPS (docs/boot.md
//! "grubenv"). Until then GRUB counts the boot as a trial and falls back to the other slot
//! if the system never gets here: automatic rollback.
//!
//! Steps: find the ESP by GPT label, mount it at `/run/esp`, read `EFI/BOOT/grubenv`,
//! apply `mark_successful_boot`, rewrite the same 1024 bytes in place, fsync, unmount.

mod esp;
mod grubenv_file;

use std::path::Path;

use crate::system::BootSlot;

pub const SYS_CLASS_BLOCK: &str = "/sys/class/block";
pub const ESP_MOUNT: &str = "/run/esp";
pub const ESP_LABEL: &str = "ESP";
pub const GRUBENV_PATH: &str = "EFI/BOOT/grubenv";

/// What [`mark_good`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The slot was on trial and is now good.
    Marked { device: String },
    /// The slot was already good: nothing written.
    AlreadyGood { device: String },
    /// The factory image has no entry in grubenv.
    Factory,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Esp(#[from] esp::Error),
    #[error(transparent)]
    Grubenv(#[from] grubenv_file::Error),
}

/// Mark `slot` good on the appliance's ESP.
pub fn mark_good(slot: BootSlot) -> Result<Outcome, Error> {
    let BootSlot::Slot(slot) = slot else {
        return Ok(Outcome::Factory);
    };
    let device = esp::find(Path::new(SYS_CLASS_BLOCK), ESP_LABEL)?;
    let mount = esp::Mount::new(&device, Path::new(ESP_MOUNT))?;
    let changed = grubenv_file::mark_successful_boot(&mount.path().join(GRUBENV_PATH), slot);
    // Unmount even when the update failed, and report the first error.
    let unmounted = mount.unmount();
    let changed = changed?;
    unmounted?;
    let device = device.display().to_string();
    Ok(if changed {
        Outcome::Marked { device }
    } else {
        Outcome::AlreadyGood { device }
    })
}

//! Marking the booted slot good in grubenv once the daemon serves HTTPS (docs/boot.md
//! "grubenv"). Until then GRUB counts the boot as a trial and falls back to the other slot
//! if the system never gets here: automatic rollback.
//!
//! Steps: find the ESP by GPT label, mount it at `/run/esp`, read `EFI/BOOT/grubenv`,
//! apply `mark_successful_boot`, rewrite the same 1024 bytes in place, fsync, unmount.

mod esp;
mod grubenv_file;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use grubenv::BootState;

use crate::system::BootSlot;

/// One user of the ESP mount at a time (mark-good, the updater, the reset request).
static ESP: Mutex<()> = Mutex::new(());

pub(crate) const ESP_LABEL: &str = "ESP";
pub(crate) const GRUBENV_PATH: &str = "EFI/BOOT/grubenv";

/// What [`mark_good`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
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
    #[error(transparent)]
    Privileged(#[from] crate::privileged::client::Error),
}

/// Mark `slot` good on the appliance's ESP.
pub(crate) fn mark_good(slot: BootSlot) -> Result<Outcome, Error> {
    let BootSlot::Slot(slot) = slot else {
        return Ok(Outcome::Factory);
    };
    let (changed, device) = with_esp(Access::Write, |dir| {
        grubenv_file::mark_successful_boot(&dir.join(GRUBENV_PATH), slot)
    })?;
    let device = device.display().to_string();
    Ok(if changed {
        Outcome::Marked { device }
    } else {
        Outcome::AlreadyGood { device }
    })
}

/// Where the A/B state lives: the ESP's grubenv on the appliance, a plain file in dev mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvStore {
    /// Mounted here (the privileged part).
    Esp,
    /// Through the privileged part (the service on the appliance).
    Privileged,
    File(PathBuf),
}

impl EnvStore {
    /// The current state (a dev-mode file that does not exist yet is a factory disk).
    pub(crate) fn read(&self) -> Result<BootState, Error> {
        match self {
            EnvStore::File(path) if !path.exists() => Ok(BootState::factory()),
            EnvStore::File(path) => Ok(grubenv_file::read(path)?),
            EnvStore::Privileged => Ok(crate::privileged::client::read_boot_state()?),
            EnvStore::Esp => Ok(with_esp(Access::Read, |dir| {
                grubenv_file::read(&dir.join(GRUBENV_PATH))
            })?
            .0),
        }
    }

    /// Replace the state, durably, before returning.
    pub(crate) fn write(&self, state: &BootState) -> Result<(), Error> {
        match self {
            EnvStore::File(path) => Ok(grubenv_file::write(path, state)?),
            EnvStore::Privileged => Ok(crate::privileged::client::write_boot_state(state)?),
            EnvStore::Esp => {
                with_esp(Access::Write, |dir| {
                    grubenv_file::write(&dir.join(GRUBENV_PATH), state)
                })?;
                Ok(())
            }
        }
    }
}

/// How [`with_esp`] mounts the ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read-only: the volume is not marked dirty, a power cut meanwhile costs nothing.
    Read,
    Write,
}

/// Run `f` with the ESP mounted at [`crate::paths::ESP_MOUNT`]; unmount whatever happens (the first
/// error is reported). Returns `f`'s value and the ESP's device node.
pub(crate) fn with_esp<T>(
    access: Access,
    f: impl FnOnce(&Path) -> Result<T, grubenv_file::Error>,
) -> Result<(T, PathBuf), Error> {
    let _esp = ESP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let device = esp::find(Path::new(crate::paths::SYS_CLASS_BLOCK), ESP_LABEL)?;
    let mount = esp::Mount::new(
        &device,
        Path::new(crate::paths::ESP_MOUNT),
        access == Access::Write,
    )?;
    let result = f(mount.path());
    let unmounted = mount.unmount();
    let value = result?;
    unmounted?;
    Ok((value, device))
}

/// The device node of the partition labelled `label` (`root-a`, `root-b`, `factory`).
pub(crate) fn partition(label: &str) -> Result<PathBuf, Error> {
    Ok(esp::find(Path::new(crate::paths::SYS_CLASS_BLOCK), label)?)
}

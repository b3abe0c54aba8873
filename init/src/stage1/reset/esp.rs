//! grubenv on the ESP during a reset: mounted once at /run/esp, read, and rewritten in place
//! (the same 1024 bytes GRUB reads through its directory entry) with an fsync after each
//! step, so the progress survives a power cut.

use super::super::block::Partition;
use grubenv::{BootState, Env};
use nix::mount::{mount, umount, MsFlags};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MOUNT: &str = "/run/esp";
const GRUBENV: &str = "EFI/BOOT/grubenv";

#[derive(Debug, thiserror::Error)]
pub enum EspError {
    #[error("cannot mount the ESP {device} (vfat) on {MOUNT}: {source}")]
    Mount { device: String, source: nix::Error },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Format {
        path: PathBuf,
        source: grubenv::Error,
    },
}

pub(super) struct Esp {
    path: PathBuf,
    file: Option<File>,
}

impl Esp {
    pub(super) fn open(part: &Partition) -> Result<Self, EspError> {
        let device = part.dev();
        let _ = std::fs::create_dir_all(MOUNT);
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some(&device), MOUNT, Some("vfat"), flags, None::<&str>).map_err(|source| {
            EspError::Mount {
                device: device.display().to_string(),
                source,
            }
        })?;
        let path = Path::new(MOUNT).join(GRUBENV);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| {
                let _ = umount(MOUNT);
                EspError::Io {
                    path: path.clone(),
                    source,
                }
            })?;
        Ok(Esp {
            path,
            file: Some(file),
        })
    }

    fn io(&self, source: std::io::Error) -> EspError {
        EspError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn file(&self) -> Result<&File, EspError> {
        self.file
            .as_ref()
            .ok_or_else(|| self.io(std::io::Error::other("the ESP is already closed")))
    }

    pub(super) fn read(&self) -> Result<BootState, EspError> {
        let mut block = vec![0u8; grubenv::BLOCK_SIZE];
        let file = self.file()?;
        file.read_exact_at(&mut block, 0).map_err(|e| self.io(e))?;
        Env::parse(&block)
            .map(BootState::from_env)
            .map_err(|source| EspError::Format {
                path: self.path.clone(),
                source,
            })
    }

    pub(super) fn write(&self, state: &BootState) -> Result<(), EspError> {
        let block = state.env().to_block().map_err(|source| EspError::Format {
            path: self.path.clone(),
            source,
        })?;
        let file = self.file()?;
        file.write_all_at(&block, 0).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))
    }

    /// Unmount (best effort: the last write was already fsynced).
    pub(super) fn close(mut self) {
        self.file = None;
        let _ = umount(MOUNT);
    }
}

impl Drop for Esp {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = umount(MOUNT);
        }
    }
}

//! A partition opened for the reset: exclusive read-write access, its size, flushes, and
//! reads that bypass the page cache (O_DIRECT) so a verification sees the device, not
//! what this process just wrote.
// Unsafe code: BLKGETSIZE64: an ioctl, unsafe by nature.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

nix::ioctl_read!(blkgetsize64, 0x12, 114, u64);

/// Direct I/O needs buffers, offsets and lengths aligned to the logical block size;
/// 4 KiB covers every disk we meet.
pub const ALIGN: usize = 4096;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {what}: {source}")]
pub struct DeviceError {
    pub path: String,
    pub what: String,
    pub source: std::io::Error,
}

pub struct Device {
    pub path: PathBuf,
    pub file: File,
    /// Opened with O_DIRECT, for verification reads.
    direct: File,
    pub len: u64,
}

impl Device {
    /// Open `path` read-write and exclusively (O_EXCL on a block device fails while it is
    /// mounted: the reset never wipes a filesystem in use).
    pub fn open(path: &Path) -> Result<Self, DeviceError> {
        Self::open_with(path, true)
    }

    /// Open `path` for reading only (the factory partition).
    pub fn open_read_only(path: &Path) -> Result<Self, DeviceError> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, write: bool) -> Result<Self, DeviceError> {
        let err = |what: &str| {
            let path = path.display().to_string();
            let what = what.to_string();
            move |source| DeviceError { path, what, source }
        };
        let file = if write {
            OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_EXCL)
                .open(path)
                .map_err(err("cannot open it exclusively (is it mounted?)"))?
        } else {
            File::open(path).map_err(err("cannot open it"))?
        };
        let direct = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .map_err(err("cannot open it for direct reads"))?;
        let mut len = 0u64;
        // SAFETY: BLKGETSIZE64 writes one u64 we own.
        unsafe { blkgetsize64(file.as_raw_fd(), &mut len) }
            .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
            .map_err(err("cannot read its size"))?;
        Ok(Device {
            path: path.to_path_buf(),
            file,
            direct,
            len,
        })
    }

    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn error(&self, what: String, source: std::io::Error) -> DeviceError {
        DeviceError {
            path: self.name(),
            what,
            source,
        }
    }

    /// Flush what was written (and the device's volatile cache) to stable storage.
    pub fn flush(&self) -> Result<(), DeviceError> {
        self.file
            .sync_all()
            .map_err(|e| self.error("cannot flush it".into(), e))
    }

    /// Read `buf.len()` bytes at `offset` from the device itself (O_DIRECT). `offset`
    /// and the length must be multiples of [`ALIGN`]; `buf` comes from [`Aligned`].
    pub fn read_direct(&self, buf: &mut [u8], offset: u64) -> Result<(), DeviceError> {
        self.direct
            .read_exact_at(buf, offset)
            .map_err(|e| self.error(format!("cannot read {} bytes at {offset}", buf.len()), e))
    }

    pub fn write_at(&self, buf: &[u8], offset: u64) -> Result<(), DeviceError> {
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| self.error(format!("cannot write {} bytes at {offset}", buf.len()), e))
    }
}

/// A zeroed buffer whose start is aligned for direct I/O.
pub struct Aligned {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    pub fn new(len: usize) -> Self {
        let storage = vec![0u8; len + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        Aligned {
            storage,
            start,
            len,
        }
    }

    pub fn get(&mut self, len: usize) -> &mut [u8] {
        let len = len.min(self.len);
        &mut self.storage[self.start..self.start + len]
    }
}

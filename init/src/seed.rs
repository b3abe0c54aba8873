//! The random seed kept on data, so that the kernel's random number generator is ready
//! at once on every boot but an appliance's first, also on CPUs without RDRAND (QEMU's
//! emulated CPU, some virtual CPU models), where the kernel otherwise gathers entropy for
//! seconds while TLS and DHCP wait for it. The scheme is SeedRNG's (Buildroot's `seedrng`):
//! - stage 1, once data is mounted ([`credit`]): the seed the previous boot saved is read
//!   and removed, the removal synced *before* the seed is used, so that no seed is ever
//!   used twice, not even after a power cut; then it is added to the kernel's pool with
//!   RNDADDENTROPY, credited at 8 bits a byte;
//! - stage 2 ([`save_when_ready`], in a thread): once the generator is ready (getrandom
//!   without GRND_NONBLOCK returns), a fresh seed is saved for the next boot (temporary
//!   file, fsync, rename, fsync of the directory). When a seed was credited, the generator
//!   is ready from the start, and the thread waits until the daemon reported the system
//!   healthy (or [`SAVE_AFTER_AT_MOST`] passed): on the one CPU of a small virtual machine
//!   the two journal commits would otherwise delay the daemon's start. When none was,
//!   the thread blocks for the generator at once, which makes the kernel gather entropy
//!   from then on (TLS and DHCP wait for it); on a first boot stage 1 has already done
//!   so before making the data filesystem ([`wait_until_ready`]);
//! - shutdown ([`save_now`]): a fresh seed again, so that a boot powered off before its
//!   thread saved one still leaves a seed for the next.
//!
//! Only output of a ready generator is saved, so only a creditable seed is ever credited.
//! A factory reset wipes data and the seed with it; the data partition, and so the seed,
//! is made on each appliance's own first boot, never shipped in the image.
// Unsafe code: RNDADDENTROPY and getrandom(2): no safe wrapper in nix or std.
#![allow(unsafe_code)]

use crate::log;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The file on data.
pub const FILE: &str = "random-seed";
/// 256 bits: what the kernel needs to call its generator ready.
pub const LEN: usize = 32;

/// `struct rand_pool_info` from <linux/random.h> with room for one seed.
#[repr(C)]
pub struct RandPoolInfo {
    entropy_count: libc::c_int,
    buf_size: libc::c_int,
    buf: [u8; LEN],
}

nix::ioctl_write_ptr_bad!(
    rnd_add_entropy,
    nix::request_code_write!(b'R', 0x03, std::mem::size_of::<[libc::c_int; 2]>()),
    RandPoolInfo
);

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} does not hold exactly {LEN} bytes ({len} read); not used")]
    Size { path: String, len: usize },
    #[error("cannot remove {path} before using it: {source}; not used")]
    Remove {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot add the seed to the kernel's pool: {0}")]
    Add(std::io::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Stage 1: credit the seed saved under `data_dir` and remove it. `Ok(false)` when there
/// is none (a first boot, or a power cut before the last boot saved one).
pub fn credit(data_dir: &Path) -> Result<bool, SeedError> {
    let path = data_dir.join(FILE);
    let shown = path.display().to_string();
    // At most one byte more than a seed: a damaged file of any size is refused without
    // reading it into memory.
    let read = std::fs::File::open(&path).and_then(|f| {
        let mut seed = Vec::with_capacity(LEN + 1);
        f.take(LEN as u64 + 1).read_to_end(&mut seed)?;
        Ok(seed)
    });
    let seed = match read {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(SeedError::Read {
                path: shown,
                source,
            })
        }
    };
    // Removed, and the removal on disk, before the kernel sees a byte of it.
    let remove = std::fs::remove_file(&path)
        .and_then(|()| std::fs::File::open(data_dir)?.sync_all())
        .map_err(|source| SeedError::Remove {
            path: shown.clone(),
            source,
        });
    remove?;
    let buf: [u8; LEN] = seed.as_slice().try_into().map_err(|_| SeedError::Size {
        path: shown,
        len: seed.len(),
    })?;
    let info = RandPoolInfo {
        entropy_count: (LEN * 8) as libc::c_int,
        buf_size: LEN as libc::c_int,
        buf,
    };
    let urandom = std::fs::File::open("/dev/urandom").map_err(SeedError::Add)?;
    // SAFETY: the ioctl reads a rand_pool_info of buf_size bytes of buffer, which `info` is.
    unsafe { rnd_add_entropy(urandom.as_raw_fd(), &info) }.map_err(|e| SeedError::Add(e.into()))?;
    Ok(true)
}

/// Stage 2: wait until the kernel's generator is ready, then save a seed for the next
/// boot under `data_dir`.
pub fn save_when_ready(data_dir: &Path) -> Result<(), SeedError> {
    save(data_dir, 0)
}

/// Shutdown: save a fresh seed if the generator is ready, without waiting for it.
/// `Ok(false)` when it is not (a first boot shut down within seconds, no RDRAND).
pub fn save_now(data_dir: &Path) -> Result<bool, SeedError> {
    match save(data_dir, libc::GRND_NONBLOCK) {
        Ok(()) => Ok(true),
        Err(SeedError::Add(e)) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One save at a time: the shutdown's and the thread's share the temporary file.
static SAVING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn save(data_dir: &Path, flags: libc::c_uint) -> Result<(), SeedError> {
    let _one = SAVING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut seed = [0u8; LEN];
    getrandom(&mut seed, flags).map_err(SeedError::Add)?;
    let path = data_dir.join(FILE);
    let tmp = data_dir.join(format!(".{FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&seed)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(data_dir)?.sync_all()
    };
    write().map_err(|source| SeedError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Fill `buf` from the kernel's generator (`flags`: 0 to wait for it, GRND_NONBLOCK not to).
fn getrandom(buf: &mut [u8], flags: libc::c_uint) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: writes at most rest.len() bytes into `rest`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), flags) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        } else {
            filled += n as usize;
        }
    }
    Ok(())
}

/// Whether getrandom would answer without blocking.
fn generator_ready() -> bool {
    getrandom(&mut [0u8], libc::GRND_NONBLOCK).is_ok()
}

/// Block until the kernel's generator is ready: `None` when it already was, otherwise how
/// long that took. A caller blocking in getrandom is what makes the kernel gather entropy
/// itself (CPU timing jitter), so this is also the quickest way to a ready generator.
pub fn wait_until_ready() -> std::io::Result<Option<std::time::Duration>> {
    if generator_ready() {
        return Ok(None);
    }
    let start = std::time::Instant::now();
    getrandom(&mut [0u8], 0)?;
    Ok(Some(start.elapsed()))
}

/// At most this long after stage 2 starts, the seed is saved even if the system never
/// reported healthy.
pub const SAVE_AFTER_AT_MOST: std::time::Duration = std::time::Duration::from_secs(30);

/// Stage 2: [`save_when_ready`] in its own thread, once something is sent on (or the
/// dropping of) the returned sender, or after [`SAVE_AFTER_AT_MOST`]; logs what went
/// wrong. Called once signals are blocked, so that the thread inherits the mask.
pub fn spawn_save(data_dir: &'static str) -> Option<std::sync::mpsc::Sender<()>> {
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("random-seed".into())
        .spawn(move || {
            // A generator not ready yet (no seed was credited: first boot, power cut)
            // is made ready by the first caller that blocks for it, which then gathers
            // entropy itself: block for it at once, as early as possible, and save then.
            if generator_ready() {
                let _ = wait.recv_timeout(SAVE_AFTER_AT_MOST);
            }
            if let Err(e) = save_when_ready(Path::new(data_dir)) {
                log!("random seed: {e}; the next boot waits for the kernel to gather entropy");
            }
        });
    match spawned {
        Ok(_) => Some(go),
        Err(e) => {
            log!("random seed: cannot start the thread that saves it: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ioctl_number_is_rndaddentropy() {
        // _IOW('R', 0x03, int[2]) from <linux/random.h>.
        assert_eq!(
            nix::request_code_write!(b'R', 0x03, std::mem::size_of::<[libc::c_int; 2]>()),
            0x4008_5203
        );
    }

    #[test]
    fn a_saved_seed_is_removed_before_use_and_a_wrong_size_is_refused() {
        let dir = std::env::temp_dir().join(format!("seed-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!credit(&dir).unwrap(), "no seed: nothing credited");
        save_when_ready(&dir).unwrap();
        let saved = std::fs::read(dir.join(FILE)).unwrap();
        assert_eq!(saved.len(), LEN);
        assert_ne!(saved, [0u8; LEN]);
        save_when_ready(&dir).unwrap();
        assert_ne!(
            std::fs::read(dir.join(FILE)).unwrap(),
            saved,
            "a fresh seed each time"
        );
        std::fs::write(dir.join(FILE), vec![7u8; 1 << 20]).unwrap();
        assert!(
            matches!(credit(&dir), Err(SeedError::Size { len: 33, .. })),
            "read no further than a seed and a byte"
        );
        assert!(!dir.join(FILE).exists());
        std::fs::write(dir.join(FILE), b"short").unwrap();
        assert!(matches!(credit(&dir), Err(SeedError::Size { len: 5, .. })));
        assert!(!dir.join(FILE).exists(), "removed even when refused");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

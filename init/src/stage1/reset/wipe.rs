//! Wiping a partition so that nothing it held can be read back, with the best method the
//! device offers (docs/factory-reset.md "How data is erased"):
//!
//! 1. `BLKSECDISCARD`: the device erases the blocks and any copies it keeps (eMMC, some
//!    NVMe/SATA); most disks and every virtual disk refuse it.
//! 2. Discard only where the device guarantees zeroes afterwards: `fallocate(PUNCH_HOLE)`
//!    on the block device, the kernel's write-zeroes command with unmapping allowed and no
//!    fallback (SCSI WRITE SAME with UNMAP only when the disk reports LBPRZ, NVMe Write
//!    Zeroes with deallocate, virtio-blk write-zeroes). Plain `BLKDISCARD` is never used:
//!    since Linux 4.12 the kernel no longer tells whether a discard zeroes
//!    (`discard_zeroes_data` always reads 0) and a discarded block may read back its old
//!    contents.
//! 3. `BLKZEROOUT`: the device's write-zeroes command without unmapping, or, when it has
//!    none, zero pages written by the kernel.
//! 4. Zeroes written by init, 4 MiB at a time.
//!
//! A method that fails moves the wipe down the list. Afterwards 1 MiB blocks spread over
//! the partition are read back past the page cache and must be zeroes; if not, the wipe
//! starts over with the next method (after a secure discard that left non-zero blocks,
//! the partition is zeroed as well).
// Unsafe code: BLKSECDISCARD/BLKZEROOUT: ioctls, unsafe by nature.
#![allow(unsafe_code)]

use super::device::{Aligned, Device, DeviceError};
use crate::say;
use nix::fcntl::{fallocate, FallocateFlags};
use std::os::fd::AsRawFd;
use std::time::Instant;

nix::ioctl_write_ptr_bad!(blksecdiscard, nix::request_code_none!(0x12, 125), [u64; 2]);
nix::ioctl_write_ptr_bad!(blkzeroout, nix::request_code_none!(0x12, 127), [u64; 2]);

/// Work is done in pieces of this size: progress, checkpoints and method changes happen
/// between pieces.
const CHUNK: u64 = 64 << 20;
const ZERO_BUF: usize = 4 << 20;
/// Blocks read back after a wipe.
pub const SAMPLES: u32 = 64;
const SAMPLE_LEN: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    SecureDiscard,
    DiscardZeroes,
    ZeroOut,
    WriteZeroes,
}

impl Method {
    pub const CHAIN: [Method; 4] = [
        Method::SecureDiscard,
        Method::DiscardZeroes,
        Method::ZeroOut,
        Method::WriteZeroes,
    ];

    /// The name kept in grubenv and in the sanitization record.
    pub fn id(self) -> &'static str {
        match self {
            Method::SecureDiscard => "secure-discard",
            Method::DiscardZeroes => "discard-zeroes",
            Method::ZeroOut => "zeroout",
            Method::WriteZeroes => "write-zeroes",
        }
    }

    pub fn from_id(id: &str) -> Option<Method> {
        Method::CHAIN.into_iter().find(|m| m.id() == id)
    }

    /// A sentence for the console and the record. `offloaded`: the device has a
    /// write-zeroes command (sysfs `queue/write_zeroes_max_bytes` > 0).
    pub fn detail(self, offloaded: bool) -> &'static str {
        match self {
            Method::SecureDiscard => "BLKSECDISCARD: the device erased the blocks and their copies",
            Method::DiscardZeroes => {
                "discard with zeroes guaranteed (fallocate PUNCH_HOLE: the device's write-zeroes command, unmapping allowed)"
            }
            Method::ZeroOut if offloaded => "BLKZEROOUT: the device's write-zeroes command",
            Method::ZeroOut => "BLKZEROOUT: zeroes written by the kernel (the device has no write-zeroes command)",
            Method::WriteZeroes => "zeroes written by init",
        }
    }

    fn next(self) -> Option<Method> {
        let i = Method::CHAIN.iter().position(|&m| m == self)?;
        Method::CHAIN.get(i + 1).copied()
    }

    /// Wipe `len` bytes at `offset`.
    fn apply(self, dev: &Device, offset: u64, len: u64) -> std::io::Result<()> {
        let fd = dev.file.as_raw_fd();
        let range = [offset, len];
        match self {
            // SAFETY: both ioctls read two u64 (start, length) we own.
            Method::SecureDiscard => errno(unsafe { blksecdiscard(fd, &range) }),
            Method::ZeroOut => errno(unsafe { blkzeroout(fd, &range) }),
            Method::DiscardZeroes => errno(fallocate(
                fd,
                FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                len as libc::off_t,
            )),
            Method::WriteZeroes => {
                let zeroes = vec![0u8; ZERO_BUF];
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(ZERO_BUF as u64) as usize;
                    use std::os::unix::fs::FileExt;
                    dev.file.write_all_at(&zeroes[..n], offset + done)?;
                    done += n as u64;
                }
                Ok(())
            }
        }
    }
}

fn errno<T>(r: nix::Result<T>) -> std::io::Result<()> {
    r.map(drop).map_err(std::io::Error::from)
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::SecureDiscard => "BLKSECDISCARD",
            Method::DiscardZeroes => "discard with zeroes guaranteed",
            Method::ZeroOut => "BLKZEROOUT",
            Method::WriteZeroes => "writing zeroes",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WipeError {
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("{device}: every wipe method failed; the last, {method}, at byte {offset}: {source}")]
    Exhausted {
        device: String,
        method: Method,
        offset: u64,
        source: std::io::Error,
    },
    #[error("{device}: the block at byte {offset} still holds data after writing zeroes; the device does not keep what is written")]
    NotZero { device: String, offset: u64 },
    #[error("{0}")]
    Checkpoint(String),
}

/// What a wipe did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiped {
    /// The methods that ran, in order (more than one after a fallback or a secure discard
    /// that did not read back as zeroes).
    pub methods: Vec<Method>,
    pub verified_samples: u32,
}

/// Called every 10 % with the bytes wiped so far (flushed) and the method in use.
pub type Checkpoint<'a> = dyn FnMut(u64, Method) -> Result<(), String> + 'a;

/// Wipe `dev` from byte `from` to its end, starting with `start` (a resumed wipe keeps
/// its method), then verify. `what` names the partition in log lines; `progress` logs
/// every 10 %.
pub fn wipe(
    dev: &Device,
    what: &str,
    from: u64,
    start: Method,
    progress: bool,
    checkpoint: &mut Checkpoint<'_>,
) -> Result<Wiped, WipeError> {
    let mut methods = Vec::new();
    let mut method = start;
    let mut from = from.min(dev.len);
    loop {
        method = wipe_range(dev, what, from, method, progress, checkpoint)?;
        methods.push(method);
        match first_nonzero_sample(dev)? {
            None => {
                return Ok(Wiped {
                    methods,
                    verified_samples: SAMPLES,
                })
            }
            Some(offset) => {
                let Some(next) = method.next() else {
                    return Err(WipeError::NotZero {
                        device: dev.name(),
                        offset,
                    });
                };
                say!(
                    "factory reset: {what}: the block at byte {offset} does not read back as zeroes after {method}; wiping again with {next}"
                );
                method = next;
                from = 0;
            }
        }
    }
}

/// Zero `[from, end)` of `dev` without checkpoints or verification (the unused tail of a
/// slot: no customer data, only an older image's leftovers).
pub fn zero_range(dev: &Device, what: &str, from: u64, start: Method) -> Result<(), WipeError> {
    let mut none = |_: u64, _: Method| Ok(());
    wipe_range(dev, what, from, start, false, &mut none).map(drop)
}

/// Wipe `[from, end)` chunk by chunk; returns the method that did the last chunk.
fn wipe_range(
    dev: &Device,
    what: &str,
    from: u64,
    mut method: Method,
    progress: bool,
    checkpoint: &mut Checkpoint<'_>,
) -> Result<Method, WipeError> {
    let started = Instant::now();
    let total = dev.len;
    let mut done = from;
    let mut first = true;
    while done < total {
        let len = (total - done).min(CHUNK);
        loop {
            match method.apply(dev, done, len) {
                Ok(()) => break,
                Err(source) => {
                    let Some(next) = method.next() else {
                        return Err(WipeError::Exhausted {
                            device: dev.name(),
                            method,
                            offset: done,
                            source,
                        });
                    };
                    if first {
                        say!("factory reset: {what}: {method} not available ({source}); trying {next}");
                    } else {
                        say!("factory reset: {what}: {method} failed at byte {done} ({source}); going on with {next}");
                    }
                    method = next;
                }
            }
        }
        if first {
            say!("factory reset: {what}: wiping with {method}");
            first = false;
        }
        let before = done;
        done += len;
        if let Some(percent) = tenth_crossed(before, done, total) {
            dev.flush()?;
            checkpoint(done, method).map_err(WipeError::Checkpoint)?;
            if progress {
                let secs = started.elapsed().as_secs_f64();
                say!(
                    "factory reset: {what}: wiped {percent}% ({} MiB, {:.1} MiB/s)",
                    done >> 20,
                    mib_per_s(done - from, secs)
                );
            }
        }
    }
    dev.flush()?;
    if progress && total > from {
        let secs = started.elapsed().as_secs_f64();
        say!(
            "factory reset: {what}: {} MiB wiped in {secs:.1} s ({:.1} MiB/s) with {method}",
            (total - from) >> 20,
            mib_per_s(total - from, secs)
        );
    }
    Ok(method)
}

/// The offset of a sampled block that is not all zeroes.
fn first_nonzero_sample(dev: &Device) -> Result<Option<u64>, WipeError> {
    let mut buf = Aligned::new(SAMPLE_LEN);
    for offset in sample_offsets(dev.len, SAMPLES, SAMPLE_LEN as u64) {
        let len = (dev.len - offset).min(SAMPLE_LEN as u64) as usize;
        let block = buf.get(len);
        dev.read_direct(block, offset)?;
        if block.iter().any(|&b| b != 0) {
            return Ok(Some(offset));
        }
    }
    Ok(None)
}

pub fn mib_per_s(bytes: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 / f64::from(1 << 20) / secs
}

/// The highest multiple of 10 % passed going from `before` to `after` bytes of `total`.
pub fn tenth_crossed(before: u64, after: u64, total: u64) -> Option<u32> {
    if total == 0 {
        return None;
    }
    let tenth = |b: u64| (u128::from(b) * 10 / u128::from(total)) as u32;
    let (a, b) = (tenth(before), tenth(after));
    (b > a).then_some(b * 10)
}

/// `n` block offsets spread evenly from the first block to the last, aligned to 4 KiB.
pub fn sample_offsets(len: u64, n: u32, block: u64) -> Vec<u64> {
    if len == 0 || n == 0 {
        return Vec::new();
    }
    let last = len.saturating_sub(block) / 4096 * 4096;
    let n = u64::from(n.max(2));
    let mut out: Vec<u64> = (0..n).map(|i| last * i / (n - 1) / 4096 * 4096).collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_order_and_ids() {
        assert_eq!(Method::SecureDiscard.next(), Some(Method::DiscardZeroes));
        assert_eq!(Method::ZeroOut.next(), Some(Method::WriteZeroes));
        assert_eq!(Method::WriteZeroes.next(), None);
        for m in Method::CHAIN {
            assert_eq!(Method::from_id(m.id()), Some(m));
        }
        assert_eq!(Method::from_id("blkdiscard"), None);
    }

    #[test]
    fn tenths() {
        let total = 1000;
        assert_eq!(tenth_crossed(0, 64, total), None);
        assert_eq!(tenth_crossed(64, 128, total), Some(10));
        assert_eq!(tenth_crossed(128, 450, total), Some(40));
        assert_eq!(tenth_crossed(960, 1000, total), Some(100));
        assert_eq!(tenth_crossed(0, 0, 0), None);
        // A whole partition in one piece still reports and checkpoints at 100 %.
        assert_eq!(tenth_crossed(0, 100, 100), Some(100));
    }

    #[test]
    fn samples_cover_both_ends_aligned() {
        let len = 8u64 << 30;
        let s = sample_offsets(len, SAMPLES, 1 << 20);
        assert_eq!(s.len(), SAMPLES as usize);
        assert_eq!(s[0], 0);
        assert_eq!(*s.last().unwrap(), len - (1 << 20));
        assert!(s.iter().all(|o| o % 4096 == 0));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        // A partition smaller than a block: one sample at 0.
        assert_eq!(sample_offsets(8192, SAMPLES, 1 << 20), vec![0]);
        assert!(sample_offsets(0, SAMPLES, 1 << 20).is_empty());
    }
}

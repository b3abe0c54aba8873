//! The hardware watchdog: opened once, timeout set, petted from the main loop and all
//! through shutdown. It is never closed with the magic 'V': if init stops petting, the
//! machine resets, which is the point.
// Unsafe code: WDIOC_SETTIMEOUT: an ioctl, unsafe by nature.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Seconds without a pet before the hardware resets the machine.
const TIMEOUT_SECS: libc::c_int = 30;
/// How often the main loop pets.
pub const PET_EVERY: Duration = Duration::from_secs(5);

nix::ioctl_readwrite!(wdioc_settimeout, b'W', 6, libc::c_int);

pub struct Watchdog {
    file: File,
    pub next: Instant,
}

impl Watchdog {
    pub fn open() -> Option<Watchdog> {
        for path in ["/dev/watchdog0", "/dev/watchdog"] {
            if !std::path::Path::new(path).exists() {
                continue;
            }
            match std::fs::OpenOptions::new().write(true).open(path) {
                Ok(file) => {
                    let mut t = TIMEOUT_SECS;
                    // SAFETY: the ioctl reads and writes one c_int we own.
                    let set = unsafe { wdioc_settimeout(file.as_raw_fd(), &mut t) };
                    match set {
                        Ok(_) => crate::log!("watchdog: {path} armed, timeout {t} s"),
                        Err(e) => crate::log!("watchdog: {path} keeps its own timeout ({e})"),
                    }
                    let mut w = Watchdog {
                        file,
                        next: Instant::now(),
                    };
                    w.pet();
                    return Some(w);
                }
                Err(e) => crate::log!("watchdog: cannot open {path}: {e}"),
            }
        }
        crate::log!("watchdog: none present; running without one");
        None
    }

    pub fn pet(&mut self) {
        let _ = self.file.write_all(b"\0");
        self.next = Instant::now() + PET_EVERY;
    }

    pub fn pet_if_due(&mut self) {
        if Instant::now() >= self.next {
            self.pet();
        }
    }
}

/// Pet an optional watchdog if due (the shutdown path calls this in each of its waits).
pub fn pet(w: &mut Option<Watchdog>) {
    if let Some(w) = w.as_mut() {
        w.pet_if_due();
    }
}

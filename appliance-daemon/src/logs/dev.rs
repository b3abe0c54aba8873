//! Dev mode: the daemon's own lines into the ring in its state directory, as init does on
//! the appliance (where the daemon's stderr is a pipe to init and this stays off).

use logring::{Entry, Level, Ring};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

static RING: Mutex<Option<Ring>> = Mutex::new(None);

/// The service name the daemon's lines carry (init's service table names it so).
pub(crate) const SERVICE: &str = "appliance-daemon";

/// Open the ring in `dir` for this run (a new boot number each start).
pub(crate) fn open(dir: &Path) -> std::io::Result<()> {
    let mut id = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| std::io::Error::other("no randomness for a boot id"))?;
    let r = Ring::open(dir, logring::DEFAULT_CAP, &hex::encode(id))?;
    if let Ok(mut g) = RING.lock() {
        *g = Some(r);
    }
    Ok(())
}

/// stderr, and each line into the ring when one is open.
pub(crate) struct Tee;

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = std::io::stderr().write(buf)?;
        if let Ok(mut g) = RING.lock() {
            if let Some(ring) = g.as_mut() {
                let text = String::from_utf8_lossy(&buf[..n]);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros() as u64);
                for l in text.lines().filter(|l| !l.trim().is_empty()) {
                    let (level, message) = Level::split(l);
                    ring.append(&Entry {
                        time_us: now,
                        uptime_ms: 0,
                        level,
                        service: SERVICE,
                        message,
                    });
                }
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

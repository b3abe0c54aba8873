//! The persistent log: init's own lines and every service's output, kept in the ring on
//! data (crate `logring`, docs/logs.md), and the service lines copied to the console.
//!
//! init's loop never writes a file itself: lines go into two bounded queues, one read by
//! a thread that writes the ring, one by a thread that writes the console. A queue that is
//! full (the disk or the serial line is slow) drops the line and counts it; the ring says
//! how many were lost once it can write again. A full disk is the writer's dropped lines,
//! never a wait in init.

use logring::{Entry, Level, Ring};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes of lines waiting for the ring's writer before new ones are dropped.
const DISK_QUEUE_BYTES: usize = 1 << 20;
/// Bytes of lines waiting for the console before new ones are dropped (115200 baud is
/// about 11 KiB/s: the ring, not the console, is where a flood is kept).
const CONSOLE_QUEUE_BYTES: usize = 256 << 10;
/// Lines the writer takes from its queue for one write.
const BATCH: usize = 512;
/// The ring on the appliance.
pub const RING_DIR: &str = "/data/log";
/// The file stage 1 leaves its lines in for stage 2 (on /run, moved into the slot).
pub const STAGE1_LINES: &str = "/run/init-stage1.log";

/// One line on its way to the ring.
#[derive(Debug, Clone)]
pub struct Line {
    pub time_us: u64,
    pub uptime_ms: u64,
    pub level: Level,
    pub service: Arc<str>,
    pub message: String,
}

impl Line {
    pub fn now(service: Arc<str>, level: Level, message: String) -> Line {
        Line {
            time_us: wall_us(),
            uptime_ms: (crate::log::boottime() * 1000.0) as u64,
            level,
            service,
            message,
        }
    }
}

pub fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A bounded queue counted in bytes: `send` never blocks.
struct Queue<T> {
    tx: SyncSender<T>,
    bytes: Arc<AtomicUsize>,
    limit: usize,
    dropped: Arc<AtomicU64>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            tx: self.tx.clone(),
            bytes: self.bytes.clone(),
            limit: self.limit,
            dropped: self.dropped.clone(),
        }
    }
}

impl<T> Queue<T> {
    fn send(&self, item: T, size: usize) {
        if self.bytes.load(Ordering::Relaxed) + size > self.limit {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.bytes.fetch_add(size, Ordering::Relaxed);
        match self.tx.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.bytes.fetch_sub(size, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn queue<T>(limit: usize) -> (Queue<T>, Receiver<T>, Arc<AtomicUsize>, Arc<AtomicU64>) {
    // The byte count is the real bound; the line count only keeps the channel finite.
    let (tx, rx) = mpsc::sync_channel(limit / 16);
    let bytes = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    (
        Queue {
            tx,
            bytes: bytes.clone(),
            limit,
            dropped: dropped.clone(),
        },
        rx,
        bytes,
        dropped,
    )
}

/// Where lines go: the ring (when one is open) and, for services' lines, the console.
#[derive(Clone)]
pub struct Handle {
    disk: Option<Queue<Line>>,
    console: Queue<String>,
}

impl Handle {
    /// A service's line: to the console as it was printed, and to the ring.
    pub fn service_line(&self, service: &Arc<str>, text: &str) {
        let mut raw = String::with_capacity(text.len() + 1);
        raw.push_str(text);
        raw.push('\n');
        let n = raw.len();
        self.console.send(raw, n);
        let (level, message) = Level::split(text);
        self.ring(Line::now(service.clone(), level, message.to_string()));
    }

    /// A line for the ring only (init's own lines are already on the console).
    pub fn ring(&self, line: Line) {
        if let Some(d) = &self.disk {
            let n = line.message.len() + 64;
            d.send(line, n);
        }
    }
}

/// The running threads; [`Journal::close`] at shutdown, before /data is unmounted.
pub struct Journal {
    pub handle: Handle,
    disk_done: Option<Receiver<()>>,
}

/// Open the journal: the ring in `dir` (none: console only), `cap` bytes at most.
pub fn start(dir: Option<PathBuf>, cap: u64) -> Journal {
    let (console, console_rx, console_bytes, _) = queue::<String>(CONSOLE_QUEUE_BYTES);
    let _ = std::thread::Builder::new()
        .name("console".into())
        .spawn(move || {
            let mut err = std::io::stderr();
            while let Ok(text) = console_rx.recv() {
                console_bytes.fetch_sub(text.len(), Ordering::Relaxed);
                let _ = err.write_all(text.as_bytes());
            }
        });
    let (disk, disk_done) = match dir {
        Some(dir) => {
            let (q, rx, bytes, dropped) = queue::<Line>(DISK_QUEUE_BYTES);
            let (done_tx, done_rx) = mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("log-ring".into())
                .spawn(move || {
                    write_ring(&dir, cap, &rx, &bytes, &dropped);
                    let _ = done_tx.send(());
                });
            match spawned {
                Ok(_) => (Some(q), Some(done_rx)),
                Err(e) => {
                    crate::log!(
                        "log ring: cannot start its writer ({e}); lines stay on the console only"
                    );
                    (None, None)
                }
            }
        }
        None => (None, None),
    };
    Journal {
        handle: Handle { disk, console },
        disk_done,
    }
}

impl Journal {
    /// Stop taking lines, let the writer store what is queued (up to `wait`) and close
    /// its file, so that /data can be unmounted. True when the writer finished in time.
    pub fn close(&mut self, wait: Duration) -> bool {
        self.handle.disk = None;
        crate::log::set_journal(None);
        match self.disk_done.take() {
            Some(done) => !matches!(done.recv_timeout(wait), Err(RecvTimeoutError::Timeout)),
            None => true,
        }
    }
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().replace('-', ""))
        .unwrap_or_default()
}

fn write_ring(
    dir: &std::path::Path,
    cap: u64,
    rx: &Receiver<Line>,
    bytes: &AtomicUsize,
    dropped: &AtomicU64,
) {
    let mut ring = match Ring::open(dir, cap, &boot_id()) {
        Ok(r) => r,
        Err(e) => {
            crate::log!(
                "log ring {}: cannot open it ({e}); lines stay on the console only",
                dir.display()
            );
            // Drain so that senders see a full queue, never a growing one.
            while rx.recv().is_ok() {}
            return;
        }
    };
    crate::log!(
        "log ring {}: boot {} ({} of lines kept at most)",
        dir.display(),
        ring.boot(),
        units::bytes(cap)
    );
    let mut batch: Vec<Line> = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(l) => batch.push(l),
                Err(_) => break,
            }
        }
        let size: usize = batch.iter().map(|l| l.message.len() + 64).sum();
        bytes.fetch_sub(size, Ordering::Relaxed);
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            ring.note_dropped(lost);
        }
        let entries: Vec<Entry<'_>> = batch
            .iter()
            .map(|l| Entry {
                time_us: l.time_us,
                uptime_ms: l.uptime_ms,
                level: l.level,
                service: &l.service,
                message: &l.message,
            })
            .collect();
        ring.append_all(&entries);
        drop(entries);
        batch.clear();
    }
}

/// Stage 1's lines, saved on /run before switch_root: `UPTIME_MS LEVEL MESSAGE` each.
pub fn stage1_lines(text: &str) -> Vec<Line> {
    let now_us = wall_us();
    let now_ms = (crate::log::boottime() * 1000.0) as u64;
    let service: Arc<str> = Arc::from("init");
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ' ');
            let uptime_ms: u64 = it.next()?.parse().ok()?;
            let level = Level::parse(it.next()?)?;
            let message = it.next().unwrap_or("").to_string();
            let ago_us = now_ms.saturating_sub(uptime_ms) * 1000;
            Some(Line {
                time_us: now_us.saturating_sub(ago_us),
                uptime_ms,
                level,
                service: service.clone(),
                message,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage1_lines_keep_their_uptime_and_level() {
        let lines = stage1_lines("120 info stage1 start\nbad line\n950 notice data made\n");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].uptime_ms, 120);
        assert_eq!(lines[0].message, "stage1 start");
        assert_eq!(lines[1].level, Level::Notice);
        assert!(lines[0].time_us <= lines[1].time_us);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (q, rx, _, dropped) = queue::<String>(100);
        for _ in 0..10 {
            q.send("x".repeat(30), 30);
        }
        assert_eq!(rx.try_iter().count(), 3);
        assert_eq!(dropped.load(Ordering::Relaxed), 7);
    }
}

//! The ring's writer: numbered segments, the oldest deleted past the cap, the boot index.
//!
//! A write that fails (disk full, I/O error, the directory gone) drops its lines and counts
//! them; the next write that succeeds starts with a line saying how many were lost. The
//! writer never retries and never waits: its caller (init's log thread) must go on.

use crate::record::{encode_into, Level, Record};
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The ring's default size on data: 64 MiB.
pub const DEFAULT_CAP: u64 = 64 << 20;
/// The ring is cut into this many segments; the oldest goes when a new one starts.
const SEGMENTS: u64 = 8;
/// The smallest segment (a tiny cap in tests still holds whole lines).
const MIN_SEGMENT: u64 = 16 << 10;
/// Boots kept in the index (rewritten shorter when it doubles).
const BOOTS_KEPT: usize = 1000;
/// The boot index's name inside the ring's directory.
pub(crate) const BOOTS_FILE: &str = "boots";

/// One line to store; the ring adds the boot.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub time_us: u64,
    pub uptime_ms: u64,
    pub level: Level,
    pub service: &'a str,
    pub message: &'a str,
}

/// The open ring of this boot.
#[derive(Debug)]
pub struct Ring {
    dir: PathBuf,
    segment_max: u64,
    max_segments: usize,
    /// (number, length) oldest first; the last one is the one written.
    segments: VecDeque<(u64, u64)>,
    file: Option<File>,
    boot: u64,
    boot_id: String,
    /// Lines lost since the last write that succeeded (reported in the ring then).
    pending_drops: u64,
    dropped_total: u64,
    /// A write failed half-way: the next one starts on a new line.
    torn: bool,
    buf: String,
    line: String,
}

/// The segment file name of number `n`.
pub(crate) fn segment_name(n: u64) -> String {
    format!("{n:08}.log")
}

/// The segments in `dir`, oldest first, with their lengths.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let len = e.metadata().map_or(0, |m| m.len());
        out.push((n, len));
    }
    out.sort_unstable();
    Ok(out)
}

impl Ring {
    /// Open (or create) the ring in `dir` for a new boot whose kernel boot id is
    /// `boot_id`, keeping it within `cap` bytes. The boot gets the number after the last
    /// one the ring knows.
    pub fn open(dir: &Path, cap: u64, boot_id: &str) -> io::Result<Ring> {
        fs::create_dir_all(dir)?;
        let segment_max = (cap / SEGMENTS).max(MIN_SEGMENT);
        let max_segments = usize::try_from((cap / segment_max).max(2)).unwrap_or(2);
        let segments: VecDeque<(u64, u64)> = list_segments(dir)?.into();
        let last = last_boot(dir, &segments);
        let boot_id: String = boot_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(64)
            .collect();
        let mut ring = Ring {
            dir: dir.to_path_buf(),
            segment_max,
            max_segments,
            segments,
            file: None,
            boot: last + 1,
            boot_id: if boot_id.is_empty() {
                "unknown".to_string()
            } else {
                boot_id
            },
            pending_drops: 0,
            dropped_total: 0,
            torn: false,
            buf: String::with_capacity(64 << 10),
            line: String::with_capacity(1024),
        };
        ring.trim();
        // A power cut may have left half a line: the next write starts a new one.
        ring.torn = ring
            .segments
            .back()
            .is_some_and(|&(n, len)| len > 0 && !ends_with_newline(&dir.join(segment_name(n))));
        ring.record_boot();
        Ok(ring)
    }

    /// This boot's number in the ring.
    pub fn boot(&self) -> u64 {
        self.boot
    }

    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    /// Lines lost since the ring was opened (failed writes and [`Ring::note_dropped`]).
    pub fn dropped(&self) -> u64 {
        self.dropped_total
    }

    /// Bytes the segments hold now.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.1).sum()
    }

    /// Lines lost before they reached the writer (its caller's queue was full): said in
    /// the ring with the next write.
    pub fn note_dropped(&mut self, n: u64) {
        self.pending_drops += n;
        self.dropped_total += n;
    }

    /// Store one line; false when it was dropped.
    pub fn append(&mut self, e: &Entry<'_>) -> bool {
        self.append_all(std::slice::from_ref(e)) == 1
    }

    /// Store lines in as few writes as segment boundaries allow; how many were stored.
    pub fn append_all(&mut self, entries: &[Entry<'_>]) -> usize {
        let mut stored = 0;
        let mut in_buf = 0;
        self.buf.clear();
        if self.torn {
            self.buf.push('\n');
        }
        if self.pending_drops > 0 {
            if let Some(first) = entries.first() {
                let msg = format!(
                    "{} log lines were lost (queue full or the disk refused them)",
                    self.pending_drops
                );
                self.line.clear();
                let (boot, t, u) = (self.boot, first.time_us, first.uptime_ms);
                encode_into(
                    &mut self.line,
                    boot,
                    &self.boot_id,
                    t,
                    u,
                    Level::Warn,
                    "log",
                    &msg,
                );
                self.buf.push_str(&self.line);
            }
        }
        for e in entries {
            self.line.clear();
            encode_into(
                &mut self.line,
                self.boot,
                &self.boot_id,
                e.time_us,
                e.uptime_ms,
                e.level,
                e.service,
                e.message,
            );
            let current = self.segments.back().map_or(0, |s| s.1);
            let would = current + (self.buf.len() + self.line.len()) as u64;
            if would > self.segment_max && current + self.buf.len() as u64 > 0 {
                stored += self.flush(in_buf);
                in_buf = 0;
                self.rotate();
            }
            self.buf.push_str(&self.line);
            in_buf += 1;
        }
        stored + self.flush(in_buf)
    }

    /// Write the buffer to the current segment; the lines it held, or 0 (counted dropped).
    fn flush(&mut self, lines: usize) -> usize {
        if self.buf.is_empty() {
            return 0;
        }
        if self.segments.is_empty() {
            self.segments.push_back((1, 0));
        }
        let result = self.write_buf();
        let n = self.buf.len() as u64;
        self.buf.clear();
        match result {
            Ok(()) => {
                if let Some(s) = self.segments.back_mut() {
                    s.1 += n;
                }
                self.torn = false;
                self.pending_drops = 0;
                lines
            }
            Err(_) => {
                self.file = None;
                self.torn = true;
                self.note_dropped(lines as u64);
                0
            }
        }
    }

    fn write_buf(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            let (n, _) = *self.segments.back().expect("a segment");
            let path = self.dir.join(segment_name(n));
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            // The length on disk is the truth (another boot may have left a torn tail).
            if let Some(s) = self.segments.back_mut() {
                s.1 = f.metadata().map_or(s.1, |m| m.len());
            }
            self.file = Some(f);
        }
        let f = self.file.as_mut().expect("opened above");
        f.write_all(self.buf.as_bytes())
    }

    /// Start the next segment and delete the oldest ones beyond the count.
    fn rotate(&mut self) {
        let next = self.segments.back().map_or(1, |s| s.0 + 1);
        self.file = None;
        self.segments.push_back((next, 0));
        self.trim();
    }

    fn trim(&mut self) {
        while self.segments.len() > self.max_segments {
            if let Some((n, _)) = self.segments.pop_front() {
                let _ = fs::remove_file(self.dir.join(segment_name(n)));
            }
        }
    }

    /// Add this boot to the index (rewritten shorter when it grew long).
    fn record_boot(&mut self) {
        let path = self.dir.join(BOOTS_FILE);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let line = format!("{} {} {now}\n", self.boot, self.boot_id);
        let old = fs::read_to_string(&path).unwrap_or_default();
        let count = old.lines().count();
        if count >= 2 * BOOTS_KEPT {
            let kept: Vec<&str> = old.lines().skip(count + 1 - BOOTS_KEPT).collect();
            let text = format!("{}\n{line}", kept.join("\n"));
            let tmp = self.dir.join("boots.tmp");
            if fs::write(&tmp, text).is_ok() {
                let _ = fs::rename(&tmp, &path);
            }
        } else if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&path) {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

fn ends_with_newline(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [0u8; 1];
    File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::End(-1))?;
            f.read_exact(&mut last)
        })
        .is_ok_and(|()| last[0] == b'\n')
}

/// The highest boot number the ring knows: the index's last line, or else the newest
/// segment's last whole line.
fn last_boot(dir: &Path, segments: &VecDeque<(u64, u64)>) -> u64 {
    let from_index = fs::read_to_string(dir.join(BOOTS_FILE))
        .ok()
        .and_then(|t| {
            t.lines()
                .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
                .max()
        })
        .unwrap_or(0);
    // The index is enough (and cheap): the newest segment (up to 8 MiB) is read only when
    // the index is missing, not at every boot.
    if from_index > 0 {
        return from_index;
    }
    let from_segments = segments
        .iter()
        .rev()
        .find_map(|(n, _)| {
            let path = dir.join(segment_name(*n));
            // Only a regular file is read (never a device a mistake left there).
            if !fs::metadata(&path).ok()?.is_file() {
                return None;
            }
            let text = fs::read(path).ok()?;
            let text = String::from_utf8_lossy(&text);
            text.lines()
                .rev()
                .find_map(|l| Record::parse(l).map(|r| r.boot))
        })
        .unwrap_or(0);
    from_index.max(from_segments)
}

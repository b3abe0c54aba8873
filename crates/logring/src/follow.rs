//! Following the ring oldest first from a position, reading only what was appended since
//! the last call: the syslog forwarding's source (docs/logs.md "Syslog forwarding").
//!
//! The follower keeps a segment number and a byte offset. Each [`Follower::poll`] reads
//! the bytes after that offset in that segment (whole lines only), then moves on to the
//! next segment once a newer one exists. When the ring deleted the segment it was on (it
//! fell a whole cap behind), it goes on from the oldest segment left and counts the bytes
//! it could not read.

use crate::reader::Cursor;
use crate::record::Record;
use crate::writer::{list_segments, segment_name};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Follows a ring directory (see the module).
#[derive(Debug, Clone)]
pub struct Follower {
    dir: PathBuf,
    at: Cursor,
}

/// What one poll read.
#[derive(Debug, Clone, Default)]
pub struct Followed {
    /// The new lines, oldest first (lines that do not parse are skipped).
    pub records: Vec<Record>,
    /// True when the ring deleted segments before they were read: lines were missed.
    pub missed: bool,
    /// The poll stopped at its byte budget: more is there to read now.
    pub more: bool,
}

impl Follower {
    /// From the end of the ring as it is now (only lines appended later are read).
    pub fn at_head(dir: &Path) -> Follower {
        let mut f = Follower {
            dir: dir.to_path_buf(),
            at: Cursor::default(),
        };
        f.skip_to_head();
        f
    }

    /// From the start of the newest segment: what was written shortly before, e.g. the
    /// lines of this boot before the reader started (a segment is a sixteenth of the cap).
    pub fn at_last_segment(dir: &Path) -> Follower {
        let segment = list_segments(dir)
            .ok()
            .and_then(|s| s.last().map(|&(n, _)| n))
            .unwrap_or_default();
        Follower {
            dir: dir.to_path_buf(),
            at: Cursor { segment, offset: 0 },
        }
    }

    /// From `at` (a cursor an earlier poll or a page gave).
    pub fn at(dir: &Path, at: Cursor) -> Follower {
        Follower {
            dir: dir.to_path_buf(),
            at,
        }
    }

    /// Where the next poll starts.
    pub fn position(&self) -> Cursor {
        self.at
    }

    /// Forget what is unread: go to the end of the ring.
    pub fn skip_to_head(&mut self) {
        if let Ok(segments) = list_segments(&self.dir) {
            if let Some(&(n, len)) = segments.last() {
                self.at = Cursor {
                    segment: n,
                    offset: len,
                };
            }
        }
    }

    /// The whole lines appended since the last poll, at most about `max_bytes` of them
    /// (always at least one line when one is there). A missing ring reads as empty.
    pub fn poll(&mut self, max_bytes: usize) -> io::Result<Followed> {
        let mut out = Followed::default();
        let segments = match list_segments(&self.dir) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        let Some(&(oldest, _)) = segments.first() else {
            return Ok(out);
        };
        if self.at.segment < oldest {
            out.missed = self.at != Cursor::default();
            self.at = Cursor {
                segment: oldest,
                offset: 0,
            };
        }
        let mut budget = max_bytes.max(1);
        loop {
            let path = self.dir.join(segment_name(self.at.segment));
            let read = read_from(&path, self.at.offset, budget)?;
            if let Some(bytes) = &read {
                let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                for line in bytes[..whole].split(|&b| b == b'\n') {
                    if line.is_empty() {
                        continue;
                    }
                    if let Some(r) = Record::parse(&String::from_utf8_lossy(line)) {
                        out.records.push(r);
                    }
                }
                self.at.offset += whole as u64;
                budget = budget.saturating_sub(whole);
                if whole > 0 && budget == 0 {
                    out.more = true;
                    return Ok(out);
                }
            }
            // This segment is read to its last whole line: on to the next, if there is one.
            match segments.iter().find(|&&(n, _)| n > self.at.segment) {
                Some(&(next, _)) => {
                    self.at = Cursor {
                        segment: next,
                        offset: 0,
                    };
                }
                None => return Ok(out),
            }
        }
    }
}

/// Up to `max` bytes of `path` from `offset`, extended to the end of the last line begun
/// (so that a long line is never cut); `None` when the file is gone.
fn read_from(path: &Path, offset: u64, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    (&mut f).take(max as u64).read_to_end(&mut buf)?;
    if buf.len() == max && buf.last() != Some(&b'\n') {
        // Finish the line the budget cut (a line is at most a few KiB).
        let mut rest = Vec::new();
        f.take(64 * 1024).read_to_end(&mut rest)?;
        if let Some(i) = rest.iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&rest[..=i]);
        }
    }
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Level;
    use crate::writer::{Entry, Ring};

    fn entry(message: &str) -> Entry<'_> {
        Entry {
            time_us: 1,
            uptime_ms: 2,
            level: Level::Info,
            service: "svc",
            message,
        }
    }

    #[test]
    fn follows_new_lines_across_segments_and_a_wrapped_ring() {
        let dir = std::env::temp_dir().join(format!("logring-follow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut ring = Ring::open(&dir, 1 << 20, "b1").unwrap();
        ring.append(&entry("before"));
        let mut f = Follower::at_head(&dir);
        assert!(f.poll(1 << 20).unwrap().records.is_empty());
        for i in 0..3000 {
            ring.append(&entry(&format!("line {i} {}", "x".repeat(200))));
        }
        let mut got = Vec::new();
        loop {
            let p = f.poll(16 * 1024).unwrap();
            assert!(!p.missed);
            if p.records.is_empty() {
                break;
            }
            got.extend(p.records.into_iter().map(|r| r.message));
        }
        assert_eq!(got.len(), 3000, "every line once, in order");
        for (i, m) in got.iter().enumerate() {
            assert!(m.starts_with(&format!("line {i} ")), "{i}: {m}");
        }
        // Fall a whole cap behind: the follower says so and goes on from the oldest line.
        let behind = f.position();
        for i in 0..20_000 {
            ring.append(&entry(&format!("flood {i} {}", "y".repeat(200))));
        }
        let mut late = Follower::at(&dir, behind);
        let p = late.poll(1 << 20).unwrap();
        assert!(p.missed);
        assert!(p.records[0].message.starts_with("flood "));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

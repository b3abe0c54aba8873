//! Reading the ring: newest first, filtered, a page at a time, while init appends to it.
//!
//! A position in the ring is a [`Cursor`] (segment number, byte offset of a line's start).
//! A page answers the lines before a cursor (older pages) or from one on (following the
//! ring as it grows). A torn or half-written last line is skipped, a segment deleted while
//! it is read counts as empty.

use crate::record::{Level, Record};
use crate::writer::{list_segments, segment_name, BOOTS_FILE};
use std::fmt;
use std::fs;
use std::io;
use std::path::Path;
use std::str::FromStr;

/// A line's position: segment number and byte offset of its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    pub segment: u64,
    pub offset: u64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.segment, self.offset)
    }
}

impl FromStr for Cursor {
    type Err = ();
    fn from_str(s: &str) -> Result<Cursor, ()> {
        let (a, b) = s.split_once('-').ok_or(())?;
        Ok(Cursor {
            segment: a.parse().map_err(|_| ())?,
            offset: b.parse().map_err(|_| ())?,
        })
    }
}

/// Which boot: its number in the ring (1, 2, …), or counted back from the running one
/// (0 this boot, -1 the one before), as `journalctl -b` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootSel {
    Number(u64),
    Back(u64),
}

impl FromStr for BootSel {
    type Err = ();
    fn from_str(s: &str) -> Result<BootSel, ()> {
        let n: i64 = s.trim().parse().map_err(|_| ())?;
        Ok(if n > 0 {
            BootSel::Number(n.unsigned_abs())
        } else {
            BootSel::Back(n.unsigned_abs())
        })
    }
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub service: Option<String>,
    /// Lines at this level or more severe.
    pub level: Option<Level>,
    pub boot: Option<BootSel>,
    /// Lines stamped at or after this wall-clock time (microseconds since 1970).
    pub since_us: Option<u64>,
    /// Only lines older than this position (the next page).
    pub before: Option<Cursor>,
    /// Only lines at or after this position (following the ring).
    pub after: Option<Cursor>,
    /// At most this many lines (0: no limit).
    pub limit: usize,
}

/// One page, newest first.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub lines: Vec<(Cursor, Record)>,
    /// Pass as `before` for the next, older page; `None`: nothing older matches.
    pub next: Option<Cursor>,
    /// The end of the ring when it was read: pass as `after` to get only newer lines.
    pub head: Cursor,
    /// The boot number the query's boot selection meant, if any.
    pub boot: Option<u64>,
}

/// One boot the ring knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    pub number: u64,
    pub boot_id: String,
    /// When the ring was opened for it (microseconds since 1970, the clock as it was).
    pub time_us: u64,
}

/// The boots of the index, oldest first.
pub fn boots(dir: &Path) -> Vec<Boot> {
    let text = fs::read_to_string(dir.join(BOOTS_FILE)).unwrap_or_default();
    let mut out: Vec<Boot> = text
        .lines()
        .filter_map(|l| {
            let mut it = l.split(' ');
            Some(Boot {
                number: it.next()?.parse().ok()?,
                boot_id: it.next()?.to_string(),
                time_us: it.next()?.parse().ok()?,
            })
        })
        .collect();
    out.sort_by_key(|b| b.number);
    out.dedup_by_key(|b| b.number);
    out
}

fn resolve(dir: &Path, sel: BootSel) -> Option<u64> {
    match sel {
        BootSel::Number(n) => Some(n),
        BootSel::Back(k) => {
            let all = boots(dir);
            let i = all
                .len()
                .checked_sub(1)?
                .checked_sub(usize::try_from(k).ok()?)?;
            Some(all[i].number)
        }
    }
}

/// Read a page (see [`Query`]). A missing ring is an empty page.
pub fn read(dir: &Path, q: &Query) -> io::Result<Page> {
    let segments = match list_segments(dir) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut page = Page {
        head: segments
            .last()
            .map_or(Cursor::default(), |&(n, len)| Cursor {
                segment: n,
                offset: len,
            }),
        ..Page::default()
    };
    let boot = match q.boot {
        Some(sel) => match resolve(dir, sel) {
            Some(n) => Some(n),
            // A boot the ring does not know: nothing matches.
            None => return Ok(page),
        },
        None => None,
    };
    page.boot = boot;
    let limit = if q.limit == 0 { usize::MAX } else { q.limit };
    for &(n, _) in segments.iter().rev() {
        if q.before.is_some_and(|b| n > b.segment) {
            continue;
        }
        if q.after.is_some_and(|a| n < a.segment) {
            break;
        }
        let path = dir.join(segment_name(n));
        if !fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        // Only whole lines (the writer may be half-way through one).
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut end = whole;
        if let Some(b) = q.before.filter(|b| b.segment == n) {
            end = end.min(usize::try_from(b.offset).unwrap_or(usize::MAX));
        }
        if n == page.head.segment {
            page.head.offset = whole as u64;
        }
        let start_min = match q.after {
            Some(a) if a.segment == n => usize::try_from(a.offset).unwrap_or(usize::MAX),
            _ => 0,
        };
        let mut starts: Vec<usize> = vec![0];
        starts.extend(
            bytes[..end]
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1)
                .filter(|&i| i < end),
        );
        for w in (0..starts.len()).rev() {
            let s = starts[w];
            if s < start_min {
                break;
            }
            let e = starts.get(w + 1).map_or(end, |&x| x);
            if e <= s {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes[s..e]);
            let Some(rec) = Record::parse(text.trim_end_matches('\n')) else {
                continue;
            };
            if !matches(&rec, q, boot) {
                continue;
            }
            let at = Cursor {
                segment: n,
                offset: s as u64,
            };
            if page.lines.len() == limit {
                page.next = page.lines.last().map(|l| l.0);
                return Ok(page);
            }
            page.lines.push((at, rec));
        }
    }
    Ok(page)
}

fn matches(r: &Record, q: &Query, boot: Option<u64>) -> bool {
    boot.is_none_or(|b| r.boot == b)
        && q.service.as_deref().is_none_or(|s| r.service == s)
        && q.level.is_none_or(|l| r.level <= l)
        && q.since_us.is_none_or(|t| r.time_us >= t)
}

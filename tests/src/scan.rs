//! Looking for bytes in a disk image the way someone holding the disk would: every byte of
//! a raw image, read from the file (only its holes, which read as zeroes, are skipped via
//! SEEK_DATA/SEEK_HOLE), each hit named by the partition it lies in.
// Unsafe code: lseek(2) with SEEK_DATA/SEEK_HOLE: no safe wrapper.
#![allow(unsafe_code)]

use anyhow::Context;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::disk::{self, Partition};

/// One occurrence of a needle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub needle: String,
    pub offset: u64,
    /// The GPT label of the partition holding it (empty outside every partition).
    pub partition: String,
}

const BLOCK: usize = 8 << 20;

/// The allocated (non-hole) ranges of a file.
pub fn data_ranges(file: &File) -> anyhow::Result<Vec<(u64, u64)>> {
    let len = file.metadata()?.len();
    let fd = file.as_raw_fd();
    let mut out = Vec::new();
    let mut pos: i64 = 0;
    while (pos as u64) < len {
        // SAFETY: lseek on a descriptor we own; no memory is passed.
        let start = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if start < 0 {
            break; // ENXIO: no data after pos.
        }
        // SAFETY: as above.
        let end = unsafe { libc::lseek(fd, start, libc::SEEK_HOLE) };
        let end = if end < 0 { len as i64 } else { end };
        out.push((start as u64, end as u64));
        pos = end;
    }
    Ok(out)
}

/// Every occurrence of each needle in the raw image `raw` (at most `limit` per needle).
pub fn find(raw: &Path, needles: &[(&str, &[u8])], limit: usize) -> anyhow::Result<Vec<Hit>> {
    let parts = disk::partitions(raw).unwrap_or_default();
    let mut file = File::open(raw).with_context(|| format!("open {}", raw.display()))?;
    let longest = needles.iter().map(|(_, n)| n.len()).max().unwrap_or(1);
    let mut hits: Vec<Hit> = Vec::new();
    let mut buf = vec![0u8; BLOCK + longest];
    for (start, end) in data_ranges(&file)? {
        let mut pos = start;
        while pos < end {
            let want = ((end - pos) as usize).min(BLOCK) + longest - 1;
            let want = want.min((end - pos) as usize);
            file.seek(SeekFrom::Start(pos))?;
            file.read_exact(&mut buf[..want])?;
            let block = &buf[..want];
            for (name, needle) in needles {
                let found = hits.iter().filter(|h| h.needle == *name).count();
                if found >= limit || needle.is_empty() {
                    continue;
                }
                for at in positions(block, needle) {
                    let offset = pos + at as u64;
                    if hits.iter().any(|h| h.needle == *name && h.offset == offset) {
                        continue;
                    }
                    hits.push(Hit {
                        needle: name.to_string(),
                        offset,
                        partition: partition_of(&parts, offset),
                    });
                }
            }
            pos += BLOCK as u64;
        }
    }
    Ok(hits)
}

/// Start offsets of `needle` in `hay` (first byte found quickly, then compared).
fn positions(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        match hay[i..=hay.len() - needle.len()]
            .iter()
            .position(|&b| b == first)
        {
            None => break,
            Some(p) => {
                let at = i + p;
                if &hay[at..at + needle.len()] == needle {
                    out.push(at);
                }
                i = at + 1;
            }
        }
    }
    out
}

fn partition_of(parts: &[Partition], offset: u64) -> String {
    parts
        .iter()
        .find(|p| offset >= p.offset && offset < p.offset + p.size)
        .map(|p| p.name.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_needles_across_holes_and_block_edges() {
        let path = std::env::temp_dir().join(format!("scan-test-{}", std::process::id()));
        let mut f = File::create(&path).unwrap();
        use std::io::Write;
        f.write_all(b"start CANARY-1 here").unwrap();
        // A hole, then a needle that straddles a block boundary.
        let at = (64u64 << 20) + BLOCK as u64 - 3;
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(b"CANARY-2").unwrap();
        f.set_len(at + (1 << 20)).unwrap();
        drop(f);
        let f = File::open(&path).unwrap();
        let ranges = data_ranges(&f).unwrap();
        assert!(ranges.len() >= 2, "{ranges:?}");
        let hits = find(
            &path,
            &[
                ("one", b"CANARY-1"),
                ("two", b"CANARY-2"),
                ("none", b"CANARY-3"),
            ],
            10,
        )
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        let got: Vec<(&str, u64)> = hits.iter().map(|h| (h.needle.as_str(), h.offset)).collect();
        assert_eq!(got, vec![("one", 6), ("two", at)]);
        assert_eq!(positions(b"aaa", b"aa"), vec![0, 1]);
    }
}

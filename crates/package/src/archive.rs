//! The tar layer of a package: a strict, streaming reader of ustar/GNU headers that owns
//! its source and uses fixed buffers only, and the writer of package entries.
//!
//! The reader accepts only what the writer makes: regular-file entries with a valid
//! header checksum, then the end-of-archive marker (zero blocks, up to the end of the
//! input). No long-name, pax or link entries, so nothing is ever buffered beyond one
//! 512-byte header.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::error::{Error, Result};

const BLOCK: u64 = 512;
const CHECKSUM: std::ops::Range<usize> = 148..156;
/// Zero padding accepted after the end-of-archive marker (GNU tar pads to 10 KiB records).
const MAX_TRAILER: u64 = 64 * 1024;

/// One entry header: a regular file of `size` bytes named `name`.
pub(crate) struct EntryHeader {
    pub name: String,
    pub size: u64,
}

/// A package being read front to back.
pub(crate) struct Source<R> {
    r: R,
    /// Unread bytes of the current entry.
    remaining: u64,
    /// Padding after the current entry's data.
    padding: u64,
    /// Headers read so far, for messages.
    entries: u64,
}

impl<R: Read> Source<R> {
    pub(crate) fn new(r: R) -> Self {
        Source {
            r,
            remaining: 0,
            padding: 0,
            entries: 0,
        }
    }

    /// Skips what is left of the current entry and reads the next header; `None` at the
    /// end-of-archive marker.
    pub(crate) fn next_header(&mut self) -> Result<Option<EntryHeader>> {
        // A size field near u64::MAX (a hostile header) must not overflow.
        self.skip(self.remaining.saturating_add(self.padding))?;
        self.remaining = 0;
        self.padding = 0;
        let mut block = [0u8; BLOCK as usize];
        self.read_block(&mut block, "an entry header")?;
        if block.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        self.entries += 1;
        let n = self.entries;
        let malformed = |what: String| Error::Malformed(format!("tar entry {n}: {what}"));

        let mut header = tar::Header::new_old();
        header.as_mut_bytes().copy_from_slice(&block);
        let sum: u32 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| u32::from(if CHECKSUM.contains(&i) { b' ' } else { b }))
            .sum();
        if header.cksum().ok() != Some(sum) {
            return Err(malformed("header checksum mismatch".into()));
        }
        if header.as_ustar().is_none() && header.as_gnu().is_none() {
            return Err(malformed("not a ustar or GNU tar header".into()));
        }
        if !header.entry_type().is_file() {
            return Err(malformed(format!(
                "entry type {:?} where only regular files are allowed",
                header.entry_type().as_byte() as char
            )));
        }
        let size = header
            .entry_size()
            .map_err(|_| malformed("unreadable size field".into()))?;
        let name = String::from_utf8(header.path_bytes().into_owned())
            .map_err(|_| malformed("the name is not UTF-8".into()))?;
        self.remaining = size;
        self.padding = (BLOCK - size % BLOCK) % BLOCK;
        Ok(Some(EntryHeader { name, size }))
    }

    /// Reads from the current entry's data, at most what is left of it. `Ok(0)` only at
    /// its end; a source that ends before is an `UnexpectedEof`.
    pub(crate) fn read_entry(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = loop {
            match self.r.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Err(Error::Truncated(format!(
                "{} bytes of tar entry {} are missing",
                self.remaining, self.entries
            ))
            .into_io());
        }
        self.remaining -= n as u64;
        Ok(n)
    }

    /// The whole current entry, which `limit` bounds before a byte of it is read.
    pub(crate) fn read_small(&mut self, h: &EntryHeader, limit: u64) -> Result<Vec<u8>> {
        if h.size > limit {
            return Err(Error::TooLarge {
                entry: h.name.clone(),
                size: h.size,
                limit,
            });
        }
        let mut data = vec![0; h.size as usize];
        let mut filled = 0;
        while filled < data.len() {
            filled += self.read_entry(&mut data[filled..])?;
        }
        Ok(data)
    }

    /// After the first zero block: the second one, then nothing but zeros (a tar may be
    /// padded to its record size) up to the end of the input, [`MAX_TRAILER`] at most.
    pub(crate) fn finish(&mut self) -> Result<()> {
        let extra = || Error::Malformed("data after the end-of-archive marker".into());
        let mut block = [0u8; BLOCK as usize];
        self.read_block(&mut block, "the end-of-archive marker")?;
        if block.iter().any(|&b| b != 0) {
            return Err(extra());
        }
        let mut buf = [0u8; 8192];
        let mut trailer = 0;
        loop {
            let n = match self.r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            trailer += n as u64;
            if trailer > MAX_TRAILER || buf[..n].iter().any(|&b| b != 0) {
                return Err(extra());
            }
        }
    }

    fn read_block(&mut self, block: &mut [u8; BLOCK as usize], what: &str) -> Result<()> {
        let mut filled = 0;
        while filled < block.len() {
            match self.r.read(&mut block[filled..]) {
                Ok(0) => {
                    return Err(Error::Truncated(format!(
                        "the input ends where {what} was expected"
                    )))
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn skip(&mut self, mut n: u64) -> Result<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let want = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            match self.r.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(Error::Truncated(format!(
                        "{n} bytes of tar entry {} are missing",
                        self.entries
                    )))
                }
                Ok(k) => n -= k as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Appends one regular-file entry of exactly `size` bytes from `data` (owner root, time
/// `mtime`), and fails if `data` holds fewer. A long path gets a GNU long-name entry
/// (site trees only: package entries are short).
pub(crate) fn append<W: Write>(
    out: &mut tar::Builder<W>,
    path: impl AsRef<Path>,
    mode: u32,
    size: u64,
    mtime: u64,
    data: impl Read,
) -> Result<()> {
    let path = path.as_ref();
    let mut h = header(tar::EntryType::Regular, mode, size, mtime);
    let mut counted = Counted {
        inner: data.take(size),
        n: 0,
    };
    out.append_data(&mut h, path, &mut counted)
        .map_err(|e| Error::io(format!("cannot add {} to the archive", path.display()), e))?;
    if counted.n != size {
        return Err(Error::Build(format!(
            "{} changed while the package was written ({} bytes instead of {size})",
            path.display(),
            counted.n
        )));
    }
    Ok(())
}

/// A GNU header with owner root and the given type, mode, size and time.
pub(crate) fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h
}

struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

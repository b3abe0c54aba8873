//! Growing the last GPT partition to the end of a (possibly enlarged) disk, as pure
//! bytes-in, bytes-out logic. The caller reads the protective MBR, the primary header and
//! the primary entry array, and performs the returned writes in order.
//!
//! Write order is chosen so that a power cut leaves a table the kernel can read: the new
//! backup copy first, then the primary entries and header, then the MBR size and the
//! removal of the stale backup header.

use crate::crc32::crc32;

pub const SECTOR: u64 = 512;
const SIGNATURE: &[u8; 8] = b"EFI PART";
const MIN_HEADER: usize = 92;
/// The largest entry array read (the usual one is 128 entries of 128 bytes, 16 KiB): the
/// header is read from the disk, and its geometry must not make us allocate gigabytes.
const MAX_ENTRIES_LEN: usize = 1 << 20;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GptError {
    #[error("no GPT signature in sector 1")]
    NoSignature,
    #[error("GPT header checksum does not match")]
    HeaderCrc,
    #[error("GPT entry array checksum does not match")]
    EntriesCrc,
    #[error("GPT header is malformed: {0}")]
    Malformed(&'static str),
    #[error("partition {0} is not in use in the GPT")]
    NoSuchPartition(u32),
    #[error("partition {0} is not the last partition on the disk")]
    NotLast(u32),
    #[error("disk of {0} sectors is smaller than the GPT says")]
    DiskShrank(u64),
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn le64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}
fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// A validated GPT header (its sector kept for rewriting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    sector: Vec<u8>,
    pub header_size: usize,
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable: u64,
    pub last_usable: u64,
    pub entries_lba: u64,
    pub num_entries: u32,
    pub entry_size: u32,
    pub entries_crc: u32,
}

impl Header {
    /// Parse and check a header sector (signature, size, CRC).
    pub fn parse(sector: &[u8]) -> Result<Header, GptError> {
        if sector.len() < SECTOR as usize || &sector[..8] != SIGNATURE {
            return Err(GptError::NoSignature);
        }
        let header_size = le32(sector, 12) as usize;
        if !(MIN_HEADER..=SECTOR as usize).contains(&header_size) {
            return Err(GptError::Malformed("header size"));
        }
        let mut copy = sector[..header_size].to_vec();
        put32(&mut copy, 16, 0);
        if crc32(&copy) != le32(sector, 16) {
            return Err(GptError::HeaderCrc);
        }
        let h = Header {
            sector: sector[..SECTOR as usize].to_vec(),
            header_size,
            my_lba: le64(sector, 24),
            alternate_lba: le64(sector, 32),
            first_usable: le64(sector, 40),
            last_usable: le64(sector, 48),
            entries_lba: le64(sector, 72),
            num_entries: le32(sector, 80),
            entry_size: le32(sector, 84),
            entries_crc: le32(sector, 88),
        };
        if h.entry_size < 128
            || !h.entry_size.is_multiple_of(8)
            || h.num_entries == 0
            || h.num_entries > 4096
            || h.entries_len() > MAX_ENTRIES_LEN
        {
            return Err(GptError::Malformed("entry array geometry"));
        }
        // Every LBA the header names becomes a byte offset: it must be one.
        let entries_end = h.entries_lba.checked_add(h.entries_sectors());
        let lbas = [Some(h.my_lba), Some(h.alternate_lba), entries_end];
        if lbas
            .iter()
            .any(|lba| lba.and_then(|l| l.checked_mul(SECTOR)).is_none())
        {
            return Err(GptError::Malformed("an LBA past the end of any disk"));
        }
        Ok(h)
    }

    /// Bytes of the entry array.
    pub fn entries_len(&self) -> usize {
        self.num_entries as usize * self.entry_size as usize
    }

    /// Sectors the entry array occupies.
    pub fn entries_sectors(&self) -> u64 {
        (self.entries_len() as u64).div_ceil(SECTOR)
    }

    /// The header sector with the given fields, CRC recomputed.
    fn encode(&self) -> Vec<u8> {
        let mut s = self.sector.clone();
        put64(&mut s, 24, self.my_lba);
        put64(&mut s, 32, self.alternate_lba);
        put64(&mut s, 48, self.last_usable);
        put64(&mut s, 72, self.entries_lba);
        put32(&mut s, 88, self.entries_crc);
        put32(&mut s, 16, 0);
        let crc = crc32(&s[..self.header_size]);
        put32(&mut s, 16, crc);
        s
    }
}

/// One partition entry's position on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub first_lba: u64,
    pub last_lba: u64,
}

fn entry(h: &Header, entries: &[u8], i: usize) -> Option<Extent> {
    let o = i * h.entry_size as usize;
    let e = &entries[o..o + h.entry_size as usize];
    if e[..16].iter().all(|&b| b == 0) {
        return None;
    }
    Some(Extent {
        first_lba: le64(e, 32),
        last_lba: le64(e, 40),
    })
}

/// What to write to grow a partition: `(byte offset, bytes)` in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrowPlan {
    pub writes: Vec<(u64, Vec<u8>)>,
    pub old: Extent,
    pub new: Extent,
}

/// Plan growing partition `partn` (1-based) to the end of a disk of `disk_sectors`.
/// `mbr` is sector 0, `primary` sector 1, `entries` the primary entry array.
/// `Ok(None)` when the partition already ends at the last usable sector and the backup
/// header is at the end of the disk.
pub fn plan_grow(
    mbr: &[u8],
    primary: &[u8],
    entries: &[u8],
    disk_sectors: u64,
    partn: u32,
) -> Result<Option<GrowPlan>, GptError> {
    let h = Header::parse(primary)?;
    if h.my_lba != 1 {
        return Err(GptError::Malformed("the primary header is not at LBA 1"));
    }
    if entries.len() < h.entries_len() {
        return Err(GptError::Malformed(
            "entry array shorter than the header says",
        ));
    }
    let entries = &entries[..h.entries_len()];
    if crc32(entries) != h.entries_crc {
        return Err(GptError::EntriesCrc);
    }
    let idx = partn.checked_sub(1).filter(|&i| i < h.num_entries);
    let idx = idx.ok_or(GptError::NoSuchPartition(partn))? as usize;
    let old = entry(&h, entries, idx).ok_or(GptError::NoSuchPartition(partn))?;
    if old.first_lba > old.last_lba {
        return Err(GptError::Malformed("the partition ends before it starts"));
    }
    for i in (0..h.num_entries as usize).filter(|&i| i != idx) {
        if entry(&h, entries, i).is_some_and(|e| e.first_lba > old.last_lba) {
            return Err(GptError::NotLast(partn));
        }
    }

    let backup_lba = disk_sectors
        .checked_sub(1)
        .ok_or(GptError::DiskShrank(disk_sectors))?;
    let backup_entries_lba = backup_lba
        .checked_sub(h.entries_sectors())
        .ok_or(GptError::DiskShrank(disk_sectors))?;
    let last_usable = backup_entries_lba
        .checked_sub(1)
        .ok_or(GptError::DiskShrank(disk_sectors))?;
    if last_usable < h.last_usable || last_usable < old.last_lba {
        return Err(GptError::DiskShrank(disk_sectors));
    }
    if old.last_lba == last_usable && h.alternate_lba == backup_lba {
        return Ok(None);
    }

    let new = Extent {
        first_lba: old.first_lba,
        last_lba: last_usable,
    };
    let mut new_entries = entries.to_vec();
    put64(
        &mut new_entries,
        idx * h.entry_size as usize + 40,
        new.last_lba,
    );
    let entries_crc = crc32(&new_entries);

    let prim = Header {
        alternate_lba: backup_lba,
        last_usable,
        entries_crc,
        ..h.clone()
    };
    let backup = Header {
        my_lba: backup_lba,
        alternate_lba: prim.my_lba,
        entries_lba: backup_entries_lba,
        ..prim.clone()
    };

    let mut writes = vec![
        (backup_entries_lba * SECTOR, new_entries.clone()),
        (backup_lba * SECTOR, backup.encode()),
        (h.entries_lba * SECTOR, new_entries),
        (h.my_lba * SECTOR, prim.encode()),
    ];
    if let Some(m) = protective_mbr(mbr, disk_sectors) {
        writes.push((0, m));
    }
    // A backup header left in the middle of the disk would confuse tools that scan for
    // one; it now lies inside the grown partition, so it is only ever zeroed.
    if h.alternate_lba != backup_lba
        && h.alternate_lba > old.last_lba
        && h.alternate_lba < disk_sectors
    {
        writes.push((h.alternate_lba * SECTOR, vec![0u8; SECTOR as usize]));
    }
    Ok(Some(GrowPlan { writes, old, new }))
}

/// The protective MBR with its 0xEE partition covering the new disk size, or `None` if
/// sector 0 is not a protective MBR or needs no change.
fn protective_mbr(mbr: &[u8], disk_sectors: u64) -> Option<Vec<u8>> {
    if mbr.len() < SECTOR as usize || mbr[510] != 0x55 || mbr[511] != 0xAA || mbr[446 + 4] != 0xEE {
        return None;
    }
    let size = u32::try_from(disk_sectors - 1).unwrap_or(u32::MAX);
    if le32(mbr, 446 + 12) == size {
        return None;
    }
    let mut m = mbr[..SECTOR as usize].to_vec();
    put32(&mut m, 446 + 12, size);
    Some(m)
}

#[cfg(test)]
#[path = "gpt_tests.rs"]
mod tests;

//! Tests of GPT growing on synthetic disks built in memory.

use super::*;

const ENTRIES: u32 = 128;
const ESIZE: u32 = 128;

/// A disk image of `sectors` with a protective MBR, primary and backup GPT and the given
/// partitions (first, last LBA).
fn make_disk(sectors: u64, parts: &[(u64, u64)]) -> Vec<u8> {
    let mut d = vec![0u8; (sectors * SECTOR) as usize];
    d[446 + 4] = 0xEE;
    put32(&mut d, 446 + 8, 1);
    put32(&mut d, 446 + 12, (sectors - 1) as u32);
    d[510] = 0x55;
    d[511] = 0xAA;
    let mut entries = vec![0u8; (ENTRIES * ESIZE) as usize];
    for (i, (f, l)) in parts.iter().enumerate() {
        let e = &mut entries[i * ESIZE as usize..];
        e[..16].copy_from_slice(&[0xAF; 16]);
        e[16..32].copy_from_slice(&[i as u8 + 1; 16]);
        put64(e, 32, *f);
        put64(e, 40, *l);
    }
    let mut s = vec![0u8; SECTOR as usize];
    s[..8].copy_from_slice(SIGNATURE);
    put32(&mut s, 8, 0x0001_0000);
    put32(&mut s, 12, 92);
    put64(&mut s, 40, 34);
    put32(&mut s, 80, ENTRIES);
    put32(&mut s, 84, ESIZE);
    let template = Header {
        sector: s,
        header_size: 92,
        my_lba: 1,
        alternate_lba: sectors - 1,
        first_usable: 34,
        last_usable: sectors - 34,
        entries_lba: 2,
        num_entries: ENTRIES,
        entry_size: ESIZE,
        entries_crc: crc32(&entries),
    };
    let backup = Header {
        my_lba: sectors - 1,
        alternate_lba: 1,
        entries_lba: sectors - 33,
        ..template.clone()
    };
    let put = |d: &mut Vec<u8>, lba: u64, b: &[u8]| {
        let o = (lba * SECTOR) as usize;
        d[o..o + b.len()].copy_from_slice(b);
    };
    put(&mut d, 1, &template.encode());
    put(&mut d, 2, &entries);
    put(&mut d, sectors - 33, &entries);
    put(&mut d, sectors - 1, &backup.encode());
    d
}

fn plan(d: &[u8], sectors: u64, partn: u32) -> Result<Option<GrowPlan>, GptError> {
    let s = SECTOR as usize;
    plan_grow(&d[..s], &d[s..2 * s], &d[2 * s..34 * s], sectors, partn)
}

fn apply(d: &mut [u8], p: &GrowPlan) {
    for (off, bytes) in &p.writes {
        let o = *off as usize;
        d[o..o + bytes.len()].copy_from_slice(bytes);
    }
}

#[test]
fn grows_last_partition_onto_an_enlarged_disk() {
    let old = 4096;
    let mut d = make_disk(old, &[(2048, 2559), (2560, old - 34)]);
    let new = 3 * old;
    d.resize((new * SECTOR) as usize, 0);
    let p = plan(&d, new, 2).unwrap().unwrap();
    assert_eq!(
        p.old,
        Extent {
            first_lba: 2560,
            last_lba: old - 34
        }
    );
    assert_eq!(
        p.new,
        Extent {
            first_lba: 2560,
            last_lba: new - 34
        }
    );
    apply(&mut d, &p);

    let s = SECTOR as usize;
    let prim = Header::parse(&d[s..2 * s]).unwrap();
    assert_eq!(prim.alternate_lba, new - 1);
    assert_eq!(prim.last_usable, new - 34);
    let bk_off = ((new - 1) * SECTOR) as usize;
    let bk = Header::parse(&d[bk_off..bk_off + s]).unwrap();
    assert_eq!((bk.my_lba, bk.alternate_lba), (new - 1, 1));
    assert_eq!(bk.entries_lba, new - 33);
    let prim_entries = &d[2 * s..34 * s];
    let bk_entries = &d[((new - 33) * SECTOR) as usize..bk_off];
    assert_eq!(prim_entries, bk_entries);
    assert_eq!(crc32(prim_entries), prim.entries_crc);
    assert_eq!(le64(prim_entries, 128 + 40), new - 34);
    // The other partition is untouched; the MBR now covers the whole disk.
    assert_eq!(le64(prim_entries, 40), 2559);
    assert_eq!(le32(&d, 446 + 12), (new - 1) as u32);
    // The old backup header is gone.
    let old_bk = ((old - 1) * SECTOR) as usize;
    assert!(d[old_bk..old_bk + s].iter().all(|&b| b == 0));
    // Growing again is a no-op.
    assert_eq!(plan(&d, new, 2).unwrap(), None);
}

#[test]
fn grows_a_partition_that_stops_short_on_the_same_disk() {
    let n = 8192;
    let mut d = make_disk(n, &[(2048, 4095)]);
    let p = plan(&d, n, 1).unwrap().unwrap();
    assert_eq!(p.new.last_lba, n - 34);
    // Backup header already at the end: nothing to zero, MBR unchanged.
    assert_eq!(p.writes.len(), 4);
    apply(&mut d, &p);
    assert_eq!(plan(&d, n, 1).unwrap(), None);
}

#[test]
fn refuses_what_it_must_not_touch() {
    let n = 8192;
    let mut d = make_disk(n, &[(2048, 4095), (4096, 6000)]);
    assert_eq!(plan(&d, n * 2, 1), Err(GptError::NotLast(1)));
    assert_eq!(plan(&d, n * 2, 3), Err(GptError::NoSuchPartition(3)));
    assert_eq!(plan(&d, n * 2, 0), Err(GptError::NoSuchPartition(0)));
    assert_eq!(plan(&d, 5000, 2), Err(GptError::DiskShrank(5000)));
    // A flipped bit in the entries or header is detected before anything is planned.
    d[2 * 512 + 50] ^= 1;
    assert_eq!(plan(&d, n, 2), Err(GptError::EntriesCrc));
    d[2 * 512 + 50] ^= 1;
    d[512 + 60] ^= 1;
    assert_eq!(plan(&d, n, 2), Err(GptError::HeaderCrc));
    assert_eq!(plan(&vec![0u8; 40 * 512], n, 1), Err(GptError::NoSignature));
}

/// Rewrite the primary header's `field` (little-endian, at byte `offset`) and its CRC.
fn forge_header(d: &mut [u8], offset: usize, value: &[u8]) {
    let s = SECTOR as usize;
    d[s + offset..s + offset + value.len()].copy_from_slice(value);
    put32(d, s + 16, 0);
    let crc = crc32(&d[s..s + 92]);
    put32(d, s + 16, crc);
}

#[test]
fn a_hostile_table_is_an_error_not_a_crash() {
    let n = 8192;
    let d = make_disk(n, &[(2048, 4095)]);
    // An entry array of gigabytes would be allocated before its CRC is checked.
    let mut big = d.clone();
    forge_header(&mut big, 84, &(1u32 << 24).to_le_bytes());
    assert_eq!(
        plan(&big, n, 1),
        Err(GptError::Malformed("entry array geometry"))
    );
    // LBAs whose byte offsets overflow.
    let mut far = d.clone();
    forge_header(&mut far, 72, &(u64::MAX - 1).to_le_bytes());
    assert!(matches!(plan(&far, n, 1), Err(GptError::Malformed(_))));
    let mut moved = d.clone();
    forge_header(&mut moved, 24, &7u64.to_le_bytes());
    assert!(matches!(plan(&moved, n, 1), Err(GptError::Malformed(_))));
    // A partition that ends before it starts.
    let backwards = make_disk(n, &[(4095, 2048)]);
    assert!(matches!(
        plan(&backwards, n, 1),
        Err(GptError::Malformed(_))
    ));
    // A disk too small to hold the backup entries and a usable sector.
    assert_eq!(plan(&d, 33, 1), Err(GptError::DiskShrank(33)));
    assert_eq!(plan(&d, 1, 1), Err(GptError::DiskShrank(1)));
    assert_eq!(plan(&d, 0, 1), Err(GptError::DiskShrank(0)));
}

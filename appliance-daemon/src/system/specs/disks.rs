//! Whole disks under `/sys/block` and their partitions. Loop, RAM, zram, device-mapper
//! and optical devices are not disks an operator installed; neither are nvme multipath
//! paths (`hidden`), eMMC boot areas, or empty card-reader slots (size 0).

use std::path::Path;

/// The kernel counts block device sizes in 512-byte sectors whatever the hardware's.
const SECTOR: u64 = 512;

pub(crate) use api_types::Disk;

pub(crate) use api_types::Partition;

/// Whether a `/sys/block` entry is a disk worth showing, judged by its name.
pub(super) fn is_disk_name(name: &str) -> bool {
    const PREFIXES: &[&str] = &["sd", "vd", "xvd", "hd", "nvme", "mmcblk"];
    PREFIXES.iter().any(|p| name.starts_with(p)) && !name.contains("boot")
}

/// The value of `KEY=value` in a uevent file.
pub(super) fn uevent_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A size file (sectors) in bytes.
pub(super) fn parse_size(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok()?.checked_mul(SECTOR)
}

pub(super) fn read(root: &Path) -> Vec<Disk> {
    let block = root.join("sys/block");
    let mut disks: Vec<Disk> = super::dir_names(&block)
        .into_iter()
        .filter(|name| is_disk_name(name))
        .filter_map(|name| read_disk(&block.join(&name), name))
        .collect();
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    disks
}

fn read_disk(dir: &Path, name: String) -> Option<Disk> {
    if super::attr(dir, "hidden").as_deref() == Some("1") {
        return None;
    }
    let size_bytes = super::attr(dir, "size").and_then(|s| parse_size(&s))?;
    if size_bytes == 0 {
        return None;
    }
    let mut partitions: Vec<Partition> = super::dir_names(dir)
        .into_iter()
        .filter(|entry| entry.starts_with(&name))
        .filter_map(|entry| read_partition(&dir.join(&entry), entry))
        .collect();
    partitions.sort_by_key(|p| p.number);
    Some(Disk {
        model: super::attr(dir, "device/model"),
        rotational: super::attr(dir, "queue/rotational").as_deref() == Some("1"),
        removable: super::attr(dir, "removable").as_deref() == Some("1"),
        name,
        size_bytes,
        partitions,
    })
}

fn read_partition(dir: &Path, name: String) -> Option<Partition> {
    let number = super::attr(dir, "partition")?.parse().ok()?;
    Some(Partition {
        number,
        size_bytes: super::attr(dir, "size")
            .and_then(|s| parse_size(&s))
            .unwrap_or(0),
        label: super::attr(dir, "uevent").and_then(|u| uevent_value(&u, "PARTNAME")),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;

    #[test]
    fn real_disks_by_name() {
        for name in ["sda", "sdb", "vda", "xvda", "hda", "nvme0n1", "mmcblk0"] {
            assert!(is_disk_name(name), "{name}");
        }
        for name in [
            "loop0",
            "ram0",
            "zram0",
            "dm-0",
            "sr0",
            "md0",
            "mmcblk0boot0",
        ] {
            assert!(!is_disk_name(name), "{name}");
        }
    }

    #[test]
    fn partname_from_uevent() {
        let uevent = "MAJOR=8\nMINOR=3\nDEVNAME=sda3\nDEVTYPE=partition\nDISKSEQ=1\n\
                      PARTN=3\nPARTNAME=root-a\n";
        assert_eq!(uevent_value(uevent, "PARTNAME").as_deref(), Some("root-a"));
        assert_eq!(uevent_value(uevent, "PARTN").as_deref(), Some("3"));
        assert_eq!(uevent_value("MAJOR=8\nPARTN=1\n", "PARTNAME"), None);
        assert_eq!(uevent_value("PARTNAME=\n", "PARTNAME"), None);
    }

    #[test]
    fn sizes_are_sectors() {
        assert_eq!(parse_size("500118192\n"), Some(500_118_192 * 512));
        assert_eq!(parse_size("x"), None);
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn reads_a_sys_block_tree() {
        let root = TestDir::new("specs-disks");
        let block = root.path().join("sys/block");
        write(&block, "nvme0n1/size", "1000215216\n");
        write(
            &block,
            "nvme0n1/device/model",
            "Samsung SSD 970 EVO Plus 500GB          \n",
        );
        write(&block, "nvme0n1/queue/rotational", "0\n");
        write(&block, "nvme0n1/removable", "0\n");
        write(&block, "nvme0n1/nvme0n1p2/partition", "2\n");
        write(&block, "nvme0n1/nvme0n1p2/size", "131072\n");
        write(
            &block,
            "nvme0n1/nvme0n1p2/uevent",
            "DEVTYPE=partition\nPARTN=2\nPARTNAME=ESP\n",
        );
        write(&block, "nvme0n1/nvme0n1p1/partition", "1\n");
        write(&block, "nvme0n1/nvme0n1p1/size", "2048\n");
        write(
            &block,
            "nvme0n1/nvme0n1p1/uevent",
            "DEVTYPE=partition\nPARTN=1\n",
        );
        // Not partitions: attributes and directories of the disk itself.
        write(&block, "nvme0n1/queue/logical_block_size", "512\n");
        write(&block, "sdb/size", "0\n");
        write(&block, "sdb/removable", "1\n");
        write(&block, "nvme0c0n1/size", "1000215216\n");
        write(&block, "nvme0c0n1/hidden", "1\n");
        write(&block, "loop0/size", "2048\n");
        write(&block, "vda/size", "2097152\n");
        write(&block, "vda/queue/rotational", "1\n");

        let disks = read(root.path());
        let names: Vec<_> = disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["nvme0n1", "vda"]);
        let nvme = &disks[0];
        assert_eq!(nvme.size_bytes, 1_000_215_216 * 512);
        assert_eq!(
            nvme.model.as_deref(),
            Some("Samsung SSD 970 EVO Plus 500GB")
        );
        assert!(!nvme.rotational && !nvme.removable);
        assert_eq!(
            nvme.partitions,
            [
                Partition {
                    name: "nvme0n1p1".into(),
                    number: 1,
                    size_bytes: 2048 * 512,
                    label: None
                },
                Partition {
                    name: "nvme0n1p2".into(),
                    number: 2,
                    size_bytes: 131072 * 512,
                    label: Some("ESP".into())
                },
            ]
        );
        let vda = &disks[1];
        assert_eq!((vda.model.as_deref(), vda.rotational), (None, true));
        assert!(vda.partitions.is_empty());
    }
}

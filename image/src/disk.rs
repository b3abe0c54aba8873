//! The GPT disk image: partition table (docs/boot.md, "Disk"), partition contents, and the
//! legacy-BIOS boot code (see `bios_boot`).
//!
//! The table is written by `sfdisk` on the image file and every GUID is fixed, so two
//! builds of the same inputs give the same table. `root-b` and `data` stay zero (sparse):
//! init makes `data` at first boot, an update fills `root-b`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::bios_boot;

const SECTOR: u64 = 512;
const MIB: u64 = 1 << 20;

const TYPE_BIOS: &str = "21686148-6449-6E6F-744E-656564454649";
const TYPE_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const TYPE_LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
const DISK_GUID: &str = "A9B1A5E0-4D3C-4F6B-8E21-5A7C0D1E2F30";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub number: u32,
    pub name: &'static str,
    pub type_guid: &'static str,
    /// Bytes from the start of the disk.
    pub offset: u64,
    /// Bytes; `None` for the last partition, which takes the rest of the disk.
    pub size: Option<u64>,
}

impl Part {
    pub(crate) fn uuid(&self) -> String {
        format!("A9B1A5E0-4D3C-4F6B-8E21-5A7C0D1E2F3{}", self.number)
    }
}

pub(crate) const SLOT_SIZE: u64 = 256 * MIB;

/// The partitions of every appliance disk, in order.
pub(crate) fn layout() -> Vec<Part> {
    let fixed: [(&'static str, &'static str, u64); 5] = [
        ("bios", TYPE_BIOS, MIB),
        ("ESP", TYPE_ESP, crate::esp::ESP_SIZE),
        ("root-a", TYPE_LINUX, SLOT_SIZE),
        ("root-b", TYPE_LINUX, SLOT_SIZE),
        ("factory", TYPE_LINUX, SLOT_SIZE),
    ];
    let mut offset = MIB;
    let mut parts = Vec::new();
    for (i, (name, type_guid, size)) in fixed.into_iter().enumerate() {
        parts.push(Part {
            number: i as u32 + 1,
            name,
            type_guid,
            offset,
            size: Some(size),
        });
        offset += size;
    }
    parts.push(Part {
        number: 6,
        name: "data",
        type_guid: TYPE_LINUX,
        offset,
        size: None,
    });
    parts
}

pub(crate) fn part(name: &str) -> Part {
    layout()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no partition {name}"))
}

/// Smallest disk that leaves `data` at least 64 MiB (plus the backup GPT).
pub(crate) fn min_disk_size() -> u64 {
    part("data").offset + 64 * MIB + MIB
}

/// The `sfdisk` script for [`layout`].
pub(crate) fn sfdisk_script() -> String {
    let mut s = format!("label: gpt\nlabel-id: {DISK_GUID}\nunit: sectors\nfirst-lba: 2048\n\n");
    for p in layout() {
        s.push_str(&format!("{} : start={}", p.number, p.offset / SECTOR));
        if let Some(size) = p.size {
            s.push_str(&format!(", size={}", size / SECTOR));
        }
        s.push_str(&format!(
            ", type={}, uuid={}, name={}\n",
            p.type_guid,
            p.uuid(),
            p.name
        ));
    }
    s
}

pub(crate) struct Contents<'a> {
    pub esp: &'a Path,
    pub slot: &'a Path,
    pub bios_boot: &'a Path,
    pub bios_core: &'a Path,
}

/// Writes the disk image `out` of `size` bytes.
pub(crate) fn build(c: &Contents, out: &Path, size: u64) -> Result<()> {
    if size < min_disk_size() || !size.is_multiple_of(MIB) {
        bail!(
            "disk size must be a whole number of MiB, at least {} MiB",
            min_disk_size() / MIB
        );
    }
    if fs::metadata(c.slot)?.len() > SLOT_SIZE {
        bail!(
            "slot image {} is larger than the {} MiB slot partition",
            c.slot.display(),
            SLOT_SIZE / MIB
        );
    }
    let _ = fs::remove_file(out);
    fs::File::create(out)
        .and_then(|f| f.set_len(size))
        .with_context(|| format!("cannot create {}", out.display()))?;

    let mut child = Command::new("sfdisk")
        .args([
            "--quiet",
            "--no-reread",
            "--no-tell-kernel",
            "--wipe",
            "always",
        ])
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start sfdisk")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(sfdisk_script().as_bytes())?;
    }
    let res = child.wait_with_output()?;
    if !res.status.success() {
        bail!(
            "sfdisk failed on {}:\n{}",
            out.display(),
            String::from_utf8_lossy(&res.stderr)
        );
    }

    let disk = fs::OpenOptions::new().write(true).open(out)?;
    for (name, src) in [("ESP", c.esp), ("root-a", c.slot), ("factory", c.slot)] {
        copy_into(&disk, src, part(name).offset)?;
    }
    drop(disk);
    install_bios_boot(c, out)
}

/// Copies `src` into `disk` at `offset`, skipping zero blocks so the file stays sparse.
fn copy_into(disk: &fs::File, src: &Path, offset: u64) -> Result<()> {
    let data = fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
    for (i, chunk) in data.chunks(64 * 1024).enumerate() {
        if chunk.iter().any(|b| *b != 0) {
            disk.write_all_at(chunk, offset + (i * 64 * 1024) as u64)?;
        }
    }
    Ok(())
}

/// Puts GRUB's boot sector into the MBR (keeping the protective partition table) and the
/// core image into the `bios` partition.
fn install_bios_boot(c: &Contents, disk: &Path) -> Result<()> {
    let read = |p: &Path| fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let (boot, core) = (read(c.bios_boot)?, read(c.bios_core)?);
    let bios = part("bios");
    let sectors = bios.size.unwrap_or(0) / SECTOR;
    let file = fs::OpenOptions::new().read(true).write(true).open(disk)?;
    bios_boot::install(&file, &boot, &core, bios.offset / SECTOR, sectors as usize).with_context(
        || {
            format!(
                "cannot install GRUB's BIOS boot code ({} and {}) on {}",
                c.bios_boot.display(),
                c.bios_core.display(),
                disk.display()
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_boot_contract() {
        let l = layout();
        let names: Vec<_> = l.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            ["bios", "ESP", "root-a", "root-b", "factory", "data"]
        );
        assert_eq!(part("bios").offset, MIB);
        assert_eq!(part("ESP").size, Some(64 * MIB));
        assert_eq!(part("data").offset, (1 + 1 + 64 + 3 * 256) * MIB);
        assert!(min_disk_size() <= 1024 * MIB);
        for w in l.windows(2) {
            assert_eq!(
                w[0].offset + w[0].size.unwrap(),
                w[1].offset,
                "{} and {} must touch",
                w[0].name,
                w[1].name
            );
        }
    }

    #[test]
    fn script_names_every_partition_with_a_fixed_uuid() {
        let s = sfdisk_script();
        assert!(s.contains("3 : start=135168, size=524288, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=A9B1A5E0-4D3C-4F6B-8E21-5A7C0D1E2F33, name=root-a"), "{s}");
        assert!(s.contains("6 : start=1708032, type="), "{s}");
    }
}

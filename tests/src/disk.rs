//! Disk images from the test's side: finding the built image, making overlays and raw
//! copies so the built image is never written, and looking inside partitions (grubenv on
//! the ESP via mtools, the data filesystem's state via dumpe2fs).

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `out/<profile>/disk.img` of the workspace, or under `$APPLIANCE_OUT` when set.
pub fn built_image(image_profile: &str) -> anyhow::Result<PathBuf> {
    let out = std::env::var_os("APPLIANCE_OUT")
        .map_or_else(|| workspace_root().join("out"), PathBuf::from);
    let path = out.join(image_profile).join("disk.img");
    if !path.is_file() {
        // `vm-1.0.1` is the vm profile built as version 1.0.1.
        let build = match image_profile.split_once('-') {
            Some((profile, version)) => format!("--profile {profile} --version {version}"),
            None => format!("--profile {image_profile}"),
        };
        bail!(
            "the {image_profile} image {} does not exist; build it first with \
             `cargo run --release -p image -- build {build} --out out/{image_profile}` \
             (tests/run does this before the end-to-end tests)",
            path.display()
        );
    }
    Ok(path)
}

fn run(cmd: &mut Command) -> anyhow::Result<Vec<u8>> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// A qcow2 overlay on `base` (raw): writes go to the overlay, `base` stays untouched.
pub fn create_overlay(base: &Path, overlay: &Path) -> anyhow::Result<()> {
    let base = base
        .canonicalize()
        .with_context(|| format!("{}", base.display()))?;
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&base)
        .arg(overlay))?;
    Ok(())
}

/// A raw, sparse copy of `src` (raw or qcow2) at `dst`.
pub fn raw_copy(src: &Path, dst: &Path) -> anyhow::Result<()> {
    run(Command::new("qemu-img")
        .args(["convert", "-O", "raw", "-S", "4k"])
        .arg(src)
        .arg(dst))?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub number: usize,
    /// GPT partition label.
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// The GPT partitions of a raw disk image, from `sfdisk -J`.
pub fn partitions(raw: &Path) -> anyhow::Result<Vec<Partition>> {
    let json = run(Command::new("sfdisk").arg("-J").arg(raw))?;
    parse_sfdisk(&json)
}

pub fn parse_sfdisk(json: &[u8]) -> anyhow::Result<Vec<Partition>> {
    let v: serde_json::Value = serde_json::from_slice(json).context("sfdisk -J output")?;
    let table = &v["partitiontable"];
    let sector = table["sectorsize"].as_u64().unwrap_or(512);
    let parts = table["partitions"]
        .as_array()
        .context("no partitions in sfdisk output")?;
    Ok(parts
        .iter()
        .enumerate()
        .map(|(i, p)| Partition {
            number: i + 1,
            name: p["name"].as_str().unwrap_or("").to_string(),
            offset: p["start"].as_u64().unwrap_or(0) * sector,
            size: p["size"].as_u64().unwrap_or(0) * sector,
        })
        .collect())
}

pub fn partition(raw: &Path, label: &str) -> anyhow::Result<Partition> {
    partitions(raw)?
        .into_iter()
        .find(|p| p.name == label)
        .with_context(|| format!("{} has no partition labelled {label}", raw.display()))
}

/// `mtools`' image spec for the ESP inside a raw disk: `disk.img@@OFFSET`.
fn esp_spec(raw: &Path) -> anyhow::Result<String> {
    let esp = partition(raw, "ESP")?;
    Ok(format!("{}@@{}", raw.display(), esp.offset))
}

pub const GRUBENV: &str = "::EFI/BOOT/grubenv";

/// Read the 1024-byte grubenv from the ESP of a raw disk image.
pub fn read_grubenv(raw: &Path) -> anyhow::Result<grubenv::Env> {
    let bytes = run(Command::new("mtype")
        .arg("-i")
        .arg(esp_spec(raw)?)
        .arg(GRUBENV))?;
    Ok(grubenv::Env::parse(&bytes)?)
}

/// Replace the grubenv on the ESP of a raw disk image.
pub fn write_grubenv(raw: &Path, env: &grubenv::Env) -> anyhow::Result<()> {
    let tmp = raw.with_extension("grubenv");
    std::fs::write(&tmp, env.to_block()?)?;
    let result = run(Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(esp_spec(raw)?)
        .arg(&tmp)
        .arg(GRUBENV));
    let _ = std::fs::remove_file(&tmp);
    result.map(drop)
}

/// Append kernel arguments through grubenv's `EXTRA_CMDLINE` (docs/boot.md).
pub fn set_extra_cmdline(raw: &Path, extra: &str) -> anyhow::Result<()> {
    let mut env = read_grubenv(raw)?;
    env.set("EXTRA_CMDLINE", extra);
    write_grubenv(raw, &env)
}

/// The output of `tool` run on a (sparse) copy of partition `label` of a raw image, for
/// the e2fsprogs tools, which take no offset. The copy is removed afterwards.
fn on_partition_copy(
    raw: &Path,
    label: &str,
    tool: impl FnOnce(&Path) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    let part = partition(raw, label)?;
    let extracted = raw.with_extension(format!("{label}.img"));
    run(Command::new("dd")
        .arg(format!("if={}", raw.display()))
        .arg(format!("of={}", extracted.display()))
        .args([
            "bs=1M",
            "iflag=skip_bytes,count_bytes",
            "conv=sparse",
            "status=none",
        ])
        .arg(format!("skip={}", part.offset))
        .arg(format!("count={}", part.size)))?;
    let out = tool(&extracted);
    let _ = std::fs::remove_file(&extracted);
    out
}

/// The `dumpe2fs -h` header of the ext4 filesystem in partition `label` of a raw image.
pub fn ext4_header(raw: &Path, label: &str) -> anyhow::Result<String> {
    let out = on_partition_copy(raw, label, |fs| {
        run(Command::new("dumpe2fs").arg("-h").arg(fs))
    })?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The "Filesystem state:" value of a dumpe2fs header ("clean", "not clean", ...).
pub fn filesystem_state(header: &str) -> Option<&str> {
    header
        .lines()
        .find_map(|l| l.strip_prefix("Filesystem state:"))
        .map(str::trim)
}

/// Make the disk image (raw or qcow2) `bytes` long: a bigger disk, as a customer's VM gets.
pub fn resize(image: &Path, bytes: u64) -> anyhow::Result<()> {
    run(Command::new("qemu-img")
        .args(["resize", "-q"])
        .arg(image)
        .arg(bytes.to_string()))?;
    Ok(())
}

/// Write the file `content` at the start of partition `label` of a raw disk image.
pub fn write_partition(raw: &Path, label: &str, content: &Path) -> anyhow::Result<()> {
    let part = partition(raw, label)?;
    let len = std::fs::metadata(content)?.len();
    if len > part.size {
        bail!(
            "{} ({len} bytes) does not fit partition {label} ({} bytes)",
            content.display(),
            part.size
        );
    }
    run(Command::new("dd")
        .arg(format!("if={}", content.display()))
        .arg(format!("of={}", raw.display()))
        .args(["bs=1M", "oflag=seek_bytes", "conv=notrunc", "status=none"])
        .arg(format!("seek={}", part.offset)))?;
    Ok(())
}

/// The first `len` bytes of partition `label` of a raw disk image (all of it if None).
pub fn read_partition(raw: &Path, label: &str, len: Option<u64>) -> anyhow::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let part = partition(raw, label)?;
    let len = len.unwrap_or(part.size).min(part.size);
    let mut f = std::fs::File::open(raw)?;
    f.seek(SeekFrom::Start(part.offset))?;
    let mut out = vec![0u8; len as usize];
    f.read_exact(&mut out)?;
    Ok(out)
}

/// Whether the FAT32 volume in partition `label` is marked dirty: Linux sets bit 0 of the
/// boot sector's state byte (offset 0x41) while it has the volume mounted read-write and
/// clears it at a clean unmount.
pub fn fat_dirty(raw: &Path, label: &str) -> anyhow::Result<bool> {
    let boot_sector = read_partition(raw, label, Some(512))?;
    anyhow::ensure!(
        &boot_sector[0x52..0x5a] == b"FAT32   ",
        "partition {label} of {} holds no FAT32 volume",
        raw.display()
    );
    Ok(boot_sector[0x41] & 1 != 0)
}

/// A file of the ext4 filesystem in partition `label` of a raw image (`debugfs -R cat`).
pub fn ext4_file(raw: &Path, label: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    let out = on_partition_copy(raw, label, |fs| {
        run(Command::new("debugfs")
            .arg("-R")
            .arg(format!("cat {path}"))
            .arg(fs))
    })?;
    if out.is_empty() {
        bail!("{path} is empty or missing on partition {label}");
    }
    Ok(out)
}

/// Replace (or create) the file `path` of the ext4 filesystem in partition `label` of a
/// raw image with `content` (`debugfs -w`, on a copy of the partition written back).
pub fn ext4_put(raw: &Path, label: &str, path: &str, content: &[u8]) -> anyhow::Result<()> {
    let part = partition(raw, label)?;
    let fs = raw.with_extension(format!("{label}.img"));
    let host = raw.with_extension("put");
    std::fs::write(&host, content)?;
    let result = (|| {
        run(Command::new("dd")
            .arg(format!("if={}", raw.display()))
            .arg(format!("of={}", fs.display()))
            .args(["bs=1M", "iflag=skip_bytes,count_bytes", "status=none"])
            .arg(format!("skip={}", part.offset))
            .arg(format!("count={}", part.size)))?;
        run(Command::new("debugfs")
            .arg("-w")
            .arg("-R")
            .arg(format!("rm {path}"))
            .arg(&fs))?;
        run(Command::new("debugfs")
            .arg("-w")
            .arg("-R")
            .arg(format!("write {} {path}", host.display()))
            .arg(&fs))?;
        write_partition(raw, label, &fs)
    })();
    let _ = std::fs::remove_file(&fs);
    let _ = std::fs::remove_file(&host);
    result
}

/// A copy of the slot image `slot` whose release file says `VERSION=version`: another
/// firmware version to put into a slot, as an update would (xz, as GRUB needs).
pub fn restamp_slot(slot: &Path, version: &str, out: &Path) -> anyhow::Result<()> {
    remake_slot(slot, version, out, |_| Ok(()))
}

/// [`restamp_slot`], with `edit` changing the unpacked tree before it is packed again
/// (e.g. a slot whose daemon cannot start).
pub fn remake_slot(
    slot: &Path,
    version: &str,
    out: &Path,
    edit: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tree = out.with_extension("tree");
    let _ = std::fs::remove_dir_all(&tree);
    run(Command::new("unsquashfs")
        .args(["-q", "-n", "-d"])
        .arg(&tree)
        .arg(slot))?;
    let release = tree.join("etc/appliance/release");
    let text = std::fs::read_to_string(&release)
        .with_context(|| format!("{} has no release file", slot.display()))?;
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("VERSION=") {
                format!("VERSION={version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&release, text)?;
    let edited = edit(&tree);
    let _ = std::fs::remove_file(out);
    let made = edited.and_then(|()| {
        run(Command::new("mksquashfs").arg(&tree).arg(out).args([
            "-comp",
            "lzo",
            "-all-root",
            "-no-xattrs",
            "-noappend",
            "-quiet",
        ]))
        .map(drop)
    });
    let _ = std::fs::remove_dir_all(&tree);
    made
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sfdisk_json() {
        let json = br#"{"partitiontable": {"label": "gpt", "sectorsize": 512, "partitions": [
            {"node": "d.img1", "start": 2048, "size": 2048, "type": "21686148-6449-6E6F-744E-656564454649", "name": "bios"},
            {"node": "d.img2", "start": 4096, "size": 131072, "type": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "name": "ESP"}]}}"#;
        let parts = parse_sfdisk(json).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[1],
            Partition {
                number: 2,
                name: "ESP".into(),
                offset: 4096 * 512,
                size: 64 << 20
            }
        );
    }

    #[test]
    fn finds_the_filesystem_state() {
        let h = "Filesystem volume name:   data\nFilesystem state:         clean\nErrors behavior:          Continue\n";
        assert_eq!(filesystem_state(h), Some("clean"));
        assert_eq!(
            filesystem_state("Filesystem state:  not clean with errors\n"),
            Some("not clean with errors")
        );
        assert_eq!(filesystem_state(""), None);
    }

    #[test]
    fn a_missing_image_names_the_build_command() {
        std::env::set_var("APPLIANCE_OUT", "/nonexistent-out");
        let err = built_image("box").unwrap_err().to_string();
        std::env::remove_var("APPLIANCE_OUT");
        assert!(
            err.contains("cargo run --release -p image -- build --profile box --out out/box"),
            "{err}"
        );
    }
}

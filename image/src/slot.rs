//! The slot image: one xz squashfs holding the whole read-only system (docs/boot.md,
//! "Slot image contents"). The same file fills `root-a` and `factory` on a new disk and is
//! the payload of a `base` update package, so it must be byte-reproducible: fixed modes,
//! owner root, fixed timestamps, no xattrs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::tools;

pub struct Contents<'a> {
    pub vmlinuz: &'a Path,
    pub initrd: &'a [u8],
    pub init: &'a Path,
    pub daemon: &'a Path,
    pub release: &'a str,
}

/// Fills `staging` (emptied first) and packs it into `out` with timestamps `epoch`.
pub fn build(c: &Contents, staging: &Path, out: &Path, epoch: u64) -> Result<()> {
    let _ = fs::remove_dir_all(staging);
    for dir in [
        "boot",
        "sbin",
        "usr/sbin",
        "etc/appliance",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "data",
    ] {
        fs::create_dir_all(staging.join(dir))?;
    }
    copy(c.vmlinuz, &staging.join("boot/vmlinuz"), 0o644)?;
    write(&staging.join("boot/initrd.img"), c.initrd, 0o644)?;
    copy(c.init, &staging.join("sbin/init"), 0o755)?;
    copy(c.daemon, &staging.join("usr/sbin/appliance-daemon"), 0o755)?;
    write(
        &staging.join("etc/appliance/release"),
        c.release.as_bytes(),
        0o644,
    )?;
    set_dir_modes(staging)?;

    let _ = fs::remove_file(out);
    let e = epoch.to_string();
    tools::run(
        Command::new("mksquashfs")
            .arg(staging)
            .arg(out)
            .args([
                "-comp",
                "xz",
                "-all-root",
                "-no-xattrs",
                "-noappend",
                "-quiet",
                "-no-progress",
            ])
            .args(["-mkfs-time", &e, "-all-time", &e])
            // mksquashfs refuses -mkfs-time/-all-time when SOURCE_DATE_EPOCH is set.
            .env_remove("SOURCE_DATE_EPOCH"),
    )?;
    Ok(())
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    let data = fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    write(to, &data, mode)
}

fn write(to: &Path, data: &[u8], mode: u32) -> Result<()> {
    fs::write(to, data).with_context(|| format!("cannot write {}", to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Directories get 0755 whatever the builder's umask; `/tmp` gets its sticky 1777.
fn set_dir_modes(dir: &Path) -> Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            set_dir_modes(&e.path())?;
        }
    }
    if dir.file_name().is_some_and(|n| n == "tmp") {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o1777))?;
    }
    Ok(())
}

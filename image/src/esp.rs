//! GRUB and the EFI System Partition.
//!
//! One embedded config (`grub/early.cfg`, no comments: the kernel's rescue parser runs it
//! and knows no `#`) goes into both GRUB images: `BOOTX64.EFI` for
//! UEFI and the i386-pc core image for legacy BIOS. It finds the ESP by its FAT label, then
//! normal mode runs `EFI/BOOT/grub.cfg` (the A/B script) from it, which reads and writes
//! `EFI/BOOT/grubenv`. Every GRUB module either image needs is built in: nothing is loaded
//! from the disk at run time.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::tools;

/// Modules both GRUB images carry.
const MODULES: &[&str] = &[
    "part_gpt",
    "fat",
    "squash4",
    "lzopio",
    "gzio",
    "normal",
    "linux",
    "search",
    "search_label",
    "search_fs_uuid",
    "regexp",
    "loadenv",
    "test",
    "echo",
    "serial",
    "terminal",
    "configfile",
    "reboot",
    "halt",
    "probe",
    "sleep",
    "keystatus",
    "read",
    "password_pbkdf2",
];
const EFI_MODULES: &[&str] = &["all_video"];
const BIOS_MODULES: &[&str] = &["biosdisk"];

pub(crate) const ESP_SIZE: u64 = 64 << 20;

/// The A/B boot script, built into this tool so that `assemble`, run from Buildroot's
/// host directory, carries the very file the offline build uses.
pub(crate) const GRUB_CFG: &str = include_str!("../grub/grub.cfg");

/// Builds the UEFI and BIOS GRUB images from the early config at `early_cfg`.
pub(crate) fn grub_images(early_cfg: &Path, efi_out: &Path, bios_core_out: &Path) -> Result<()> {
    for (format, dir, out, extra) in [
        (
            "x86_64-efi",
            "/usr/lib/grub/x86_64-efi",
            efi_out,
            EFI_MODULES,
        ),
        (
            "i386-pc",
            "/usr/lib/grub/i386-pc",
            bios_core_out,
            BIOS_MODULES,
        ),
    ] {
        tools::run(
            Command::new("grub-mkimage")
                .args(["-O", format, "-d", dir, "-p", "/EFI/BOOT"])
                .arg("-c")
                .arg(early_cfg)
                .arg("-o")
                .arg(out)
                .args(MODULES)
                .args(extra),
        )?;
    }
    Ok(())
}

pub(crate) struct Files<'a> {
    pub bootx64: &'a Path,
    pub grub_cfg: &'a [u8],
    pub grubenv: &'a [u8],
}

/// Makes the 64 MiB FAT32 ESP image at `out`. `scratch` holds copies of the files with
/// their mtime set to `epoch`, which `mcopy -m` keeps; `SOURCE_DATE_EPOCH` fixes the
/// directories' times and `--invariant` the volume serial, so the image is reproducible.
pub(crate) fn build(files: &Files, scratch: &Path, out: &Path, epoch: u64) -> Result<()> {
    let _ = fs::remove_dir_all(scratch);
    fs::create_dir_all(scratch)?;
    let _ = fs::remove_file(out);
    fs::File::create(out)
        .and_then(|f| f.set_len(ESP_SIZE))
        .with_context(|| format!("cannot create {}", out.display()))?;
    tools::run(
        Command::new("mkfs.vfat")
            .args(["-F", "32", "-n", "ESP", "--invariant"])
            .arg(out),
    )?;

    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch);
    let mut staged = Vec::new();
    for (name, data) in [
        ("BOOTX64.EFI", fs::read(files.bootx64)?),
        ("grub.cfg", files.grub_cfg.to_vec()),
        ("grubenv", files.grubenv.to_vec()),
    ] {
        let p = scratch.join(name);
        fs::write(&p, data)?;
        fs::File::options()
            .write(true)
            .open(&p)?
            .set_modified(mtime)?;
        staged.push(p);
    }
    let mtools = |cmd: &str| {
        let mut c = Command::new(cmd);
        c.env("MTOOLS_SKIP_CHECK", "1")
            .env("SOURCE_DATE_EPOCH", epoch.to_string())
            .arg("-i")
            .arg(out);
        c
    };
    tools::run(mtools("mmd").args(["::/EFI", "::/EFI/BOOT"]))?;
    tools::run(mtools("mcopy").arg("-m").args(&staged).arg("::/EFI/BOOT/"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The value of `symbol` in a defconfig, unquoted.
    fn defconfig_value(text: &str, symbol: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{symbol}=")))
            .map(|v| v.trim().trim_matches('"').to_string())
    }

    /// Buildroot's GRUB images are made from the defconfigs' module lists and early config:
    /// they must be the ones `grub_images` uses, or the two builders boot differently.
    #[test]
    fn buildroot_defconfigs_build_grub_like_this_builder() {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let want = |extra: &[&str]| -> BTreeSet<String> {
            MODULES
                .iter()
                .chain(extra)
                .map(std::string::ToString::to_string)
                .collect()
        };
        for profile in ["box", "vm"] {
            let path = ws.join(format!("buildroot/configs/appliance_{profile}_defconfig"));
            let text = fs::read_to_string(&path).unwrap();
            for (platform, extra) in [("PC", BIOS_MODULES), ("EFI", EFI_MODULES)] {
                let symbol = format!("BR2_TARGET_GRUB2_BUILTIN_MODULES_{platform}");
                let got: BTreeSet<String> = defconfig_value(&text, &symbol)
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                assert_eq!(got, want(extra), "{symbol} in {}", path.display());

                let symbol = format!("BR2_TARGET_GRUB2_BUILTIN_CONFIG_{platform}");
                let cfg = defconfig_value(&text, &symbol).unwrap_or_default();
                let cfg = cfg.replace("$(BR2_EXTERNAL_APPLIANCE_PATH)", "buildroot");
                assert!(
                    ws.join(&cfg).ends_with("image/grub/early.cfg") && ws.join(&cfg).is_file(),
                    "{symbol}={cfg} in {} must be image/grub/early.cfg",
                    path.display()
                );
            }
        }
    }
}

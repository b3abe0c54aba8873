//! The steps both builders share once they have their parts (a kernel, an initramfs, a
//! staged slot tree, GRUB's images): the slot image, the ESP with `grub.cfg` and the
//! factory `grubenv`, the GPT disk, the virtual appliance artifacts of the `vm` profile,
//! and `build-info.json`. `build` and `assemble` differ only in where the parts come from;
//! the layout and the boot scheme exist once, here and in the modules it calls.

use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::packages::Signing;
use crate::{disk, esp, initramfs, kernel, ova, slot, Profile};

/// Timestamp of every file in the images when `SOURCE_DATE_EPOCH` is not set.
const DEFAULT_EPOCH: u64 = 1_704_067_200; // 2024-01-01T00:00:00Z

/// `SOURCE_DATE_EPOCH`, or 2024-01-01.
pub(crate) fn epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number")),
        Err(_) => Ok(DEFAULT_EPOCH),
    }
}

/// `/etc/appliance/release`, the same in the slot and in the initramfs.
pub(crate) fn release_file(version: &str, profile: Profile, kernel: &str) -> String {
    format!(
        "VERSION={version}\nPROFILE={}\nKERNEL={kernel}\n",
        profile.name()
    )
}

/// GRUB's images, as `grub-mkimage` made them with `image/grub/early.cfg` built in.
pub(crate) struct Grub<'a> {
    pub efi: &'a Path,
    pub bios_core: &'a Path,
    pub bios_boot: &'a Path,
}

pub(crate) struct Parts<'a> {
    pub profile: Profile,
    pub version: &'a str,
    pub kernel_release: &'a str,
    /// Where the kernel came from, for build-info (`package=version`, or a file).
    pub kernel_source: String,
    pub vmlinuz: &'a Path,
    pub initrd: &'a initramfs::Built,
    pub release: &'a str,
    /// The slot tree, staged by the caller without `/boot` and the release file.
    pub staging: &'a Path,
    /// Set every directory of `staging` to 0755 (a tree the builder made itself).
    pub normalise_dirs: bool,
    pub grub: Grub<'a>,
    /// Disk size in MiB.
    pub size: u64,
    pub epoch: u64,
    /// Keys that sign `update.pkg`, and the public keys the slot trusts.
    pub signing: &'a Signing,
}

#[derive(Serialize)]
struct BuildInfo<'a> {
    version: &'a str,
    profile: &'a str,
    kernel: &'a str,
    kernel_package: &'a str,
    source_date_epoch: u64,
    modules: usize,
    initramfs_bytes: usize,
    slot_bytes: u64,
    slot_sha256: String,
    update_package_sha256: String,
    esp_sha256: String,
    disk_bytes: u64,
}

/// Writes `out/slot.sqfs`, `out/update.pkg` (the slot as a base package), `out/disk.img`,
/// the vm artifacts and `out/build-info.json`,
/// using `out/work` for intermediate files, and prints the one-line summary.
pub(crate) fn write(p: &Parts, out: &Path, started: Instant) -> Result<()> {
    let work = out.join("work");
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let profile = p.profile.name();

    let slot_img = out.join("slot.sqfs");
    slot::pack(
        &slot::Boot {
            vmlinuz: p.vmlinuz,
            initrd: &p.initrd.archive,
            release: p.release,
            keys: &p.signing.trusted,
        },
        p.staging,
        p.normalise_dirs,
        &slot_img,
        p.epoch,
    )?;

    let update = out.join("update.pkg");
    let meta = package::Metadata {
        version: p.version.parse()?,
        profiles: vec![profile.to_string()],
        requires: vec![],
        floor: None,
        created: p.epoch,
    };
    package::build_base(&slot_img, &meta, &update, &p.signing.signers)?;
    for note in &p.signing.notes {
        println!("image: note: {note}");
    }
    let signers: Vec<String> = p
        .signing
        .signers
        .iter()
        .map(|s| s.id().to_string())
        .collect();
    println!(
        "image: update package {} (base {} for {profile}, signed by {})",
        update.display(),
        p.version,
        signers.join(", ")
    );

    let grubenv = grubenv::BootState::factory().env().to_block()?;
    let grub_cfg = crate::grub_password::grub_cfg(esp::GRUB_CFG, &p.signing.grub_password_hash)?;
    let esp_img = work.join("esp.img");
    esp::build(
        &esp::Files {
            bootx64: p.grub.efi,
            grub_cfg: grub_cfg.as_bytes(),
            grubenv: &grubenv,
        },
        &work.join("esp"),
        &esp_img,
        p.epoch,
    )?;

    let disk_img = out.join("disk.img");
    let disk_bytes = p.size << 20;
    disk::build(
        &disk::Contents {
            esp: &esp_img,
            slot: &slot_img,
            bios_boot: p.grub.bios_boot,
            bios_core: p.grub.bios_core,
        },
        &disk_img,
        disk_bytes,
    )?;

    // The virtual appliance also ships as a qcow2 (QEMU/KVM) and an OVA (VMware).
    if p.profile == Profile::Vm {
        let a = ova::build(&disk_img, out, p.version)?;
        println!(
            "image: virtual appliance artifacts {}, {}, {}",
            a.ova.display(),
            a.vmdk.display(),
            a.qcow2.display()
        );
    }

    let slot_bytes = fs::metadata(&slot_img)?.len();
    let info = BuildInfo {
        version: p.version,
        profile,
        kernel: p.kernel_release,
        kernel_package: &p.kernel_source,
        source_date_epoch: p.epoch,
        modules: p.initrd.module_count,
        initramfs_bytes: p.initrd.archive.len(),
        slot_bytes,
        slot_sha256: kernel::sha256_file(&slot_img)?,
        update_package_sha256: kernel::sha256_file(&update)?,
        esp_sha256: kernel::sha256_file(&esp_img)?,
        disk_bytes,
    };
    fs::write(
        out.join("build-info.json"),
        serde_json::to_string_pretty(&info)? + "\n",
    )?;
    println!(
        "image: {profile} {} -> {}: slot {:.1} MiB (sha256 {}), initramfs {:.1} MiB with {} modules, disk {} MiB, {:.1} s",
        p.version,
        disk_img.display(),
        slot_bytes as f64 / 1048576.0,
        &info.slot_sha256[..16],
        info.initramfs_bytes as f64 / 1048576.0,
        info.modules,
        p.size,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

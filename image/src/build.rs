//! The `build` command: runs every step in order and writes the outputs and build-info.

use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::{
    binaries, disk, esp, initramfs, kernel, modules, ova, slot, tools, BuildArgs, Profile,
};

/// Timestamp of every file in the images when `SOURCE_DATE_EPOCH` is not set.
const DEFAULT_EPOCH: u64 = 1_704_067_200; // 2024-01-01T00:00:00Z

#[derive(Serialize)]
struct BuildInfo<'a> {
    version: &'a str,
    profile: &'a str,
    kernel: &'a str,
    kernel_package: String,
    source_date_epoch: u64,
    modules: usize,
    initramfs_bytes: usize,
    slot_bytes: u64,
    slot_sha256: String,
    esp_sha256: String,
    disk_bytes: u64,
}

pub fn run(ws: &Path, args: &BuildArgs) -> Result<()> {
    let started = Instant::now();
    tools::check()?;
    let profile = args.profile.name();
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number"))?,
        Err(_) => DEFAULT_EPOCH,
    };
    let out = &args.out;
    let work = out.join("work");
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let cache = args.cache.clone().unwrap_or_else(|| ws.join("out/cache"));

    let pin_path = ws.join("image/kernel.pin");
    let pin = kernel::Pin::parse(
        &fs::read_to_string(&pin_path)
            .with_context(|| format!("cannot read {}", pin_path.display()))?,
    )?;
    let kernel = kernel::prepare(&pin, &cache)?;
    let bins = binaries::build(ws, args.binaries.as_deref())?;

    let release = format!(
        "VERSION={}\nPROFILE={profile}\nKERNEL={}\n",
        args.version, kernel.release
    );
    let mut module_list = Vec::new();
    for name in ["base", profile] {
        let p = ws.join(format!("image/profiles/{name}.modules"));
        module_list.extend(modules::parse_list(
            &fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?,
        ));
    }
    let initrd = initramfs::build(
        &initramfs::Inputs {
            kernel: &kernel,
            init: &bins.init,
            module_list: &module_list,
            release: &release,
            work: &work.join("modules"),
        },
        epoch as u32,
    )?;

    let slot_img = out.join("slot.sqfs");
    slot::build(
        &slot::Contents {
            vmlinuz: &kernel.vmlinuz(),
            initrd: &initrd.archive,
            init: &bins.init,
            daemon: &bins.daemon,
            release: &release,
        },
        &work.join("slot"),
        &slot_img,
        epoch,
    )?;

    let (efi, core) = (work.join("BOOTX64.EFI"), work.join("core.img"));
    esp::grub_images(&ws.join("image/grub/early.cfg"), &efi, &core)?;
    let grubenv = grubenv::BootState::factory().env().to_block()?;
    let esp_img = work.join("esp.img");
    esp::build(
        &esp::Files {
            bootx64: &efi,
            grub_cfg: &ws.join("image/grub/grub.cfg"),
            grubenv: &grubenv,
        },
        &work.join("esp"),
        &esp_img,
        epoch,
    )?;

    let disk_img = out.join("disk.img");
    let disk_bytes = args.size << 20;
    disk::build(
        &disk::Contents {
            esp: &esp_img,
            slot: &slot_img,
            bios_boot: Path::new("/usr/lib/grub/i386-pc/boot.img"),
            bios_core: &core,
        },
        &disk_img,
        disk_bytes,
    )?;

    // The virtual appliance also ships as a qcow2 (QEMU/KVM) and an OVA (VMware).
    if args.profile == Profile::Vm {
        let a = ova::build(&disk_img, out, &args.version)?;
        println!(
            "image: virtual appliance artifacts {}, {}, {}",
            a.ova.display(),
            a.vmdk.display(),
            a.qcow2.display()
        );
    }

    let slot_bytes = fs::metadata(&slot_img)?.len();
    let info = BuildInfo {
        version: &args.version,
        profile,
        kernel: &kernel.release,
        kernel_package: format!("{}={}", pin.package, pin.version),
        source_date_epoch: epoch,
        modules: initrd.module_count,
        initramfs_bytes: initrd.archive.len(),
        slot_bytes,
        slot_sha256: kernel::sha256_file(&slot_img)?,
        esp_sha256: kernel::sha256_file(&esp_img)?,
        disk_bytes,
    };
    fs::write(
        out.join("build-info.json"),
        serde_json::to_string_pretty(&info)? + "\n",
    )?;
    println!(
        "image: {profile} {} -> {}: slot {:.1} MiB (sha256 {}), initramfs {:.1} MiB with {} modules, disk {} MiB, {:.1} s",
        args.version,
        disk_img.display(),
        slot_bytes as f64 / 1048576.0,
        &info.slot_sha256[..16],
        info.initramfs_bytes as f64 / 1048576.0,
        info.modules,
        args.size,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

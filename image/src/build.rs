//! The `build` command, the offline path: Debian's kernel package, this workspace's
//! programs built for musl, the host's e2fsprogs and GRUB. It gathers those parts, then
//! hands them to the steps it shares with `assemble` (`outputs`).

use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::outputs::{self, Grub, Parts};
use crate::rootfs::Root;
use crate::{binaries, esp, initramfs, kernel, modules, slot, tools, BuildArgs};

pub(crate) fn run(ws: &Path, args: &BuildArgs) -> Result<()> {
    let started = Instant::now();
    tools::check()?;
    let signing = args.signing.load()?;
    let epoch = outputs::epoch()?;
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

    let release = outputs::release_file(&args.version, args.profile, &kernel.release);
    let module_list = modules::profile_list(args.profile);
    let initrd = initramfs::build(
        &initramfs::Inputs {
            init: &bins.init,
            modules: Some(initramfs::Modules {
                dir: &kernel.modules_dir(),
                release: &kernel.release,
                list: &module_list,
            }),
            tools: &Root::new(Path::new("/")),
            release: &release,
            work: &work.join("modules"),
        },
        epoch as u32,
    )?;

    let staging = work.join("slot");
    slot::stage_programs(
        &slot::Programs {
            init: &bins.init,
            daemon: &bins.daemon,
            ntpd: &bins.ntpd,
        },
        &staging,
    )?;

    let (efi, core) = (work.join("BOOTX64.EFI"), work.join("core.img"));
    esp::grub_images(&ws.join("image/grub/early.cfg"), &efi, &core)?;

    outputs::write(
        &Parts {
            profile: args.profile,
            version: &args.version,
            kernel_release: &kernel.release,
            kernel_source: format!("{}={}", pin.package, pin.version),
            vmlinuz: &kernel.vmlinuz(),
            initrd: &initrd,
            release: &release,
            staging: &staging,
            normalise_dirs: true,
            grub: Grub {
                efi: &efi,
                bios_core: &core,
                bios_boot: Path::new("/usr/lib/grub/i386-pc/boot.img"),
            },
            size: args.size,
            epoch,
            signing: &signing,
        },
        out,
        started,
    )
}

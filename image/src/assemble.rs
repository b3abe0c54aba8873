//! The `assemble` command, the Buildroot path: Buildroot's kernel (`bzImage`), its target
//! tree (`TARGET_DIR`, holding our `init`, the daemon, e2fsprogs and glibc) and the GRUB
//! images its grub2 package made with `image/grub/early.cfg`. The post-image script calls
//! it; it gathers those parts and hands them to the steps it shares with `build`
//! (`outputs`), so both paths give the same layout, `grub.cfg` and grubenv.
//!
//! The slot is the whole target tree (modes and symlinks kept, owners root) plus
//! `/boot/vmlinuz`, `/boot/initrd.img`, `/etc/appliance/release` and the mount points.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::outputs::{self, Grub, Parts};
use crate::rootfs::Root;
use crate::{initramfs, kernel, modules, slot, tools, Profile};

#[derive(clap::Args)]
pub(crate) struct AssembleArgs {
    #[arg(long, value_enum)]
    profile: Profile,
    /// Firmware version (X.Y.Z) written to /etc/appliance/release and update.pkg.
    #[arg(long, value_parser = crate::packages::parse_version)]
    version: String,
    /// Buildroot's target tree (TARGET_DIR).
    #[arg(long)]
    rootfs_dir: PathBuf,
    /// The kernel image (BINARIES_DIR/bzImage).
    #[arg(long)]
    kernel: PathBuf,
    /// GRUB for UEFI, i.e. BINARIES_DIR/efi-part/EFI/BOOT/bootx64.efi.
    #[arg(long)]
    grub_efi: PathBuf,
    /// GRUB's i386-pc core image, i.e. BINARIES_DIR/grub.img.
    #[arg(long)]
    grub_bios_core: PathBuf,
    /// GRUB's i386-pc boot sector (boot.img of the same GRUB build).
    #[arg(long)]
    grub_bios_boot: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Disk image size in MiB.
    #[arg(long, default_value_t = 1024)]
    size: u64,
    #[command(flatten)]
    signing: crate::packages::SigningArgs,
}

pub(crate) fn run(args: &AssembleArgs) -> Result<()> {
    let started = Instant::now();
    let mut required = tools::BUILDROOT.to_vec();
    if args.profile == Profile::Vm {
        required.push(("qemu-img", "BR2_PACKAGE_HOST_QEMU"));
    }
    if !args.rootfs_dir.is_dir() {
        bail!(
            "the target tree {} is not a directory",
            args.rootfs_dir.display()
        );
    }
    for f in [
        &args.kernel,
        &args.grub_efi,
        &args.grub_bios_core,
        &args.grub_bios_boot,
    ] {
        if !f.is_file() {
            bail!("{} does not exist", f.display());
        }
    }
    let root = Root::new(&args.rootfs_dir);
    let vmlinuz = std::fs::read(&args.kernel)
        .with_context(|| format!("cannot read {}", args.kernel.display()))?;
    let release_name = kernel::bzimage_release(&vmlinuz)
        .with_context(|| format!("cannot read the version of {}", args.kernel.display()))?;
    let modules_dir = root.resolve(&format!("lib/modules/{release_name}"))?;
    let has_modules = modules_dir.join("modules.dep").is_file();
    if has_modules {
        required.push(("depmod", "BR2_PACKAGE_HOST_KMOD"));
    }
    tools::check_with(&required, "enable in Buildroot:")?;
    let signing = args.signing.load()?;

    let epoch = outputs::epoch()?;
    let work = args.out.join("work");
    let init = root.resolve("sbin/init")?;
    if !init.is_file() {
        bail!(
            "{} has no /sbin/init: is appliance-firmware enabled?",
            args.rootfs_dir.display()
        );
    }
    let release = outputs::release_file(&args.version, args.profile, &release_name);
    let module_list = modules::profile_list(args.profile);
    let initrd = initramfs::build(
        &initramfs::Inputs {
            init: &init,
            // Buildroot's kernel has the profile's drivers built in: often no modules.
            modules: has_modules.then(|| initramfs::Modules {
                dir: &modules_dir,
                release: &release_name,
                list: &module_list,
            }),
            tools: &root,
            release: &release,
            work: &work.join("modules"),
        },
        epoch as u32,
    )?;

    let staging = work.join("slot");
    slot::stage_rootfs(&args.rootfs_dir, &staging)?;

    outputs::write(
        &Parts {
            profile: args.profile,
            version: &args.version,
            kernel_release: &release_name,
            kernel_source: file_name(&args.kernel),
            vmlinuz: &args.kernel,
            initrd: &initrd,
            release: &release,
            staging: &staging,
            normalise_dirs: false,
            grub: Grub {
                efi: &args.grub_efi,
                bios_core: &args.grub_bios_core,
                bios_boot: &args.grub_bios_boot,
            },
            size: args.size,
            epoch,
            signing: &signing,
        },
        &args.out,
        started,
    )
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

//! `image`: builds the disk image of docs/boot.md without root, two ways that share every
//! step after gathering the parts: `build` (offline: Debian's kernel package, this
//! workspace's programs, the host's GRUB) and `assemble` (Buildroot's post-image step:
//! Buildroot's kernel, target tree and GRUB images).
#![forbid(unsafe_code)]

mod assemble;
mod binaries;
mod bios_boot;
mod build;
mod catalog;
mod cpio;
mod disk;
mod elf;
mod esp;
mod grub_password;
mod initramfs;
mod kernel;
mod modules;
mod outputs;
mod ova;
mod packages;
mod rootfs;
mod slot;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(about = "Offline builder of the appliance disk image")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build DIR/disk.img, DIR/slot.sqfs, DIR/update.pkg and DIR/build-info.json.
    Build(BuildArgs),
    /// Buildroot's post-image step: the same outputs from Buildroot's kernel, target tree
    /// and GRUB images.
    Assemble(assemble::AssembleArgs),
    /// Build, sign, inspect and verify update packages (docs/packages.md).
    #[command(subcommand)]
    Package(packages::Cmd),
    /// Sign DIR/catalog.json listing the packages of DIR, for "check for updates".
    Catalog(catalog::CatalogArgs),
    /// Appliance download keys (docs/packages.md).
    #[command(subcommand)]
    DownloadKey(catalog::DownloadKeyCmd),
    /// Rewrite image/kernel.pin to the kernel Debian's linux-image-amd64 depends on now.
    PinKernel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    Box,
    Vm,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Box => "box",
            Profile::Vm => "vm",
        }
    }
}

#[derive(clap::Args)]
pub struct BuildArgs {
    #[arg(long, value_enum)]
    profile: Profile,
    /// Firmware version (X.Y.Z) written to /etc/appliance/release and update.pkg.
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"), value_parser = packages::parse_version)]
    version: String,
    #[arg(long)]
    out: PathBuf,
    /// Disk image size in MiB.
    #[arg(long, default_value_t = 1024)]
    size: u64,
    /// Download cache for the kernel package (default: <workspace>/out/cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Take `init` and `appliance-daemon` from this directory instead of building them.
    #[arg(long)]
    binaries: Option<PathBuf>,
    #[command(flatten)]
    signing: packages::SigningArgs,
}

/// The workspace this builder belongs to: profiles, GRUB script and pin are read from it.
fn workspace() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Build(args) => build::run(&workspace(), &args),
        Cmd::Assemble(args) => assemble::run(&args),
        Cmd::Package(cmd) => packages::run(&cmd),
        Cmd::Catalog(args) => catalog::run_catalog(&args),
        Cmd::DownloadKey(cmd) => catalog::run_download_key(&cmd),
        Cmd::PinKernel => pin_kernel(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("image: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn pin_kernel() -> anyhow::Result<()> {
    let path = workspace().join("image/kernel.pin");
    let pin = kernel::current_debian_pin()?;
    std::fs::write(&path, pin.to_text())?;
    println!(
        "{}: {} {} sha256 {}",
        path.display(),
        pin.package,
        pin.version,
        pin.sha256
    );
    Ok(())
}

//! The host programs the build drives, and how it runs them.
//!
//! [`check`] runs before any work so that a machine missing a tool fails in one second with
//! the single `apt-get install` line that fixes it, instead of halfway through a build.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

/// (program or path, Debian package that provides it): what `build` runs.
pub(crate) const OFFLINE: &[(&str, &str)] = &[
    ("mksquashfs", "squashfs-tools"),
    ("mkfs.vfat", "dosfstools"),
    ("mcopy", "mtools"),
    ("mmd", "mtools"),
    ("grub-mkimage", "grub-common"),
    ("/usr/lib/grub/i386-pc/boot.img", "grub-pc-bin"),
    ("/usr/lib/grub/x86_64-efi/linux.mod", "grub-efi-amd64-bin"),
    ("sfdisk", "fdisk"),
    ("depmod", "kmod"),
    ("dpkg-deb", "dpkg"),
    ("apt-get", "apt"),
    ("ldd", "libc-bin"),
    ("mke2fs", "e2fsprogs"),
    ("e2fsck", "e2fsprogs"),
    ("resize2fs", "e2fsprogs"),
    ("musl-gcc", "musl-tools"),
];

/// Where the host keeps a program: an absolute path as given, else the first hit on
/// `PATH` or in the sbin directories (a non-root `PATH` often lacks them).
pub(crate) fn find(program: &str) -> Option<std::path::PathBuf> {
    if program.starts_with('/') {
        return Path::new(program).exists().then(|| program.into());
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file());
    found
}

/// (program, Buildroot option that provides it): what `assemble` runs on Buildroot's host.
pub(crate) const BUILDROOT: &[(&str, &str)] = &[
    ("mksquashfs", "BR2_PACKAGE_HOST_SQUASHFS"),
    ("mkfs.vfat", "BR2_PACKAGE_HOST_DOSFSTOOLS"),
    ("mcopy", "BR2_PACKAGE_HOST_MTOOLS"),
    ("mmd", "BR2_PACKAGE_HOST_MTOOLS"),
    ("sfdisk", "BR2_PACKAGE_HOST_UTIL_LINUX"),
];

/// Fails with the one `apt-get install` line that provides every missing tool.
pub(crate) fn check() -> Result<()> {
    check_with(
        OFFLINE,
        "install them with (or run image/deps):\n  apt-get install -y",
    )
}

/// Fails naming every missing program of `required` and, after `hint`, what provides it.
pub(crate) fn check_with(required: &[(&str, &str)], hint: &str) -> Result<()> {
    let mut packages: Vec<&str> = required
        .iter()
        .filter(|(prog, _)| find(prog).is_none())
        .map(|(_, pkg)| *pkg)
        .collect();
    packages.dedup();
    if packages.is_empty() {
        return Ok(());
    }
    let missing: Vec<&str> = required
        .iter()
        .filter(|(prog, _)| find(prog).is_none())
        .map(|(prog, _)| *prog)
        .collect();
    bail!(
        "missing host tools: {}\n{hint} {}",
        missing.join(", "),
        packages.join(" ")
    )
}

/// Runs `cmd` to completion, failing with its stderr when it exits non-zero.
pub(crate) fn run(cmd: &mut Command) -> Result<Output> {
    let what = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{what}`"))?;
    if !out.status.success() {
        bail!(
            "`{what}` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// Like [`run`] but the child's output goes to our terminal (long builds show progress).
pub(crate) fn run_visible(cmd: &mut Command) -> Result<()> {
    let what = describe(cmd);
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot start `{what}`"))?;
    if !status.success() {
        bail!("`{what}` failed ({status})");
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().to_string();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

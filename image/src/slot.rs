//! The slot image: one LZO-compressed squashfs holding the whole read-only system (docs/boot.md,
//! "Slot image contents"). The same file fills `root-a` and `factory` on a new disk and is
//! the payload of a `base` update package, so it must be byte-reproducible: fixed modes,
//! owner root, fixed timestamps, no xattrs.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::tools;

/// Mount points of docs/boot.md every slot has, whatever filled the tree.
const MOUNT_POINTS: &[&str] = &["proc", "sys", "dev", "run", "tmp", "data"];

/// The trusted public keys of update packages, in the slot (docs/packages.md).
const KEYS_DIR: &str = "etc/appliance/keys";

/// Buildroot's marker in `TARGET_DIR`; its own file system images leave it out too.
const NOT_ROOT_MARKER: &str = "THIS_IS_NOT_YOUR_ROOT_FILESYSTEM";

/// What the offline builder puts into a fresh staging tree: our two programs.
pub(crate) struct Programs<'a> {
    pub init: &'a Path,
    pub daemon: &'a Path,
    pub ntpd: &'a Path,
}

/// init's service table (init/README.md): the daemon, and the time daemon reading the
/// configuration the daemon writes to /run.
pub(crate) const SERVICES: &str = "\
# NAME [OPTION=VALUE ...] /absolute/program [ARG ...]   (init/README.md)
appliance-daemon /usr/sbin/appliance-daemon
ntpd restart=2000..60000 after=/run/ntp.toml nice=10 /usr/sbin/ntp-daemon -c /run/ntp.toml
";

/// What every slot gets on top of its tree.
pub(crate) struct Boot<'a> {
    pub vmlinuz: &'a Path,
    pub initrd: &'a [u8],
    pub release: &'a str,
    /// The public keys the daemon trusts for update packages (file name, contents):
    /// `/etc/appliance/keys/` holds these and nothing else.
    pub keys: &'a [(String, Vec<u8>)],
}

/// Offline builder: empties `staging` and puts init and the daemon into it. Every
/// directory gets mode 0755 whatever the umask (see [`pack`]).
pub(crate) fn stage_programs(p: &Programs, staging: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(staging);
    for dir in ["sbin", "usr/sbin"] {
        fs::create_dir_all(staging.join(dir))?;
    }
    copy(p.init, &staging.join("sbin/init"), 0o755)?;
    copy(p.daemon, &staging.join("usr/sbin/appliance-daemon"), 0o755)?;
    copy(p.ntpd, &staging.join("usr/sbin/ntp-daemon"), 0o755)?;
    fs::create_dir_all(staging.join("etc/appliance"))?;
    fs::write(staging.join("etc/appliance/services"), SERVICES)?;
    fs::set_permissions(
        staging.join("etc/appliance/services"),
        fs::Permissions::from_mode(0o644),
    )?;
    Ok(())
}

/// `assemble`: empties `staging` and copies the target tree `rootfs` into it, keeping
/// modes and symlinks (owners become root when packed).
pub(crate) fn stage_rootfs(rootfs: &Path, staging: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(staging);
    fs::create_dir_all(staging)?;
    fs::set_permissions(staging, fs::metadata(rootfs)?.permissions())?;
    copy_tree(rootfs, staging, true)
        .with_context(|| format!("cannot copy {} to {}", rootfs.display(), staging.display()))
}

fn copy_tree(from: &Path, to: &Path, top: bool) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        if top && e.file_name() == NOT_ROOT_MARKER {
            continue;
        }
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let meta = fs::symlink_metadata(&src)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            fs::create_dir(&dst)?;
            copy_tree(&src, &dst, false)?;
            fs::set_permissions(&dst, meta.permissions())?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
            fs::set_permissions(&dst, meta.permissions())?;
        } else {
            // Device nodes are made at run time (devtmpfs); a target tree built as a
            // normal user has none, and a slot must not carry any.
            bail!(
                "{} is neither a file, a directory nor a symlink",
                src.display()
            );
        }
    }
    Ok(())
}

/// Adds the boot files, the release file and the mount points to `staging`, then packs it
/// into `out` with timestamps `epoch`. With `normalise_dirs`, every directory gets 0755
/// (the offline builder's tree, made under any umask); otherwise the tree's own modes stay
/// and only the directories made here get theirs. `/tmp` is always 1777.
pub(crate) fn pack(
    b: &Boot,
    staging: &Path,
    normalise_dirs: bool,
    out: &Path,
    epoch: u64,
) -> Result<()> {
    for dir in ["boot", "etc/appliance"].iter().chain(MOUNT_POINTS) {
        let d = staging.join(dir);
        if !d.is_dir() {
            fs::create_dir_all(&d)?;
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755))?;
        }
    }
    copy(b.vmlinuz, &staging.join("boot/vmlinuz"), 0o644)?;
    write(&staging.join("boot/initrd.img"), b.initrd, 0o644)?;
    write(
        &staging.join("etc/appliance/release"),
        b.release.as_bytes(),
        0o644,
    )?;
    let keys = staging.join(KEYS_DIR);
    match fs::symlink_metadata(&keys) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&keys)?,
        Ok(_) => fs::remove_file(&keys)?,
        Err(_) => {}
    }
    fs::create_dir(&keys)?;
    fs::set_permissions(&keys, fs::Permissions::from_mode(0o755))?;
    for (name, data) in b.keys {
        write(&keys.join(name), data, 0o644)?;
    }
    if normalise_dirs {
        set_dir_modes(staging)?;
    }
    fs::set_permissions(staging.join("tmp"), fs::Permissions::from_mode(0o1777))?;

    let _ = fs::remove_file(out);
    let e = epoch.to_string();
    tools::run(
        Command::new("mksquashfs")
            .arg(staging)
            .arg(out)
            .args([
                // LZO, not xz: every page of a program the appliance runs is
                // decompressed from here, and under emulation xz made the daemon's start
                // take a second more (docs/boot.md). GRUB 2.06 reads zlib, LZO and xz
                // squashfs only.
                "-comp",
                "lzo",
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
    // A file (or symlink) of that name from a target tree is replaced, never written through.
    let _ = fs::remove_file(to);
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

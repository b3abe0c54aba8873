//! Leaving the initramfs: move the API filesystems under the new root, free the
//! initramfs (it is RAM), make the new root `/`, exec stage 2. As busybox switch_root.

use nix::mount::{mount, MsFlags};
use nix::sys::statfs::{statfs, FsType, TMPFS_MAGIC};
use std::convert::Infallible;
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// ramfs, the initramfs's filesystem when the kernel has no tmpfs rootfs.
const RAMFS_MAGIC: FsType = FsType(0x8584_58f6);

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("{0} failed: {1}")]
    Step(String, nix::Error),
    #[error("/ is not the initramfs (not ramfs/tmpfs, or no /init); refusing to delete it")]
    NotInitramfs,
}

fn step<T>(what: &str, r: nix::Result<T>) -> Result<T, SwitchError> {
    r.map_err(|e| SwitchError::Step(what.to_string(), e))
}

/// Delete everything under `dir` that lives on device `dev` (never crossing a mount).
fn delete_tree(dir: &Path, dev: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in entries.flatten() {
        let path = ent.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.dev() != dev {
            continue;
        }
        if meta.is_dir() {
            delete_tree(&path, dev);
            let _ = std::fs::remove_dir(&path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
}

pub fn switch_root(new_root: &str, init: &str) -> Result<Infallible, SwitchError> {
    let fs = step("statfs /", statfs("/"))?;
    let ty = fs.filesystem_type();
    if (ty != RAMFS_MAGIC && ty != TMPFS_MAGIC) || !Path::new("/init").exists() {
        return Err(SwitchError::NotInitramfs);
    }
    for api in ["/dev", "/proc", "/sys", "/run"] {
        let target = format!("{new_root}{api}");
        step(
            &format!("moving {api} to {target}"),
            mount(
                Some(api),
                target.as_str(),
                None::<&str>,
                MsFlags::MS_MOVE,
                None::<&str>,
            ),
        )?;
    }
    step("chdir to the new root", nix::unistd::chdir(new_root))?;
    let root_dev = std::fs::symlink_metadata("/").map(|m| m.dev()).unwrap_or(0);
    delete_tree(Path::new("/"), root_dev);
    step(
        "moving the new root onto /",
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>),
    )?;
    step("chroot", nix::unistd::chroot("."))?;
    step("chdir /", nix::unistd::chdir("/"))?;
    let prog =
        CString::new(init).map_err(|_| SwitchError::Step("exec".into(), nix::Error::EINVAL))?;
    step(
        &format!("exec {init}"),
        nix::unistd::execv(&prog, std::slice::from_ref(&prog)),
    )
}

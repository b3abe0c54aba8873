//! Leaving the initramfs: move the API filesystems under the new root, free the
//! initramfs (it is RAM; from a child process, in the background), make the new root
//! `/`, exec stage 2. As busybox switch_root.
// Unsafe code: fork(2) and setpriority(2) for the background clean-up of the initramfs.
#![allow(unsafe_code)]

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

/// Free the initramfs (its modules and e2fsprogs, about 12 MiB) from a child process at
/// the lowest priority, so that stage 2 starts at once (the deletion took 0.03 s of the
/// boot under TCG). The child keeps the initramfs as its root when the slot is moved
/// over `/`, and `delete_tree` never leaves the initramfs's device whatever it finds;
/// stage 2 reaps it as any orphan. If there can be no child, the deletion is done here.
fn delete_in_background(dev: u64) {
    // SAFETY: stage 1 runs no other thread by now (the link-raising one was joined); the
    // child only deletes files and exits.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            // SAFETY: setpriority on this process only.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
            delete_tree(Path::new("/"), dev);
            crate::log!("stage1: initramfs freed (in the background)");
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { .. }) => {}
        Err(_) => delete_tree(Path::new("/"), dev),
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
    let root_dev = std::fs::symlink_metadata("/").map_or(0, |m| m.dev());
    delete_in_background(root_dev);
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

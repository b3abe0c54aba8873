//! The first things stage 1 does: API filesystems and a console to talk on.

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;

/// Mount /dev, /proc, /sys and /run. Failures are only reported afterwards (there may
/// be no console yet): the returned lines are logged once the console is up.
pub fn mount_api_filesystems() -> Vec<String> {
    let mut problems = Vec::new();
    let common = MsFlags::MS_NOSUID;
    let table: [(&str, &str, MsFlags, Option<&str>); 4] = [
        ("devtmpfs", "/dev", common, Some("mode=0755")),
        (
            "proc",
            "/proc",
            common | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        ),
        (
            "sysfs",
            "/sys",
            common | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        ),
        (
            "tmpfs",
            "/run",
            common | MsFlags::MS_NODEV,
            Some("mode=0755"),
        ),
    ];
    for (fs, path, flags, data) in table {
        let _ = std::fs::create_dir_all(path);
        match mount(Some(fs), path, Some(fs), flags, data) {
            Ok(()) | Err(Errno::EBUSY) => {}
            Err(e) => problems.push(format!("stage1: cannot mount {fs} on {path}: {e}")),
        }
    }
    problems
}

/// Make sure fds 0, 1, 2 are open: without /dev/console in the initramfs the kernel
/// starts init with none, and every log line would be lost.
pub fn attach_console() {
    let missing: Vec<i32> = (0..3)
        .filter(|&fd| fcntl(fd, FcntlArg::F_GETFD) == Err(Errno::EBADF))
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(fd) = open(
        "/dev/console",
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    ) else {
        return;
    };
    for target in missing {
        if fd != target {
            // SAFETY: dup2 onto a descriptor number we just found closed.
            unsafe { libc::dup2(fd, target) };
        }
    }
    if fd > 2 {
        let _ = nix::unistd::close(fd);
    }
}

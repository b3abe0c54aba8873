//! The orderly shutdown: stop services (SIGTERM, then SIGKILL after their stop timeout),
//! SIGTERM everything, a grace period, SIGKILL everything, sync, unmount the disks'
//! filesystems (/data, and the ESP should a killed daemon have left it mounted), sync,
//! reboot(2). Every step is logged with its stamp. Short and linear on purpose.

use super::process;
use super::watchdog;
use super::Ctx;
use crate::log;
use crate::power::{self, Action};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

const GRACE: Duration = Duration::from_secs(3);
const AFTER_KILL: Duration = Duration::from_secs(2);
/// How long the log ring's writer gets to store its queue at shutdown.
const LOG_FLUSH: Duration = Duration::from_secs(2);

/// Reap and pet until `done` says so (true) or `deadline` passes (false).
fn wait(
    ctx: &mut Ctx,
    deadline: Instant,
    gone: &mut HashSet<i32>,
    done: &dyn Fn(&HashSet<i32>, bool) -> bool,
) -> bool {
    loop {
        let (ended, none_left) = process::reap();
        for e in ended {
            gone.insert(e.pid);
        }
        if done(gone, none_left) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        watchdog::pet(&mut ctx.watchdog);
        let ms = (deadline - now).min(Duration::from_millis(100)).as_millis() as u16;
        let mut fds = [PollFd::new(ctx.signals.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(ms.max(1)));
        super::signals::drain(&mut ctx.signals);
        // The services' last lines: a full pipe would hold a service in its write.
        ctx.drain_outputs(&|_| true);
    }
}

pub fn run(ctx: &mut Ctx, action: Action, why: &str) -> ! {
    crate::say!("shutdown requested by {why}: {}", action.describe());
    watchdog::pet(&mut ctx.watchdog);

    log!("shutdown: stopping services");
    let mut gone = HashSet::new();
    let mut stopping: Vec<(String, i32, Duration)> = Vec::new();
    for s in &mut ctx.services {
        if let Some(pid) = s.stop() {
            log!(
                "shutdown: stopping service {} pid={pid} (SIGTERM)",
                s.spec.name
            );
            // The service leads its own process group: its helpers go with it.
            let _ = kill(Pid::from_raw(-pid), Signal::SIGTERM);
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            stopping.push((s.spec.name.clone(), pid, s.spec.stop_timeout));
        }
    }
    let start = Instant::now();
    let pids: Vec<i32> = stopping.iter().map(|s| s.1).collect();
    let all_gone = |g: &HashSet<i32>, none: bool| none || pids.iter().all(|p| g.contains(p));
    // Each service gets its own stop timeout; wait for the next one to expire, kill
    // whoever is late, repeat.
    stopping.sort_by_key(|s| s.2);
    let mut killed = false;
    for (name, pid, timeout) in &stopping {
        if wait(ctx, start + *timeout, &mut gone, &all_gone) {
            break;
        }
        if !gone.contains(pid) {
            log!(
                "shutdown: service {name} pid={pid} did not stop within {:.1} s; SIGKILL",
                timeout.as_secs_f64()
            );
            let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            killed = true;
        }
    }
    if killed {
        wait(ctx, Instant::now() + AFTER_KILL, &mut gone, &all_gone);
    }

    log!("shutdown: sending SIGTERM to all processes");
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    let no_children = |_: &HashSet<i32>, none: bool| none;
    if wait(ctx, Instant::now() + GRACE, &mut gone, &no_children) {
        log!("shutdown: all processes ended");
    }
    // Sent even when nothing seems left: a process may be between fork and our wait.
    log!("shutdown: sending SIGKILL to all processes");
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    wait(ctx, Instant::now() + AFTER_KILL, &mut gone, &no_children);

    ctx.drain_outputs(&|_| true);
    // The ring's file must be closed before /data is unmounted.
    if ctx.journal.close(LOG_FLUSH) {
        log!("shutdown: log ring closed");
    } else {
        log!(
            "shutdown: the log ring's writer did not finish within {:.0} s",
            LOG_FLUSH.as_secs_f64()
        );
    }
    log!("shutdown: syncing disks");
    nix::unistd::sync();
    watchdog::pet(&mut ctx.watchdog);
    if ctx.system {
        match crate::seed::save_now(std::path::Path::new("/data")) {
            Ok(true) => log!("shutdown: random seed saved for the next boot"),
            Ok(false) => {
                log!("shutdown: no random seed saved: the kernel's generator is not ready yet");
            }
            Err(e) => log!("shutdown: random seed: {e}"),
        }
        let paths = match std::fs::read_to_string("/proc/self/mounts") {
            Ok(mounts) => disk_mounts(&mounts),
            Err(e) => {
                log!("shutdown: cannot read /proc/self/mounts ({e}); unmounting /data alone");
                vec!["/data".to_string()]
            }
        };
        for path in paths {
            unmount(&path);
        }
        nix::unistd::sync();
    }
    watchdog::pet(&mut ctx.watchdog);
    power::finish(action)
}

/// Where filesystems of disks are mounted, other than `/`, last mounted first: /data, and
/// the ESP if the daemon was killed while it held it (a FAT volume left mounted
/// read-write stays marked dirty for good). Lines of `/proc/self/mounts`.
fn disk_mounts(mounts: &str) -> Vec<String> {
    let mut found: Vec<String> = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let (source, path) = (f.next()?, f.next()?);
            (source.starts_with("/dev/") && path != "/").then(|| unescape(path))
        })
        .collect();
    found.reverse();
    found
}

/// A mount point as the kernel writes it in `/proc/self/mounts`: space, tab, newline and
/// backslash as `\ooo` (octal).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // At most \377: the first digit 0-3, the others 0-7.
        let octal = b.get(i + 1..i + 4).filter(|d| {
            (b'0'..=b'3').contains(&d[0]) && d[1..].iter().all(|c| (b'0'..=b'7').contains(c))
        });
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmount `path`; if something still holds it, at least make it read-only so the
/// filesystem is clean when the power goes.
fn unmount(path: &str) {
    log!("shutdown: unmounting {path}");
    for _ in 0..5 {
        match umount2(path, MntFlags::empty()) {
            Ok(()) => return,
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {
                log!("shutdown: {path} is not mounted");
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    let ro = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    match mount(None::<&str>, path, None::<&str>, ro, None::<&str>) {
        Ok(()) => log!("shutdown: {path} is busy; remounted read-only"),
        Err(e) => log!("shutdown: {path} is busy and cannot be remounted read-only: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{disk_mounts, unescape};

    #[test]
    fn disk_mounts_are_the_disks_but_root_last_mounted_first() {
        let mounts = "/dev/sda3 / squashfs ro,relatime 0 0\n\
            devtmpfs /dev devtmpfs rw 0 0\n\
            proc /proc proc rw 0 0\n\
            /dev/sda6 /data ext4 rw,relatime 0 0\n\
            tmpfs /run tmpfs rw 0 0\n\
            /dev/sda2 /run/esp vfat rw 0 0\n\
            /dev/sdb1 /run/my\\040disk\\134x\\011 ext4 rw 0 0\n";
        assert_eq!(
            disk_mounts(mounts),
            ["/run/my disk\\x\t", "/run/esp", "/data"].map(String::from)
        );
        // Not an escape the kernel writes: kept as it is.
        assert_eq!(unescape("/a\\777b\\0"), "/a\\777b\\0");
        assert!(disk_mounts("").is_empty());
    }
}

//! The first things stage 1 does: API filesystems and a console to talk on.
// Unsafe code: dup2(2) onto fds 0-2 before anything else holds them.
#![allow(unsafe_code)]

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use nix::sys::termios::{tcgetattr, tcsetattr, InputFlags, SetArg};
use std::os::fd::AsFd;

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

/// Turn off the console's software flow control (IXON, on by default on every terminal).
/// With it, one Ctrl-S (XOFF) from whatever is attached to the serial port (an
/// administrator's terminal, a console server) stops the port's output until a Ctrl-Q;
/// the lines written meanwhile fill the tty's 4 KiB buffer, and then every writer to
/// /dev/console blocks: init itself (no more reaping, no shutdown on the power button)
/// and the daemon's logging. The kernel's own messages bypass the tty and are not
/// affected either way. Turning IXON off also restarts output stopped before now.
/// A console that is not a terminal is left alone. Returns a line to log on failure.
pub fn console_ignores_flow_control() -> Option<String> {
    ignore_flow_control(&std::io::stderr())
}

fn ignore_flow_control(tty: &impl AsFd) -> Option<String> {
    let mut termios = tcgetattr(tty).ok()?;
    if !termios.input_flags.contains(InputFlags::IXON) {
        return None;
    }
    termios.input_flags.remove(InputFlags::IXON);
    tcsetattr(tty, SetArg::TCSANOW, &termios)
        .err()
        .map(|e| format!("stage1: cannot turn off the console's XON/XOFF flow control: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::pty::openpty;
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    /// What the far end of a terminal receives of a line written after it sent Ctrl-S.
    fn after_ctrl_s(ignore: bool) -> String {
        let pty = openpty(None, None).unwrap();
        let (mut far, mut console) = (File::from(pty.master), File::from(pty.slave));
        if ignore {
            assert_eq!(ignore_flow_control(&console), None);
            assert!(!tcgetattr(&console)
                .unwrap()
                .input_flags
                .contains(InputFlags::IXON));
        }
        far.write_all(b"\x13").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        // Non-blocking: a pseudo-terminal's writer blocks at once while it is stopped
        // (a serial port's only once its 4 KiB buffer is full).
        fcntl(console.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        match console.write(b"init: a line\n") {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let mut fds = [PollFd::new(far.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::from(500u16)).unwrap() == 0 {
                break;
            }
            let n = far.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[test]
    fn ctrl_s_stops_a_terminal_until_flow_control_is_off() {
        // A fresh terminal has IXON: its output stops at Ctrl-S.
        assert!(!after_ctrl_s(false).contains("init: a line"));
        let got = after_ctrl_s(true);
        assert!(got.contains("init: a line"), "{got:?}");
        // Ctrl-S is now an ordinary character (echoed, since nobody reads the console).
        assert!(got.contains("^S"), "{got:?}");
    }
}

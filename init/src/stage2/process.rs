//! Starting service processes and reaping every child (services and orphans alike).
// Unsafe code: pre_exec (setsid and signal mask in the child): std's own unsafe hook.
#![allow(unsafe_code)]

use super::services::ServiceSpec;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Start a service in its own session (so its whole process group can be signalled),
/// stdin from /dev/null, stdout/stderr on init's console.
pub fn spawn(spec: &ServiceSpec) -> std::io::Result<i32> {
    let (prog, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::null());
    let nice = spec.nice;
    // SAFETY: setsid, setpriority, sigemptyset and sigprocmask are async-signal-safe and
    // touch only the child's own stack.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if nice != 0 && libc::setpriority(libc::PRIO_PROCESS, 0, nice) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // init blocks the signals it reads through its signalfd; the mask is
            // inherited across exec, so a service would otherwise ignore SIGTERM.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            if libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // The Child handle is dropped without waiting: init reaps with waitpid(-1).
    i32::try_from(child.id()).map_err(|_| std::io::Error::other("pid out of range"))
}

/// A child that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub pid: i32,
    pub how: String,
}

/// Reap every child that has ended. The flag is true when init has no children left.
pub fn reap() -> (Vec<Ended>, bool) {
    let mut out = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return (out, false),
            Ok(WaitStatus::Exited(pid, code)) => out.push(Ended {
                pid: pid.as_raw(),
                how: format!("exited status={code}"),
            }),
            Ok(WaitStatus::Signaled(pid, sig, _)) => out.push(Ended {
                pid: pid.as_raw(),
                how: format!("killed by {}", sig.as_str()),
            }),
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(_) => return (out, true),
        }
    }
}

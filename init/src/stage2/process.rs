//! Starting service processes and reaping every child (services and orphans alike).
// Unsafe code: pre_exec (setsid and signal mask in the child): std's own unsafe hook.
#![allow(unsafe_code)]

use super::services::ServiceSpec;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// The open-file limit of every service (soft and hard). The kernel's default of 1024
/// would let a flood of connections exhaust the daemon's descriptors before its own
/// connection caps (docs/security.md "Connections") are reached.
pub const SERVICE_NOFILE: libc::rlim_t = 16384;

/// Start a service in its own session (so its whole process group can be signalled),
/// stdin from /dev/null, [`SERVICE_NOFILE`] open files, and stdout/stderr into one pipe
/// whose read end (non-blocking) is returned: init copies the lines to the console and the
/// persistent log (docs/logs.md). Should the pipe fail, the service writes to init's
/// console itself, as before the log existed.
pub fn spawn(spec: &ServiceSpec) -> std::io::Result<(i32, Option<OwnedFd>)> {
    let (prog, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::null());
    let pipe = nix::unistd::pipe2(OFlag::O_CLOEXEC).ok();
    let mut read_end = None;
    if let Some((r, w)) = pipe {
        if let Ok(w2) = w.try_clone() {
            let _ = nix::fcntl::fcntl(r.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
            cmd.stdout(Stdio::from(w)).stderr(Stdio::from(w2));
            read_end = Some(r);
        }
    }
    let nice = spec.nice;
    // SAFETY: setsid, setpriority, setrlimit, sigemptyset and sigprocmask are
    // async-signal-safe and touch only the child's own stack.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if nice != 0 && libc::setpriority(libc::PRIO_PROCESS, 0, nice) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let files = libc::rlimit {
                rlim_cur: SERVICE_NOFILE,
                rlim_max: SERVICE_NOFILE,
            };
            // Raising the hard limit needs CAP_SYS_RESOURCE (init has it); without it (a
            // test as a user) the soft limit is raised as far as the hard one allows.
            if libc::setrlimit(libc::RLIMIT_NOFILE, &files) < 0 {
                let mut now: libc::rlimit = std::mem::zeroed();
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) == 0 {
                    now.rlim_cur = now.rlim_max.min(SERVICE_NOFILE);
                    libc::setrlimit(libc::RLIMIT_NOFILE, &now);
                }
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
    // The write ends went to the child (and are closed here with `cmd`): the pipe ends when
    // the service and whatever it left running have all closed it.
    drop(cmd);
    // The Child handle is dropped without waiting: init reaps with waitpid(-1).
    let pid = i32::try_from(child.id()).map_err(|_| std::io::Error::other("pid out of range"))?;
    Ok((pid, read_end))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_get_the_raised_file_limit() {
        let dir = std::env::temp_dir().join(format!("init-nofile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("nofile");
        let script = format!("ulimit -n > {}", out.display());
        let spec = ServiceSpec::new("probe", &["/bin/sh", "-c", &script]);
        let (pid, _out) = spawn(&spec).unwrap();
        waitpid(Pid::from_raw(pid), None).unwrap();
        let limit: u64 = std::fs::read_to_string(&out)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut hard: libc::rlimit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct it is given.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) },
            0
        );
        let expected = if nix::unistd::geteuid().is_root() {
            SERVICE_NOFILE
        } else {
            hard.rlim_max.min(SERVICE_NOFILE)
        };
        assert_eq!(limit, expected);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

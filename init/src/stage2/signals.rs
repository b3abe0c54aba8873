//! The signals PID 1 acts on, delivered through a signalfd so the main loop can poll.
//!
//! SIGTERM and SIGINT (Ctrl-Alt-Del, once reboot(RB_DISABLE_CAD) made the kernel send
//! it) reboot; SIGUSR2 powers off; SIGUSR1 halts; SIGCHLD means "reap". SIGHUP is taken
//! and ignored so a stray one cannot matter.

use crate::power::Action;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

pub fn handled() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGHUP,
    ] {
        s.add(sig);
    }
    s
}

/// Block the handled signals and open a non-blocking signalfd for them.
pub fn open() -> nix::Result<SignalFd> {
    let set = handled();
    set.thread_block()?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// What a signal asks of init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Child,
    Shutdown(Action, &'static str),
    Ignore,
}

pub fn classify(signo: i32) -> Event {
    match Signal::try_from(signo) {
        Ok(Signal::SIGCHLD) => Event::Child,
        Ok(Signal::SIGTERM) => Event::Shutdown(Action::Reboot, "SIGTERM"),
        Ok(Signal::SIGINT) => Event::Shutdown(Action::Reboot, "SIGINT (Ctrl-Alt-Del)"),
        Ok(Signal::SIGUSR2) => Event::Shutdown(Action::PowerOff, "SIGUSR2"),
        Ok(Signal::SIGUSR1) => Event::Shutdown(Action::Halt, "SIGUSR1"),
        _ => Event::Ignore,
    }
}

/// Drain the signalfd.
pub fn drain(fd: &mut SignalFd) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(Some(info)) = fd.read_signal() {
        out.push(classify(info.ssi_signo as i32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_actions() {
        assert_eq!(
            classify(libc::SIGTERM),
            Event::Shutdown(Action::Reboot, "SIGTERM")
        );
        assert!(matches!(
            classify(libc::SIGINT),
            Event::Shutdown(Action::Reboot, _)
        ));
        assert!(matches!(
            classify(libc::SIGUSR2),
            Event::Shutdown(Action::PowerOff, _)
        ));
        assert!(matches!(
            classify(libc::SIGUSR1),
            Event::Shutdown(Action::Halt, _)
        ));
        assert_eq!(classify(libc::SIGCHLD), Event::Child);
        assert_eq!(classify(libc::SIGHUP), Event::Ignore);
    }
}

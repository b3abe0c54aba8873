//! The last act of init: sync and reboot(2) — reboot, power off or halt.

use crate::log;
use nix::sys::reboot::{reboot, RebootMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Reboot,
    PowerOff,
    Halt,
}

impl Action {
    /// The last console line before reboot(2).
    pub fn final_line(self) -> &'static str {
        match self {
            Action::Reboot => "reboot now",
            Action::PowerOff => "power off now",
            Action::Halt => "halt now",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Action::Reboot => "reboot",
            Action::PowerOff => "power off",
            Action::Halt => "halt",
        }
    }
}

/// Sync, then reboot(2). Never returns. Outside PID 1 (someone ran init by hand) the
/// machine is left alone: init only exits.
pub fn finish(action: Action) -> ! {
    nix::unistd::sync();
    crate::say!("{}", action.final_line());
    if nix::unistd::getpid().as_raw() != 1 {
        log!("not PID 1: leaving the machine running and exiting");
        std::process::exit(0);
    }
    let mode = match action {
        Action::Reboot => RebootMode::RB_AUTOBOOT,
        Action::PowerOff => RebootMode::RB_POWER_OFF,
        Action::Halt => RebootMode::RB_HALT_SYSTEM,
    };
    let err = match reboot(mode) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Exiting PID 1 makes the kernel panic, and panic=10 on our command line reboots:
    // the last way out when reboot(2) itself is refused.
    log!("reboot(2) failed: {err}; exiting so the kernel panics and restarts");
    std::process::exit(1);
}

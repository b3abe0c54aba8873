//! The local screen: the box's monitor, the VM's console window (VMware's, virt-manager's).
//!
//! The kernel command line lists the serial console last (`console=tty0 console=ttyS0`), so
//! `/dev/console`, where init and the daemon write, is the serial port support reads, and
//! the screen (`tty0`, the virtual terminal in front) shows only the kernel's own messages.
//! What a person at the screen needs (where to point a browser, why the machine reboots,
//! how far a factory reset has got) is written there too, through [`Screen`]. Writes are
//! best effort: an appliance without a screen runs the same.
#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// The kernel's list of consoles; its last entry is `/dev/console` (Documentation/ABI/
/// testing/sysfs-tty).
const ACTIVE: &str = "/sys/class/tty/console/active";
/// The virtual terminal in front.
const FRONT_VT: &str = "/dev/tty0";

/// The screen, when it is a console of its own beside `/dev/console`.
pub struct Screen(Option<File>);

/// The screen opened once by [`keep_open`], for a process that may not open it later.
static KEPT: std::sync::OnceLock<Option<File>> = std::sync::OnceLock::new();

/// Open the screen now and let every later [`Screen::open`] use that: for a process that
/// is about to lose the right to open `/dev/tty0` (the daemon's service gives up root).
pub fn keep_open() {
    let _ = KEPT.set(Screen::open_now().0);
}

/// Write `text` on the console (stderr) and then on the screen, if it is a separate one:
/// for a program's occasional lines to a person at the machine. Neither write can fail the
/// caller (a console gone or stopped drops the text, where `eprint!` would panic).
pub fn show(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
    Screen::open().write(text);
}

impl Screen {
    /// A `Screen` that writes nothing (before [`Screen::open`] has looked).
    pub const NONE: Screen = Screen(None);

    /// The screen when the kernel has one beside `/dev/console`; otherwise a `Screen` that
    /// writes nothing (no virtual terminal among the consoles, or it is `/dev/console`
    /// itself, which the caller writes to anyway). Needs /sys mounted.
    pub fn open() -> Screen {
        if let Some(kept) = KEPT.get() {
            return Screen(kept.as_ref().and_then(|f| f.try_clone().ok()));
        }
        Screen::open_now()
    }

    fn open_now() -> Screen {
        let active = std::fs::read_to_string(ACTIVE).unwrap_or_default();
        if !separate(&active) {
            return Screen(None);
        }
        // O_NOCTTY: PID 1 must not make the terminal its controlling one (a hangup on it
        // would then reach init). O_NONBLOCK: Scroll Lock (or Ctrl-S) on the keyboard stops
        // the terminal's output, and a blocking write would then hold PID 1 or the network
        // manager until someone pressed it again; the line is dropped instead.
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(FRONT_VT)
            .ok();
        Screen(file)
    }

    /// Write `text` as it is (the terminal turns `\n` into a new line); nothing, or part of
    /// it, while the terminal's output is stopped.
    pub fn write(&mut self, text: &str) {
        if let Some(f) = self.0.as_mut() {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

/// Whether the console list `active` (as in [`ACTIVE`]) has a virtual terminal that is not
/// `/dev/console`, the last entry.
pub fn separate(active: &str) -> bool {
    let names: Vec<&str> = active.split_whitespace().collect();
    match names.split_last() {
        Some((last, others)) => !is_vt(last) && others.iter().any(|n| is_vt(n)),
        None => false,
    }
}

/// `tty0`, `tty1`, ...: a virtual terminal (not `ttyS0`, `ttyUSB0`, `hvc0`).
fn is_vt(name: &str) -> bool {
    name.strip_prefix("tty")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_screen_listed_before_the_serial_console_is_separate() {
        assert!(separate("tty0 ttyS0\n"));
        assert!(separate("tty1 ttyS1\n"));
        assert!(separate("tty0 hvc0\n"));
    }

    #[test]
    fn no_screen_or_the_screen_as_dev_console_is_not() {
        assert!(!separate("ttyS0\n"));
        assert!(!separate("tty0\n"));
        assert!(!separate("ttyS0 tty0\n"));
        assert!(!separate("ttyUSB0 ttyS0\n"));
        assert!(!separate(""));
    }

    #[test]
    fn only_numbered_ttys_are_virtual_terminals() {
        assert!(is_vt("tty0"));
        assert!(is_vt("tty12"));
        assert!(!is_vt("tty"));
        assert!(!is_vt("ttyS0"));
        assert!(!is_vt("ttyAMA0"));
        assert!(!is_vt("console"));
    }
}

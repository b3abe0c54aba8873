//! Questions to the person at the terminal (`/dev/tty`, so that pipes on stdin and stdout
//! stay free for scripts): passwords without echo, and yes/no confirmations.
// Unsafe code: sigaction(2) and _exit(2): the terminal is restored on Ctrl-C.
#![allow(unsafe_code)]

use nix::libc;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

/// Where a signal handler finds the terminal settings to put back.
static TTY_FD: AtomicI32 = AtomicI32::new(-1);
static SAVED: OnceLock<libc::termios> = OnceLock::new();

fn open_tty() -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| format!("no terminal to ask on (/dev/tty: {e})"))
}

/// True when there is a terminal to ask questions on.
pub(crate) fn available() -> bool {
    open_tty().is_ok()
}

fn read_line(tty: &File) -> Result<String, String> {
    let mut line = String::new();
    let read = BufReader::new(tty)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read from the terminal: {e}"))?;
    if read == 0 {
        return Err("the terminal closed before an answer".to_string());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Ask `question`; only "y" or "yes" (any case) is a yes.
pub(crate) fn confirm(question: &str) -> Result<bool, String> {
    let answer = line(&format!("{question} [y/N] "))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Ask `prompt` and read one line, echoed as typed.
pub(crate) fn line(prompt: &str) -> Result<String, String> {
    let mut tty = open_tty()?;
    write!(tty, "{prompt}").map_err(|e| format!("cannot write to the terminal: {e}"))?;
    read_line(&tty)
}

/// Ask for a password without echoing it.
pub(crate) fn password(prompt: &str) -> Result<String, String> {
    let mut tty = open_tty()?;
    write!(tty, "{prompt}").map_err(|e| format!("cannot write to the terminal: {e}"))?;
    let original = tcgetattr(&tty).map_err(|e| format!("cannot read the terminal mode: {e}"))?;
    let mut quiet = original.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    // The Enter key still shows as a new line.
    quiet.local_flags.insert(LocalFlags::ECHONL);
    let _restore = EchoGuard::install(&tty, &original);
    tcsetattr(&tty, SetArg::TCSAFLUSH, &quiet)
        .map_err(|e| format!("cannot turn the terminal's echo off: {e}"))?;
    read_line(&tty)
}

/// Puts the terminal back on drop, and on SIGINT/SIGTERM/SIGQUIT/SIGHUP while asking (an
/// interrupted prompt must not leave the operator's shell without echo).
struct EchoGuard<'a> {
    tty: &'a File,
    original: Termios,
    previous: Vec<(Signal, SigAction)>,
}

impl<'a> EchoGuard<'a> {
    fn install(tty: &'a File, original: &Termios) -> Self {
        let _ = SAVED.set(libc::termios::from(original.clone()));
        TTY_FD.store(tty.as_raw_fd(), Ordering::SeqCst);
        let action = SigAction::new(
            SigHandler::Handler(restore_and_exit),
            SaFlags::empty(),
            SigSet::empty(),
        );
        let mut previous = Vec::new();
        for signal in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGQUIT,
            Signal::SIGHUP,
        ] {
            // SAFETY: the handler only calls async-signal-safe functions (tcsetattr,
            // write, _exit) on data set before it is installed.
            match unsafe { sigaction(signal, &action) } {
                // An ignored signal (nohup, a shell's trap '') stays ignored.
                Ok(old) if old.handler() == SigHandler::SigIgn => {
                    // SAFETY: putting back the disposition that was there before.
                    let _ = unsafe { sigaction(signal, &old) };
                }
                Ok(old) => previous.push((signal, old)),
                Err(_) => {}
            }
        }
        EchoGuard {
            tty,
            original: original.clone(),
            previous,
        }
    }
}

impl Drop for EchoGuard<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.tty, SetArg::TCSANOW, &self.original);
        for (signal, old) in self.previous.drain(..) {
            // SAFETY: putting back the handler that was there before.
            let _ = unsafe { sigaction(signal, &old) };
        }
        TTY_FD.store(-1, Ordering::SeqCst);
    }
}

extern "C" fn restore_and_exit(signal: libc::c_int) {
    let fd = TTY_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        if let Some(saved) = SAVED.get() {
            // SAFETY: async-signal-safe calls on a valid descriptor and a plain struct.
            unsafe {
                libc::tcsetattr(fd, libc::TCSANOW, saved);
                libc::write(fd, b"\n".as_ptr().cast(), 1);
            }
        }
    }
    // SAFETY: _exit is async-signal-safe; 128 + signal is the shell's convention.
    unsafe { libc::_exit(128 + signal) }
}

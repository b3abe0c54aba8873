//! The services' output pipes: read without blocking in init's loop, cut into lines,
//! handed to the journal (console and persistent log).

use super::journal::Handle;
use nix::errno::Errno;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

/// A line longer than this is cut (the rest follows as the next line).
const MAX_LINE: usize = 8 << 10;
/// At most this much is read from one pipe per wake-up, so that one flooding service
/// cannot hold the loop (the rest waits in the pipe; the service waits when it is full).
const READ_PER_WAKE: usize = 256 << 10;

/// The read end of one service's stdout/stderr pipe. It outlives a restart of the
/// service when something the service started still holds the write end.
pub struct Output {
    pub service: Arc<str>,
    fd: OwnedFd,
    partial: Vec<u8>,
}

impl Output {
    pub fn new(service: &str, fd: OwnedFd) -> Output {
        Output {
            service: Arc::from(service),
            fd,
            partial: Vec::new(),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Read what is there; false once the pipe has ended (every writer closed it).
    pub fn drain(&mut self, to: &Handle) -> bool {
        let mut buf = [0u8; 16 << 10];
        let mut total = 0;
        loop {
            match nix::unistd::read(self.fd.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    self.flush(to);
                    return false;
                }
                Ok(n) => {
                    self.take(&buf[..n], to);
                    total += n;
                    if total >= READ_PER_WAKE {
                        return true;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return true,
                Err(_) => {
                    self.flush(to);
                    return false;
                }
            }
        }
    }

    fn take(&mut self, mut data: &[u8], to: &Handle) {
        while let Some(i) = data.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&data[..i]);
            self.emit(to);
            data = &data[i + 1..];
        }
        self.partial.extend_from_slice(data);
        while self.partial.len() >= MAX_LINE {
            let rest = self.partial.split_off(MAX_LINE);
            self.emit(to);
            self.partial = rest;
        }
    }

    fn flush(&mut self, to: &Handle) {
        if !self.partial.is_empty() {
            self.emit(to);
        }
    }

    fn emit(&mut self, to: &Handle) {
        let text = String::from_utf8_lossy(&self.partial);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        to.service_line(&self.service, text);
        self.partial.clear();
    }
}

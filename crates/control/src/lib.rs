//! The control protocol between `appliance-daemon` and `init` (PID 1).
//!
//! init listens on [`SOCKET_PATH`], a Unix stream socket. Each connection carries one
//! request and one response. A frame is a 4-byte big-endian length followed by that many
//! bytes of postcard-encoded [`Request`] or [`Response`]. Frames above [`MAX_FRAME`] are
//! refused so a confused peer cannot make PID 1 allocate without bound.
//!
//! This crate does no I/O of its own beyond `Read`/`Write`; both ends use it.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Where init listens.
pub const SOCKET_PATH: &str = "/run/init.sock";

/// Largest frame either side accepts.
pub const MAX_FRAME: u32 = 64 * 1024;

/// What the daemon may ask of init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Orderly shutdown, then restart the machine.
    Reboot,
    /// Orderly shutdown, then power the machine off.
    PowerOff,
    /// The state of every supervised service.
    ServiceStatus,
    /// The booted slot passed its health check and is marked good: init stops the
    /// health deadline that would otherwise restart the machine (docs/boot.md).
    Healthy,
}

/// init's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The request was accepted; for Reboot/PowerOff the shutdown starts after this reply.
    Accepted,
    Services(Vec<ServiceInfo>),
    /// The request was refused, with a sentence saying why.
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub name: String,
    pub state: ServiceState,
    /// PID while running.
    pub pid: Option<u32>,
    /// How many times init restarted it since boot.
    pub restarts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceState {
    Running,
    /// Exited; waiting for its backoff delay before the next start.
    BackingOff,
    /// Failed too often in a row; init stopped restarting it.
    GaveUp,
    /// Stopped on purpose (shutdown in progress).
    Stopped,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("control socket I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("control frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(u32),
    #[error("control message does not decode: {0}")]
    Decode(#[from] postcard::Error),
}

/// Write one framed message.
pub fn write_frame<T: Serialize, W: Write>(w: &mut W, msg: &T) -> Result<(), Error> {
    let body = postcard::to_stdvec(msg)?;
    let len = u32::try_from(body.len()).map_err(|_| Error::TooLarge(u32::MAX))?;
    if len > MAX_FRAME {
        return Err(Error::TooLarge(len));
    }
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()?;
    Ok(())
}

/// Read one framed message.
pub fn read_frame<T: for<'de> Deserialize<'de>, R: Read>(r: &mut R) -> Result<T, Error> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(Error::TooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    Ok(postcard::from_bytes(&body)?)
}

/// Client side: send `req` to init at `path` and wait for the answer.
pub fn call(path: &str, req: &Request) -> Result<Response, Error> {
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write_frame(&mut s, req)?;
    read_frame(&mut s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::PowerOff).unwrap();
        let resp = Response::Services(vec![ServiceInfo {
            name: "appliance-daemon".into(),
            state: ServiceState::BackingOff,
            pid: None,
            restarts: 3,
        }]);
        write_frame(&mut buf, &resp).unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame::<Request, _>(&mut r).unwrap(), Request::PowerOff);
        assert_eq!(read_frame::<Response, _>(&mut r).unwrap(), resp);
    }

    #[test]
    fn oversized_frame_is_refused_before_allocating() {
        let mut buf = (MAX_FRAME + 1).to_be_bytes().to_vec();
        buf.extend_from_slice(&[0; 8]);
        let err = read_frame::<Request, _>(&mut &buf[..]).unwrap_err();
        assert!(matches!(err, Error::TooLarge(n) if n == MAX_FRAME + 1));
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let buf = [0, 0, 0, 1, 0xff];
        assert!(matches!(
            read_frame::<Request, _>(&mut &buf[..]),
            Err(Error::Decode(_))
        ));
    }
}

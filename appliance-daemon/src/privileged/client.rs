//! The service's side of [`super::SOCKET`]: blocking calls, one connection each (run them
//! off the async workers).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use grubenv::{BootState, Env, Slot};
use package::Signed;

use super::{Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the privileged part cannot be reached: {0}")]
    Unreachable(#[from] std::io::Error),
    #[error("the privileged part's answer: {0}")]
    Protocol(#[from] control::Error),
    #[error("refused by the privileged part: {0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
    #[error("the privileged part answered {0} to a request for something else")]
    Unexpected(String),
}

/// Long enough for grubenv on a slow disk; an install's answers wait for the hash too.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

fn connect(req: &Request) -> Result<UnixStream, Error> {
    let mut conn = UnixStream::connect(super::SOCKET)?;
    conn.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    control::write_frame(&mut conn, req)?;
    Ok(conn)
}

fn answer(conn: &mut UnixStream) -> Result<Response, Error> {
    match control::read_frame(conn)? {
        Response::Refused(why) => Err(Error::Refused(why)),
        Response::Failed(why) => Err(Error::Failed(why)),
        other => Ok(other),
    }
}

fn call(req: &Request) -> Result<Response, Error> {
    let mut conn = connect(req)?;
    answer(&mut conn)
}

fn done(req: &Request) -> Result<(), Error> {
    match call(req)? {
        Response::Done => Ok(()),
        other => Err(Error::Unexpected(format!("{other:?}"))),
    }
}

pub(crate) fn read_boot_state() -> Result<BootState, Error> {
    match call(&Request::ReadBootState)? {
        Response::BootState(block) => Env::parse(&block)
            .map(BootState::from_env)
            .map_err(|e| Error::Failed(format!("grubenv as read: {e}"))),
        other => Err(Error::Unexpected(format!("{other:?}"))),
    }
}

pub(crate) fn write_boot_state(state: &BootState) -> Result<(), Error> {
    let block = state
        .env()
        .to_block()
        .map_err(|e| Error::Failed(format!("grubenv: {e}")))?;
    done(&Request::WriteBootState(block))
}

/// [`crate::boot::mark_good`], done by the privileged part for the booted slot.
pub(crate) fn mark_good() -> Result<crate::boot::Outcome, Error> {
    match call(&Request::MarkGood)? {
        Response::Marked {
            changed: true,
            device,
        } => Ok(crate::boot::Outcome::Marked { device }),
        Response::Marked {
            changed: false,
            device,
        } => Ok(crate::boot::Outcome::AlreadyGood { device }),
        Response::Factory => Ok(crate::boot::Outcome::Factory),
        other => Err(Error::Unexpected(format!("{other:?}"))),
    }
}

pub(crate) fn set_hostname(name: &str) -> Result<(), Error> {
    done(&Request::SetHostname(name.to_string()))
}

pub(crate) fn restart_time_service() -> Result<(), Error> {
    done(&Request::RestartTimeService)
}

/// The inactive slot being written through the privileged part: write the image's bytes,
/// then [`SlotWriter::finish`] for the verdict (hash checked, slot made bootable).
#[derive(Debug)]
pub(crate) struct SlotWriter {
    conn: UnixStream,
}

impl SlotWriter {
    /// Hand over the package's signed entries; the privileged part verifies them and sets
    /// the slot unbootable before it is ready for the image.
    pub(crate) fn begin(slot: Slot, signed: &Signed) -> Result<Self, Error> {
        let mut conn = connect(&Request::InstallSlot {
            slot: slot.to_string(),
            manifest: signed.manifest.clone(),
            signature: signed.signature.clone(),
        })?;
        match answer(&mut conn)? {
            Response::Ready => Ok(SlotWriter { conn }),
            other => Err(Error::Unexpected(format!("{other:?}"))),
        }
    }

    /// All bytes were written: wait for the privileged part's verdict.
    pub(crate) fn finish(mut self) -> Result<(), Error> {
        self.conn.flush()?;
        match answer(&mut self.conn)? {
            Response::Done => Ok(()),
            other => Err(Error::Unexpected(format!("{other:?}"))),
        }
    }
}

impl Write for SlotWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.conn.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.conn.flush()
    }
}

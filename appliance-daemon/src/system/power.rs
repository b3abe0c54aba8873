//! Reboot and power-off requests to init, and the state of its services, over init's
//! control socket ([`control::SOCKET_PATH`]). One request per connection; init answers
//! before it starts shutting down, so a caller that wants its own reply delivered first
//! (the HTTP handler) answers its client, then calls [`request`].

use control::{Request, Response};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// How long init gets to answer one request.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PowerAction {
    Reboot,
    PowerOff,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PowerError {
    #[error("cannot reach init at {path}: {source}")]
    Unreachable {
        path: String,
        source: std::io::Error,
    },
    #[error("init at {path} did not answer within {} seconds", TIMEOUT.as_secs())]
    Timeout { path: String },
    #[error("init at {path} sent an answer that cannot be read: {source}")]
    Protocol {
        path: String,
        source: control::Error,
    },
    #[error("init at {path} answered {answer} to {request}")]
    Unexpected {
        path: String,
        request: String,
        answer: String,
    },
    /// init's own sentence.
    #[error("{0}")]
    Refused(String),
}

/// Ask init to shut down and reboot or power off. Ok means init accepted and is starting
/// the shutdown.
pub(crate) async fn request(action: PowerAction, socket: &Path) -> Result<(), PowerError> {
    let req = match action {
        PowerAction::Reboot => Request::Reboot,
        PowerAction::PowerOff => Request::PowerOff,
    };
    match call(socket, &req).await? {
        Response::Accepted => Ok(()),
        Response::Refused(why) => Err(PowerError::Refused(why)),
        other => Err(unexpected(socket, &req, &other)),
    }
}

/// Tell init the booted slot passed its health check, so its health deadline does not
/// restart the machine.
pub(crate) async fn report_healthy(socket: &Path) -> Result<(), PowerError> {
    let req = Request::Healthy;
    match call(socket, &req).await? {
        Response::Accepted => Ok(()),
        Response::Refused(why) => Err(PowerError::Refused(why)),
        other => Err(unexpected(socket, &req, &other)),
    }
}

fn unexpected(socket: &Path, req: &Request, answer: &Response) -> PowerError {
    PowerError::Unexpected {
        path: socket.display().to_string(),
        request: format!("{req:?}"),
        answer: format!("{answer:?}"),
    }
}

/// One request, one answer, within [`TIMEOUT`].
async fn call(socket: &Path, req: &Request) -> Result<Response, PowerError> {
    let path = || socket.display().to_string();
    tokio::time::timeout(TIMEOUT, exchange(socket, req))
        .await
        .map_err(|_| PowerError::Timeout { path: path() })?
        .map_err(|err| match err {
            control::Error::Io(source) => PowerError::Unreachable {
                path: path(),
                source,
            },
            source => PowerError::Protocol {
                path: path(),
                source,
            },
        })
}

/// The framing of `control`, done on buffers so the socket stays async.
async fn exchange(socket: &Path, req: &Request) -> Result<Response, control::Error> {
    let mut frame = Vec::new();
    control::write_frame(&mut frame, req)?;
    let mut stream = UnixStream::connect(socket).await?;
    stream.write_all(&frame).await?;

    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let body_len = u32::from_be_bytes(len);
    if body_len > control::MAX_FRAME {
        return Err(control::Error::TooLarge(body_len));
    }
    let mut answer = len.to_vec();
    answer.resize(4 + body_len as usize, 0);
    stream.read_exact(&mut answer[4..]).await?;
    control::read_frame(&mut answer.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;
    use control::ServiceState;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;

    /// Plays init for one connection: reads the request, answers `answer`, and hands the
    /// request back.
    fn fake_init(dir: &TestDir, answer: Response) -> (PathBuf, std::thread::JoinHandle<Request>) {
        let path = dir.path().join("init.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let req: Request = control::read_frame(&mut conn).unwrap();
            control::write_frame(&mut conn, &answer).unwrap();
            req
        });
        (path, handle)
    }

    #[tokio::test]
    async fn accepted_reboot() {
        let dir = TestDir::new("power-accept");
        let (path, init) = fake_init(&dir, Response::Accepted);
        request(PowerAction::Reboot, &path).await.unwrap();
        assert_eq!(init.join().unwrap(), Request::Reboot);
    }

    #[tokio::test]
    async fn refused_power_off_carries_inits_sentence() {
        let dir = TestDir::new("power-refuse");
        let why = "a shutdown is already in progress";
        let (path, init) = fake_init(&dir, Response::Refused(why.into()));
        let err = request(PowerAction::PowerOff, &path).await.unwrap_err();
        assert!(matches!(err, PowerError::Refused(_)));
        assert_eq!(err.to_string(), why);
        assert_eq!(init.join().unwrap(), Request::PowerOff);
    }

    #[tokio::test]
    async fn no_one_listening() {
        let dir = TestDir::new("power-absent");
        let path = dir.path().join("init.sock");
        let err = request(PowerAction::Reboot, &path).await.unwrap_err();
        assert!(matches!(err, PowerError::Unreachable { .. }));
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("cannot reach init at {}: ", path.display())),
            "{message}"
        );
    }

    #[tokio::test]
    async fn init_that_hangs_up_without_answering() {
        let dir = TestDir::new("power-hangup");
        let path = dir.path().join("init.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let init = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let _: Request = control::read_frame(&mut conn).unwrap();
        });
        let err = request(PowerAction::Reboot, &path).await.unwrap_err();
        init.join().unwrap();
        assert!(matches!(err, PowerError::Unreachable { .. }), "{err}");
    }

    #[tokio::test]
    async fn an_unexpected_answer() {
        let list = vec![control::ServiceInfo {
            name: "appliance-daemon".into(),
            state: ServiceState::Running,
            pid: Some(212),
            restarts: 0,
        }];
        let dir = TestDir::new("power-unexpected");
        let (path, init) = fake_init(&dir, Response::Services(list));
        let err = request(PowerAction::Reboot, &path).await.unwrap_err();
        init.join().unwrap();
        assert!(matches!(err, PowerError::Unexpected { .. }), "{err}");
    }
}

//! The control socket (`/run/init.sock`, mode 0600): the daemon asks for a reboot, a
//! power-off or the service states. One request and one answer per connection.
//!
//! A client gets one second to send its request, so a stuck or hostile client can delay
//! PID 1's loop by at most that much and never block it.

use crate::power::Action;
use control::{read_frame, write_frame, Request, Response, ServiceInfo};
use nix::sys::stat::{umask, Mode};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);

pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    // A socket file left by an earlier init would make bind fail.
    let _ = std::fs::remove_file(path);
    // Created 0600 from the start: no window in which another user could connect.
    let old = umask(Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    umask(old);
    let listener = listener?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// What a request asks of the main loop.
pub fn answer(req: &Request, services: Vec<ServiceInfo>) -> (Response, Option<Action>) {
    match req {
        Request::Reboot => (Response::Accepted, Some(Action::Reboot)),
        Request::PowerOff => (Response::Accepted, Some(Action::PowerOff)),
        Request::ServiceStatus => (Response::Services(services), None),
        Request::Healthy => (Response::Accepted, None),
    }
}

/// What the pending connections asked for.
#[derive(Debug, Default)]
pub struct Served {
    /// The first shutdown asked for.
    pub action: Option<Action>,
    /// The daemon reported the booted slot healthy.
    pub healthy: bool,
}

/// Serve every pending connection.
pub fn serve(listener: &UnixListener, services: &dyn Fn() -> Vec<ServiceInfo>) -> Served {
    let mut served = Served::default();
    while let Ok((mut stream, _)) = listener.accept() {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
        let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
        let req: Request = match read_frame(&mut stream) {
            Ok(r) => r,
            Err(e) => {
                crate::log!("control socket: bad request: {e}");
                let _ = write_frame(&mut stream, &Response::Refused(format!("bad request: {e}")));
                continue;
            }
        };
        served.healthy |= req == Request::Healthy;
        let (resp, act) = answer(&req, services());
        if let Some(a) = act {
            crate::log!("control socket: {} requested", a.describe());
        }
        let _ = write_frame(&mut stream, &resp);
        served.action = served.action.or(act);
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_answers() {
        assert_eq!(
            answer(&Request::Reboot, vec![]),
            (Response::Accepted, Some(Action::Reboot))
        );
        assert_eq!(
            answer(&Request::PowerOff, vec![]),
            (Response::Accepted, Some(Action::PowerOff))
        );
        let (r, a) = answer(&Request::ServiceStatus, vec![]);
        assert_eq!((r, a), (Response::Services(vec![]), None));
    }
}

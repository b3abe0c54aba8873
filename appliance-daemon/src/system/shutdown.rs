//! Restart and power-off requested by an administrator: recorded in the audit log, then
//! handed to init a moment later so that the HTTP answer reaches the client first. One
//! request at a time: a second one while the first is under way is refused.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::power::{self, PowerAction};
use crate::config::Mode;
use crate::store::{Audit, Store};

/// Time for the answer to leave before init starts stopping services.
const ANSWER_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("a restart or shutdown is already under way")]
    AlreadyGoingDown,
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// The one restart or power-off the appliance may have under way.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    /// init's control socket.
    control_socket: PathBuf,
    store: Store,
    /// Set once a restart or power-off has been requested; cleared if init refused it.
    going_down: AtomicBool,
}

impl Shutdown {
    pub(crate) fn new(mode: Mode, control_socket: PathBuf, store: Store) -> Self {
        Shutdown {
            inner: Arc::new(Inner {
                mode,
                control_socket,
                store,
                going_down: AtomicBool::new(false),
            }),
        }
    }

    /// Whether a restart or power-off is under way.
    pub(crate) fn going_down(&self) -> bool {
        self.inner.going_down.load(Ordering::SeqCst)
    }

    /// Audit the request and hand it to init after [`ANSWER_GRACE`].
    pub(crate) fn schedule(
        &self,
        user: &str,
        address: Option<IpAddr>,
        action: PowerAction,
    ) -> Result<(), ScheduleError> {
        let inner = &self.inner;
        if inner.going_down.swap(true, Ordering::SeqCst) {
            return Err(ScheduleError::AlreadyGoingDown);
        }
        let (code, what) = match action {
            PowerAction::Reboot => ("system.reboot", "restart requested"),
            PowerAction::PowerOff => ("system.shutdown", "shutdown requested"),
        };
        if let Err(err) = inner
            .store
            .change(Audit::user(user, address, code, what), |_| {
                Ok::<_, crate::store::Error>(())
            })
        {
            inner.going_down.store(false, Ordering::SeqCst);
            return Err(err.into());
        }
        tracing::info!(%user, ?address, "{what}");
        let inner = Arc::clone(inner);
        tokio::spawn(async move {
            tokio::time::sleep(ANSWER_GRACE).await;
            if inner.mode == Mode::Dev {
                tracing::info!("dev mode: init is not asked to {action:?}; the host is left alone");
                inner.going_down.store(false, Ordering::SeqCst);
                return;
            }
            if let Err(err) = power::request(action, &inner.control_socket).await {
                tracing::error!("init refused or did not get the {action:?} request: {err}");
                inner.going_down.store(false, Ordering::SeqCst);
            }
        });
        Ok(())
    }
}

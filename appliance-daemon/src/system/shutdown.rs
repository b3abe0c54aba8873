//! Restart and power-off requested by an administrator: recorded in the audit log, then
//! handed to init a moment later so that the HTTP answer reaches the client first.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::power::{self, PowerAction};
use crate::api::AppState;
use crate::config::Mode;
use crate::store::Audit;

/// Time for the answer to leave before init starts stopping services.
const ANSWER_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("a restart or shutdown is already under way")]
    AlreadyGoingDown,
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

pub fn schedule(
    state: &Arc<AppState>,
    user: &str,
    address: Option<IpAddr>,
    action: PowerAction,
) -> Result<(), ScheduleError> {
    if state.going_down.swap(true, Ordering::SeqCst) {
        return Err(ScheduleError::AlreadyGoingDown);
    }
    let (code, what) = match action {
        PowerAction::Reboot => ("system.reboot", "restart requested"),
        PowerAction::PowerOff => ("system.shutdown", "shutdown requested"),
    };
    if let Err(err) = state
        .store
        .change(Audit::user(user, address, code, what), |_| {
            Ok::<_, crate::store::Error>(())
        })
    {
        state.going_down.store(false, Ordering::SeqCst);
        return Err(err.into());
    }
    tracing::info!(%user, ?address, "{what}");
    let state = Arc::clone(state);
    tokio::spawn(async move {
        tokio::time::sleep(ANSWER_GRACE).await;
        if state.mode == Mode::Dev {
            tracing::info!("dev mode: init is not asked to {action:?}; the host is left alone");
            state.going_down.store(false, Ordering::SeqCst);
            return;
        }
        if let Err(err) = power::request(action, &state.control_socket).await {
            tracing::error!("init refused or did not get the {action:?} request: {err}");
            state.going_down.store(false, Ordering::SeqCst);
        }
    });
    Ok(())
}

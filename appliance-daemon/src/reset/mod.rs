//! Factory reset, the daemon's part (docs/factory-reset.md): the request (from the API or
//! the web UI's confirmation page) is recorded in grubenv on the ESP
//! (`FACTORY_RESET=poweroff|reboot`) and audited, and the appliance restarts; stage 1 of
//! the next boot erases `data`, restores the factory system into slot A and powers off or
//! restarts. Afterwards the sanitization record stage 1 wrote on the new data partition
//! is shown on Status ([`sanitization_record`]).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use grubenv::Then;

use crate::boot::EnvStore;
use crate::store::{Audit, Store};
use crate::system::power::PowerAction;
use crate::system::shutdown::{ScheduleError, Shutdown};
use crate::update::Updater;

/// The word a request must carry in `confirm`.
pub(crate) const CONFIRMATION: &str = "factory-reset";

/// Where stage 1 leaves the sanitization record, relative to the state directory (/data).
pub(crate) const RECORD_FILE: &str = "sanitization.json";

/// What `sanitization.json` says (written by init, stage 1; format in
/// docs/factory-reset.md). Unknown fields are ignored, missing ones take defaults.
pub(crate) use api_types::SanitizationRecord;

/// The record of the last factory reset, if this data partition was made by one.
pub(crate) fn sanitization_record(state_dir: &Path) -> Option<SanitizationRecord> {
    let path = state_dir.join(RECORD_FILE);
    let text = std::fs::read(&path).ok()?;
    match serde_json::from_slice(&text) {
        Ok(record) => Some(record),
        Err(err) => {
            tracing::warn!(path = %path.display(), "the sanitization record cannot be read: {err}");
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("a factory reset must be confirmed with the word {CONFIRMATION:?}")]
    ConfirmationRequired,
    #[error("\"then\" must be \"poweroff\" or \"reboot\", not {0:?}")]
    InvalidThen(String),
    #[error("an update is being installed")]
    UpdateInProgress,
    #[error("a restart or shutdown is already under way")]
    AlreadyGoingDown,
    /// grubenv on the ESP could not be written: nothing was started.
    #[error("the request could not be recorded on the boot partition: {0}")]
    Record(String),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// What a request asks for (`confirm` must be [`CONFIRMATION`]; `then` defaults to power
/// off), or why it is refused.
pub(crate) fn check(confirm: Option<&str>, then: Option<&str>) -> Result<Then, ResetError> {
    if confirm != Some(CONFIRMATION) {
        return Err(ResetError::ConfirmationRequired);
    }
    match then {
        None => Ok(Then::PowerOff),
        Some(then) => Then::parse(then).ok_or_else(|| ResetError::InvalidThen(then.to_string())),
    }
}

/// Record the request, audit it and restart. Every refusal leaves nothing started.
pub(crate) async fn start(
    updater: &Arc<Updater>,
    shutdown: &Shutdown,
    store: &Store,
    user: &str,
    address: Option<IpAddr>,
    then: Then,
) -> Result<(), ResetError> {
    if let Some(refusal) = busy(updater.installing(), shutdown.going_down()) {
        return Err(refusal);
    }
    // The updater's grubenv (the ESP's, or a file in dev mode), recorded with its install
    // flag held: an install cannot start meanwhile (it writes the slot and grubenv the
    // reset is about to rewrite), nor after.
    let env = updater.platform.env();
    let recorder = Arc::clone(updater);
    let recording = env.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        recorder.for_factory_reset(|| change(&recording, |st| st.request_factory_reset(then)))
    })
    .await
    .map_err(|e| ResetError::Record(e.to_string()))?;
    match recorded {
        Err(_) => return Err(ResetError::UpdateInProgress),
        Ok(Err(e)) => return Err(ResetError::Record(e)),
        Ok(Ok(())) => {}
    }
    let what = match then {
        Then::PowerOff => "factory reset requested, then power off",
        Then::Reboot => "factory reset requested, then restart",
    };
    let audited = store
        .change(
            Audit::user(user, address, "system.factory_reset", what),
            |_| Ok::<_, crate::store::Error>(()),
        )
        .map_err(ResetError::from);
    let scheduled = audited.and_then(|()| {
        shutdown
            .schedule(user, address, PowerAction::Reboot)
            .map_err(|e| match e {
                ScheduleError::AlreadyGoingDown => ResetError::AlreadyGoingDown,
                ScheduleError::Store(e) => e.into(),
            })
    });
    if let Err(err) = scheduled {
        updater.factory_reset_cancelled();
        if let Err(e) = edit(env, grubenv::BootState::cancel_factory_reset).await {
            tracing::error!(
                "the factory reset request could not be taken back; it runs at the next restart: {e}"
            );
        }
        return Err(err);
    }
    tracing::warn!(%user, ?address, then = then.as_str(), "{what}; restarting to carry it out");
    Ok(())
}

/// Why the appliance cannot take a reset request now, if it cannot.
fn busy(installing: bool, going_down: bool) -> Option<ResetError> {
    if installing {
        Some(ResetError::UpdateInProgress)
    } else {
        going_down.then_some(ResetError::AlreadyGoingDown)
    }
}

/// Read, change and write grubenv (blocking I/O).
fn change(env: &EnvStore, f: impl FnOnce(&mut grubenv::BootState)) -> Result<(), String> {
    let mut st = env.read().map_err(|e| e.to_string())?;
    f(&mut st);
    env.write(&st).map_err(|e| e.to_string())
}

/// [`change`] off the async workers.
async fn edit(
    env: EnvStore,
    f: impl FnOnce(&mut grubenv::BootState) + Send + 'static,
) -> Result<(), String> {
    tokio::task::spawn_blocking(move || change(&env, f))
        .await
        .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;

    #[test]
    fn confirmation_is_required() {
        for (confirm, then) in [
            (None, None),
            (Some("yes"), None),
            (None, Some("reboot")),
            (Some("FACTORY-RESET"), None),
        ] {
            assert!(
                matches!(check(confirm, then), Err(ResetError::ConfirmationRequired)),
                "{confirm:?} {then:?}"
            );
        }
    }

    #[test]
    fn power_off_is_the_default() {
        assert_eq!(check(Some(CONFIRMATION), None).unwrap(), Then::PowerOff);
        assert_eq!(
            check(Some(CONFIRMATION), Some("reboot")).unwrap(),
            Then::Reboot
        );
        assert!(matches!(
            check(Some(CONFIRMATION), Some("halt")),
            Err(ResetError::InvalidThen(t)) if t == "halt"
        ));
    }

    #[test]
    fn refused_during_an_install_or_a_shutdown() {
        assert!(matches!(
            busy(true, false),
            Some(ResetError::UpdateInProgress)
        ));
        assert!(matches!(
            busy(false, true),
            Some(ResetError::AlreadyGoingDown)
        ));
        assert!(matches!(
            busy(true, true),
            Some(ResetError::UpdateInProgress)
        ));
        assert!(busy(false, false).is_none());
    }

    /// The record exactly as init writes it (init/src/stage1/reset/record.rs).
    const RECORD: &str = r#"{
  "format": 1,
  "method": "zeroout",
  "method_detail": "BLKZEROOUT: the device's write-zeroes command",
  "device": "/dev/sda6",
  "partition": "data",
  "bytes": 8589934592,
  "verified_samples": 64,
  "started": "2023-11-14T22:13:20Z",
  "finished": "2023-11-14T22:14:50Z",
  "started_unix": 1700000000,
  "finished_unix": 1700000090,
  "interruptions": 2,
  "slot_b_cleared_bytes": 268435456,
  "factory_bytes": 15613952,
  "factory_version": "1.0.0",
  "then": "poweroff"
}
"#;

    #[test]
    fn reads_the_record_init_writes() {
        let dir = TestDir::new("sanitization");
        assert_eq!(sanitization_record(dir.path()), None);
        std::fs::write(dir.path().join(RECORD_FILE), RECORD).unwrap();
        let r = sanitization_record(dir.path()).unwrap();
        assert_eq!(r.method, "zeroout");
        assert_eq!(r.device, "/dev/sda6");
        assert_eq!(r.bytes, 8 << 30);
        assert_eq!(r.started, "2023-11-14T22:13:20Z");
        assert_eq!(r.interruptions, 2);
        assert_eq!(r.factory_version.as_deref(), Some("1.0.0"));
        std::fs::write(dir.path().join(RECORD_FILE), "not json").unwrap();
        assert_eq!(sanitization_record(dir.path()), None);
    }
}

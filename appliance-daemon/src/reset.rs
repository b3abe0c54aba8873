//! Factory reset, the daemon's part (docs/factory-reset.md): `POST
//! /api/v1/system/factory-reset` and the web UI's confirmation page record the request in
//! grubenv on the ESP (`FACTORY_RESET=poweroff|reboot`), audit it and restart; stage 1 of
//! the next boot erases `data`, restores the factory system into slot A and powers off or
//! restarts. Afterwards the sanitization record stage 1 wrote on the new data partition
//! is shown on Status ([`sanitization_record`]).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use grubenv::Then;

use crate::api::extract::Caller;
use crate::api::{ApiError, AppState};
use crate::boot::EnvStore;
use crate::store::Audit;
use crate::system::power::PowerAction;
use crate::system::shutdown::{schedule, ScheduleError};

/// The word a request must carry in `confirm`.
pub const CONFIRMATION: &str = "factory-reset";

/// Where stage 1 leaves the sanitization record, relative to the state directory (/data).
pub const RECORD_FILE: &str = "sanitization.json";

/// The body of `POST /api/v1/system/factory-reset`.
pub use api_types::FactoryReset as ResetRequest;

/// The answer: the reset starts with the restart that follows. Written as
/// [`api_types::ResetAccepted`].
#[derive(Debug, Clone, Serialize)]
#[serde(into = "api_types::ResetAccepted")]
pub struct ResetAccepted {
    pub status: &'static str,
    pub then: &'static str,
}

impl From<ResetAccepted> for api_types::ResetAccepted {
    fn from(accepted: ResetAccepted) -> Self {
        api_types::ResetAccepted {
            status: accepted.status.to_string(),
            then: accepted.then.to_string(),
        }
    }
}

/// What `sanitization.json` says (written by init, stage 1; format in
/// docs/factory-reset.md). Unknown fields are ignored, missing ones take defaults.
pub use api_types::SanitizationRecord;

/// The record of the last factory reset, if this data partition was made by one.
pub fn sanitization_record(state_dir: &Path) -> Option<SanitizationRecord> {
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

/// What the request asks for, or why it is refused (nothing started).
pub fn validate(body: &[u8]) -> Result<Then, ApiError> {
    let request: ResetRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ResetRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("The body is not the expected JSON object: {e}"),
            )
        })?
    };
    if request.confirm.as_deref() != Some(CONFIRMATION) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirmation_required",
            format!(
                "A factory reset erases every setting, account, certificate, log and uploaded file; confirm it with {{\"confirm\": \"{CONFIRMATION}\"}}. Nothing was started."
            ),
        ));
    }
    match request.then.as_deref() {
        None => Ok(Then::PowerOff),
        Some(then) => Then::parse(then).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_then",
                format!("\"then\" must be \"poweroff\" or \"reboot\", not {then:?}. Nothing was started."),
            )
        }),
    }
}

/// `POST /api/v1/system/factory-reset`.
pub async fn post(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<ResetAccepted>), ApiError> {
    let then = validate(&body)?;
    start(&state, &caller.session.user, caller.address, then).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(ResetAccepted {
            status: "resetting",
            then: then.as_str(),
        }),
    ))
}

/// Record the request, audit it and restart. Every refusal leaves nothing started.
pub async fn start(
    state: &Arc<AppState>,
    user: &str,
    address: Option<IpAddr>,
    then: Then,
) -> Result<(), ApiError> {
    if let Some(refusal) = busy(
        state.updater.installing(),
        state.going_down.load(Ordering::SeqCst),
    ) {
        return Err(refusal);
    }
    // The updater's grubenv (the ESP's, or a file in dev mode), recorded with its install
    // flag held: an install cannot start meanwhile (it writes the slot and grubenv the
    // reset is about to rewrite), nor after.
    let env = state.updater.platform.env();
    let updater = Arc::clone(state);
    let recording = env.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        updater
            .updater
            .for_factory_reset(|| change(&recording, |st| st.request_factory_reset(then)))
    })
    .await
    .map_err(|e| ApiError::internal("The factory reset request did not finish", e))?;
    match recorded {
        Err(_) => return Err(update_in_progress()),
        Ok(Err(e)) => {
            return Err(ApiError::internal(
                "The factory reset request could not be recorded on the boot partition; nothing was started",
                e,
            ))
        }
        Ok(Ok(())) => {}
    }
    let what = match then {
        Then::PowerOff => "factory reset requested, then power off",
        Then::Reboot => "factory reset requested, then restart",
    };
    let audited = state
        .store
        .change(
            Audit::user(user, address, "system.factory_reset", what),
            |_| Ok::<_, crate::store::Error>(()),
        )
        .map_err(ApiError::from);
    let scheduled = audited.and_then(|()| {
        schedule(state, user, address, PowerAction::Reboot).map_err(|e| match e {
            ScheduleError::AlreadyGoingDown => already_going_down(),
            ScheduleError::Store(e) => e.into(),
        })
    });
    if let Err(err) = scheduled {
        state.updater.factory_reset_cancelled();
        if let Err(e) = edit(env, |st| st.cancel_factory_reset()).await {
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
fn busy(installing: bool, going_down: bool) -> Option<ApiError> {
    if installing {
        Some(update_in_progress())
    } else {
        going_down.then(already_going_down)
    }
}

fn update_in_progress() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "update_in_progress",
        "An update is being installed; request the factory reset again once it has finished. Nothing was started.",
    )
}

fn already_going_down() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "already_going_down",
        "A restart or shutdown is already under way. Nothing was started.",
    )
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
        for body in [
            &b""[..],
            b"{}",
            br#"{"confirm":"yes"}"#,
            br#"{"then":"reboot"}"#,
            br#"{"confirm":"FACTORY-RESET"}"#,
        ] {
            let err = validate(body).unwrap_err();
            assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY, "{body:?}");
            assert_eq!(err.error, "confirmation_required");
            assert!(err.message.contains("Nothing was started"));
        }
    }

    #[test]
    fn power_off_is_the_default() {
        assert_eq!(
            validate(br#"{"confirm":"factory-reset"}"#).unwrap(),
            Then::PowerOff
        );
        assert_eq!(
            validate(br#"{"confirm":"factory-reset","then":"reboot"}"#).unwrap(),
            Then::Reboot
        );
        let err = validate(br#"{"confirm":"factory-reset","then":"halt"}"#).unwrap_err();
        assert_eq!(err.error, "invalid_then");
        assert_eq!(validate(b"{oops").unwrap_err().error, "malformed_json");
    }

    #[test]
    fn refused_during_an_install_or_a_shutdown() {
        let err = busy(true, false).unwrap();
        assert_eq!(
            (err.status, err.error),
            (StatusCode::CONFLICT, "update_in_progress")
        );
        assert!(err.message.contains("Nothing was started"));
        assert_eq!(busy(false, true).unwrap().error, "already_going_down");
        assert_eq!(busy(true, true).unwrap().error, "update_in_progress");
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

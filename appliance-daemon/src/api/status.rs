//! `GET /api/v1/status`: Status > Basics and Status > Specs of the admin interface.
//!
//! The hardware facts are read at most once a second and shared (reading /proc and /sys
//! costs about a millisecond; a page refresh or a monitoring script must not multiply it);
//! the clock and the daemon's own memory are read on every call.

use axum::extract::State;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::extract::Caller;
use super::{ApiError, AppState};
use crate::system::specs;

/// How long one reading of the hardware facts is reused.
const SPECS_MAX_AGE: Duration = Duration::from_secs(1);

/// The status as the API writes it ([`api_types::Status`]), with the daemon's ways of
/// gathering it.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Status(pub api_types::Status);

pub use api_types::Versions;

impl std::ops::Deref for Status {
    type Target = api_types::Status;

    fn deref(&self) -> &api_types::Status {
        &self.0
    }
}

impl std::ops::DerefMut for Status {
    fn deref_mut(&mut self) -> &mut api_types::Status {
        &mut self.0
    }
}

/// The last status, reused for up to a second except for its clock, and its JSON for the
/// current second (the clock in it has one-second resolution): a monitoring script or 64
/// clients polling cost one serialization per second, not one per request.
#[derive(Debug, Default)]
pub struct SpecsCache {
    /// The gathered status and when.
    status: Mutex<Option<(Instant, Arc<Status>)>>,
    /// Its JSON and the unix second it was made in.
    json: Mutex<Option<(u64, bytes::Bytes)>>,
}

impl SpecsCache {
    fn fresh(&self) -> Option<Arc<Status>> {
        match &*self.status.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((at, status)) if at.elapsed() < SPECS_MAX_AGE => Some(Arc::clone(status)),
            _ => None,
        }
    }

    fn keep(&self, status: Arc<Status>) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), status));
    }
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let second = crate::auth::unix_now();
    let cached = state
        .specs
        .json
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .filter(|(at, _)| *at == second)
        .map(|(_, json)| json.clone());
    let json = match cached {
        Some(json) => json,
        None => {
            let status = Status::gather(&state).await?;
            let json = bytes::Bytes::from(
                serde_json::to_vec(&status)
                    .map_err(|e| ApiError::internal("Encoding the status failed", e))?,
            );
            *state.specs.json.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((second, json.clone()));
            json
        }
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response())
}

impl Status {
    /// The status now: hardware facts at most a second old, the clock read now.
    pub async fn gather(state: &Arc<AppState>) -> Result<Status, ApiError> {
        let cached = match state.specs.fresh() {
            Some(status) => status,
            None => {
                let status = Arc::new(Status::read(state).await?);
                state.specs.keep(Arc::clone(&status));
                status
            }
        };
        let mut status = (*cached).clone();
        status.specs.clock = specs::clock_now();
        status.time = status.specs.clock.utc.clone();
        Ok(status)
    }

    async fn read(state: &Arc<AppState>) -> Result<Status, ApiError> {
        let identity = state.store.identity()?;
        let root = state.sysroot.clone();
        let specs = tokio::task::spawn_blocking(move || specs::gather(&root))
            .await
            .map_err(|e| ApiError::internal("Reading the hardware facts failed", e))?;
        let profile = state.system.release.profile.clone();
        let model = match profile.as_str() {
            "box" => "Bomgar Box",
            _ => "Virtual Appliance",
        }
        .to_string();
        Ok(Status(api_types::Status {
            model,
            profile,
            serial: specs.dmi.serial.clone(),
            appliance_id: identity.appliance_id,
            hostname: crate::system::hostname(),
            version: state.system.release.version.clone(),
            slot: state.system.slot.to_string(),
            versions: Versions {
                base: state.system.release.version.clone(),
                site: None,
            },
            uptime_seconds: specs.uptime_seconds.unwrap_or(0),
            time: specs.clock.utc.clone(),
            daemon_rss_bytes: own_rss(),
            certificate_sha256: state
                .certificate_pin
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            specs,
            sanitization: crate::reset::sanitization_record(&state.state_dir),
        }))
    }
}

/// VmRSS of this process.
fn own_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
